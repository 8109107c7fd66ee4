// SpecialMatcher: finds special tokens (e.g. <|endoftext|>) in text, leftmost-longest.
// Built once at load as a byte trie with a first-byte filter, so thousands of specials stay cheap.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace blt::bpe {

// How one encode call treats each special (indexed like SpecialMatcher::tokens()).
enum class SpecialUse : uint8_t { text = 0, allowed = 1, disallowed = 2 };
using SpecialPolicy = std::vector<SpecialUse>;

struct SpecialToken {
  std::string text;  // its bytes
  uint32_t id;
  bool always = false;  // HF added token that is not "special": matched whatever the policy says
  bool lstrip = false;  // HF: the match also swallows whitespace before it
  bool rstrip = false;  // HF: ... and after it
};

struct SpecialMatch {
  size_t start;
  size_t end;
  uint32_t index;  // into tokens()
  bool disallowed;
};

class SpecialMatcher {
 public:
  SpecialMatcher() = default;
  // Throws std::invalid_argument on an empty or duplicate special.
  explicit SpecialMatcher(std::vector<SpecialToken> tokens);

  const std::vector<SpecialToken>& tokens() const { return tokens_; }
  bool empty() const { return tokens_.empty(); }

  // True if the policy matches anything at all (otherwise encoding skips the special scan).
  bool any_active(const SpecialPolicy& policy) const;

  // Next occurrence at or after `from` of a special that is allowed (longest at the leftmost
  // position) or disallowed (reported as such, so the caller can raise). Specials used as text
  // are skipped. Returns false if there is none.
  bool find(std::span<const uint8_t> text, size_t from, const SpecialPolicy& policy,
            SpecialMatch& out) const;

  // First position q such that text[q:] is a proper prefix of some special (a special may be cut
  // by the end of the window there); text.size() if none. With lstrip specials, q also moves back
  // over the whitespace such a special would swallow.
  size_t partial_tail(std::span<const uint8_t> text) const;

  // Whether some special swallows whitespace (then cuts next to whitespace need care).
  bool strips() const { return any_lstrip_ || any_rstrip_; }

  size_t max_length() const { return max_len_; }

 private:
  struct Node {
    uint32_t first_edge;
    uint16_t n_edges;
    int32_t terminal;  // index into tokens_, or -1
  };
  struct Edge {
    uint8_t byte;
    uint32_t child;
  };
  int32_t child(uint32_t node, uint8_t b) const;
  SpecialUse use(const SpecialPolicy& policy, uint32_t index) const {
    if (tokens_[index].always) return SpecialUse::allowed;
    return index < policy.size() ? policy[index] : SpecialUse::text;
  }

  std::vector<SpecialToken> tokens_;
  std::vector<Node> nodes_;
  std::vector<Edge> edges_;
  bool first_byte_[256] = {};
  int single_first_byte_ = -1;  // the only first byte of all specials, for memchr
  size_t max_len_ = 0;
  bool any_lstrip_ = false;
  bool any_rstrip_ = false;
};

}  // namespace blt::bpe
