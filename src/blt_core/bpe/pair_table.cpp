#include "blt_core/bpe/pair_table.hpp"

#include <algorithm>

namespace blt::bpe {

void PairTable::thaw() {
  WideTable wide(kMinSlots);
  wide.reserve(count_);
  for_each([&](uint32_t a, uint32_t b, Merge m) { wide[pack(a, b)] = m; });
  frozen_ = false;
  decltype(packed_)().swap(packed_);
  results_.clear();
  byte_pairs_.clear();
  wide_ = std::move(wide);
}

void PairTable::freeze(const uint32_t* byte_ids) {
  if (frozen()) thaw();
  // Widths of the fields.
  uint32_t max_id = 0;
  for (size_t c = 0; c < 256; ++c) max_id = std::max(max_id, byte_ids[c]);
  bool any = false, priority_fits = true;
  result_is_priority_ = true;
  wide_.for_each([&](uint64_t key, const Merge& m) {
    any = true;
    max_id = std::max({max_id, static_cast<uint32_t>(key >> 32), static_cast<uint32_t>(key), m.result});
    if (m.priority == kNoMerge) priority_fits = false;
    if (m.result != m.priority) result_is_priority_ = false;
  });
  // Otherwise the result is found by priority, which needs one result per priority.
  std::vector<uint32_t> results;
  if (!result_is_priority_ && priority_fits) {
    results.assign(size_t{max_priority_} + 1, kNoMerge);
    wide_.for_each([&](uint64_t, const Merge& m) {
      uint32_t& r = results[m.priority];
      if (r != kNoMerge && r != m.result) priority_fits = false;
      r = m.result;
    });
  }
  // max_id + 1 < 2^id_bits: no id has all id bits set.
  const unsigned id_bits = static_cast<unsigned>(std::bit_width(uint64_t{max_id} + 1));
  const unsigned pri_bits = std::max(1u, static_cast<unsigned>(std::bit_width(max_priority_)));
  if (any && priority_fits && 2 * id_bits + pri_bits <= 64) {
    const size_t cap = probe_capacity_for(count_, kMinSlots);
    id_bits_ = id_bits, key_bits_ = 2 * id_bits;
    key_mask_ = (uint64_t{1} << key_bits_) - 1;
    packed_shift_ = 64 - static_cast<unsigned>(std::countr_zero(cap));
    packed_mask_ = cap - 1;
    results_.swap(results);
    std::vector<uint64_t, HugePageAllocator<uint64_t>> packed(cap, kEmptyKey);
    wide_.for_each([&](uint64_t wide_key, const Merge& m) {
      const uint64_t key = packed_key(static_cast<uint32_t>(wide_key >> 32), static_cast<uint32_t>(wide_key));
      const size_t i = probe(packed_slot_of(key), packed_mask_, [&](size_t j) { return packed[j] == kEmptyKey; });
      packed[i] = uint64_t{m.priority} << key_bits_ | key;
    });
    packed_.swap(packed);
    frozen_ = true;
    wide_.reset(0);
  }
  byte_pairs_.resize(256 * 256);
  for (size_t a = 0; a < 256; ++a)
    for (size_t b = 0; b < 256; ++b) byte_pairs_[a << 8 | b] = find(byte_ids[a], byte_ids[b]);
}

}  // namespace blt::bpe
