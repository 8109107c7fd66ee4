// PairTable: which adjacent token pair merges, into what, and how early (lower priority first).
// Built in 16-byte slots, then frozen into one 8-byte word per pair (ids and priority packed, so a
// probe reads 8 pairs per cache line), plus a direct 256 x 256 table for pairs of single-byte tokens.
#pragma once
#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "blt_core/bpe/huge_page_allocator.hpp"

namespace blt::bpe {

struct Merge {
  uint32_t priority;  // tiktoken: rank of the merged token; HF/GPT-2: line of the merge
  uint32_t result;    // id of the merged token
};

inline constexpr uint32_t kNoMerge = 0xFFFFFFFFu;

// Starts loading the cache line of p. Not __builtin_prefetch: GCC 12 deletes that builtin when it
// sits under a condition (a block whose only effect is a prefetch counts as dead).
inline void prefetch_line(const void* p) {
#if defined(__x86_64__) || defined(__i386__)
  asm volatile("prefetcht0 (%0)" : : "r"(p));
#else
  __builtin_prefetch(p);
#endif
}

class PairTable {
 public:
  void reserve(size_t n) {
    size_t cap = capacity_for(n);
    if (cap > wide_.size()) rehash_wide(cap);
  }

  // Sets (a, b) -> m, replacing an earlier entry for the same pair (HF keeps the last one too).
  // Undoes freeze() (the packed form is rebuilt by the next freeze()).
  void set(uint32_t a, uint32_t b, Merge m) {
    if (frozen()) thaw();
    byte_pairs_.clear();
    if ((count_ + 1) * 2 > wide_.size()) rehash_wide(wide_.empty() ? 1024 : wide_.size() * 2);
    uint64_t key = pack(a, b);
    size_t i = wide_slot_of(key);
    while (wide_[i].key != kEmpty && wide_[i].key != key) i = (i + 1) & wide_mask_;
    if (wide_[i].key == kEmpty) ++count_;
    wide_[i] = Slot{key, m};
    if (m.priority != kNoMerge && m.priority > max_priority_) max_priority_ = m.priority;
  }

  // Call after the last set(): packs the pairs into 8-byte words when ids and priorities fit
  // (they do for any vocabulary below 2M ids), and fills the direct table of single-byte pairs;
  // byte_ids maps each byte to its token.
  void freeze(const uint32_t* byte_ids);

  // Starts loading the slot of (a, b).
  void prefetch(uint32_t a, uint32_t b) const {
    if (frozen())
      prefetch_line(packed_.data() + packed_slot_of(packed_key(a, b)));
    else
      prefetch_line(wide_.data() + wide_slot_of(pack(a, b)));
  }

  // The merge of (a, b), or {kNoMerge, kNoMerge}.
  Merge find(uint32_t a, uint32_t b) const {
    if (frozen() && ((uint64_t{a} + 1) | (uint64_t{b} + 1)) >> id_bits_) return Merge{kNoMerge, kNoMerge};
    return find_known(a, b);
  }

  // Same as find, for the ids a merge loop meets: byte_ids given to freeze() and merge results
  // (the packed key has room for those only, which spares the range check).
  [[gnu::always_inline]] Merge find_known(uint32_t a, uint32_t b) const {
    if (frozen()) [[likely]] {
      const uint64_t key = packed_key(a, b);
      for (size_t i = packed_slot_of(key);; i = (i + 1) & packed_mask_) {
        const uint64_t w = packed_[i];
        if ((w & key_mask_) == key) {
          uint32_t pr = static_cast<uint32_t>(w >> key_bits_);
          return Merge{pr, result_is_priority_ ? pr : results_[pr]};
        }
        if (w == kEmpty) return Merge{kNoMerge, kNoMerge};
      }
    }
    return find_wide(a, b);
  }

  // The merge of the single-byte tokens of bytes a and b (same as find on their ids). Dense for
  // the byte pairs of one script (UTF-8 lead and continuation bytes sit side by side), so these
  // lookups stay in the CPU caches where the scattered hash slots do not.
  Merge find_bytes(uint8_t a, uint8_t b) const { return byte_pairs_[size_t{a} << 8 | b]; }
  bool has_byte_pairs() const { return !byte_pairs_.empty(); }

  size_t size() const { return count_; }
  // Largest priority ever set (0 when empty); lets merge loops pack priorities in fewer bits.
  uint32_t max_priority() const { return max_priority_; }
  // Whether freeze() packed the table (exposed for tests).
  bool frozen() const { return frozen_; }

  template <class F>
  void for_each(F&& f) const {
    if (frozen()) {
      for (uint64_t w : packed_) {
        if (w == kEmpty) continue;
        uint32_t pr = static_cast<uint32_t>(w >> key_bits_);
        f(static_cast<uint32_t>((w & key_mask_) >> id_bits_), static_cast<uint32_t>(w & ((uint64_t{1} << id_bits_) - 1)),
          Merge{pr, result_is_priority_ ? pr : results_[pr]});
      }
      return;
    }
    for (const Slot& s : wide_)
      if (s.key != kEmpty) f(static_cast<uint32_t>(s.key >> 32), static_cast<uint32_t>(s.key), s.merge);
  }

 private:
  static constexpr uint64_t kEmpty = ~0ull;
  struct Slot {
    uint64_t key;
    Merge merge;
  };
  static constexpr Slot kEmptySlot{kEmpty, Merge{kNoMerge, kNoMerge}};
  using WideSlots = std::vector<Slot, HugePageAllocator<Slot>>;
  // Slots for n pairs, a power of two: load <= 1/2 keeps the probe runs short.
  static size_t capacity_for(size_t n) {
    size_t cap = 1024;
    while (cap < n * 2 + 2) cap *= 2;
    return cap;
  }
  static uint64_t pack(uint32_t a, uint32_t b) { return (uint64_t{a} << 32) | b; }
  size_t wide_slot_of(uint64_t key) const {
    uint64_t h = key * 0x9E3779B97F4A7C15ull;
    return (h ^ (h >> 31)) & wide_mask_;
  }
  [[gnu::noinline]] Merge find_wide(uint32_t a, uint32_t b) const {
    uint64_t key = pack(a, b);
    for (size_t i = wide_slot_of(key);; i = (i + 1) & wide_mask_) {
      const Slot& s = wide_[i];
      if (s.key == key) return s.merge;
      if (s.key == kEmpty) return Merge{kNoMerge, kNoMerge};
    }
  }
  void rehash_wide(size_t cap);
  // Puts s into the first free slot of its probe run (the key is not in the table yet).
  void place_wide(const Slot& s) {
    size_t i = wide_slot_of(s.key);
    while (wide_[i].key != kEmpty) i = (i + 1) & wide_mask_;
    wide_[i] = s;
  }
  void thaw();

  uint64_t packed_key(uint32_t a, uint32_t b) const { return (uint64_t{a} << id_bits_) | b; }
  // Fibonacci hashing: the top bits of key * odd constant.
  size_t packed_slot_of(uint64_t key) const { return (key * 0x9E3779B97F4A7C15ull) >> packed_shift_; }

  // Build form (and the fallback when ids or priorities are too wide to pack). Never empty before
  // freeze(), so find_wide() needs no size check.
  WideSlots wide_ = WideSlots(16, kEmptySlot);
  size_t wide_mask_ = 15;
  size_t count_ = 0;
  uint32_t max_priority_ = 0;

  // Frozen form: word = priority << key_bits | a << id_bits | b, key_bits = 2 * id_bits. Ids stay
  // below 2^id_bits - 1, so the key bits of a pair are never all ones as those of kEmpty are.
  bool frozen_ = false;
  std::vector<uint64_t, HugePageAllocator<uint64_t>> packed_;
  size_t packed_mask_ = 0;
  unsigned packed_shift_ = 63;
  unsigned id_bits_ = 0, key_bits_ = 0;
  uint64_t key_mask_ = 0;
  bool result_is_priority_ = true;  // tiktoken: the merged token's rank is its id
  std::vector<uint32_t> results_;   // else: result of each priority

  std::vector<Merge> byte_pairs_;  // [a << 8 | b]; empty until freeze
};

}  // namespace blt::bpe
