#include "blt_core/patch/patch_stream.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <string>

namespace blt::patch {

void append_split_long(int64_t length, int32_t max_length, std::vector<int32_t>& out) {
  while (length > max_length) {
    out.push_back(max_length);
    length -= max_length;
  }
  out.push_back(static_cast<int32_t>(length));
}

// A max reduction vectorises; the position is only searched for when an id is bad.
void PatchStream::check_ids(const uint16_t* ids, size_t n, int64_t first_position) {
  uint16_t mx = 0;
  for (size_t i = 0; i < n; ++i) mx = std::max(mx, ids[i]);
  if (mx <= kMaxBltId) return;
  for (size_t i = 0; i < n; ++i)
    if (ids[i] > kMaxBltId)
      throw std::invalid_argument("id " + std::to_string(ids[i]) + " at position " +
                                  std::to_string(first_position + static_cast<int64_t>(i)) +
                                  " is not a BLT byte id (0.." + std::to_string(kMaxBltId) + ")");
}

PatchStream::PatchStream(const PatchRule& rule) : rule_(rule) {
  rule_.validate();
  st_.phase = rule_.patch_size - 1;
  if (rule_.is_topk())
    throw std::invalid_argument(
        "top-k entropy patching (threshold=None) needs the whole sequence; it cannot stream");
}

PatchStream::PatchStream(const PatchRule& rule, const PatchSeam& seam) : PatchStream(rule) {
  if (seam.position < 0 || seam.last_start < 0 || seam.last_start > seam.position)
    throw std::invalid_argument("patch seam needs 0 <= last_start <= position");
  State& s = st_;
  s.pos = seam.position;
  s.last_start = seam.last_start;
  s.have_ids = seam.have_ids && seam.position > 0;
  if (s.have_ids) {
    s.id1 = seam.ids[1];
    check_ids(seam.ids, 2, seam.position - 2);
    // space_like1 is false before position 0, as in feed_as.
    const bool like2 = seam.position >= 2 && kSpaceLike.v[seam.ids[0]];
    s.space_like1 = kSpaceLike.v[s.id1];
    s.space_end1 = (s.space_like1 && !like2) || s.id1 < kByteOffset;
  }
  s.h1 = seam.entropies[1];
  s.h2 = seam.entropies[0];
  const int64_t ps = rule_.patch_size;
  s.phase = static_cast<int32_t>(((seam.position - 1) % ps + ps) % ps);
}

// Rule for p >= 2 (positions 0 and 1 always start). is_next_token: p is the position after the
// last id (only with include_next_token). One instantiation per rule keeps the per-id loop free
// of the rule switch.
template <PatchRule::Kind K>
bool PatchStream::rule_start_as(const PatchRule& rule, const State& s, int64_t p,
                                bool is_next_token) {
  if constexpr (K == PatchRule::Kind::static_size) {
    return (p - 1) % rule.patch_size == 0;
  } else if constexpr (K == PatchRule::Kind::byte) {
    return true;
  } else if constexpr (K == PatchRule::Kind::space) {
    return s.space_end1;
  } else if constexpr (K == PatchRule::Kind::bpe) {
    // The reference only looks at delimiters before the last id, so the next token never
    // starts a patch because of one.
    return !is_next_token && s.id1 == kBpeDelimId;
  } else {
    const double t = *rule.threshold;
    if (rule.monotonicity) return p == 2 || static_cast<double>(s.h1) - s.h2 > t;
    if (rule.threshold_add) {
      // patch_start_mask_global_and_monotonicity: p = 2 always, p = 3 never, then both.
      if (p == 2) return true;
      if (p == 3) return false;
      return static_cast<double>(s.h1) - s.h2 > *rule.threshold_add && s.h1 > t;
    }
    return s.h1 > t;
  }
}

bool PatchStream::rule_start(const PatchRule& rule, const State& s, int64_t p, bool next) {
  using K = PatchRule::Kind;
  switch (rule.kind) {
    case K::static_size: return rule_start_as<K::static_size>(rule, s, p, next);
    case K::byte: return rule_start_as<K::byte>(rule, s, p, next);
    case K::space: return rule_start_as<K::space>(rule, s, p, next);
    case K::bpe: return rule_start_as<K::bpe>(rule, s, p, next);
    case K::entropy: return rule_start_as<K::entropy>(rule, s, p, next);
  }
  return false;
}

void PatchStream::feed(const uint16_t* ids, const float* entropies, size_t n,
                       std::vector<int32_t>& out) {
  if (n == 0) return;
  if (rule_.needs_ids() && !ids)
    throw std::invalid_argument("space and bpe patching need the ids of the sequence");
  if (rule_.needs_entropies() && !entropies)
    throw std::invalid_argument("entropy patching needs one entropy per position");
  using K = PatchRule::Kind;
  switch (rule_.kind) {
    case K::static_size: return feed_blocks<K::static_size>(ids, entropies, n, out);
    case K::byte: return feed_blocks<K::byte>(ids, entropies, n, out);
    case K::space: return feed_blocks<K::space>(ids, entropies, n, out);
    case K::bpe: return feed_blocks<K::bpe>(ids, entropies, n, out);
    case K::entropy:
      if (!rule_.monotonicity && !rule_.threshold_add)
        return feed_blocks<K::entropy>(ids, entropies, n, out);
      return feed_as<K::entropy>(ids, entropies, n, out);  // relative rules look further back
  }
}

// These rules have no state beyond the previous one or two positions, so a block's start flags
// are one data-parallel pass (vectorised) and the starts one branch-free compaction. K is static,
// byte, space, bpe or the global entropy rule.
template <PatchRule::Kind K>
void PatchStream::feed_blocks(const uint16_t* ids, const float* entropies, size_t n,
                              std::vector<int32_t>& out) {
  using Kind = PatchRule::Kind;
  // The first two positions go through the general loop (they carry the seam state in, and
  // positions 0 and 1 of a sequence always start); from then on p >= 2.
  const size_t head = std::min<size_t>(n, 2);
  feed_as<K>(ids, entropies, head, out);
  if (n == head) return;
  ids = ids ? ids + 2 : nullptr;
  if (entropies) entropies += 2;
  n -= 2;
  if (ids) check_ids(ids, n, st_.pos);
  double td = 0;
  float t = 0;
  bool exact_float = false;
  if constexpr (K == Kind::entropy) {
    // h > t in double equals h > t in float only if t is a float: otherwise compare in double to
    // keep the reference's semantics for any threshold.
    td = *rule_.threshold;
    t = static_cast<float>(td);
    exact_float = static_cast<double>(t) == td;
  }
  const bool force = rule_.force_boundaries && ids;
  const int32_t max_len = rule_.max_patch_length;
  State s = st_;
  constexpr size_t kBlock = 1024;
  uint8_t flags[kBlock + 8];  // + 8 zeros read by the last mask step
  for (size_t b0 = 0; b0 < n; b0 += kBlock) {
    const size_t bn = std::min(kBlock, n - b0);
    const uint16_t* id = ids ? ids + b0 : nullptr;
    // position i of the block looks at the H and id of position i - 1 (and i - 2 for space)
    if constexpr (K == Kind::entropy) {
      const float* h = entropies + b0;
      flags[0] = exact_float ? s.h1 > t : static_cast<double>(s.h1) > td;
      if (exact_float)
        for (size_t i = 1; i < bn; ++i) flags[i] = h[i - 1] > t;
      else
        for (size_t i = 1; i < bn; ++i) flags[i] = static_cast<double>(h[i - 1]) > td;
    } else if constexpr (K == Kind::byte) {
      std::memset(flags, 1, bn);
    } else if constexpr (K == Kind::static_size) {
      // phase = (p - 1) mod patch_size, counted without a division
      int32_t ph = s.phase;
      for (size_t i = 0; i < bn; ++i) {
        flags[i] = ph == 0;
        ph = ph + 1 == rule_.patch_size ? 0 : ph + 1;
      }
      s.phase = ph;
    } else if constexpr (K == Kind::bpe) {
      flags[0] = s.id1 == kBpeDelimId;
      for (size_t i = 1; i < bn; ++i) flags[i] = id[i - 1] == kBpeDelimId;
    } else {  // space: the id at p - 1 ends a patch if it is the first space-like one of a run
      uint8_t like[kBlock];
      for (size_t i = 0; i < bn; ++i) like[i] = kSpaceLike.v[id[i]];
      flags[0] = s.space_end1;
      if (bn > 1) flags[1] = (like[0] & !s.space_like1) | (id[0] < kByteOffset);
      for (size_t i = 2; i < bn; ++i)
        flags[i] = (like[i - 1] & !like[i - 2]) | (id[i - 1] < kByteOffset);
      const bool last_like = like[bn - 1];
      const bool prev_like = bn > 1 ? like[bn - 2] : s.space_like1;
      s.space_end1 = (last_like & !prev_like) | (id[bn - 1] < kByteOffset);
      s.space_like1 = last_like;
    }
    if (force) {
      flags[0] |= (s.id1 == kEosId) | (s.id1 == kBosId) | (id[0] == kBosId);
      for (size_t i = 1; i < bn; ++i)
        flags[i] |= (id[i - 1] == kEosId) | (id[i - 1] == kBosId) | (id[i] == kBosId);
    }
    if (max_len > 0) {
      for (size_t i = 0; i < bn; ++i) {
        if (!flags[i]) continue;
        const int64_t p = s.pos + static_cast<int64_t>(i);
        append_split(p - s.last_start, max_len, out);
        s.last_start = p;
      }
    } else {
      // Start flags become 64-bit masks (8 flags at a time by one multiply), and only the set
      // bits are visited: the work is per patch, not per position, and the loop's exit is the
      // only unpredictable branch per 64 positions.
      int32_t lengths[kBlock];
      int64_t prev = s.last_start;
      size_t count = 0;
      std::memset(flags + bn, 0, 8);
      for (size_t w = 0; w < bn; w += 64) {
        const size_t wn = std::min<size_t>(64, bn - w);
        uint64_t mask = 0;
        for (size_t k = 0; k < wn; k += 8) {
          uint64_t eight;  // flags are 0 or 1: byte j of `eight` lands on bit j of the top byte
          std::memcpy(&eight, flags + w + k, 8);
          mask |= ((eight * 0x0102040810204080ull) >> 56) << k;
        }
        const int64_t base = s.pos + static_cast<int64_t>(w);
        for (; mask; mask &= mask - 1) {
          const int64_t p = base + std::countr_zero(mask);
          lengths[count++] = static_cast<int32_t>(p - prev);
          prev = p;
        }
      }
      out.insert(out.end(), lengths, lengths + count);
      s.last_start = prev;
    }
    s.pos += static_cast<int64_t>(bn);
    if constexpr (K == Kind::entropy) {
      const float* h = entropies + b0;
      s.h2 = bn >= 2 ? h[bn - 2] : s.h1;
      s.h1 = h[bn - 1];
    }
    if (ids) s.id1 = ids[b0 + bn - 1];
  }
  s.have_ids = ids != nullptr;
  st_ = s;
}

template <PatchRule::Kind K>
void PatchStream::feed_as(const uint16_t* ids, const float* entropies, size_t n,
                          std::vector<int32_t>& out) {
  if (ids) check_ids(ids, n, st_.pos);  // up front, so the state never holds half a chunk
  const bool force = rule_.force_boundaries && ids;
  const int32_t max_len = rule_.max_patch_length;
  State s = st_;  // a local copy stays in registers
  // Start positions are collected without branches (a patch starts every few ids, so a branch
  // per id would mispredict often), then turned into lengths once per block.
  constexpr size_t kBlock = 1024;
  int64_t starts[kBlock];
  for (size_t b0 = 0; b0 < n; b0 += kBlock) {
    const size_t bn = std::min(kBlock, n - b0);
    size_t count = 0;
    for (size_t i = b0; i < b0 + bn; ++i) {
      const int64_t p = s.pos;
      const uint16_t id = ids ? ids[i] : 0;
      bool start;
      if constexpr (K == PatchRule::Kind::static_size) {
        start = (p < 2) | (s.phase == 0);
        s.phase = s.phase + 1 == rule_.patch_size ? 0 : s.phase + 1;
      } else {
        start = (p < 2) | rule_start_as<K>(rule_, s, p, false);
      }
      start |= force & ((s.have_ids & ((s.id1 == kEosId) | (s.id1 == kBosId))) | (id == kBosId));
      starts[count] = p;
      count += start;
      if (ids) {
        if constexpr (K == PatchRule::Kind::space) {
          // space_like1 is false before position 0, so no p > 0 test is needed.
          const bool sl = kSpaceLike.v[id];
          s.space_end1 = (sl & !s.space_like1) | (id < kByteOffset);
          s.space_like1 = sl;
        }
        s.id1 = id;
      }
      s.have_ids = ids != nullptr;
      if constexpr (K == PatchRule::Kind::entropy) {
        s.h2 = s.h1;
        s.h1 = entropies[i];
      }
      ++s.pos;
    }
    for (size_t c = 0; c < count; ++c) {
      if (starts[c] == 0) continue;
      append_split(starts[c] - s.last_start, max_len, out);
      s.last_start = starts[c];
    }
  }
  st_ = s;
}

void PatchStream::finish(std::vector<int32_t>& out) {
  State& s = st_;
  int64_t total = s.pos;
  if (rule_.include_next_token) {
    const int64_t p = s.pos;
    bool start = p < 2 || rule_start(rule_, s, p, true);
    if (rule_.force_boundaries && s.have_ids && p >= 1 && (s.id1 == kEosId || s.id1 == kBosId))
      start = true;
    if (start && p > 0) {
      append_split(p - s.last_start, rule_.max_patch_length, out);
      s.last_start = p;
    }
    total += 1;
  }
  if (total > s.last_start) append_split(total - s.last_start, rule_.max_patch_length, out);
  st_ = State{};
  st_.phase = rule_.patch_size - 1;
}

}  // namespace blt::patch
