// PieceCache: a small per-thread direct-mapped memo of piece bytes -> token ids.
// Pieces that are not tokens repeat in text; the cache spares them the pair-table merge loop.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "blt_core/bpe/rank_table.hpp"

namespace blt::bpe {

class PieceCache {
 public:
  static constexpr size_t kMaxPiece = 16;  // longer pieces are not cached
  static constexpr size_t kMaxIds = 8;     // pieces that need more ids are not cached
  static constexpr size_t kEntries = 8192;  // 512 KiB per thread

  struct Entry {
    uint64_t k0, k1;  // key() of the piece
    uint32_t model;   // which model filled it (0 = empty)
    uint8_t len;
    uint8_t n_ids;
    uint8_t starts[kMaxIds];
    uint32_t ids[kMaxIds];
  };

  // Identifies a piece of 1..16 bytes together with its length (overlapping fixed-size loads).
  static void key(const uint8_t* p, size_t n, uint64_t& k0, uint64_t& k1) {
    if (n <= 8) {
      k0 = short_key(p, n);
      k1 = 0;
    } else {
      k0 = load8(p);
      k1 = load8(p + n - 8);
    }
  }
  static size_t slot(uint64_t k0, uint64_t k1, size_t n, uint32_t model) {
    uint64_t h = (k0 * 0x9E3779B97F4A7C15ull) ^ (k1 * 0xC2B2AE3D27D4EB4Full) ^ (n << 56) ^ model;
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ull;
    return (h >> 40) & (kEntries - 1);
  }

  // The entry for this piece if cached, else nullptr; `at` is set to the slot either way.
  const Entry* find(uint64_t k0, uint64_t k1, size_t n, uint32_t model, Entry*& at) {
    at = &entries_[slot(k0, k1, n, model)];
    return (at->model == model && at->len == n && at->k0 == k0 && at->k1 == k1) ? at : nullptr;
  }

 private:
  std::array<Entry, kEntries> entries_{};
};

}  // namespace blt::bpe
