// FlatTable: open-addressing hash table from 64-bit keys to a small value, one flat array of
// slots, linear probing. Built once (train/load), then read concurrently without locks.
#pragma once
#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace blt::patch {

template <class Value>
class FlatTable {
 public:
  static constexpr uint64_t kEmpty = ~uint64_t(0);  // never a valid key (keys use < 64 bits)

  struct Slot {
    uint64_t key = kEmpty;
    Value value{};
  };

  FlatTable() { rehash(16); }

  // Capacity for n keys at load factor <= 1/2 (lookups of absent keys stay short).
  void reserve(size_t n) {
    size_t want = std::bit_ceil(std::max<size_t>(16, n * 2));
    if (want > slots_.size()) rehash(want);
  }

  // Value of key, inserted as Value{} when absent.
  Value& operator[](uint64_t key) {
    if ((size_ + 1) * 2 > slots_.size()) rehash(slots_.size() * 2);
    size_t i = index(key);
    while (true) {
      Slot& s = slots_[i];
      if (s.key == key) return s.value;
      if (s.key == kEmpty) {
        s.key = key;
        ++size_;
        return s.value;
      }
      i = (i + 1) & mask_;
    }
  }

  const Value* find(uint64_t key) const {
    size_t i = index(key);
    while (true) {
      const Slot& s = slots_[i];
      if (s.key == key) return &s.value;
      if (s.key == kEmpty) return nullptr;
      i = (i + 1) & mask_;
    }
  }

  // Pulls the first slot of key's probe into cache; lookups a few positions ahead hide the miss.
  void prefetch(uint64_t key) const { __builtin_prefetch(&slots_[index(key)]); }

  size_t size() const { return size_; }
  const std::vector<Slot>& slots() const { return slots_; }
  void clear() { rehash(16); }

 private:
  size_t index(uint64_t key) const {
    return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_);
  }
  void rehash(size_t cap) {
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.assign(cap, Slot{});
    mask_ = cap - 1;
    shift_ = 64 - std::countr_zero(cap);
    size_ = 0;
    for (const Slot& s : old)
      if (s.key != kEmpty) (*this)[s.key] = s.value;
  }

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  int shift_ = 60;
  size_t size_ = 0;
};

}  // namespace blt::patch
