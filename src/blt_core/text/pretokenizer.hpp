// Pretokenizer: splits text (UTF-8 bytes, possibly invalid) into the pieces BPE merges within.
// Implementations: hand-written scanners for the OpenAI patterns, PCRE2 (JIT) for any other regex.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace blt {

using TextSpan = std::span<const uint8_t>;

class Pretokenizer {
 public:
  virtual ~Pretokenizer() = default;

  // End (exclusive) of the piece that starts at `pos` (< text.size()); always > pos.
  // Pieces tile the text: bytes a regex would not match (e.g. invalid UTF-8) still form pieces,
  // so every input byte is encoded. `text` is the whole remaining stream window: lookahead such as
  // `\s+(?!\S)` may read past the piece.
  virtual size_t next_piece(TextSpan text, size_t pos) const = 0;

  // Appends the end offsets of all pieces of `text` (a convenience over next_piece).
  virtual void split(TextSpan text, std::vector<uint32_t>& piece_ends) const {
    for (size_t pos = 0; pos < text.size();) {
      pos = next_piece(text, pos);
      piece_ends.push_back(static_cast<uint32_t>(pos));
    }
  }

  // A position p with 0 < p <= target (and p < window.size()) where a piece boundary is
  // guaranteed whatever follows the window and whatever preceded window[0], so that splitting the
  // stream at p gives the same pieces as not splitting. Bytes of the window past target may be
  // read. 0 when none is found in the window (caller widens the window). The OpenAI rule is in
  // openai_patterns.hpp; for other patterns it is always 0 (no cut is provably safe).
  virtual size_t safe_split(TextSpan window, size_t target) const = 0;

  // The regex this pretokenizer implements (for error messages, save and pickling).
  virtual const std::string& pattern() const = 0;
};

// Scanner for one of the known OpenAI patterns if `pattern` is exactly one of them, otherwise a
// PCRE2 (JIT) pretokenizer. Throws std::invalid_argument naming the pattern if it does not compile.
std::unique_ptr<Pretokenizer> make_pretokenizer(std::string_view pattern);

// PCRE2 (JIT) pretokenizer even for the known patterns (tests compare it with the scanners).
std::unique_ptr<Pretokenizer> make_regex_pretokenizer(std::string_view pattern);

}  // namespace blt
