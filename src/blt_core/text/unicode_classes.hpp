// Unicode character classes the OpenAI split patterns distinguish, per code point (Unicode 16.0.0,
// the version tiktoken's regex uses). Tables are generated data: tools/gen_unicode_tables.py.
#pragma once
#include <cstdint>

// Why 16.0: classifying all 1,111,936 non-ASCII scalar values by how tiktoken 0.14 splits probe
// texts (tools/check_unicode_classes.py) matches Unicode 16.0 exactly, and differs from 14.0 on
// 9,485 code points, from 15.0 on 5,055 and from 17.0 on 17,560. PCRE2 10.42 (Unicode 14.0)
// differs from tiktoken on those 9,485 (unassigned in 14.0, letters/marks/numbers by 16.0) and on
// U+180E, which PCRE2's \s matches although it is no longer White_Space.
namespace blt::unicode {

// Flags of one code point. A code point may carry several (Lm/Lo: kLetter|kUpperish|kLowerish).
enum : uint8_t {
  kLetter = 1,     // \p{L}: Lu Ll Lt Lm Lo
  kNumber = 2,     // \p{N}: Nd Nl No
  kSpace = 4,      // \s: the White_Space property
  kUpperish = 8,   // o200k [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]
  kLowerish = 16,  // o200k [\p{Ll}\p{Lm}\p{Lo}\p{M}]
};

extern const char kUnicodeVersion[];  // "16.0.0"

// Two-stage lookup: block number of cp >> 7, then the flags of cp in that 128-code-point block.
extern const uint8_t kClassStage1[0x110000 >> 7];
extern const uint8_t kClassStage2[];

inline uint8_t flags_of(uint32_t cp) {
  return kClassStage2[(uint32_t(kClassStage1[cp >> 7]) << 7) | (cp & 127)];
}

}  // namespace blt::unicode
