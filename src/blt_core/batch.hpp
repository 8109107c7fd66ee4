// Batch encoding: many documents through one Tokenizer into one ragged result (flat ids + offsets).
// Work is spread by parallel_for over the caller's thread count; no Python, no locks on the hot path.
#pragma once
#include <span>

#include "blt_core/tokenizer.hpp"

namespace blt {

// Encodes each item as a whole document (prefix, body, suffix). threads <= 0: all usable cores.
RaggedIds encode_batch(const Tokenizer& tok, std::span<const ByteSpan> items, DType dt,
                       int threads);

}  // namespace blt
