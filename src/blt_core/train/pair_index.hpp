// PairIndex: the merge engine's map from a token pair (left, right) to a dense pair number.
// Open addressing over 12-byte slots at up to 3/4 load: the trainer's largest table, kept small.
#pragma once
#include <bit>
#include <cstdint>
#include <vector>

namespace blt::train {

// LinearProbeTable (linear_probe_table.hpp) serves read-mostly tables at load below 1/2 with
// 64-bit keys; here hundreds of thousands of pairs are inserted during training and looked up a
// few times each, so memory matters more than probe length: 32-bit halves, no padding, 3/4 load.
class PairIndex {
 public:
  static constexpr uint32_t kAbsent = 0xFFFFFFFFu;

  PairIndex() { rehash(1024); }

  // The number of (a, b); if absent, `next` is stored and returned.
  uint32_t find_or_insert(uint32_t a, uint32_t b, uint32_t next) {
    if ((size_ + 1) * 4 > slots_.size() * 3) rehash(slots_.size() * 2);
    Slot& s = slots_[locate(a, b)];
    if (s.number == kAbsent) {
      s = {a, b, next};
      ++size_;
    }
    return s.number;
  }
  // The number of (a, b), or kAbsent.
  uint32_t find(uint32_t a, uint32_t b) const { return slots_[locate(a, b)].number; }

  size_t size() const { return size_; }

 private:
  struct Slot {
    uint32_t left = 0, right = 0;
    uint32_t number = kAbsent;
  };
  size_t locate(uint32_t a, uint32_t b) const {
    const uint64_t h = ((uint64_t{a} << 32) | b) * 0x9E3779B97F4A7C15ull;
    size_t i = static_cast<size_t>(h >> shift_);
    while (slots_[i].number != kAbsent && (slots_[i].left != a || slots_[i].right != b)) i = (i + 1) & mask_;
    return i;
  }
  void rehash(size_t capacity) {
    std::vector<Slot> old(capacity);
    old.swap(slots_);
    mask_ = capacity - 1;
    shift_ = 64 - static_cast<unsigned>(std::countr_zero(capacity));
    for (const Slot& s : old)
      if (s.number != kAbsent) slots_[locate(s.left, s.right)] = s;
  }

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  unsigned shift_ = 64;
  size_t size_ = 0;
};

}  // namespace blt::train
