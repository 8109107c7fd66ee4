// PieceTable: distinct pre-tokenized pieces (byte strings) with 64-bit counts, in one byte arena.
// The counting stage fills one per thread, merges them, and memcap pruning shrinks it in place.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace blt::train {

using Bytes = std::span<const uint8_t>;

class PieceTable {
 public:
  PieceTable() = default;

  // Adds `count` occurrences of `piece` (empty pieces are ignored). Counts saturate at 2^64 - 1
  // rather than wrap.
  void add(Bytes piece, uint64_t count = 1);
  // Adds every piece of `other` (counts summed).
  void merge_from(const PieceTable& other);
  // Count of `piece` (0 if absent).
  uint64_t count(Bytes piece) const;

  size_t size() const { return live_; }
  bool empty() const { return live_ == 0; }
  // Bytes this table holds (slots + piece bytes): what memcap limits.
  uint64_t memory_bytes() const;
  // Memory a table of n pieces of average length len would take (for memcap checks).
  static uint64_t memory_for(size_t n, size_t len);

  // Keeps only pieces with count >= min_count and compacts the arena.
  void keep_at_least(uint64_t min_count);
  void clear();

  // Calls f(bytes, count) for every piece, in an unspecified order.
  template <class F>
  void for_each(F&& f) const {
    for (const Slot& s : slots_)
      if (s.len != kEmpty) f(Bytes(arena_.data() + s.off, s.len), s.count);
  }
  // The pieces sorted by bytes: a canonical order independent of insertion history.
  std::vector<std::pair<Bytes, uint64_t>> sorted() const;

 private:
  static constexpr uint32_t kEmpty = 0xFFFFFFFFu;
  struct Slot {
    uint64_t hash;
    uint64_t count;
    uint64_t off;
    uint32_t len = kEmpty;
  };
  void grow();
  Slot* find_slot(Bytes piece, uint64_t h);

  std::vector<Slot> slots_;
  std::vector<uint8_t> arena_;
  size_t live_ = 0;
  size_t mask_ = 0;
};

}  // namespace blt::train
