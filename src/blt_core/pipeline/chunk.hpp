// Chunk: one pooled unit of work in the file pipeline (input bytes, its cut, encoded output).
// Chunks are allocated once per run and reused, so the steady state allocates nothing.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <vector>

#include "blt_core/page_allocator.hpp"
#include "blt_core/tokenizer.hpp"

namespace blt {

// A byte buffer that only grows and is never zero-filled (every byte used is written first).
// Blocks come from PageAllocator, so a buffer outgrown goes back to the kernel.
class GrowBuffer {
 public:
  GrowBuffer() = default;
  GrowBuffer(const GrowBuffer&) = delete;
  GrowBuffer& operator=(const GrowBuffer&) = delete;
  ~GrowBuffer() { release(); }

  // Capacity for at least n bytes; the first `keep` bytes survive a reallocation.
  uint8_t* reserve(size_t n, size_t keep = 0) {
    if (n > cap_) {
      size_t cap = std::max(n, cap_ + cap_ / 2);
      uint8_t* p = PageAllocator<uint8_t>().allocate(cap);
      if (keep) std::memcpy(p, data_, keep);
      release();
      data_ = p;
      cap_ = cap;
    }
    return data_;
  }
  uint8_t* data() { return data_; }
  size_t capacity() const { return cap_; }

 private:
  void release() {
    if (data_) PageAllocator<uint8_t>().deallocate(data_, cap_);
    data_ = nullptr;
  }
  uint8_t* data_ = nullptr;
  size_t cap_ = 0;
};

// Per-chunk buffers of a ChunkStage (chunk_stage.hpp), pooled with the chunk.
struct StageScratch {
  virtual ~StageScratch() = default;
};

struct Chunk {
  uint64_t seq = 0;          // position in the stream, for the sequencer
  ByteSpan body;             // bytes to encode: a view into `in` or into an in-memory source
  uint64_t start_offset = 0; // source offset of body[0] (rebases errors to whole-input offsets)
  uint64_t end_offset = 0;   // source bytes consumed once this chunk is written (progress)
  GrowBuffer in;             // input bytes read from a stream source
  GrowBuffer out;            // formatted output bytes
  std::vector<uint32_t> ids; // scratch ids (tokenizers without body_size, text formats)
  const uint8_t* out_ptr = nullptr;
  size_t out_len = 0;
  uint64_t n_ids = 0;
  // Why encoding failed, reported by the writer in stream order (the first bad byte of the input
  // wins, as in a one-shot encode, whichever chunk a worker happened to finish first).
  std::exception_ptr error;
  std::unique_ptr<StageScratch> scratch;  // the ChunkStage's, if the run has one
};

}  // namespace blt
