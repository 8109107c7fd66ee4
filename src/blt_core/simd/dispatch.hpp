// CPU dispatch of the SIMD kernels (byte ids, merge-key minimum, n-gram hashes): the instruction
// sets they are built for, the one run-time choice among them, and the scalar fallback.
#pragma once
#include <vector>

#include <xsimd/xsimd.hpp>

// x86-64 builds each kernel for AVX2 and SSE4.2 (files *_avx2.cpp / *_sse42.cpp, compiled with
// their -m flags) and SSE2 (the baseline); other targets use the plain C++ body of each kernel.
#if defined(__x86_64__) || defined(_M_X64)
#define BLT_SIMD_X86 1
#else
#define BLT_SIMD_X86 0
#endif

namespace blt::simd {

enum class Isa { generic, sse2, sse4_2, avx2 };

// The best instruction set this CPU runs among those above, chosen once (on first use, thread-safe).
Isa best_isa();
// Every one of them this CPU runs, best first, generic last (for tests comparing kernels).
std::vector<Isa> usable_isas();
// "avx2", "sse4.2", "sse2" or "generic".
const char* isa_name(Isa isa);
// isa_name(best_isa()).
const char* kernel_arch();

// Architecture tag of the plain C++ kernel bodies on targets without x86 SIMD.
struct ScalarArch {
  static constexpr bool available() noexcept { return true; }
  static constexpr const char* name() noexcept { return "generic"; }
};

// kernel(arch, args...) with the xsimd architecture tag of best_isa(). The caller's translation
// unit declares the avx2 and sse4_2 instantiations extern (they live in the *_avx2/_sse42 files).
template <class Kernel, class... Args>
decltype(auto) run_best(const Kernel& kernel, Args&&... args) {
#if BLT_SIMD_X86
  switch (best_isa()) {
    case Isa::avx2: return kernel(xsimd::avx2{}, std::forward<Args>(args)...);
    case Isa::sse4_2: return kernel(xsimd::sse4_2{}, std::forward<Args>(args)...);
    default: return kernel(xsimd::sse2{}, std::forward<Args>(args)...);
  }
#else
  return kernel(ScalarArch{}, std::forward<Args>(args)...);
#endif
}

}  // namespace blt::simd
