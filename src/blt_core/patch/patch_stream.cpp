#include "blt_core/patch/patch_stream.hpp"

#include <algorithm>
#include <string>

namespace blt::patch {

void append_split(int64_t length, int32_t max_length, std::vector<int32_t>& out) {
  if (max_length > 0 && length > max_length) [[unlikely]] {
    while (length > max_length) {
      out.push_back(max_length);
      length -= max_length;
    }
  }
  out.push_back(static_cast<int32_t>(length));
}

PatchStream::PatchStream(const PatchRule& rule) : rule_(rule) {
  rule_.validate();
  if (rule_.is_topk())
    throw std::invalid_argument(
        "top-k entropy patching (threshold=None) needs the whole sequence; it cannot stream");
}

void PatchStream::reset() {
  pos_ = 0;
  last_start_ = 0;
  have_ids_ = false;
  id1_ = 0;
  space_like1_ = space_end1_ = false;
  h1_ = h2_ = 0;
}

// Rule for p >= 2 (positions 0 and 1 always start). is_next_token: p is the position after the
// last id (only with include_next_token). One instantiation per rule keeps the per-id loop free
// of the rule switch.
template <PatchRule::Kind K>
bool PatchStream::rule_start_as(int64_t p, bool is_next_token) const {
  if constexpr (K == PatchRule::Kind::static_size) {
    return (p - 1) % rule_.patch_size == 0;
  } else if constexpr (K == PatchRule::Kind::byte) {
    return true;
  } else if constexpr (K == PatchRule::Kind::space) {
    return space_end1_;
  } else if constexpr (K == PatchRule::Kind::bpe) {
    // The reference only looks at delimiters before the last id, so the next token never
    // starts a patch because of one.
    return !is_next_token && id1_ == kBpeDelimId;
  } else {
    const double t = *rule_.threshold;
    if (rule_.monotonicity) return p == 2 || static_cast<double>(h1_) - h2_ > t;
    if (rule_.threshold_add) {
      // patch_start_mask_global_and_monotonicity: p = 2 always, p = 3 never, then both.
      if (p == 2) return true;
      if (p == 3) return false;
      return static_cast<double>(h1_) - h2_ > *rule_.threshold_add && h1_ > t;
    }
    return h1_ > t;
  }
}

bool PatchStream::rule_start(int64_t p, bool is_next_token) const {
  switch (rule_.kind) {
    case PatchRule::Kind::static_size: return rule_start_as<PatchRule::Kind::static_size>(p, is_next_token);
    case PatchRule::Kind::byte: return rule_start_as<PatchRule::Kind::byte>(p, is_next_token);
    case PatchRule::Kind::space: return rule_start_as<PatchRule::Kind::space>(p, is_next_token);
    case PatchRule::Kind::bpe: return rule_start_as<PatchRule::Kind::bpe>(p, is_next_token);
    case PatchRule::Kind::entropy: return rule_start_as<PatchRule::Kind::entropy>(p, is_next_token);
  }
  return false;
}

void PatchStream::emit(int64_t length, std::vector<int32_t>& out) const {
  append_split(length, rule_.max_patch_length, out);
}

void PatchStream::feed(const uint16_t* ids, const float* entropies, size_t n,
                       std::vector<int32_t>& out) {
  if (n == 0) return;
  if (rule_.needs_ids() && !ids)
    throw std::invalid_argument("space and bpe patching need the ids of the sequence");
  if (rule_.needs_entropies() && !entropies)
    throw std::invalid_argument("entropy patching needs one entropy per position");
  switch (rule_.kind) {
    case PatchRule::Kind::static_size: return feed_as<PatchRule::Kind::static_size>(ids, entropies, n, out);
    case PatchRule::Kind::byte: return feed_as<PatchRule::Kind::byte>(ids, entropies, n, out);
    case PatchRule::Kind::space: return feed_as<PatchRule::Kind::space>(ids, entropies, n, out);
    case PatchRule::Kind::bpe: return feed_as<PatchRule::Kind::bpe>(ids, entropies, n, out);
    case PatchRule::Kind::entropy: return feed_as<PatchRule::Kind::entropy>(ids, entropies, n, out);
  }
}

template <PatchRule::Kind K>
void PatchStream::feed_as(const uint16_t* ids, const float* entropies, size_t n,
                          std::vector<int32_t>& out) {
  const bool force = rule_.force_boundaries && ids;
  // Start positions are collected without branches (a patch starts every few ids, so a branch
  // per id would mispredict often), then turned into lengths once per block.
  constexpr size_t kBlock = 1024;
  int64_t starts[kBlock];
  for (size_t b0 = 0; b0 < n; b0 += kBlock) {
    const size_t bn = std::min(kBlock, n - b0);
    size_t count = 0;
    for (size_t i = b0; i < b0 + bn; ++i) {
      const int64_t p = pos_;
      const uint16_t id = ids ? ids[i] : 0;
      if (ids && id > kMaxId) [[unlikely]]
        throw std::invalid_argument("id " + std::to_string(id) + " at position " +
                                    std::to_string(p) + " is not a BLT byte id (0.." +
                                    std::to_string(kMaxId) + ")");
      bool start = (p < 2) | rule_start_as<K>(p, false);
      start |= force & ((have_ids_ & ((id1_ == kEosId) | (id1_ == kBosId))) | (id == kBosId));
      starts[count] = p;
      count += start;
      // State for the next position.
      if (ids) {
        if constexpr (K == PatchRule::Kind::space) {
          const bool sl = is_space_like(id);
          space_end1_ = (sl && !(p > 0 && space_like1_)) || id < kByteOffset;
          space_like1_ = sl;
        }
        id1_ = id;
      }
      have_ids_ = ids != nullptr;
      if constexpr (K == PatchRule::Kind::entropy) {
        h2_ = h1_;
        h1_ = entropies[i];
      }
      ++pos_;
    }
    for (size_t c = 0; c < count; ++c) {
      if (starts[c] == 0) continue;
      emit(starts[c] - last_start_, out);
      last_start_ = starts[c];
    }
  }
}

void PatchStream::finish(std::vector<int32_t>& out) {
  int64_t total = pos_;
  if (rule_.include_next_token) {
    const int64_t p = pos_;
    bool start = p < 2 || rule_start(p, true);
    if (rule_.force_boundaries && have_ids_ && p >= 1 && (id1_ == kEosId || id1_ == kBosId))
      start = true;
    if (start && p > 0) {
      emit(p - last_start_, out);
      last_start_ = p;
    }
    total += 1;
  }
  if (total > last_start_) emit(total - last_start_, out);
  reset();
}

}  // namespace blt::patch
