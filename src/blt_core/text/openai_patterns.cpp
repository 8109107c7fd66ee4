// The OpenAI split patterns and the stream cut rule they share (proof in openai_patterns.hpp).
#include "blt_core/text/openai_patterns.hpp"

#include <cstdint>

#include "blt_core/text/whitespace.hpp"

namespace blt {

namespace {

constexpr std::string_view kR50k =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
constexpr std::string_view kCl100k =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kO200k =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

bool is_ascii_alnum(uint8_t b) {
  return (b >= '0' && b <= '9') || (b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z');
}

// Whether a whitespace character may start (end) at w[i]. The White_Space test is the one of
// text/whitespace.hpp; the window only adds that a character cut off by its edge may be whitespace
// (only lead bytes C2 and E1..E3 start one), so an unknown byte never makes a cut look safe.
bool may_start_space(TextSpan w, size_t i) {
  const uint8_t a = w[i];
  if (a < 0x80) return unicode::is_white_space(a);
  if (a == 0xC2 && i + 1 >= w.size()) return true;
  if (a >= 0xE1 && a <= 0xE3 && i + 2 >= w.size()) return true;
  return unicode::whitespace_at(w, i) != 0;
}

// Bytes before w[0] are unknown.
bool may_end_space(TextSpan w, size_t i) {
  const uint8_t c = w[i];
  if (c < 0x80) return unicode::is_white_space(c);
  if (c >= 0xC0) return false;  // a lead byte ends no character
  if (i < 2) return true;
  return unicode::whitespace_before(w, i + 1) != 0;
}

}  // namespace

std::string_view openai_pattern_text(OpenAIPattern p) {
  switch (p) {
    case OpenAIPattern::r50k: return kR50k;
    case OpenAIPattern::cl100k: return kCl100k;
    case OpenAIPattern::o200k: return kO200k;
  }
  return {};
}

std::optional<OpenAIPattern> find_openai_pattern(std::string_view pattern) {
  for (auto p : {OpenAIPattern::r50k, OpenAIPattern::cl100k, OpenAIPattern::o200k})
    if (pattern == openai_pattern_text(p)) return p;
  return std::nullopt;
}

size_t openai_safe_split(OpenAIPattern pat, TextSpan w, size_t target) {
  if (w.size() < 2) return 0;
  size_t p = target < w.size() - 1 ? target : w.size() - 1;
  for (; p >= 1; --p) {
    uint8_t before = w[p - 1], at = w[p];
    if (at == ' ' && is_ascii_alnum(before)) return p;  // rule (A)
    if (before != '\n' || may_start_space(w, p)) continue;
    if (pat == OpenAIPattern::o200k && at == '/') continue;
    if (pat == OpenAIPattern::r50k && (p < 2 || may_end_space(w, p - 2))) continue;
    return p;  // rule (B)
  }
  return 0;
}

}  // namespace blt
