// Choosing a pretokenizer implementation by name: "auto" (scanner for the OpenAI patterns, else
// PCRE2), "scanner" or "regex", so callers and tests can compare the two on the same pattern.
#pragma once
#include <memory>
#include <string_view>

#include "blt_core/text/pretokenizer.hpp"

namespace blt {

enum class PretokenizerKind { scanner, regex };

std::string_view pretokenizer_kind_name(PretokenizerKind kind);  // "scanner" / "regex"

struct ChosenPretokenizer {
  std::unique_ptr<Pretokenizer> impl;
  PretokenizerKind kind;
};

// Throws std::invalid_argument for an unknown kind, for "scanner" with a pattern that has no
// scanner, and (from PCRE2) for a regex that does not compile.
ChosenPretokenizer make_pretokenizer_of_kind(std::string_view pattern, std::string_view kind);

}  // namespace blt
