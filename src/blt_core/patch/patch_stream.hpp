// PatchStream: patch boundaries decided position by position, so a sequence can arrive in chunks
// with its state (last ids, last entropies, open patch) carried across each seam.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "blt_core/patch/patch_rule.hpp"

namespace blt::patch {

// [m, m, ..., rest] for a length > m (m > 0), else the length itself; appended to out.
void append_split_long(int64_t length, int32_t max_length, std::vector<int32_t>& out);
inline void append_split(int64_t length, int32_t max_length, std::vector<int32_t>& out) {
  if (max_length > 0 && length > max_length) [[unlikely]]
    append_split_long(length, max_length, out);
  else
    out.push_back(static_cast<int32_t>(length));
}

// Space rule: a byte is space-like unless it is [0-9A-Za-z] or a UTF-8 continuation byte.
// Specials (< 4) and meta tokens (>= 260) count as space-like, as in the reference.
constexpr bool space_like_rule(int id) {
  const int b = id - static_cast<int>(kByteOffset);
  if (b < 0 || b >= 0xC0) return true;
  if (b >= 0x80) return false;  // UTF-8 continuation byte
  const bool alnum = (b >= '0' && b <= '9') || (b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z');
  return !alnum;
}
struct SpaceLikeTable {
  bool v[kMaxBltId + 1];
  constexpr SpaceLikeTable() : v() {
    for (int id = 0; id <= static_cast<int>(kMaxBltId); ++id) v[id] = space_like_rule(id);
  }
};
inline constexpr SpaceLikeTable kSpaceLike{};

// Where a sequence stands before `position`: what a stream resumed there needs to decide the next
// positions exactly as a stream fed every earlier position would (the rules look back two ids and
// two entropies; the open patch started at last_start). Unknown entries (position < 2) are 0.
struct PatchSeam {
  int64_t position = 0;
  int64_t last_start = 0;
  uint16_t ids[2] = {0, 0};    // ids at position - 2, position - 1
  float entropies[2] = {0, 0};  // H at position - 2, position - 1
  bool have_ids = true;         // ids were given for the positions before
};

// Feeding a sequence in any chunking gives the same lengths as feeding it at once. Top-k entropy
// patching looks at the whole sequence and is not streamable (use patch_sequence).
class PatchStream {
 public:
  explicit PatchStream(const PatchRule& rule);
  // A stream resumed at seam.position (as after feeding every earlier position). Lengths it
  // appends are measured from seam.last_start, so the patch open across the seam is continued.
  PatchStream(const PatchRule& rule, const PatchSeam& seam);

  // Positions [position(), position() + n). `ids` may be null unless the rule needs ids (then
  // boundaries are not forced at BOS/EOS); `entropies` (H[k] for each fed position) is required
  // by the entropy rule and ignored otherwise. Appends the lengths of patches completed.
  void feed(const uint16_t* ids, const float* entropies, size_t n, std::vector<int32_t>& out);

  // Ends the sequence: decides the position after the last id when include_next_token, then
  // appends the last patch. The stream is then reset for a new sequence.
  void finish(std::vector<int32_t>& out);

  size_t position() const { return static_cast<size_t>(st_.pos); }

 private:
  // Everything the next decision needs from earlier positions: this is what crosses a seam.
  struct State {
    int64_t pos = 0;          // next position to decide
    int64_t last_start = 0;   // start of the open patch
    bool have_ids = false;    // ids were given for the previous position
    uint16_t id1 = 0;         // id at pos-1
    bool space_like1 = false;
    bool space_end1 = false;  // id at pos-1 ends a space patch
    float h1 = 0, h2 = 0;     // H[pos-1], H[pos-2]
    int32_t phase = -1;       // static: (pos - 1) mod patch_size, kept without a division
  };
  template <PatchRule::Kind K>
  static bool rule_start_as(const PatchRule& rule, const State& s, int64_t p, bool is_next_token);
  static bool rule_start(const PatchRule& rule, const State& s, int64_t p, bool is_next_token);
  template <PatchRule::Kind K>
  void feed_as(const uint16_t* ids, const float* entropies, size_t n, std::vector<int32_t>& out);
  template <PatchRule::Kind K>
  void feed_blocks(const uint16_t* ids, const float* entropies, size_t n, std::vector<int32_t>& out);

  static void check_ids(const uint16_t* ids, size_t n, int64_t first_position);

  PatchRule rule_;
  State st_;
};

}  // namespace blt::patch
