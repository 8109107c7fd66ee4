// PieceCounter: pre-tokenizes text (files, streams or documents) and counts distinct pieces.
// Work is split into fixed-size batches counted in parallel (oneTBB) and then summed, 64-bit.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "blt_core/io/byte_source.hpp"
#include "blt_core/text/pretokenizer.hpp"
#include "blt_core/train/piece_table.hpp"

namespace blt::train {

struct CountOptions {
  // Pre-tokenize every line (up to and including its '\n') on its own, as HF tokenizers'
  // train(files) does; otherwise the split pattern runs over whole documents.
  bool split_lines = false;
  // Bytes the piece table may hold (see memcap_prune.hpp); nullopt: unbounded.
  std::optional<uint64_t> memcap;
  int threads = 0;  // <= 0: all usable cores
};

class PieceCounter {
 public:
  // Bytes of input counted between two progress calls and memcap checks (independent of the
  // thread count, so pruning happens at the same points whatever the threads).
  static constexpr size_t kChunkBytes = 1u << 20;
  static constexpr size_t kBatchChunks = 8;
  static constexpr std::chrono::milliseconds kProgressEvery{100};

  // Throws std::invalid_argument for a pattern that does not compile or a memcap below
  // min_memcap().
  PieceCounter(std::string_view pattern, CountOptions opts);
  ~PieceCounter();

  // Counts the pieces of each document (documents never share a piece), in parallel.
  void count_documents(const std::vector<TextSpan>& docs);

  // Counts a whole source, cut into chunks where the pattern allows (safe_split), reading
  // kBatchChunks chunks at a time on a helper thread. `progress(bytes_done)` runs on the calling
  // thread every kProgressEvery and at the end, and may throw to stop (the exception propagates
  // once the helper has stopped); `stop` ends reading early.
  void count_source(ByteSource& src, const std::function<void(uint64_t)>& progress,
                    const std::atomic<bool>& stop);

  // Adds a pre-counted piece as is (no pre-tokenization).
  void add_piece(Bytes piece, uint64_t count);

  const PieceTable& table() const { return table_; }
  // Moves the table out, leaving this counter empty.
  PieceTable take() {
    PieceTable t = std::move(table_);
    table_.clear();
    return t;
  }
  uint64_t bytes_counted() const { return bytes_; }
  // Largest pruning threshold applied so far (0: memcap never hit).
  uint64_t prune_threshold() const { return prune_threshold_; }

 private:
  struct Locals;
  void count_span(TextSpan text, PieceTable& into, std::vector<uint32_t>& ends) const;
  void fold_locals();

  std::unique_ptr<Pretokenizer> pretok_;
  CountOptions opts_;
  PieceTable table_;
  std::unique_ptr<Locals> locals_;
  uint64_t bytes_ = 0;
  uint64_t prune_threshold_ = 0;
};

}  // namespace blt::train
