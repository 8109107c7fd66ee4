// LinearProbeTable: the one open-addressing scheme of the core's hash tables (BPE pair table, patch
// n-gram tables): 64-bit keys, power-of-two slot arrays, linear probing, an all-ones empty key.
#pragma once
#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "blt_core/prefetch.hpp"

namespace blt {

// Marks a free slot. Never a key: every table's keys leave at least one bit of 64 clear.
inline constexpr uint64_t kEmptyKey = ~uint64_t(0);

// Slots for n keys: a power of two, at least min_capacity, load below 1/2 (probe runs of absent
// keys stay short, and every run ends at an empty slot).
inline size_t probe_capacity_for(size_t n, size_t min_capacity) {
  return std::bit_ceil(std::max(min_capacity, n * 2 + 2));
}

// Index of the first slot from `home` on (wrapping by `mask`) for which stop(index) holds; the
// caller guarantees one exists (an empty slot, since load stays below 1).
template <class Stop>
inline size_t probe(size_t home, size_t mask, Stop&& stop) {
  size_t i = home;
  while (!stop(i)) i = (i + 1) & mask;
  return i;
}

// Where a key's probe starts. Fibonacci hashing: the top bits of key * an odd constant.
struct FibonacciHome {
  static size_t of(uint64_t key, size_t /*mask*/, unsigned shift) {
    return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> shift);
  }
};
// The same product folded (h ^ h >> 31) and masked: spreads keys whose low bits vary little.
struct FoldedHome {
  static size_t of(uint64_t key, size_t mask, unsigned /*shift*/) {
    const uint64_t h = key * 0x9E3779B97F4A7C15ull;
    return static_cast<size_t>(h ^ (h >> 31)) & mask;
  }
};

// Key -> Value map. Built by one thread (insert/rehash), then read by many without locks.
template <class Value, class Home = FibonacciHome, template <class> class Alloc = std::allocator>
class LinearProbeTable {
 public:
  struct Slot {
    uint64_t key = kEmptyKey;
    Value value{};
  };
  using Slots = std::vector<Slot, Alloc<Slot>>;

  explicit LinearProbeTable(size_t min_capacity = 16) : min_capacity_(min_capacity) {
    reset(min_capacity);
  }

  void reserve(size_t n) {
    const size_t cap = probe_capacity_for(n, min_capacity_);
    if (cap > slots_.size()) rehash(cap);
  }

  // Value of key, inserted as Value{} when absent.
  Value& operator[](uint64_t key) {
    if ((size_ + 1) * 2 > slots_.size()) rehash(std::max(min_capacity_, slots_.size() * 2));
    Slot& s = slots_[probe(home(key), mask_, [&](size_t i) {
      return slots_[i].key == key || slots_[i].key == kEmptyKey;
    })];
    if (s.key == kEmptyKey) {
      s.key = key;
      ++size_;
    }
    return s.value;
  }

  // The value of key, or nullptr. Needs capacity() > 0.
  const Value* find(uint64_t key) const {
    const Slot& s = slots_[probe(home(key), mask_, [&](size_t i) {
      return slots_[i].key == key || slots_[i].key == kEmptyKey;
    })];
    return s.key == key ? &s.value : nullptr;
  }

  // Starts loading the first slot of key's probe; lookups a few keys ahead hide the miss.
  void prefetch(uint64_t key) const { prefetch_line(slots_.data() + home(key)); }

  size_t size() const { return size_; }
  size_t capacity() const { return slots_.size(); }
  // Every slot, empty ones (key kEmptyKey) included, in slot order.
  const Slots& slots() const { return slots_; }

  // Calls f(key, value) for every entry, in slot order.
  template <class F>
  void for_each(F&& f) const {
    for (const Slot& s : slots_)
      if (s.key != kEmptyKey) f(s.key, s.value);
  }

  // Empties the table, leaving `capacity` slots (a power of two; 0 frees the memory, and then
  // nothing but reset() or reserve() may follow).
  void reset(size_t capacity) {
    Slots fresh(capacity);
    slots_.swap(fresh);
    mask_ = capacity ? capacity - 1 : 0;
    shift_ = capacity ? 64 - static_cast<unsigned>(std::countr_zero(capacity)) : 63;
    size_ = 0;
  }
  void clear() { reset(min_capacity_); }

 private:
  size_t home(uint64_t key) const { return Home::of(key, mask_, shift_); }
  void rehash(size_t capacity) {
    Slots old;
    old.swap(slots_);
    reset(capacity);
    for (const Slot& s : old)
      if (s.key != kEmptyKey) (*this)[s.key] = s.value;
  }

  Slots slots_;
  size_t mask_ = 0;
  unsigned shift_ = 63;
  size_t size_ = 0;
  size_t min_capacity_;
};

}  // namespace blt
