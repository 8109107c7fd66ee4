// PatchRule: which BLT patching rule to apply (static, byte, space, BPE delimiter, entropy) and its
// options. Plain data validated once; PatchStream and patch_sequence interpret it.
#pragma once
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

namespace blt::patch {

// BLT special ids (as in ByteCodec): patch rules look at them directly.
inline constexpr uint16_t kBoeId = 0, kBosId = 1, kEosId = 2, kBpeDelimId = 3, kByteOffset = 4;
// Largest id a patcher accepts: 256 byte ids + 4 specials + 5 content-type meta tokens.
inline constexpr uint16_t kMaxId = 264;

struct PatchRule {
  enum class Kind : uint8_t { static_size, byte, space, bpe, entropy };
  Kind kind = Kind::byte;

  // static: every patch after the BOS patch has this many ids (the last may be shorter).
  int32_t patch_size = 4;

  // entropy: start a patch at p >= 2 when H[p-1] > threshold. No threshold means top-k: the
  // floor(len / topk_patch_size) - 2 largest entropies start patches.
  std::optional<double> threshold = 1.335442066192627;
  std::optional<double> threshold_add;  // with threshold: global and relative rule together
  bool monotonicity = false;            // relative rule: H[p-1] - H[p-2] > threshold
  double topk_patch_size = 4.5;

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
