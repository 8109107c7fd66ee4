// SSE4.2 instantiation of the byte-id kernel (this file alone is compiled with -msse4.2).
#include <xsimd/xsimd.hpp>

#include "blt_core/simd/byte_kernel.hpp"

namespace blt::simd {
template void BytesToIds::operator()<xsimd::sse4_2>(xsimd::sse4_2, const uint8_t*, size_t,
                                                    uint32_t, DType, void*) const;
}
