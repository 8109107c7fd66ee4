// Fuzz target: the hand-written scanners of the OpenAI patterns against PCRE2 on the same pattern
// (same pieces on any bytes, valid UTF-8 or not), and the safe-cut rule of openai_patterns.hpp:
// cutting at openai_safe_split changes no piece.
#include <memory>

#include "blt_core/text/openai_scanner.hpp"
#include "blt_core/text/pretokenizer.hpp"
#include "fuzz_support.hpp"

using namespace blt;

namespace {

struct Pair {
  OpenAIPattern which;
  std::unique_ptr<Pretokenizer> scanner, regex;
};
std::vector<Pair> g_pairs;

std::vector<uint32_t> pieces(const Pretokenizer& p, TextSpan text) {
  std::vector<uint32_t> ends;
  p.split(text, ends);
  return ends;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
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
  TextSpan text = in.rest();
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
