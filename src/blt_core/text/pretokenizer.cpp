// Factories: the fastest correct pretokenizer for a pattern (scanner if known, else PCRE2).
#include "blt_core/text/pretokenizer.hpp"

#include "blt_core/text/openai_scanner.hpp"
#include "blt_core/text/regex_pretokenizer.hpp"

namespace blt {

std::unique_ptr<Pretokenizer> make_pretokenizer(std::string_view pattern) {
  if (auto scanner = make_scanner_pretokenizer(pattern)) return scanner;
  return std::make_unique<RegexPretokenizer>(pattern);
}

std::unique_ptr<Pretokenizer> make_regex_pretokenizer(std::string_view pattern) {
  return std::make_unique<RegexPretokenizer>(pattern);
}

}  // namespace blt
