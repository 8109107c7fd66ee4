// BpeModel: one immutable byte-level BPE vocabulary (ranks or merges, specials, split pattern).
// Shared read-only by every encoder and thread; built once by a loader from a BpeSpec.
#pragma once
#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "blt_core/bpe/pair_table.hpp"
#include "blt_core/bpe/vocab.hpp"
#include "blt_core/bpe/special_matcher.hpp"
#include "blt_core/text/pretokenizer.hpp"

namespace blt::bpe {

// What a loader hands over. Two merge semantics, both exact:
//  - tiktoken (merges empty): two adjacent parts merge if their concatenation is a token, the
//    lowest-ranked (= lowest id) concatenation first; a piece that is itself a token is one id.
//  - HF / GPT-2 (merges given): only listed pairs merge, in list order (a later duplicate of a
//    pair replaces the earlier one, as in HF); whole_piece_lookup mirrors HF's ignore_merges.
struct BpeSpec {
  std::string name;
  std::string pattern;
  Vocab vocab;
  std::vector<std::array<uint32_t, 2>> merges;
  bool has_merges = false;
  bool whole_piece_lookup = true;
  std::vector<SpecialToken> specials;
};

class BpeModel {
 public:
  // Throws std::invalid_argument: a byte without a single-byte token, a merge whose result is not
  // a token, a special id clashing with a different ordinary token, or a bad pattern.
  explicit BpeModel(BpeSpec spec);

  const std::string& name() const { return spec_.name; }
  const std::string& pattern() const { return spec_.pattern; }
  const Pretokenizer& pretokenizer() const { return *pretok_; }
  const Vocab& vocab() const { return spec_.vocab; }
  const PairTable& pairs() const { return pairs_; }
  const SpecialMatcher& specials() const { return specials_; }
  const uint32_t* byte_ids() const { return byte_ids_.data(); }
  bool whole_piece_lookup() const { return spec_.whole_piece_lookup; }
  bool has_merges() const { return spec_.has_merges; }
  const std::vector<std::array<uint32_t, 2>>& merges() const { return spec_.merges; }
  const BpeSpec& spec() const { return spec_; }

  // Distinct per model instance (never 0); tags this model's entries in per-thread caches.
  uint32_t cache_id() const { return cache_id_; }

  // One past the largest id of any token or special (tiktoken's n_vocab).
  uint32_t n_vocab() const { return n_vocab_; }

  // Bytes of any id (ordinary or special); empty if the id is neither.
  std::span<const uint8_t> token_bytes(uint32_t id) const {
    auto b = spec_.vocab.bytes(id);
    return b.empty() ? special_bytes_.bytes(id) : b;
  }

  // Appends the bytes of ids; throws std::invalid_argument naming the first unknown id.
  template <class T>
  void decode(const T* ids, size_t n, std::string& out) const;

  // A ragged batch: item i is ids[offsets[i]:offsets[i+1]]; appends every item's bytes to out and
  // out.size() after each item to ends. Throws std::invalid_argument for offsets that do not start
  // at 0, decrease or end past n, and naming the item and position of an unknown id.
  template <class T>
  void decode_ragged(const T* ids, size_t n, std::span<const int64_t> offsets, std::string& out,
                     std::vector<size_t>& ends) const;

  // Merges as (left, right) id pairs in priority order: the given list (HF / GPT-2), or for
  // tiktoken ranks every split of every token into two tokens, ordered by the merged token's rank.
  std::vector<std::array<uint32_t, 2>> merge_list() const;

  // Whether saving as a plain rank file (tiktoken semantics) would encode identically; if not,
  // `why` says what differs.
  bool rank_file_equivalent(std::string* why) const;

  // Whether every token, merged from its bytes, ends as itself (then whole-piece lookup changes
  // nothing and a merges-only format is exact).
  bool tokens_self_merge(std::string* why) const;

 private:
  BpeSpec spec_;
  PairTable pairs_;
  Vocab special_bytes_;
  SpecialMatcher specials_;
  std::array<uint32_t, 256> byte_ids_{};
  std::unique_ptr<Pretokenizer> pretok_;
  uint32_t n_vocab_ = 0;
  uint32_t cache_id_ = 0;
};

template <class T>
void BpeModel::decode(const T* ids, size_t n, std::string& out) const {
  // Two passes: the lengths (and any unknown id) first, then copies into output sized once. A
  // token of up to 16 bytes is copied as one fixed 16-byte block where its arena allows (the
  // output keeps 16 bytes of slack), instead of a variable-length copy per token.
  size_t total = 0;
  for (size_t i = 0; i < n; ++i) {
    auto v = ids[i];
    bool in_range = static_cast<uint64_t>(v) < 0xFFFFFFFFull;
    if constexpr (std::is_signed_v<T>) in_range = in_range && v >= 0;
    auto b = in_range ? token_bytes(static_cast<uint32_t>(v)) : std::span<const uint8_t>{};
    if (b.empty())
      throw std::invalid_argument("token id " + std::to_string(v) + " (at position " +
                                  std::to_string(i) + ") is not in the vocabulary of " +
                                  (spec_.name.empty() ? std::string("this tokenizer") : spec_.name));
    total += b.size();
  }
  const size_t start = out.size();
  out.resize(start + total + 16);
  auto* dst = reinterpret_cast<uint8_t*>(out.data() + start);
  for (size_t i = 0; i < n; ++i) {
    const auto id = static_cast<uint32_t>(ids[i]);
    auto b = spec_.vocab.bytes(id);
    if (!b.empty() && b.size() <= 16 && spec_.vocab.readable16(b.data())) {
      std::memcpy(dst, b.data(), 16);
    } else {
      if (b.empty()) b = special_bytes_.bytes(id);
      std::memcpy(dst, b.data(), b.size());
    }
    dst += b.size();
  }
  out.resize(start + total);
}

template <class T>
void BpeModel::decode_ragged(const T* ids, size_t n, std::span<const int64_t> offsets, std::string& out,
                             std::vector<size_t>& ends) const {
  if (offsets.empty() || offsets[0] != 0) throw std::invalid_argument("offsets must start at 0");
  if (static_cast<uint64_t>(offsets.back()) != n)
    throw std::invalid_argument("offsets end at " + std::to_string(offsets.back()) + ", not at the " +
                                std::to_string(n) + " ids");
  for (size_t i = 1; i < offsets.size(); ++i)
    if (offsets[i] < offsets[i - 1])
      throw std::invalid_argument("offsets must be non-decreasing (item " + std::to_string(i - 1) + ")");
  ends.reserve(ends.size() + offsets.size() - 1);
  for (size_t i = 0; i + 1 < offsets.size(); ++i) {
    const size_t a = static_cast<size_t>(offsets[i]), b = static_cast<size_t>(offsets[i + 1]);
    try {
      decode(ids + a, b - a, out);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument("item " + std::to_string(i) + ": " + e.what());
    }
    ends.push_back(out.size());
  }
}

}  // namespace blt::bpe
