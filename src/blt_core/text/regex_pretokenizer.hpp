// RegexPretokenizer: splits text with any PCRE2 regex (UTF + UCP, JIT) using find-iter semantics.
// It is the general fallback behind make_pretokenizer and the oracle the hand-written scanners match.
#pragma once
#include <memory>
#include <string>
#include <string_view>

#include "blt_core/text/pretokenizer.hpp"

namespace blt {

// Pieces are the non-empty matches of the regex, found the way tiktoken's fancy-regex find_iter
// finds them: search from the end of the previous match; after an empty match the next search
// starts one character further (empty matches themselves produce no piece).
//
// Bytes that no non-empty match covers (with the OpenAI patterns: only invalid UTF-8) are not
// dropped: each maximal run of such bytes becomes one piece of its own, so every byte is encoded.
// Invalid UTF-8 follows PCRE2_MATCH_INVALID_UTF: an ill-formed sequence (stray continuation byte,
// truncated/overlong sequence, surrogate, > U+10FFFF) matches no pattern item at all, not even
// negated classes, so it also acts as "not \S" for lookaheads such as `\s+(?!\S)`.
//
// Thread safety: the compiled code is shared and immutable; each thread uses its own match data
// and JIT stack, so one instance may be used from any number of threads at once.
class RegexPretokenizer final : public Pretokenizer {
 public:
  // Throws std::invalid_argument naming the pattern and PCRE2's message if it does not compile.
  explicit RegexPretokenizer(std::string_view pattern);
  ~RegexPretokenizer() override;

  size_t next_piece(TextSpan text, size_t pos) const override;
  void split(TextSpan text, std::vector<uint32_t>& piece_ends) const override;
  // For the OpenAI patterns (r50k/p50k, cl100k, o200k): the cut rule of openai_patterns.hpp.
  // For any other pattern no position is provably safe, so it returns 0 (the caller then keeps
  // the whole stream in one chunk).
  size_t safe_split(TextSpan window, size_t target) const override;
  const std::string& pattern() const override { return pattern_; }

  bool jit_compiled() const { return jit_; }

 private:
  struct Code;
  struct Matcher;
  static Matcher& thread_matcher();
  size_t next_piece_with(Matcher& m, TextSpan text, size_t pos) const;

  std::string pattern_;
  std::unique_ptr<Code> code_;
  bool jit_ = false;
  int known_ = -1;  // index of the OpenAI pattern this is, for safe_split; -1 for others
};

// The Unicode version of the linked PCRE2's character tables (PCRE2 10.42: "14.0.0").
std::string pcre2_unicode_version();

}  // namespace blt
