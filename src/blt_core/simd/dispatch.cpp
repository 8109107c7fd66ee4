#include "blt_core/simd/dispatch.hpp"

namespace blt::simd {

std::vector<Isa> usable_isas() {
  std::vector<Isa> out;
#if BLT_SIMD_X86
  const auto avail = xsimd::available_architectures();
  if (avail.avx2) out.push_back(Isa::avx2);
  if (avail.sse4_2) out.push_back(Isa::sse4_2);
  out.push_back(Isa::sse2);  // part of x86-64
#endif
  out.push_back(Isa::generic);
  return out;
}

Isa best_isa() {
  static const Isa best = usable_isas().front();
  return best;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx2: return "avx2";
    case Isa::sse4_2: return "sse4.2";
    case Isa::sse2: return "sse2";
    case Isa::generic: return "generic";
  }
  return "generic";
}

const char* kernel_arch() { return isa_name(best_isa()); }

}  // namespace blt::simd
