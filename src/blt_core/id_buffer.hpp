// IdBuffer: an owning, typed, uninitialised-on-allocation array of token ids (or offsets).
// It is what crosses into Python without a copy: NumPy arrays keep it alive as their base.
#pragma once
#if defined(__linux__)
#include <sys/mman.h>
#endif

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <vector>

#include "blt_core/dtype.hpp"

namespace blt {

class IdBuffer {
 public:
  static constexpr size_t kHugePage = size_t(2) << 20;
  static constexpr size_t kHugeFrom = size_t(4) << 20;  // bytes from which huge pages are asked for

  IdBuffer() = default;

  // n elements of `dt`, not zero-filled (encoders overwrite every element).
  static IdBuffer allocate(DType dt, size_t n) {
    IdBuffer b;
    b.dtype_ = dt;
    b.size_ = n;
    size_t bytes = n * dtype_size(dt);
    if (bytes) {
      // 64-byte alignment keeps SIMD stores on cache lines; malloc would give 16. Large outputs
      // get 2 MiB alignment and transparent huge pages where the kernel offers them on request
      // (as NumPy does from 4 MiB): a fresh 4 KiB page per 4 KiB of ids made a page fault per
      // 2,048 ids, which bounded encoding of large inputs.
      const bool huge = bytes >= kHugeFrom;
      const size_t align = huge ? kHugePage : 64;
      const size_t rounded = (bytes + align - 1) / align * align;
      void* p = std::aligned_alloc(align, rounded);
      if (!p) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
      if (huge) (void)::madvise(p, rounded, MADV_HUGEPAGE);  // a hint: failure changes nothing
#endif
      b.raw_.reset(static_cast<std::byte*>(p));
    }
    return b;
  }

  // Adopts a uint32 vector without copying (BPE encoders grow vectors of unknown length).
  // `dt` is u32 or i32 (same bytes for ids below 2^31).
  static IdBuffer adopt(std::vector<uint32_t>&& v, DType dt = DType::u32) {
    IdBuffer b;
    b.dtype_ = dt;
    b.size_ = v.size();
    b.vec_ = std::move(v);
    return b;
  }

  // Same as adopt for int64 (offset arrays).
  static IdBuffer adopt(std::vector<int64_t>&& v) {
    IdBuffer b;
    b.dtype_ = DType::i64;
    b.size_ = v.size();
    b.vec64_ = std::move(v);
    return b;
  }

  void* data() {
    if (raw_) return raw_.get();
    if (dtype_ == DType::i64 && !vec64_.empty()) return vec64_.data();
    if (!vec_.empty()) return vec_.data();
    return nullptr;
  }
  const void* data() const { return const_cast<IdBuffer*>(this)->data(); }
  template <class T> T* as() { return static_cast<T*>(data()); }
  template <class T> const T* as() const { return static_cast<const T*>(data()); }

  size_t size() const { return size_; }
  DType dtype() const { return dtype_; }
  size_t nbytes() const { return size_ * dtype_size(dtype_); }

  // Shrinks the logical length (the memory stays); used when fewer ids were written than reserved.
  void truncate(size_t n) {
    if (n < size_) size_ = n;
  }

 private:
  struct Free {
    void operator()(std::byte* p) const { std::free(p); }
  };
  DType dtype_ = DType::u32;
  size_t size_ = 0;
  std::unique_ptr<std::byte, Free> raw_;
  std::vector<uint32_t> vec_;
  std::vector<int64_t> vec64_;
};

// Ragged batch result: the ids of item i are ids[offsets[i]:offsets[i+1]].
struct RaggedIds {
  IdBuffer ids;
  IdBuffer offsets;  // int64, length n_items + 1
};

}  // namespace blt
