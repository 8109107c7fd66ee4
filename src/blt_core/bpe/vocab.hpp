// Vocab: the vocabulary as bytes <-> id, stored once in one byte arena.
// Lookup by byte string is a flat open-addressing probe (no std::string per lookup).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <vector>

#include "blt_core/bpe/huge_page_allocator.hpp"
#include "blt_core/linear_probe_table.hpp"
#include "blt_core/prefetch.hpp"

namespace blt::bpe {

inline constexpr uint32_t kNoId = 0xFFFFFFFFu;

inline uint64_t load8(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
inline uint32_t load4(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// The bytes of a string of 1..8 bytes packed in 64 bits without a variable-length copy:
// overlapping fixed-size loads cover every byte, so with the length it identifies the string.
inline uint64_t short_key(const uint8_t* p, size_t n) {
  if (n >= 8) return load8(p);
  if (n >= 4) return load4(p) | (uint64_t{load4(p + n - 4)} << 32);
  return p[0] | (uint64_t{p[n / 2]} << 8) | (uint64_t{p[n - 1]} << 16);
}

// Hash of a byte string; strings of up to 8 bytes (most pieces and tokens) cost one mix.
inline uint64_t hash_bytes(const uint8_t* p, size_t n) {
  constexpr uint64_t k1 = 0x9E3779B97F4A7C15ull, k2 = 0xC2B2AE3D27D4EB4Full;
  uint64_t h = n * k1;
  if (n <= 8) {
    h = (h ^ short_key(p, n)) * k2;
  } else {
    size_t left = n;
    while (left > 8) {
      h = (h ^ load8(p)) * k2;
      h ^= h >> 29;
      p += 8;
      left -= 8;
    }
    h = (h ^ load8(p + left - 8)) * k2;  // last 8 bytes, overlapping the previous block
  }
  h ^= h >> 32;
  h *= k1;
  return h ^ (h >> 29);
}

class Vocab {
 public:
  Vocab() = default;

  // Ids index a dense table, so an id far above the token count would cost memory out of all
  // proportion to the file (one token at id 4e9: a 32 GB table). Ids below kDenseIds are always
  // accepted; above it, an id must stay below kIdsPerToken times the tokens added so far.
  static constexpr uint32_t kDenseIds = 1u << 22;
  static constexpr uint32_t kIdsPerToken = 64;

  // Adds `token` with `id`. Returns false if the bytes or the id are already present. Throws
  // std::invalid_argument for an empty token or an id too large for the vocabulary (see above).
  bool add(std::span<const uint8_t> token, uint32_t id);

  void reserve(size_t n) {
    const size_t cap = probe_capacity_for(n, kMinSlots);
    if (cap > slots_.size()) rehash(cap);
  }

  // Id of exactly these bytes, or kNoId. Tokens of up to 8 bytes (most of them) compare inside
  // the slot, so a lookup touches one cache line.
  uint32_t find(const uint8_t* p, size_t n) const {
    if (n == 0) return kNoId;
    return find_hashed(p, n, hash_bytes(p, n));
  }
  // Same, with h = hash_bytes(p, n) computed by the caller (who may have prefetched it).
  uint32_t find_hashed(const uint8_t* p, size_t n, uint64_t h) const {
    if (slots_.empty()) return kNoId;
    uint64_t head = short_key(p, n);
    uint32_t tag = make_tag(h, n);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.id == kNoId) return kNoId;
      if (s.tag == tag && s.head == head) {
        if (n <= 8) return s.id;
        const Span& sp = spans_[s.id];
        if (sp.len == n && std::memcmp(arena_.data() + sp.off + 8, p + 8, n - 8) == 0) return s.id;
      }
    }
  }
  // Starts loading the slot a lookup with hash h will read first.
  // (With no slots yet mask_ is 0 and the address null: a prefetch never faults.)
  void prefetch(uint64_t h) const { prefetch_line(slots_.data() + (h & mask_)); }
  uint32_t find(std::span<const uint8_t> t) const { return find(t.data(), t.size()); }
  uint32_t find(std::string_view t) const {
    return find(reinterpret_cast<const uint8_t*>(t.data()), t.size());
  }

  // Bytes of `id` (empty if the id is not a token).
  std::span<const uint8_t> bytes(uint32_t id) const {
    if (id >= spans_.size()) return {};
    return {arena_.data() + spans_[id].off, spans_[id].len};
  }
  bool contains(uint32_t id) const { return id < spans_.size() && spans_[id].len > 0; }
  // Whether 16 bytes from p, which points into bytes() of this vocabulary, lie inside its arena
  // (so a short token can be copied as one fixed 16-byte block).
  bool readable16(const uint8_t* p) const { return static_cast<size_t>(arena_.data() + arena_.size() - p) >= 16; }

  size_t size() const { return count_; }
  // One past the largest id (ids need not be contiguous).
  uint32_t id_end() const { return static_cast<uint32_t>(spans_.size()); }
  size_t arena_bytes() const { return arena_.size(); }

 private:
  static constexpr size_t kMinSlots = 1024;
  // Slots hold a tag and the head of the token besides the id, so this table keeps its own slot
  // type (empty: id kNoId) and shares only the capacity rule and probing of linear_probe_table.hpp.
  struct Slot {
    uint64_t head;  // short_key of the token (its first 8 bytes if longer)
    uint32_t tag;   // hash bits and length
    uint32_t id;
  };
  static uint32_t make_tag(uint64_t h, size_t n) {
    return (static_cast<uint32_t>(h >> 32) & 0xFFFFFF00u) | static_cast<uint32_t>(n < 255 ? n : 255);
  }
  struct Span {
    uint32_t off;
    uint32_t len;
  };
  void insert_slot(uint32_t id);
  void rehash(size_t capacity);

  std::vector<uint8_t> arena_;
  std::vector<Span> spans_;  // by id; absent ids have len 0
  std::vector<Slot, HugePageAllocator<Slot>> slots_;
  size_t mask_ = 0;
  size_t count_ = 0;
};

}  // namespace blt::bpe
