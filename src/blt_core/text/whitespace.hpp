// Unicode whitespace (the White_Space property, from the generated class tables): the one test the
// pretokenizers and the special-token matcher share, per code point and per UTF-8 character.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>

#include "blt_core/text/unicode_classes.hpp"

namespace blt::unicode {

// Whether code point cp has the White_Space property (false for utf8::kInvalid).
inline bool is_white_space(uint32_t cp) { return cp < 0x110000 && (flags_of(cp) & kSpace); }

// Byte length of the well-formed whitespace character that ends at text[end - 1], or 0.
size_t whitespace_before(std::span<const uint8_t> text, size_t end);
// Byte length of the well-formed whitespace character that starts at text[pos], or 0.
size_t whitespace_at(std::span<const uint8_t> text, size_t pos);

}  // namespace blt::unicode
