// AVX2 instantiation of the byte-id kernel (this file alone is compiled with -mavx2).
#include <xsimd/xsimd.hpp>

#include "blt_core/simd/byte_kernel.hpp"

namespace blt::simd {
template void BytesToIds::operator()<xsimd::avx2>(xsimd::avx2, const uint8_t*, size_t, uint32_t,
                                                  DType, void*) const;
}
