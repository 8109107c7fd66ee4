// sse4_2 instantiation of the n-gram hash kernel (this file alone gets the sse4_2 -m flags).
#include <xsimd/xsimd.hpp>

#include "blt_core/patch/ngram_hash.hpp"

namespace blt::patch {
template void NgramHashKernel::operator()<xsimd::sse4_2>(xsimd::sse4_2, const NgramHashJob&) const;
template void FloorModKernel::operator()<xsimd::sse4_2>(xsimd::sse4_2, const uint64_t*, int64_t*,
                                                      size_t, uint64_t) const;
}
