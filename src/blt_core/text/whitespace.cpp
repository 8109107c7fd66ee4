#include "blt_core/text/whitespace.hpp"

#include "blt_core/text/utf8.hpp"

namespace blt::unicode {

size_t whitespace_before(std::span<const uint8_t> text, size_t end) {
  // The character's lead byte is the first byte, going back, that is not a continuation byte.
  for (size_t len = 1; len <= 4 && len <= end; ++len) {
    if ((text[end - len] & 0xC0) == 0x80) continue;
    size_t got;
    uint32_t cp = utf8::decode(text.data() + end - len, text.data() + end, got);
    return got == len && is_white_space(cp) ? len : 0;
  }
  return 0;
}

size_t whitespace_at(std::span<const uint8_t> text, size_t pos) {
  if (pos >= text.size()) return 0;
  size_t len;
  uint32_t cp = utf8::decode(text.data() + pos, text.data() + text.size(), len);
  return is_white_space(cp) ? len : 0;
}

}  // namespace blt::unicode
