// Fuzz target: the hand-written scanners of the OpenAI patterns against PCRE2 on the same pattern
// (same pieces on any bytes, valid UTF-8 or not), and the safe-cut rule of openai_patterns.hpp:
// cutting at openai_safe_split changes no piece.
// The scanners classify code points by Unicode 16.0 (what tiktoken does), PCRE2 10.42 by 14.0;
// code points the two versions class differently (unicode_classes.hpp) are replaced by 'x' first,
// found by asking PCRE2 itself, so the comparison holds whatever PCRE2 version is linked.
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <memory>
#include <unordered_map>

#include "blt_core/text/openai_scanner.hpp"
#include "blt_core/text/pretokenizer.hpp"
#include "blt_core/text/unicode_classes.hpp"
#include "blt_core/text/utf8.hpp"
#include "fuzz_support.hpp"

using namespace blt;

namespace {

struct Pair {
  OpenAIPattern which;
  std::unique_ptr<Pretokenizer> scanner, regex;
};
std::vector<Pair> g_pairs;

// PCRE2's view of the classes in unicode_classes.hpp, one compiled class per flag.
struct Pcre2Classes {
  std::vector<std::pair<uint8_t, pcre2_code*>> classes;
  pcre2_match_data* md = nullptr;
  std::unordered_map<uint32_t, bool> agrees;  // per code point, computed once

  Pcre2Classes() {
    const std::pair<uint8_t, const char*> defs[] = {
        {unicode::kLetter, R"(^\p{L}$)"},
        {unicode::kNumber, R"(^\p{N}$)"},
        {unicode::kSpace, R"(^\s$)"},
        {unicode::kUpperish, R"(^[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]$)"},
        {unicode::kLowerish, R"(^[\p{Ll}\p{Lm}\p{Lo}\p{M}]$)"},
    };
    for (auto [flag, pat] : defs) {
      int err;
      PCRE2_SIZE off;
      pcre2_code* c = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pat), PCRE2_ZERO_TERMINATED,
                                    PCRE2_UTF | PCRE2_UCP, &err, &off, nullptr);
      BLT_FUZZ_CHECK(c, "class pattern compiles");
      classes.push_back({flag, c});
    }
    md = pcre2_match_data_create(4, nullptr);
  }

  bool same_class(uint32_t cp, const uint8_t* p, size_t len) {
    auto it = agrees.find(cp);
    if (it != agrees.end()) return it->second;
    uint8_t pcre_flags = 0;
    for (auto [flag, c] : classes)
      if (pcre2_match(c, p, len, 0, 0, md, nullptr) >= 0) pcre_flags |= flag;
    const uint8_t mask = unicode::kLetter | unicode::kNumber | unicode::kSpace | unicode::kUpperish |
                         unicode::kLowerish;
    return agrees[cp] = (unicode::flags_of(cp) & mask) == pcre_flags;
  }
};
Pcre2Classes* g_classes;

// `text` with every code point whose class differs between the scanner tables and PCRE2 replaced
// by 'x' (invalid bytes are kept: both sides treat them alike by design).
std::vector<uint8_t> comparable(TextSpan text) {
  std::vector<uint8_t> out;
  const uint8_t* p = text.data();
  const uint8_t* end = p + text.size();
  while (p < end) {
    size_t len = 1;
    uint32_t cp = utf8::decode(p, end, len);
    if (cp != utf8::kInvalid && cp >= 0x80 && !g_classes->same_class(cp, p, len))
      out.push_back('x');
    else
      out.insert(out.end(), p, p + len);
    p += len;
  }
  return out;
}

std::vector<uint32_t> pieces(const Pretokenizer& p, TextSpan text) {
  std::vector<uint32_t> ends;
  p.split(text, ends);
  return ends;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  g_classes = new Pcre2Classes();
  for (auto w : {OpenAIPattern::r50k, OpenAIPattern::cl100k, OpenAIPattern::o200k}) {
    auto text = openai_pattern_text(w);
    g_pairs.push_back({w, make_scanner_pretokenizer(text), make_regex_pretokenizer(text)});
    BLT_FUZZ_CHECK(g_pairs.back().scanner, "every OpenAI pattern has a scanner");
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Input in(data, size);
  const size_t target = 1 + in.byte();
  const std::vector<uint8_t> bytes = comparable(in.rest());
  TextSpan text(bytes.data(), bytes.size());
  for (const auto& p : g_pairs) {
    std::vector<uint32_t> a = pieces(*p.scanner, text);
    std::vector<uint32_t> b = pieces(*p.regex, text);
    BLT_FUZZ_CHECK(a == b, "scanner pieces == PCRE2 pieces");
    BLT_FUZZ_CHECK(a.empty() ? text.empty() : a.back() == text.size(), "pieces tile the text");
    for (size_t i = 1; i < a.size(); ++i) BLT_FUZZ_CHECK(a[i] > a[i - 1], "pieces are non-empty");

    size_t cut = openai_safe_split(p.which, text, target);
    BLT_FUZZ_CHECK(p.scanner->safe_split(text, target) == cut, "scanner uses the shared cut rule");
    BLT_FUZZ_CHECK(p.regex->safe_split(text, target) == cut, "PCRE2 uses the shared cut rule");
    if (cut == 0) continue;
    BLT_FUZZ_CHECK(cut <= target && cut < text.size(), "cut bounds");
    // pieces(s) == pieces(s[:p]) ++ (pieces(s[p:]) shifted by p), with PCRE2 as the oracle.
    std::vector<uint32_t> joined = pieces(*p.regex, text.first(cut));
    for (uint32_t e : pieces(*p.regex, text.subspan(cut))) joined.push_back(e + static_cast<uint32_t>(cut));
    BLT_FUZZ_CHECK(joined == b, "cutting at a safe cut changes no piece");
  }
  return 0;
}
