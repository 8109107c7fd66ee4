// Patching options as a caller states them (rule name, optional sizes, reset bytes), their defaults,
// and their validation into a PatchRule / ContextReset. The one place these rules live.
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "blt_core/patch/entropy_model.hpp"
#include "blt_core/patch/patch_rule.hpp"

namespace blt::patch {

// kDefaultThreshold, kDefaultStaticPatchSize, kDefaultTopkPatchSize: patch_rule.hpp.
// Byte after which the entropy model forgets its context by default (paper §4.4); specials such as
// EOS always reset it.
inline constexpr uint8_t kDefaultResetByte = '\n';

// "static", "byte", "space", "bpe" or "entropy"; throws std::invalid_argument naming the choices.
PatchRule::Kind parse_patch_kind(std::string_view name);
std::string_view patch_kind_name(PatchRule::Kind kind);

struct PatchOptions {
  std::string kind;                        // a name parse_patch_kind accepts
  std::optional<double> patch_size;        // static: an integer >= 1 (required); top-k: > 0
  std::optional<double> threshold;         // entropy: none means top-k
  std::optional<double> threshold_add;     // entropy with a threshold
  bool monotonicity = false;
  std::optional<int64_t> max_patch_length;  // >= 1; none: no limit
  bool include_next_token = false;
  bool force_boundaries = true;
};

// The validated rule of `options`; throws std::invalid_argument naming the bad option and value.
PatchRule make_patch_rule(const PatchOptions& options);

// Adds byte b (0..255) to the reset set; std::invalid_argument otherwise.
void add_reset_byte(ContextReset& reset, int64_t b);
// The reset set of these bytes (each 0..255).
ContextReset context_reset_of_bytes(std::span<const int> bytes);

}  // namespace blt::patch
