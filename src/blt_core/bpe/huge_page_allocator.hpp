// HugePageAllocator: a std::allocator for the big, randomly probed lookup tables (pair and rank
// slots). Blocks of 2 MiB or more are 2 MiB-aligned and asked to be backed by transparent huge pages.
#pragma once
#include <cstddef>
#include <cstdlib>
#include <new>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace blt::bpe {

// Why: the tables are 4-16 MB and every lookup lands on a random slot, so with 4 KiB pages most
// lookups also miss the TLB (a page walk on top of the cache miss). Linux backs a 2 MiB-aligned,
// madvise(MADV_HUGEPAGE)d range with huge pages when the system allows it ("madvise" or "always"
// mode); elsewhere, or when refused, this is a plain aligned allocation.
template <class T>
struct HugePageAllocator {
  using value_type = T;
  static constexpr size_t kHuge = size_t{2} << 20;

  HugePageAllocator() = default;
  template <class U>
  HugePageAllocator(const HugePageAllocator<U>&) {}

  T* allocate(size_t n) {
    if (n > static_cast<size_t>(-1) / sizeof(T)) throw std::bad_array_new_length();
    size_t bytes = n * sizeof(T);
    if (bytes < kHuge) {
      if (void* p = std::malloc(bytes ? bytes : 1)) return static_cast<T*>(p);
      throw std::bad_alloc();
    }
    bytes = (bytes + kHuge - 1) & ~(kHuge - 1);  // aligned_alloc needs a multiple of the alignment
    void* p = std::aligned_alloc(kHuge, bytes);
    if (!p) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    madvise(p, bytes, MADV_HUGEPAGE);  // a hint: failure only means small pages
#endif
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t) noexcept { std::free(p); }

  template <class U>
  bool operator==(const HugePageAllocator<U>&) const { return true; }
};

}  // namespace blt::bpe
