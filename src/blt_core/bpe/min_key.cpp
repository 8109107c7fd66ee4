#include "blt_core/bpe/min_key.hpp"

#if defined(__x86_64__) || defined(_M_X64)
#include "blt_core/bpe/min_key_kernel.hpp"
#endif

namespace blt::bpe {

#if defined(__x86_64__) || defined(_M_X64)
extern template uint32_t MinKey::run<xsimd::avx2>(xsimd::avx2, const uint32_t*, size_t);
extern template uint32_t MinKey::run<xsimd::sse4_2>(xsimd::sse4_2, const uint32_t*, size_t);
#endif

namespace {

#if defined(__x86_64__) || defined(_M_X64)
uint32_t min_avx2(const uint32_t* k, size_t n) { return MinKey::run(xsimd::avx2{}, k, n); }
uint32_t min_sse42(const uint32_t* k, size_t n) { return MinKey::run(xsimd::sse4_2{}, k, n); }
#endif
uint32_t min_generic(const uint32_t* k, size_t n) {
  uint32_t best = k[0];
  for (size_t i = 1; i < n; ++i) best = k[i] < best ? k[i] : best;
  return best;
}

std::vector<std::pair<const char*, MinKeyFn>> usable() {
  std::vector<std::pair<const char*, MinKeyFn>> out;
#if defined(__x86_64__) || defined(_M_X64)
  auto avail = xsimd::available_architectures();
  if (avail.avx2) out.emplace_back("avx2", min_avx2);
  if (avail.sse4_2) out.emplace_back("sse4.2", min_sse42);
#endif
  out.emplace_back("generic", min_generic);
  return out;
}

}  // namespace

MinKeyFn pick_min_key() { return usable().front().second; }

const char* min_key_arch() {
  for (const auto& [name, fn] : usable())
    if (fn == min_key()) return name;
  return "generic";
}

std::vector<std::pair<const char*, MinKeyFn>> min_key_kernels() { return usable(); }

}  // namespace blt::bpe
