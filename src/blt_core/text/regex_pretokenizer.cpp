// RegexPretokenizer: PCRE2 (8-bit, UTF + UCP, invalid UTF tolerated, JIT) with find-iter pieces.
#include "blt_core/text/regex_pretokenizer.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <stdexcept>

#include "blt_core/text/openai_patterns.hpp"
#include "blt_core/text/utf8.hpp"

namespace blt {

namespace {

std::string pcre2_message(int code) {
  PCRE2_UCHAR buf[256];
  int n = pcre2_get_error_message(code, buf, sizeof buf);
  return n < 0 ? "PCRE2 error " + std::to_string(code) : std::string(reinterpret_cast<char*>(buf));
}

// JIT stack bounds: the OpenAI patterns need almost none (single-character repeats backtrack
// without frames); the cap only keeps a pathological user pattern from eating memory.
constexpr size_t kJitStackStart = 32 * 1024;
constexpr size_t kJitStackMax = 8 * 1024 * 1024;

}  // namespace

struct RegexPretokenizer::Code {
  pcre2_code* code = nullptr;
  ~Code() { pcre2_code_free(code); }
};

// Per-thread match state. Match data with one ovector pair is enough for any pattern: only the
// whole match is used (pcre2_match then returns 0 for patterns with groups, still a match).
struct RegexPretokenizer::Matcher {
  pcre2_match_data* data = nullptr;
  pcre2_match_context* context = nullptr;
  pcre2_jit_stack* stack = nullptr;
  Matcher() {
    data = pcre2_match_data_create(1, nullptr);
    context = pcre2_match_context_create(nullptr);
    stack = pcre2_jit_stack_create(kJitStackStart, kJitStackMax, nullptr);
    if (!data || !context || !stack) throw std::bad_alloc();
    pcre2_jit_stack_assign(context, nullptr, stack);
  }
  ~Matcher() {
    pcre2_jit_stack_free(stack);
    pcre2_match_context_free(context);
    pcre2_match_data_free(data);
  }
  Matcher(const Matcher&) = delete;
  Matcher& operator=(const Matcher&) = delete;
};

RegexPretokenizer::RegexPretokenizer(std::string_view pattern)
    : pattern_(pattern), code_(std::make_unique<Code>()) {
  int err = 0;
  PCRE2_SIZE err_offset = 0;
  code_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern_.data()), pattern_.size(),
                              PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &err, &err_offset,
                              nullptr);
  if (!code_->code) {
    throw std::invalid_argument("invalid split pattern '" + pattern_ + "': " + pcre2_message(err) +
                                " at offset " + std::to_string(err_offset));
  }
  // Without JIT support (unusual builds) the interpreter gives the same matches, only slower.
  jit_ = pcre2_jit_compile(code_->code, PCRE2_JIT_COMPLETE) == 0;
  if (auto known = find_openai_pattern(pattern_)) known_ = static_cast<int>(*known);
}

RegexPretokenizer::~RegexPretokenizer() = default;

size_t RegexPretokenizer::next_piece_with(Matcher& m, TextSpan text, size_t pos) const {
  const size_t n = text.size();
  const uint8_t* subject = text.data();
  size_t search = pos;
  while (search <= n) {
    int rc = pcre2_match(code_->code, subject, n, search, 0, m.data, m.context);
    if (rc == PCRE2_ERROR_NOMATCH) return n;  // nothing matches any more: the rest is one piece
    if (rc < 0) {
      throw std::runtime_error("split pattern '" + pattern_ + "' failed at byte " +
                               std::to_string(search) + ": " + pcre2_message(rc));
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(m.data);
    size_t start = ov[0], end = ov[1];
    if (end > start) return start > pos ? start : end;  // bytes before the match: one piece
    // An empty match gives no piece; like find_iter, search again one character further.
    if (start >= n) return n;
    search = start + utf8::char_len(subject + start, subject + n);
  }
  return n;
}

// Creating match data and a JIT stack costs more than matching a short text, so each thread
// keeps one set for all RegexPretokenizer instances (a match never outlives its call).
RegexPretokenizer::Matcher& RegexPretokenizer::thread_matcher() {
  static thread_local Matcher matcher;
  return matcher;
}

size_t RegexPretokenizer::next_piece(TextSpan text, size_t pos) const {
  return next_piece_with(thread_matcher(), text, pos);
}

void RegexPretokenizer::split(TextSpan text, std::vector<uint32_t>& piece_ends) const {
  Matcher& matcher = thread_matcher();
  for (size_t pos = 0; pos < text.size();) {
    pos = next_piece_with(matcher, text, pos);
    piece_ends.push_back(static_cast<uint32_t>(pos));
  }
}

size_t RegexPretokenizer::safe_split(TextSpan window, size_t target) const {
  if (known_ < 0) return 0;
  return openai_safe_split(static_cast<OpenAIPattern>(known_), window, target);
}

std::string pcre2_unicode_version() {
  PCRE2_UCHAR buf[32];
  int n = pcre2_config(PCRE2_CONFIG_UNICODE_VERSION, buf);
  return n < 0 ? std::string("unknown") : std::string(reinterpret_cast<char*>(buf));
}

}  // namespace blt
