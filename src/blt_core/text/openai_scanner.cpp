// Hand-written scanners for the OpenAI split patterns (not yet: PCRE2 serves all patterns).
#include "blt_core/text/openai_scanner.hpp"

namespace blt {

std::unique_ptr<Pretokenizer> make_scanner_pretokenizer(std::string_view pattern) {
  (void)pattern;
  return nullptr;
}

}  // namespace blt
