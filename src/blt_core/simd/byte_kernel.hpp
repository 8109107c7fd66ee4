// SIMD kernel turning raw bytes into BLT byte ids (byte + offset) in any output dtype.
// One instantiation per instruction set; simd/dispatch.hpp picks the best the CPU has at run time.
#pragma once
#include <cstddef>
#include <cstdint>

#include "blt_core/dtype.hpp"

namespace blt::simd {

// out[i] = in[i] + offset for i < n, written as dtype `dt`.
void bytes_to_ids(const uint8_t* in, size_t n, uint32_t offset, DType dt, void* out);

struct BytesToIds {
  template <class Arch>
  void operator()(Arch, const uint8_t* in, size_t n, uint32_t offset, DType dt, void* out) const;
};

// The body is written as plain loops: compiled in a TU with -mavx2 (or -msse4.2) GCC/Clang
// vectorise them into zero-extending loads and packed adds, which is all this kernel needs.
template <class Arch>
void BytesToIds::operator()(Arch, const uint8_t* in, size_t n, uint32_t offset, DType dt,
                            void* out) const {
  switch (dt) {
    case DType::u16: {
      auto* o = static_cast<uint16_t*>(out);
      const uint16_t off = static_cast<uint16_t>(offset);
      for (size_t i = 0; i < n; ++i) o[i] = static_cast<uint16_t>(in[i] + off);
      break;
    }
    case DType::u32:
    case DType::i32: {
      auto* o = static_cast<uint32_t*>(out);
      for (size_t i = 0; i < n; ++i) o[i] = in[i] + offset;
      break;
    }
    case DType::i64: {
      auto* o = static_cast<int64_t*>(out);
      for (size_t i = 0; i < n; ++i) o[i] = static_cast<int64_t>(in[i]) + offset;
      break;
    }
  }
}

}  // namespace blt::simd
