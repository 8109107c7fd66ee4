// UTF-8 decoding for the pretokenizers: one code point or one invalid byte at a time.
// Validity follows the Unicode standard exactly as PCRE2_MATCH_INVALID_UTF does (no overlongs,
// no surrogates, nothing above U+10FFFF), so scanners and PCRE2 agree on which bytes are invalid.
#pragma once
#include <cstddef>
#include <cstdint>

namespace blt::utf8 {

inline constexpr uint32_t kInvalid = 0xFFFFFFFFu;

// Decodes the character at p (p < end). Sets `len` to its byte length; for an ill-formed
// sequence returns kInvalid with len = 1 (the next character may start at the very next byte).
inline uint32_t decode(const uint8_t* p, const uint8_t* end, size_t& len) {
  uint8_t b0 = p[0];
  if (b0 < 0x80) {
    len = 1;
    return b0;
  }
  len = 1;
  auto cont = [&](size_t i) { return p + i < end && (p[i] & 0xC0) == 0x80; };
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    if (!cont(1)) return kInvalid;
    len = 2;
    return (uint32_t(b0 & 0x1F) << 6) | (p[1] & 0x3F);
  }
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    if (!cont(1) || !cont(2)) return kInvalid;
    uint32_t c = (uint32_t(b0 & 0x0F) << 12) | (uint32_t(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
    if (c < 0x800 || (c >= 0xD800 && c <= 0xDFFF)) return kInvalid;
    len = 3;
    return c;
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return kInvalid;
    uint32_t c = (uint32_t(b0 & 0x07) << 18) | (uint32_t(p[1] & 0x3F) << 12) |
                 (uint32_t(p[2] & 0x3F) << 6) | (p[3] & 0x3F);
    if (c < 0x10000 || c > 0x10FFFF) return kInvalid;
    len = 4;
    return c;
  }
  return kInvalid;
}

// Byte length of the character (or invalid byte) at p.
inline size_t char_len(const uint8_t* p, const uint8_t* end) {
  size_t len;
  decode(p, end, len);
  return len;
}

}  // namespace blt::utf8
