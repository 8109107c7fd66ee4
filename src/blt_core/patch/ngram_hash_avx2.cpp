// avx2 instantiation of the n-gram hash kernel (this file alone gets the avx2 -m flags).
#include <xsimd/xsimd.hpp>

#include "blt_core/patch/ngram_hash.hpp"

namespace blt::patch {
template void NgramHashKernel::operator()<xsimd::avx2>(xsimd::avx2, const NgramHashJob&) const;
template void FloorModKernel::operator()<xsimd::avx2>(xsimd::avx2, const uint64_t*, int64_t*,
                                                      size_t, uint64_t) const;
}
