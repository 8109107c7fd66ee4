#include "blt_core/patch/patch_options.hpp"

#include <cmath>
#include <sstream>
#include <stdexcept>

#include "blt_core/codec/blt_ids.hpp"

namespace blt::patch {

namespace {
// Shortest text that reads back as v (2.5, 4, 1e+30), for messages.
std::string number_text(double v) {
  std::ostringstream s;
  s.precision(17);
  s << v;
  return s.str();
}
}  // namespace

PatchRule::Kind parse_patch_kind(std::string_view name) {
  using Kind = PatchRule::Kind;
  for (Kind k : {Kind::static_size, Kind::byte, Kind::space, Kind::bpe, Kind::entropy})
    if (name == patch_kind_name(k)) return k;
  throw std::invalid_argument("unknown patching rule '" + std::string(name) +
                              "' (expected static, byte, space, bpe or entropy)");
}

std::string_view patch_kind_name(PatchRule::Kind kind) {
  switch (kind) {
    case PatchRule::Kind::static_size: return "static";
    case PatchRule::Kind::byte: return "byte";
    case PatchRule::Kind::space: return "space";
    case PatchRule::Kind::bpe: return "bpe";
    case PatchRule::Kind::entropy: return "entropy";
  }
  return "?";
}

PatchRule make_patch_rule(const PatchOptions& o) {
  PatchRule r;
  r.kind = parse_patch_kind(o.kind);
  if (o.max_patch_length && *o.max_patch_length < 1)
    throw std::invalid_argument("max_patch_length must be >= 1 or unset, got " +
                                std::to_string(*o.max_patch_length));
  if (o.max_patch_length && *o.max_patch_length > INT32_MAX)
    throw std::invalid_argument("max_patch_length is too large: " + std::to_string(*o.max_patch_length));
  if (r.kind == PatchRule::Kind::static_size) {
    const double s = o.patch_size.value_or(0);
    if (!o.patch_size || !(s >= 1) || s != std::floor(s) || s > INT32_MAX)
      throw std::invalid_argument("static patch_size must be an integer >= 1, got " +
                                  (o.patch_size ? number_text(s) : std::string("none")));
    r.patch_size = static_cast<int32_t>(s);
  }
  r.threshold = o.threshold;
  if (r.kind == PatchRule::Kind::entropy && !o.threshold) {
    if (!o.patch_size || !(*o.patch_size > 0))
      throw std::invalid_argument("entropy patching needs a threshold, or patch_size > 0 for top-k");
    r.topk_patch_size = *o.patch_size;
  }
  r.threshold_add = o.threshold_add;
  r.monotonicity = o.monotonicity;
  r.max_patch_length = static_cast<int32_t>(o.max_patch_length.value_or(0));
  r.include_next_token = o.include_next_token;
  r.force_boundaries = o.force_boundaries;
  r.validate();
  return r;
}

void add_reset_byte(ContextReset& reset, int64_t b) {
  if (b < 0 || b > 255) throw std::invalid_argument("reset byte out of range 0..255: " + std::to_string(b));
  reset.byte[static_cast<size_t>(b)] = true;
}

ContextReset context_reset_of_bytes(std::span<const int> bytes) {
  ContextReset r;
  for (int b : bytes) add_reset_byte(r, b);
  return r;
}

}  // namespace blt::patch
