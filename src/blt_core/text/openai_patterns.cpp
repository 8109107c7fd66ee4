// The OpenAI split patterns and the stream cut rule they share (proof in openai_patterns.hpp).
#include "blt_core/text/openai_patterns.hpp"

#include <cstdint>

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

bool is_ascii_space(uint8_t b) { return b == ' ' || (b >= 0x09 && b <= 0x0D); }

// The non-ASCII whitespace of both tiktoken (White_Space) and PCRE2 (\s adds U+180E), as UTF-8.
// Byte tests below are conservative: an unknown byte (outside the window) counts as whitespace.
bool is_multibyte_space2(uint8_t a, uint8_t b) { return a == 0xC2 && (b == 0x85 || b == 0xA0); }
bool is_multibyte_space3(uint8_t a, uint8_t b, uint8_t c) {
  if (a == 0xE1) return (b == 0x9A && c == 0x80) || (b == 0xA0 && c == 0x8E);
  if (a == 0xE2)
    return (b == 0x80 && ((c >= 0x80 && c <= 0x8A) || c == 0xA8 || c == 0xA9 || c == 0xAF)) ||
           (b == 0x81 && c == 0x9F);
  if (a == 0xE3) return b == 0x80 && c == 0x80;
  return false;
}

// May a whitespace character start at w[i]? (i < w.size())
bool may_start_space(TextSpan w, size_t i) {
  uint8_t a = w[i];
  if (a < 0x80) return is_ascii_space(a);
  if (a == 0xC2) return i + 1 >= w.size() || is_multibyte_space2(a, w[i + 1]);
  if (a >= 0xE1 && a <= 0xE3) {
    if (i + 2 >= w.size()) return true;
    return is_multibyte_space3(a, w[i + 1], w[i + 2]);
  }
  return false;
}

// May a whitespace character end at w[i]? (i < w.size()); bytes before w[0] are unknown.
bool may_end_space(TextSpan w, size_t i) {
  uint8_t c = w[i];
  if (c < 0x80) return is_ascii_space(c);
  if (c >= 0xC0) return false;  // a lead byte ends no character
  if (i < 2) return true;
  return is_multibyte_space2(w[i - 1], c) || is_multibyte_space3(w[i - 2], w[i - 1], c);
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
