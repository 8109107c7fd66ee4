// SSE4.2 instantiation of the merge-key minimum (this file alone is compiled with -msse4.2).
#include <xsimd/xsimd.hpp>

#include "blt_core/bpe/min_key_kernel.hpp"

namespace blt::bpe {
template uint32_t MinKey::run<xsimd::sse4_2>(xsimd::sse4_2, const uint32_t*, size_t);
}
