// PageAllocator: a std::allocator whose blocks of kMinMapped bytes or more come straight from the
// kernel (mmap) and go back to it when freed (munmap); smaller ones use malloc.
#pragma once
#include <cstddef>
#include <cstdlib>
#include <new>

#include <sys/mman.h>

namespace blt {

// Why: the file pipeline's chunk and stage buffers are freed and re-made as chunk sizes change,
// and glibc raises its mmap threshold after each freed mapped block, so later buffers come from
// the heap and freed ones stay in it: a run under memcap then held up to ~20 MiB of such slack.
// Mapped blocks are returned when freed, so what the pipeline holds is what its plan counts.
template <class T>
struct PageAllocator {
  using value_type = T;
  static constexpr size_t kMinMapped = size_t{256} << 10;

  PageAllocator() = default;
  template <class U>
  PageAllocator(const PageAllocator<U>&) {}

  T* allocate(size_t n) {
    if (n > static_cast<size_t>(-1) / sizeof(T)) throw std::bad_array_new_length();
    const size_t bytes = n * sizeof(T);
    if (bytes < kMinMapped) {
      if (void* p = std::malloc(bytes ? bytes : 1)) return static_cast<T*>(p);
      throw std::bad_alloc();
    }
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t n) noexcept {
    const size_t bytes = n * sizeof(T);
    if (bytes < kMinMapped)
      std::free(p);
    else
      ::munmap(p, bytes);
  }

  template <class U>
  bool operator==(const PageAllocator<U>&) const { return true; }
};

}  // namespace blt
