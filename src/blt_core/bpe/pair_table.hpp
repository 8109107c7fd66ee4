// PairTable: which adjacent token pair merges, into what, and how early (lower priority first).
// Keyed by the two ids packed in 64 bits; one flat open-addressing array, 16 bytes per pair, plus a
// direct 256 x 256 table for pairs of single-byte tokens (the first lookups of every piece).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace blt::bpe {

struct Merge {
  uint32_t priority;  // tiktoken: rank of the merged token; HF/GPT-2: line of the merge
  uint32_t result;    // id of the merged token
};

inline constexpr uint32_t kNoMerge = 0xFFFFFFFFu;

class PairTable {
 public:
  void reserve(size_t n) {
    size_t cap = 1024;
    while (cap < n * 2 + 2) cap *= 2;
    if (cap > slots_.size()) rehash(cap);
  }

  // Sets (a, b) -> m, replacing an earlier entry for the same pair (HF keeps the last one too).
  void set(uint32_t a, uint32_t b, Merge m) {
    if ((count_ + 1) * 2 > slots_.size()) rehash(slots_.empty() ? 1024 : slots_.size() * 2);
    uint64_t key = pack(a, b);
    size_t i = slot_of(key);
    while (slots_[i].key != kEmpty && slots_[i].key != key) i = (i + 1) & mask_;
    if (slots_[i].key == kEmpty) ++count_;
    slots_[i] = Slot{key, m};
    if (m.priority != kNoMerge && m.priority > max_priority_) max_priority_ = m.priority;
  }

  // Starts loading the slot of (a, b).
  void prefetch(uint32_t a, uint32_t b) const { __builtin_prefetch(&slots_[slot_of(pack(a, b))]); }

  // The merge of (a, b), or {kNoMerge, kNoMerge}.
  Merge find(uint32_t a, uint32_t b) const {
    uint64_t key = pack(a, b);
    for (size_t i = slot_of(key);; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.key == key) return s.merge;
      if (s.key == kEmpty) return Merge{kNoMerge, kNoMerge};
    }
  }

  // Fills the direct table of single-byte pairs; byte_ids maps each byte to its token. Call after
  // the last set().
  void index_byte_pairs(const uint32_t* byte_ids) {
    byte_pairs_.resize(256 * 256);
    for (size_t a = 0; a < 256; ++a)
      for (size_t b = 0; b < 256; ++b) byte_pairs_[a << 8 | b] = find(byte_ids[a], byte_ids[b]);
  }

  // The merge of the single-byte tokens of bytes a and b (same as find on their ids). Dense for
  // the byte pairs of one script (UTF-8 lead and continuation bytes sit side by side), so these
  // lookups stay in the CPU caches where the scattered hash slots do not.
  Merge find_bytes(uint8_t a, uint8_t b) const { return byte_pairs_[size_t{a} << 8 | b]; }
  bool has_byte_pairs() const { return !byte_pairs_.empty(); }

  size_t size() const { return count_; }
  // Largest priority ever set (0 when empty); lets merge loops pack priorities in fewer bits.
  uint32_t max_priority() const { return max_priority_; }

  template <class F>
  void for_each(F&& f) const {
    for (const Slot& s : slots_)
      if (s.key != kEmpty) f(static_cast<uint32_t>(s.key >> 32), static_cast<uint32_t>(s.key), s.merge);
  }

 private:
  static constexpr uint64_t kEmpty = ~0ull;
  struct Slot {
    uint64_t key;
    Merge merge;
  };
  static uint64_t pack(uint32_t a, uint32_t b) { return (uint64_t{a} << 32) | b; }
  size_t slot_of(uint64_t key) const {
    uint64_t h = key * 0x9E3779B97F4A7C15ull;
    return (h ^ (h >> 31)) & mask_;
  }
  void rehash(size_t cap) {
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.assign(cap, Slot{kEmpty, Merge{kNoMerge, kNoMerge}});
    mask_ = cap - 1;
    for (const Slot& s : old) {
      if (s.key == kEmpty) continue;
      size_t i = slot_of(s.key);
      while (slots_[i].key != kEmpty) i = (i + 1) & mask_;
      slots_[i] = s;
    }
  }

  // Never empty after construction, so find() needs no size check.
  std::vector<Slot> slots_ = std::vector<Slot>(16, Slot{kEmpty, Merge{kNoMerge, kNoMerge}});
  size_t mask_ = 15;
  size_t count_ = 0;
  uint32_t max_priority_ = 0;
  std::vector<Merge> byte_pairs_;  // [a << 8 | b]; empty until index_byte_pairs
};

}  // namespace blt::bpe
