// PairTable: which adjacent token pair merges, into what, and how early (lower priority first).
// Built in 16-byte slots, then frozen into one 8-byte word per pair (ids and priority packed, so a
// probe reads 8 pairs per cache line), plus a direct 256 x 256 table for pairs of single-byte tokens.
#pragma once
#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "blt_core/bpe/huge_page_allocator.hpp"
#include "blt_core/linear_probe_table.hpp"
#include "blt_core/prefetch.hpp"

namespace blt::bpe {

struct Merge {
  uint32_t priority;  // tiktoken: rank of the merged token; HF/GPT-2: line of the merge
  uint32_t result;    // id of the merged token
};

inline constexpr uint32_t kNoMerge = 0xFFFFFFFFu;

class PairTable {
 public:
  void reserve(size_t n) { wide_.reserve(n); }

  // Sets (a, b) -> m, replacing an earlier entry for the same pair (HF keeps the last one too).
  // Undoes freeze() (the packed form is rebuilt by the next freeze()).
  void set(uint32_t a, uint32_t b, Merge m) {
    if (frozen()) thaw();
    byte_pairs_.clear();
    wide_[pack(a, b)] = m;
    count_ = wide_.size();
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
      wide_.prefetch(pack(a, b));
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
        if (w == kEmptyKey) return Merge{kNoMerge, kNoMerge};
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
        if (w == kEmptyKey) continue;
        uint32_t pr = static_cast<uint32_t>(w >> key_bits_);
        f(static_cast<uint32_t>((w & key_mask_) >> id_bits_), static_cast<uint32_t>(w & ((uint64_t{1} << id_bits_) - 1)),
          Merge{pr, result_is_priority_ ? pr : results_[pr]});
      }
      return;
    }
    wide_.for_each([&](uint64_t key, const Merge& m) {
      f(static_cast<uint32_t>(key >> 32), static_cast<uint32_t>(key), m);
    });
  }

 private:
  // Build form: (a << 32 | b) -> merge. Folded home: these keys differ mostly in their low bits.
  using WideTable = LinearProbeTable<Merge, FoldedHome, HugePageAllocator>;
  static constexpr size_t kMinSlots = 1024;
  static uint64_t pack(uint32_t a, uint32_t b) { return (uint64_t{a} << 32) | b; }
  [[gnu::noinline]] Merge find_wide(uint32_t a, uint32_t b) const {
    const Merge* m = wide_.find(pack(a, b));
    return m ? *m : Merge{kNoMerge, kNoMerge};
  }
  void thaw();

  uint64_t packed_key(uint32_t a, uint32_t b) const { return (uint64_t{a} << id_bits_) | b; }
  size_t packed_slot_of(uint64_t key) const { return FibonacciHome::of(key, packed_mask_, packed_shift_); }

  // Build form (and the fallback when ids or priorities are too wide to pack). Never empty before
  // freeze(), so find_wide() needs no size check.
  WideTable wide_{kMinSlots};
  size_t count_ = 0;
  uint32_t max_priority_ = 0;

  // Frozen form: word = priority << key_bits | a << id_bits | b, key_bits = 2 * id_bits. Ids stay
  // below 2^id_bits - 1, so the key bits of a pair are never all ones as those of kEmptyKey are.
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
