// The OpenAI split patterns (r50k/p50k, cl100k, o200k) and where a stream may be cut under them.
// Both the scanners and the PCRE2 pretokenizer use these, so the cut rule is proven only once.
#pragma once
#include <cstddef>
#include <optional>
#include <string_view>

#include "blt_core/text/pretokenizer.hpp"

namespace blt {

enum class OpenAIPattern { r50k, cl100k, o200k };  // p50k_base uses the r50k pattern

// The exact pat_str of each encoding (as in tiktoken and the shared *.meta.json files).
std::string_view openai_pattern_text(OpenAIPattern p);

// Which OpenAI pattern `pattern` is, if it is one of them byte for byte.
std::optional<OpenAIPattern> find_openai_pattern(std::string_view pattern);

// Largest p with 0 < p <= target (and p < window.size()) at which the pieces of `p` are cut
// whatever precedes window[0] and whatever follows the window, and cutting there changes no piece
// (pieces(s) == pieces(s[:p]) ++ pieces(s[p:])). 0 if there is none. A position qualifies when
//   (A) window[p-1] is an ASCII letter or digit and window[p] == ' ', or
//   (B) window[p-1] == '\n' and window[p] starts no whitespace character (nor is '/' for o200k),
//       and for r50k also window[p-2] ends no whitespace character.
// Proof sketch (the patterns have no lookbehind and no anchors, so the pieces from p on never
// depend on what precedes p once p is a piece boundary; it remains to show that p is a boundary
// and that the pieces before p do not depend on window[p:]):
//   (A) The only pattern items that can consume an ASCII letter or digit are \p{L}, \p{N}, the
//       letters of the contractions and the o200k case classes; in every alternative these are
//       followed only by more of the same, by the end of the alternative, or (o200k) by an optional
//       contraction, which must start with an apostrophe. None accepts ' ', so no match crosses
//       p, and every attempt that reads window[p] fails there, as it fails at the end of a
//       truncated text. No lookahead can be reached at p (`(?!\S)` follows only \s+).
//   (B) '\n' can only be consumed by \s, [\r\n] and (o200k) [\r\n/]; after it the same items can
//       only continue with whitespace or a newline (or '/'), which window[p] is not, so no match
//       crosses p. The one item that sees past p differently in a truncated text is the lookahead
//       of `\s+(?!\S)` (it fails on window[p], succeeds at the end of text). In cl100k/o200k it is
//       never reached with \s+ ending at p: any whitespace run ending in '\n' is matched first by
//       `\s*[\r\n]+`, the earlier alternative. In r50k it is reached; there the run ending at p is
//       the single '\n' (window[p-2] is not whitespace), which `\s+(?!\S)` (truncated) and `\s+`
//       (full text) both match as the same one-byte piece.
// Invalid UTF-8 bytes match nothing, so they neither extend a match nor hide a rule's byte.
size_t openai_safe_split(OpenAIPattern p, TextSpan window, size_t target);

}  // namespace blt
