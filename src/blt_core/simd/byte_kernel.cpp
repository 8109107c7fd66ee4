#include "blt_core/simd/byte_kernel.hpp"

#include "blt_core/simd/dispatch.hpp"

namespace blt::simd {

#if BLT_SIMD_X86
extern template void BytesToIds::operator()<xsimd::avx2>(xsimd::avx2, const uint8_t*, size_t,
                                                         uint32_t, DType, void*) const;
extern template void BytesToIds::operator()<xsimd::sse4_2>(xsimd::sse4_2, const uint8_t*, size_t,
                                                           uint32_t, DType, void*) const;
#endif

void bytes_to_ids(const uint8_t* in, size_t n, uint32_t offset, DType dt, void* out) {
  run_best(BytesToIds{}, in, n, offset, dt, out);
}

}  // namespace blt::simd
