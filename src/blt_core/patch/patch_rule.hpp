// PatchRule: which BLT patching rule to apply (static, byte, space, BPE delimiter, entropy) and its
// options. Plain data validated once; PatchStream and patch_sequence interpret it.
#pragma once
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

#include "blt_core/codec/blt_ids.hpp"

namespace blt::patch {

// Entropy threshold (nats) of the BLT reference's entropy patcher.
inline constexpr double kDefaultThreshold = 1.335442066192627;
// Ids per patch of the static rule when PatchRule is not given one, and the top-k rule's average.
inline constexpr int32_t kDefaultStaticPatchSize = 4;
inline constexpr double kDefaultTopkPatchSize = 4.5;

struct PatchRule {
  enum class Kind : uint8_t { static_size, byte, space, bpe, entropy };
  Kind kind = Kind::byte;

  // static: every patch after the BOS patch has this many ids (the last may be shorter).
  int32_t patch_size = kDefaultStaticPatchSize;

  // entropy: start a patch at p >= 2 when H[p-1] > threshold. No threshold means top-k: the
  // floor(len / topk_patch_size) - 2 largest entropies start patches.
  std::optional<double> threshold = kDefaultThreshold;
  std::optional<double> threshold_add;  // with threshold: global and relative rule together
  bool monotonicity = false;            // relative rule: H[p-1] - H[p-2] > threshold
  double topk_patch_size = kDefaultTopkPatchSize;

  // Patches longer than this are split into [m, m, ..., rest]; 0 means no limit.
  int32_t max_patch_length = 0;
  // Lengths sum to len + 1: the position after the last id is patched too (reference semantics).
  bool include_next_token = false;
  // A BOS inside a sequence is a patch of its own and an EOS ends a patch (packed sequences).
  bool force_boundaries = true;

  bool is_topk() const { return kind == Kind::entropy && !threshold.has_value(); }
  bool needs_ids() const { return kind == Kind::space || kind == Kind::bpe; }
  bool needs_entropies() const { return kind == Kind::entropy; }

  void validate() const {
    if (kind == Kind::static_size && patch_size < 1)
      throw std::invalid_argument("static patch_size must be >= 1, got " +
                                  std::to_string(patch_size));
    if (is_topk() && !(topk_patch_size > 0))
      throw std::invalid_argument("entropy patching without a threshold needs patch_size > 0");
    if (max_patch_length < 0)
      throw std::invalid_argument("max_patch_length must be >= 1 (or unset), got " +
                                  std::to_string(max_patch_length));
    if (threshold_add && !threshold)
      throw std::invalid_argument("threshold_add needs a threshold");
  }
};

}  // namespace blt::patch
