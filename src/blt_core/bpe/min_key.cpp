#include "blt_core/bpe/min_key.hpp"

#include "blt_core/simd/dispatch.hpp"
#if BLT_SIMD_X86
#include "blt_core/bpe/min_key_kernel.hpp"
#endif

namespace blt::bpe {

#if BLT_SIMD_X86
extern template uint32_t MinKey::run<xsimd::avx2>(xsimd::avx2, const uint32_t*, size_t);
extern template uint32_t MinKey::run<xsimd::sse4_2>(xsimd::sse4_2, const uint32_t*, size_t);
#endif

namespace {

#if BLT_SIMD_X86
uint32_t min_avx2(const uint32_t* k, size_t n) { return MinKey::run(xsimd::avx2{}, k, n); }
uint32_t min_sse42(const uint32_t* k, size_t n) { return MinKey::run(xsimd::sse4_2{}, k, n); }
#endif
uint32_t min_generic(const uint32_t* k, size_t n) {
  uint32_t best = k[0];
  for (size_t i = 1; i < n; ++i) best = k[i] < best ? k[i] : best;
  return best;
}

// SSE2 has no unsigned 32-bit minimum: below SSE4.2 the plain loop serves.
std::pair<const char*, MinKeyFn> kernel_for(simd::Isa isa) {
#if BLT_SIMD_X86
  if (isa == simd::Isa::avx2) return {"avx2", min_avx2};
  if (isa == simd::Isa::sse4_2) return {"sse4.2", min_sse42};
#endif
  (void)isa;
  return {"generic", min_generic};
}

}  // namespace

MinKeyFn pick_min_key() { return kernel_for(simd::best_isa()).second; }

const char* min_key_arch() { return kernel_for(simd::best_isa()).first; }

std::vector<std::pair<const char*, MinKeyFn>> min_key_kernels() {
  std::vector<std::pair<const char*, MinKeyFn>> out;
  for (simd::Isa isa : simd::usable_isas()) {
    auto k = kernel_for(isa);
    if (out.empty() || out.back().second != k.second) out.push_back(k);
  }
  return out;
}

}  // namespace blt::bpe
