// One-shot patching of whole sequences and of ragged batches (each sequence on its own, in
// parallel), including top-k entropy patching, which needs the whole sequence at once.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "blt_core/id_buffer.hpp"
#include "blt_core/patch/patch_rule.hpp"

namespace blt::patch {

class EntropyModel;
struct ContextReset;

// Patch lengths of one sequence of n positions. `ids` may be null for the entropy rule (then no
// boundaries are forced); `entropies` (n values) is required by the entropy rule.
void patch_sequence(const PatchRule& rule, const uint16_t* ids, const float* entropies, size_t n,
                    std::vector<int32_t>& out);

// Ragged batch: sequence i is ids[offsets[i]:offsets[i+1]] (entropies likewise, either may be
// null as above). Result: int32 lengths + int64 offsets. threads <= 0: all usable cores.
RaggedIds patch_batch(const PatchRule& rule, const uint16_t* ids, const float* entropies,
                      std::span<const int64_t> offsets, int threads);

// Same, with entropies computed per sequence by `model` (never across sequences).
RaggedIds patch_batch_with_model(const PatchRule& rule, const EntropyModel& model,
                                 const ContextReset& reset, const uint16_t* ids,
                                 std::span<const int64_t> offsets, int threads);

// Entropies of every position of a ragged batch, each sequence from a fresh context.
void entropies_batch(const EntropyModel& model, const ContextReset& reset, const uint16_t* ids,
                     std::span<const int64_t> offsets, float* out, int threads);

}  // namespace blt::patch
