#include "blt_core/simd/byte_kernel.hpp"

#include <xsimd/xsimd.hpp>

namespace blt::simd {

#if defined(__x86_64__) || defined(_M_X64)
using ByteKernelArchs = xsimd::arch_list<xsimd::avx2, xsimd::sse4_2, xsimd::sse2>;
extern template void BytesToIds::operator()<xsimd::avx2>(xsimd::avx2, const uint8_t*, size_t,
                                                         uint32_t, DType, void*) const;
extern template void BytesToIds::operator()<xsimd::sse4_2>(xsimd::sse4_2, const uint8_t*, size_t,
                                                           uint32_t, DType, void*) const;
// The sse2 instantiation (x86-64 baseline) is generated in this TU.
template void BytesToIds::operator()<xsimd::sse2>(xsimd::sse2, const uint8_t*, size_t, uint32_t,
                                                  DType, void*) const;
#else
struct PlainArch {
  static constexpr bool available() noexcept { return true; }
  static constexpr const char* name() noexcept { return "generic"; }
};
#endif

void bytes_to_ids(const uint8_t* in, size_t n, uint32_t offset, DType dt, void* out) {
#if defined(__x86_64__) || defined(_M_X64)
  static auto kernel = xsimd::dispatch<ByteKernelArchs>(BytesToIds{});
  kernel(in, n, offset, dt, out);  // dispatcher is stateless after construction: safe to share
#else
  BytesToIds{}(PlainArch{}, in, n, offset, dt, out);
#endif
}

const char* byte_kernel_arch() {
#if defined(__x86_64__) || defined(_M_X64)
  auto avail = xsimd::available_architectures();
  if (avail.avx2) return "avx2";
  if (avail.sse4_2) return "sse4.2";
  return "sse2";
#else
  return "generic";
#endif
}

}  // namespace blt::simd
