// Hand-written scanners for the OpenAI split patterns: the same pieces as PCRE2, much faster.
// ASCII goes through a 256-entry class table, other code points through generated Unicode tables.
#pragma once
#include <memory>
#include <string_view>

#include "blt_core/text/pretokenizer.hpp"

namespace blt {

// The scanner for `pattern` if it is exactly one of the OpenAI patterns, otherwise nullptr.
std::unique_ptr<Pretokenizer> make_scanner_pretokenizer(std::string_view pattern);

}  // namespace blt
