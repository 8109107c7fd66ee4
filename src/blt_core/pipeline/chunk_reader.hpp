// ChunkReader: cuts a ByteSource into chunks at the Tokenizer's safe cut points, in order.
// It applies leading_skip once at the stream start and widens the window when no cut is safe.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "blt_core/io/byte_source.hpp"
#include "blt_core/pipeline/chunk.hpp"
#include "blt_core/pipeline/chunk_plan.hpp"
#include "blt_core/tokenizer.hpp"

namespace blt {

class ChunkReader {
 public:
  // Bytes guaranteed in the window given to leading_skip (or the whole stream if shorter).
  static constexpr size_t kHeadBytes = 64;

  ChunkReader(const Tokenizer& tok, ByteSource& src, const ChunkPlan& plan,
              const std::atomic<bool>& stop);

  // Fills c.body (and c.in for stream sources), c.seq and c.end_offset with the next chunk.
  // Returns false at the end of input (or when stop is set). Not thread-safe: one caller.
  bool next(Chunk& c);

  uint64_t consumed() const { return offset_; }

 private:
  bool next_in_memory(Chunk& c, ByteSpan all);
  size_t fill(Chunk& c, size_t len, size_t want);

  const Tokenizer& tok_;
  ByteSource& src_;
  ChunkPlan plan_;
  const std::atomic<bool>& stop_;
  std::optional<ByteSpan> mem_;
  GrowBuffer carry_;     // bytes read past the last cut, moved to the next chunk's front
  size_t carry_len_ = 0;
  bool started_ = false;
  bool eof_ = false;
  uint64_t offset_ = 0;  // source bytes consumed by chunks cut so far
  uint64_t seq_ = 0;
};

}  // namespace blt
