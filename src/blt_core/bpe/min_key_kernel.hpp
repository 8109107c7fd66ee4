// MinKey: the per-instruction-set body of min_key (see min_key.hpp), for the files that
// instantiate it (min_key_avx2.cpp, min_key_sse42.cpp, each compiled with its -m flags).
#pragma once
#include <cstddef>
#include <cstdint>

#include <xsimd/xsimd.hpp>

#include "blt_core/bpe/min_key.hpp"

namespace blt::bpe {

struct MinKey {
  template <class Arch>
  static uint32_t run(Arch, const uint32_t* keys, size_t n);
};

namespace detail {
// Lane i takes lane i + Shift (mod size): folding by halves leaves the minimum in every lane.
template <unsigned Shift>
struct RotateLanes {
  static constexpr unsigned get(unsigned i, unsigned n) { return (i + Shift) % n; }
};
template <unsigned Shift, class B>
B fold_min(B v) {
  if constexpr (Shift == 0) {
    return v;
  } else {
    using U = xsimd::batch<uint32_t, typename B::arch_type>;
    v = xsimd::min(v, xsimd::swizzle(v, xsimd::make_batch_constant<U, RotateLanes<Shift>>()));
    return fold_min<Shift / 2>(v);
  }
}
}  // namespace detail

// One packed unsigned minimum per batch of keys, then a fold of the lanes. Not inline, so that
// only the per-arch files instantiate it.
template <class Arch>
uint32_t MinKey::run(Arch, const uint32_t* keys, size_t n) {
  using B = xsimd::batch<uint32_t, Arch>;
  static_assert(kMinKeyBlock % B::size == 0);
  B acc = B::load_unaligned(keys);
  for (size_t i = B::size; i < n; i += B::size) acc = xsimd::min(acc, B::load_unaligned(keys + i));
  return detail::fold_min<B::size / 2>(acc).get(0);
}

}  // namespace blt::bpe
