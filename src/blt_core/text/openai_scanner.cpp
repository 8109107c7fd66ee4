// Hand-written scanners for the OpenAI split patterns: each next_piece below is the pattern's
// leftmost-first alternation worked out by hand (the comments quote the alternative they decide).
#include "blt_core/text/openai_scanner.hpp"

#include <array>
#include <string>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "blt_core/text/openai_patterns.hpp"
#include "blt_core/text/unicode_classes.hpp"
#include "blt_core/text/utf8.hpp"

namespace blt {

namespace {

using unicode::kLetter;
using unicode::kLowerish;
using unicode::kNumber;
using unicode::kSpace;
using unicode::kUpperish;

// Scanner-only flags on top of the Unicode ones.
constexpr uint8_t kPunct = 32;     // [^\s\p{L}\p{N}]: any valid character but those three
constexpr uint8_t kNewline = 64;   // \r or \n
constexpr uint8_t kInvalid = 128;  // an ill-formed UTF-8 byte: matches no pattern item at all

// The ASCII fast path: flags of every byte. Bytes from 0x80 have none: they start (or continue)
// a multi-byte character, which char_at decodes and looks up in the Unicode tables.
constexpr std::array<uint8_t, 256> make_byte_flags() {
  std::array<uint8_t, 256> t{};
  for (int b = 0; b < 128; ++b) {
    uint8_t f = 0;
    if (b >= 'A' && b <= 'Z') f = kLetter | kUpperish;
    else if (b >= 'a' && b <= 'z') f = kLetter | kLowerish;
    else if (b >= '0' && b <= '9') f = kNumber;
    else if (b == ' ' || (b >= 0x09 && b <= 0x0D)) f = kSpace;  // White_Space in ASCII
    else f = kPunct;
    if (b == '\r' || b == '\n') f |= kNewline;
    t[b] = f;
  }
  return t;
}
constexpr std::array<uint8_t, 256> kByte = make_byte_flags();

struct Char {
  uint8_t flags;
  uint8_t len;
};

inline Char classify(uint32_t cp, size_t len) {
  uint8_t f = unicode::flags_of(cp);
  if (!(f & (kLetter | kNumber | kSpace))) f |= kPunct;
  return {f, static_cast<uint8_t>(len)};
}

inline Char char_at(const uint8_t* p, const uint8_t* end) {
  const uint8_t b = *p;
  if (b < 0x80) return {kByte[b], 1};
  // Well-formed 2- and 3-byte characters (all of the BMP scripts) away from the end of the text
  // skip utf8::decode's bounds checks; everything else goes through it.
  if (end - p >= 3) {
    const uint32_t c1 = p[1] ^ 0x80u, c2 = p[2] ^ 0x80u;  // < 0x40 for continuation bytes
    if (b >= 0xC2 && b <= 0xDF && c1 < 0x40) return classify((uint32_t(b & 0x1F) << 6) | c1, 2);
    if ((b & 0xF0) == 0xE0 && (c1 | c2) < 0x40) {
      const uint32_t cp = (uint32_t(b & 0x0F) << 12) | (c1 << 6) | c2;
      if (cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF)) return classify(cp, 3);
      return {kInvalid, 1};
    }
  }
  size_t len;
  uint32_t cp = utf8::decode(p, end, len);
  if (cp == utf8::kInvalid) return {kInvalid, 1};
  return classify(cp, len);
}

// End of the run of characters from p that have any of `mask`.
inline const uint8_t* run(const uint8_t* p, const uint8_t* end, uint8_t mask) {
  while (p < end) {
    uint8_t b = *p;
    if (kByte[b] & mask) {
      ++p;
      continue;
    }
    if (b < 0x80) return p;
    Char c = char_at(p, end);
    if (!(c.flags & mask)) return p;
    p += c.len;
  }
  return p;
}

// [^\r\n\p{L}\p{N}]: the optional one-character prefix of the cl100k/o200k letter alternatives.
constexpr bool is_prefix(uint8_t f) { return (f & (kPunct | kSpace)) && !(f & kNewline); }

// (?i:'s|'t|'re|'ve|'m|'ll|'d) (case-sensitive for r50k) at p: its end, or p if none matches.
// Case-insensitively 's' also matches U+017F LATIN SMALL LETTER LONG S (simple case folding),
// in tiktoken's regex and in PCRE2 alike.
inline const uint8_t* contraction(const uint8_t* p, const uint8_t* end, bool caseless) {
  if (end - p < 2 || *p != '\'') return p;
  uint8_t a = caseless ? (p[1] | 0x20) : p[1];  // |0x20 maps only 'X' and 'x' onto 'x'
  switch (a) {
    case 's': case 't': case 'm': case 'd': return p + 2;
    case 'r': case 'v': case 'l': {
      if (end - p < 3) return p;
      uint8_t b = caseless ? (p[2] | 0x20) : p[2];
      return b == (a == 'l' ? 'l' : 'e') ? p + 3 : p;
    }
    default: break;
  }
  if (caseless && end - p >= 3 && p[1] == 0xC5 && p[2] == 0xBF) return p + 3;
  return p;
}

// `\s*[\r\n]+|\s+(?!\S)|\s+` at p, which starts a whitespace character. `newline_first` is false
// for r50k, whose pattern lacks the first alternative.
inline const uint8_t* whitespace(const uint8_t* p, const uint8_t* end, bool newline_first) {
  const uint8_t* last = p;          // start of the run's last character
  const uint8_t* after_nl = nullptr;  // just past the run's last \r or \n
  const uint8_t* q = p;
  while (q < end) {
    Char c = char_at(q, end);
    if (!(c.flags & kSpace)) break;
    last = q;
    q += c.len;
    if (c.flags & kNewline) after_nl = q;
  }
  // \s*[\r\n]+: \s* backs off to the last newline, [\r\n]+ takes it (the run has no later one).
  if (newline_first && after_nl) return after_nl;
  // \s+(?!\S): the whole run if no \S follows (end of text, or an invalid byte, which \S does not
  // match); otherwise the run without its last character, whose next character is whitespace.
  if (q == end || (char_at(q, end).flags & kInvalid)) return q;
  if (last > p) return last;
  return q;  // \s+ : a single whitespace character before \S
}

inline const uint8_t* invalid_run(const uint8_t* p, const uint8_t* end) {
  do ++p;
  while (p < end && (char_at(p, end).flags & kInvalid));
  return p;
}

// \p{N}{1,3} whose first number character ends at p1: at most two more.
inline const uint8_t* numbers_upto3(const uint8_t* p1, const uint8_t* end) {
  const uint8_t* q = p1;
  for (int i = 1; i < 3 && q < end; ++i) {
    Char c = char_at(q, end);
    if (!(c.flags & kNumber)) break;
    q += c.len;
  }
  return q;
}

// ` ?[^\s\p{L}\p{N}]+[\r\n]*` (cl100k), or `[\r\n/]*` at the end when kSlash (o200k), at p, whose
// first character has flags f0 and ends at p1: the match's end, or nullptr if it does not match.
template <bool kSlash>
inline const uint8_t* punct_run(const uint8_t* p, const uint8_t* p1, const uint8_t* end, uint8_t f0) {
  const uint8_t* s = nullptr;
  if (f0 & kPunct) s = p;
  else if (*p == ' ' && p1 < end && (char_at(p1, end).flags & kPunct)) s = p1;
  if (!s) return nullptr;
  const uint8_t* q = run(s, end, kPunct);
  while (q < end && (*q == '\r' || *q == '\n' || (kSlash && *q == '/'))) ++q;
  return q;
}


// --- ASCII fast paths -------------------------------------------------------------------------
// Most pieces of English text and code are ASCII: a letter run with at most a one-byte prefix, a
// punctuation run, a digit group or a whitespace run. The fast paths below decide those from the
// bytes alone and hand anything that meets a byte >= 0x80 to the general code above (which
// decodes UTF-8 and reads the Unicode tables), so both always give the same pieces.

// Byte ranges of the fast paths: [Lo, Lo + N) after OR-ing 0x20 when kFold (folding maps only
// the ASCII letters of both cases onto a-z; bytes >= 0x80 stay >= 0x80 and never match).
template <uint8_t Lo, uint8_t N, bool kFold>
inline bool in_ascii_range(uint8_t b) {
  return static_cast<uint8_t>((kFold ? (b | 0x20) : b) - Lo) < N;
}
inline bool is_ascii_letter(uint8_t b) { return in_ascii_range<'a', 26, true>(b); }

// ASCII bytes that may be the optional [^\r\n\p{L}\p{N}] before a letter run.
constexpr std::array<bool, 256> make_ascii_prefix() {
  std::array<bool, 256> t{};
  for (int b = 0; b < 128; ++b) t[b] = is_prefix(kByte[b]);
  return t;
}
constexpr std::array<bool, 256> kAsciiPrefix = make_ascii_prefix();
inline bool is_ascii_prefix(uint8_t b) { return kAsciiPrefix[b]; }

// Blocks of 16 bytes are classified with SSE2 (part of x86-64, so no run-time dispatch is needed;
// xsimd 8.1 has no batch_bool-to-bitmask to write this portably). Elsewhere byte loops do it.
#if defined(__SSE2__)
constexpr bool kBlocks = true;
constexpr ptrdiff_t kBlock = 16;
using Block = __m128i;
inline Block load_block(const uint8_t* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }
// Bit i set when byte i of the block is in the range. Bits 16-31 are 0.
template <uint8_t Lo, uint8_t N, bool kFold>
inline unsigned range_mask(Block v) {
  if constexpr (kFold) v = _mm_or_si128(v, _mm_set1_epi8(0x20));
  const __m128i t = _mm_sub_epi8(v, _mm_set1_epi8(static_cast<char>(Lo)));
  // t <= N - 1 (unsigned) <=> min(t, N - 1) == t
  const __m128i in = _mm_cmpeq_epi8(_mm_min_epu8(t, _mm_set1_epi8(static_cast<char>(N - 1))), t);
  return static_cast<unsigned>(_mm_movemask_epi8(in));
}
// Index of the first clear bit of `mask` at or after i (i <= 16); 16 when bits i..15 are all set.
inline unsigned run_end(unsigned mask, unsigned i) { return i + __builtin_ctz(~mask >> i); }
#else
constexpr bool kBlocks = false;
#endif

// End of the run of bytes in the range from p: block by block while a whole block remains.
template <uint8_t Lo, uint8_t N, bool kFold>
inline const uint8_t* ascii_run(const uint8_t* p, const uint8_t* end) {
#if defined(__SSE2__)
  while (end - p >= kBlock) {
    unsigned i = run_end(range_mask<Lo, N, kFold>(load_block(p)), 0);
    if (i < 16) return p + i;
    p += kBlock;
  }
#endif
  while (p < end && in_ascii_range<Lo, N, kFold>(*p)) ++p;
  return p;
}

// `\s*[\r\n]+|\s+(?!\S)|\s+` at p (an ASCII whitespace byte) while the run stays ASCII; the
// general whitespace() when the run goes on into non-ASCII whitespace or meets an invalid byte.
inline const uint8_t* ascii_whitespace(const uint8_t* p, const uint8_t* end) {
  const uint8_t* after_nl = nullptr;
  const uint8_t* q = p;
  while (q < end && (kByte[*q] & kSpace)) {
    ++q;
    if (kByte[q[-1]] & kNewline) after_nl = q;
  }
  // A non-ASCII character after the run: whitespace or an invalid byte needs the general code;
  // any other character is \S, which the ASCII rules below handle.
  if (q < end && *q >= 0x80 && (char_at(q, end).flags & (kSpace | kInvalid))) return whitespace(p, end, true);
  if (after_nl) return after_nl;         // \s*[\r\n]+
  if (q == end || q - p == 1) return q;  // \s+(?!\S) at the end of text, or \s+ of one character
  return q - 1;                          // \s+(?!\S): all but the last, which precedes \S
}

// The pieces of cl100k and o200k that start with an ASCII byte but not with a (prefixed) ASCII
// letter: `\p{N}{1,3}`, ` ?[^\s\p{L}\p{N}]+[\r\n]*` (`[\r\n/]*` when kSlash) and the whitespace
// alternatives; `general` for anything else (a non-ASCII byte at p or p + 1: the latter may be a
// letter after a prefix).
template <bool kSlash>
inline const uint8_t* ascii_other(const uint8_t* p, const uint8_t* end,
                                  const uint8_t* (*general)(const uint8_t*, const uint8_t*)) {
  const uint8_t b = *p;
  if (b >= 0x80) return general(p, end);
  const uint8_t f0 = kByte[b];
  if (f0 & kNumber) return numbers_upto3(p + 1, end);
  if (p + 1 < end && p[1] >= 0x80) return general(p, end);
  const uint8_t* s = nullptr;
  if (f0 & kPunct) s = p;
  else if (b == ' ' && p + 1 < end && (kByte[p[1]] & kPunct)) s = p + 1;
  if (!s) return ascii_whitespace(p, end);
  const uint8_t* q = s + 1;
  while (q < end && (kByte[*q] & kPunct)) ++q;
  if (q < end && *q >= 0x80) q = run(q, end, kPunct);
  while (q < end && (*q == '\r' || *q == '\n' || (kSlash && *q == '/'))) ++q;
  return q;
}

// r50k/p50k: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
inline const uint8_t* next_r50k(const uint8_t* p, const uint8_t* end) {
  if (*p == '\'') {
    const uint8_t* q = contraction(p, end, false);
    if (q != p) return q;
  }
  Char c0 = char_at(p, end);
  const uint8_t* s = p;
  uint8_t f = c0.flags;
  if (*p == ' ' && p + 1 < end) {  // ' ?' is taken when the class after it matches
    uint8_t f1 = char_at(p + 1, end).flags;
    if (f1 & (kLetter | kNumber | kPunct)) s = p + 1, f = f1;
  }
  if (f & kLetter) return run(s, end, kLetter);
  if (f & kNumber) return run(s, end, kNumber);
  if (f & kPunct) return run(s, end, kPunct);
  if (f & kSpace) return whitespace(p, end, false);
  return invalid_run(p, end);
}

// cl100k: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}
//         | ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
[[gnu::noinline]] const uint8_t* cl100k_general(const uint8_t* p, const uint8_t* end) {
  if (*p == '\'') {
    const uint8_t* q = contraction(p, end, true);
    if (q != p) return q;
  }
  Char c0 = char_at(p, end);
  // [^\r\n\p{L}\p{N}]?\p{L}+ (the prefix class excludes letters, so at most one case applies)
  if (c0.flags & kLetter) return run(p + c0.len, end, kLetter);
  const uint8_t* p1 = p + c0.len;
  if (is_prefix(c0.flags) && p1 < end && (char_at(p1, end).flags & kLetter))
    return run(p1, end, kLetter);
  if (c0.flags & kNumber) return numbers_upto3(p1, end);                     // \p{N}{1,3}
  if (const uint8_t* q = punct_run<false>(p, p1, end, c0.flags)) return q;  //  ?[^\s\p{L}\p{N}]+[\r\n]*
  if (c0.flags & kSpace) return whitespace(p, end, true);
  return invalid_run(p, end);
}

// End of a letter run whose ASCII part ends at q: it goes on through non-ASCII letters.
inline const uint8_t* letters_after_ascii(const uint8_t* q, const uint8_t* end) {
  return q < end && *q >= 0x80 ? run(q, end, kLetter) : q;
}

// cl100k with the ASCII fast paths in front of cl100k_general.
[[gnu::always_inline]] inline const uint8_t* next_cl100k(const uint8_t* p, const uint8_t* end) {
  const uint8_t b = *p;
  if (b == '\'') return cl100k_general(p, end);  // (?i:'s|...) comes first
  if constexpr (kBlocks) {
    if (end - p >= kBlock) {
      // [^\r\n\p{L}\p{N}]?\p{L}+ with ASCII letters: from p, or from p + 1 after a prefix.
      const unsigned letters = range_mask<'a', 26, true>(load_block(p));
      unsigned s = 0;
      if (!(letters & 1)) {
        if (!(letters & 2) || !is_ascii_prefix(b)) return ascii_other<false>(p, end, cl100k_general);
        s = 1;
      }
      const unsigned i = run_end(letters, s);
      return letters_after_ascii(i < 16 ? p + i : ascii_run<'a', 26, true>(p + kBlock, end), end);
    }
  }
  const uint8_t* s = p;
  if (!is_ascii_letter(b)) {
    if (!(p + 1 < end && is_ascii_letter(p[1]) && is_ascii_prefix(b)))
      return ascii_other<false>(p, end, cl100k_general);
    s = p + 1;
  }
  return letters_after_ascii(ascii_run<'a', 26, true>(s, end), end);
}

// o200k letters: [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|...)? from s,
// or nullptr. Greedy [U]* takes the whole upperish run; if a lowerish character follows (then an
// Ll), [Lw]+ continues from it; otherwise [U]* backs off to just before the run's last character
// that is also lowerish (Lm, Lo, M), which [Lw]+ then takes alone.
inline const uint8_t* o200k_lower_tail(const uint8_t* s, const uint8_t* end) {
  const uint8_t* q = s;
  const uint8_t* last_both = nullptr;  // just past the last Lm/Lo/M of the upperish run
  while (q < end) {
    Char c = char_at(q, end);
    if (!(c.flags & kUpperish)) break;
    q += c.len;
    if (c.flags & kLowerish) last_both = q;
  }
  if (q < end && (char_at(q, end).flags & kLowerish))
    return contraction(run(q, end, kLowerish), end, true);
  if (last_both) return contraction(last_both, end, true);
  return nullptr;
}

// o200k: [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|...)? from s, or nullptr.
inline const uint8_t* o200k_upper_head(const uint8_t* s, const uint8_t* end) {
  const uint8_t* q = run(s, end, kUpperish);
  if (q == s) return nullptr;
  return contraction(run(q, end, kLowerish), end, true);
}

// o200k: [^\r\n\p{L}\p{N}]?<lower_tail>|[^\r\n\p{L}\p{N}]?<upper_head>|\p{N}{1,3}
//        | ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+
[[gnu::noinline]] const uint8_t* o200k_general(const uint8_t* p, const uint8_t* end) {
  Char c0 = char_at(p, end);
  const uint8_t* p1 = p + c0.len;
  // Both letter alternatives need an upperish or lowerish character where they start (after the
  // optional prefix); checking that first skips four failing scans for punctuation and spaces.
  constexpr uint8_t kCased = kUpperish | kLowerish;
  const bool from_p1 = is_prefix(c0.flags) && p1 < end && (char_at(p1, end).flags & kCased);
  const bool from_p = c0.flags & kCased;
  const uint8_t* q;
  if (from_p1 && (q = o200k_lower_tail(p1, end))) return q;
  if (from_p && (q = o200k_lower_tail(p, end))) return q;
  if (from_p1 && (q = o200k_upper_head(p1, end))) return q;
  if (from_p && (q = o200k_upper_head(p, end))) return q;
  if (c0.flags & kNumber) return numbers_upto3(p1, end);      // \p{N}{1,3}
  if ((q = punct_run<true>(p, p1, end, c0.flags))) return q;  //  ?[^\s\p{L}\p{N}]+[\r\n/]*
  if (c0.flags & kSpace) return whitespace(p, end, true);
  return invalid_run(p, end);
}

// o200k's `upper* lower* contraction?` of a piece starting at p, continued from q: through ASCII
// capitals first when `in_upper` (the upper run has not ended yet), then ASCII lower case, which
// may go on into non-ASCII lowerish characters. A non-ASCII character right after the ASCII
// capitals may still be upperish: the general code decides the piece then.
inline const uint8_t* o200k_ascii_letters(const uint8_t* p, const uint8_t* q, const uint8_t* end, bool in_upper) {
  if (in_upper) {
    q = ascii_run<'A', 26, false>(q, end);
    if (q < end && *q >= 0x80) return o200k_general(p, end);
  }
  q = ascii_run<'a', 26, false>(q, end);
  if (q < end && *q >= 0x80) q = run(q, end, kLowerish);
  return contraction(q, end, true);
}

// o200k with the ASCII fast paths in front of o200k_general. While the upper run stays in ASCII
// it holds no Lm/Lo/M, so both letter alternatives reduce to prefix? upper* lower* contraction?,
// where lower* may go on into non-ASCII lowerish characters.
[[gnu::always_inline]] inline const uint8_t* next_o200k(const uint8_t* p, const uint8_t* end) {
  const uint8_t b = *p;
  if constexpr (kBlocks) {
    if (end - p >= kBlock) {
      const Block v = load_block(p);
      const unsigned upper = range_mask<'A', 26, false>(v);
      const unsigned lower = range_mask<'a', 26, false>(v);
      unsigned s = 0;
      if (!((upper | lower) & 1)) {
        if (!((upper | lower) & 2) || !is_ascii_prefix(b)) return ascii_other<true>(p, end, o200k_general);
        s = 1;
      }
      const unsigned u = run_end(upper, s);
      const unsigned i = run_end(lower, u);
      if (i < 16) {
        const uint8_t c = p[i];
        if (c < 0x80) return c == '\'' ? contraction(p + i, end, true) : p + i;
        // Past the ASCII upper run a non-ASCII character may still be upperish: general code.
        if (i == u) return o200k_general(p, end);
        return contraction(run(p + i, end, kLowerish), end, true);
      }
      return o200k_ascii_letters(p, p + kBlock, end, u == 16);
    }
  }
  const uint8_t* s = p;
  if (!is_ascii_letter(b)) {
    if (!(p + 1 < end && is_ascii_letter(p[1]) && is_ascii_prefix(b))) return ascii_other<true>(p, end, o200k_general);
    s = p + 1;
  }
  return o200k_ascii_letters(p, s, end, true);
}

template <OpenAIPattern P>
[[gnu::always_inline]] inline const uint8_t* next_of(const uint8_t* p, const uint8_t* end) {
  if constexpr (P == OpenAIPattern::r50k) return next_r50k(p, end);
  else if constexpr (P == OpenAIPattern::cl100k) return next_cl100k(p, end);
  else return next_o200k(p, end);
}

template <OpenAIPattern P>
class OpenAIScanner final : public Pretokenizer {
 public:
  OpenAIScanner() : pattern_(openai_pattern_text(P)) {}

  size_t next_piece(TextSpan text, size_t pos) const override {
    const uint8_t* b = text.data();
    return static_cast<size_t>(next_of<P>(b + pos, b + text.size()) - b);
  }

  void split(TextSpan text, std::vector<uint32_t>& piece_ends) const override {
    const uint8_t* b = text.data();
    const uint8_t* end = b + text.size();
    for (const uint8_t* p = b; p < end;) {
      p = next_of<P>(p, end);
      piece_ends.push_back(static_cast<uint32_t>(p - b));
    }
  }

  size_t safe_split(TextSpan window, size_t target) const override {
    return openai_safe_split(P, window, target);
  }

  const std::string& pattern() const override { return pattern_; }

 private:
  std::string pattern_;
};

}  // namespace

std::unique_ptr<Pretokenizer> make_scanner_pretokenizer(std::string_view pattern) {
  auto known = find_openai_pattern(pattern);
  if (!known) return nullptr;
  switch (*known) {
    case OpenAIPattern::r50k: return std::make_unique<OpenAIScanner<OpenAIPattern::r50k>>();
    case OpenAIPattern::cl100k: return std::make_unique<OpenAIScanner<OpenAIPattern::cl100k>>();
    case OpenAIPattern::o200k: return std::make_unique<OpenAIScanner<OpenAIPattern::o200k>>();
  }
  return nullptr;
}

}  // namespace blt
