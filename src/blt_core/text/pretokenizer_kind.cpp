// make_pretokenizer_of_kind: the named choice between scanner and PCRE2 (see pretokenizer_kind.hpp).
#include "blt_core/text/pretokenizer_kind.hpp"

#include <stdexcept>
#include <string>

#include "blt_core/text/openai_patterns.hpp"
#include "blt_core/text/openai_scanner.hpp"

namespace blt {

std::string_view pretokenizer_kind_name(PretokenizerKind kind) {
  return kind == PretokenizerKind::scanner ? "scanner" : "regex";
}

ChosenPretokenizer make_pretokenizer_of_kind(std::string_view pattern, std::string_view kind) {
  if (kind == "auto") {
    auto impl = make_pretokenizer(pattern);
    const auto k = find_openai_pattern(pattern) ? PretokenizerKind::scanner : PretokenizerKind::regex;
    return {std::move(impl), k};
  }
  if (kind == "regex") return {make_regex_pretokenizer(pattern), PretokenizerKind::regex};
  if (kind == "scanner") {
    auto impl = make_scanner_pretokenizer(pattern);
    if (!impl)
      throw std::invalid_argument("no scanner for pattern '" + std::string(pattern) +
                                  "' (scanners exist only for the OpenAI r50k/p50k, cl100k and "
                                  "o200k patterns; use kind='regex')");
    return {std::move(impl), PretokenizerKind::scanner};
  }
  throw std::invalid_argument("unknown pretokenizer kind '" + std::string(kind) +
                              "' (expected 'auto', 'scanner' or 'regex')");
}

}  // namespace blt
