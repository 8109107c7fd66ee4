// PieceCache / LongPieceCache: small per-thread direct-mapped memos of piece bytes -> token ids.
// Pieces that are not tokens repeat in text; the caches spare them the pair-table merge loop.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#include "blt_core/bpe/vocab.hpp"

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

// Pieces of 17..64 bytes (in non-Latin scripts most non-token pieces: a CJK phrase, a Cyrillic
// word with its prefix). The key is the piece's bytes themselves, compared in full, found by the
// hash the rank-table lookup already computed. Allocated on first use (184 KiB per thread).
class LongPieceCache {
 public:
  static constexpr size_t kMinPiece = PieceCache::kMaxPiece + 1;
  static constexpr size_t kMaxPiece = 64;
  static constexpr size_t kMaxIds = 20;  // pieces that need more ids are not cached
  static constexpr size_t kEntries = 1024;

  struct Entry {
    uint8_t bytes[kMaxPiece];
    uint64_t hash;
    uint32_t model;  // which model filled it (0 = empty)
    uint8_t len;
    uint8_t n_ids;
    uint8_t starts[kMaxIds];
    uint32_t ids[kMaxIds];
  };

  // The entry for this piece (hash = hash_bytes(p, n)) if cached, else nullptr; `at` is set to
  // the slot either way.
  const Entry* find(const uint8_t* p, size_t n, uint64_t hash, uint32_t model, Entry*& at) {
    if (!entries_) entries_ = std::make_unique<Entry[]>(kEntries);
    at = &entries_[(hash >> 17) & (kEntries - 1)];
    return (at->hash == hash && at->model == model && at->len == n && std::memcmp(at->bytes, p, n) == 0)
               ? at
               : nullptr;
  }

  static void store(Entry* at, const uint8_t* p, size_t n, uint64_t hash, uint32_t model,
                    const uint32_t* ids, const uint8_t* starts, size_t k) {
    std::memcpy(at->bytes, p, n);
    at->hash = hash, at->model = model;
    at->len = static_cast<uint8_t>(n), at->n_ids = static_cast<uint8_t>(k);
    std::memcpy(at->ids, ids, k * 4);
    std::memcpy(at->starts, starts, k);
  }

 private:
  std::unique_ptr<Entry[]> entries_;
};

}  // namespace blt::bpe
