#include "blt_core/bpe/bpe_model.hpp"

#include <algorithm>
#include <atomic>
#include <stdexcept>
#include <tuple>

#include "blt_core/bpe/byte_pair_merge.hpp"

namespace blt::bpe {

namespace {
std::string show(std::span<const uint8_t> b) {
  std::string s;
  for (uint8_t c : b) {
    if (c >= 0x20 && c < 0x7F && c != '\\') {
      s += static_cast<char>(c);
    } else {
      static const char* hex = "0123456789abcdef";
      s += "\\x";
      s += hex[c >> 4];
      s += hex[c & 15];
    }
  }
  return "'" + s + "'";
}
}  // namespace

BpeModel::BpeModel(BpeSpec spec) : spec_(std::move(spec)) {
  static std::atomic<uint32_t> next_cache_id{1};
  cache_id_ = next_cache_id.fetch_add(1);
  if (cache_id_ == 0) cache_id_ = next_cache_id.fetch_add(1);  // after 2^32 models
  const Vocab& v = spec_.vocab;
  if (!spec_.has_merges) {
    spec_.merges.clear();
    spec_.whole_piece_lookup = true;  // tiktoken looks every piece up whole first
  }
  for (int b = 0; b < 256; ++b) {
    uint8_t byte = static_cast<uint8_t>(b);
    byte_ids_[b] = v.find(&byte, 1);
    if (byte_ids_[b] == kNoId)
      throw std::invalid_argument("the vocabulary has no token for the single byte " + show({&byte, 1}) +
                                  " (byte-level BPE needs all 256)");
  }
  std::vector<uint8_t> buf;
  if (spec_.has_merges) {
    pairs_.reserve(spec_.merges.size());
    for (size_t i = 0; i < spec_.merges.size(); ++i) {
      auto [a, b] = spec_.merges[i];
      auto ba = v.bytes(a), bb = v.bytes(b);
      if (ba.empty() || bb.empty())
        throw std::invalid_argument("merge " + std::to_string(i) + " names token id " +
                                    std::to_string(ba.empty() ? a : b) + ", which is not in the vocabulary");
      buf.assign(ba.begin(), ba.end());
      buf.insert(buf.end(), bb.begin(), bb.end());
      uint32_t r = v.find(buf.data(), buf.size());
      if (r == kNoId)
        throw std::invalid_argument("merge " + std::to_string(i) + " (" + show(ba) + " " + show(bb) +
                                    "): the merged token " + show(buf) + " is not in the vocabulary");
      pairs_.set(a, b, Merge{static_cast<uint32_t>(i), r});
    }
  } else {
    // Every way of writing a token as two tokens is a merge with the token's rank as priority:
    // exactly the pairs tiktoken's concatenation lookup would accept.
    struct Split {
      uint32_t id;
      uint32_t k;
      uint64_t h_left, h_right;
    };
    std::vector<Split> splits, hits;
    std::vector<std::array<uint32_t, 3>> found;  // (left, right, token)
    found.reserve(v.size() * 5 / 2);  // about 2.3 splits per token in the OpenAI vocabularies
    // Lookups go in blocks: hash and prefetch every split of a block of tokens, then resolve
    // them, so the table reads (which miss the CPU caches) overlap.
    constexpr uint32_t kBlock = 64;
    for (uint32_t first = 0; first < v.id_end(); first += kBlock) {
      uint32_t last = std::min<uint32_t>(v.id_end(), first + kBlock);
      splits.clear();
      for (uint32_t id = first; id < last; ++id) {
        auto t = v.bytes(id);
        if (id >= kNoMerge - 1) throw std::invalid_argument("rank too large");
        for (uint32_t k = 1; k < t.size(); ++k) {
          uint64_t hl = hash_bytes(t.data(), k), hr = hash_bytes(t.data() + k, t.size() - k);
          v.prefetch(hl);
          v.prefetch(hr);
          splits.push_back({id, k, hl, hr});
        }
      }
      for (const Split& sp : splits) {
        auto t = v.bytes(sp.id);
        uint32_t a = v.find_hashed(t.data(), sp.k, sp.h_left);
        if (a == kNoId) continue;
        uint32_t b = v.find_hashed(t.data() + sp.k, t.size() - sp.k, sp.h_right);
        if (b != kNoId) found.push_back({a, b, sp.id});
      }
    }
    pairs_.reserve(found.size());
    constexpr size_t kAhead = 16;
    for (size_t i = 0; i < found.size(); ++i) {
      if (i + kAhead < found.size()) pairs_.prefetch(found[i + kAhead][0], found[i + kAhead][1]);
      pairs_.set(found[i][0], found[i][1], Merge{found[i][2], found[i][2]});
    }
  }
  pairs_.freeze(byte_ids_.data());
  n_vocab_ = v.id_end();
  for (const SpecialToken& s : spec_.specials) {
    std::span<const uint8_t> sb(reinterpret_cast<const uint8_t*>(s.text.data()), s.text.size());
    auto same = v.bytes(s.id);
    if (!same.empty()) {
      if (!std::equal(same.begin(), same.end(), sb.begin(), sb.end()))
        throw std::invalid_argument("special token " + show(sb) + " has id " + std::to_string(s.id) +
                                    ", which is the ordinary token " + show(same));
    } else if (!special_bytes_.add(sb, s.id)) {
      // A second text for a special id is an alias (o200k_harmony names 200018 twice): it
      // encodes to that id, and the id decodes to the first text.
      bool alias = special_bytes_.contains(s.id) && special_bytes_.find(sb) == kNoId;
      if (!alias)
        throw std::invalid_argument("special token " + show(sb) + " (id " + std::to_string(s.id) +
                                    ") is a duplicate");
    }
    n_vocab_ = std::max(n_vocab_, s.id + 1);
  }
  specials_ = SpecialMatcher(spec_.specials);
  pretok_ = make_pretokenizer(spec_.pattern);
}

std::vector<std::array<uint32_t, 2>> BpeModel::merge_list() const {
  if (spec_.has_merges) return spec_.merges;
  std::vector<std::tuple<uint32_t, uint32_t, uint32_t>> all;
  all.reserve(pairs_.size());
  pairs_.for_each([&](uint32_t a, uint32_t b, Merge m) { all.emplace_back(m.priority, a, b); });
  std::sort(all.begin(), all.end());
  std::vector<std::array<uint32_t, 2>> out;
  out.reserve(all.size());
  for (auto& [p, a, b] : all) out.push_back({a, b});
  return out;
}

bool BpeModel::tokens_self_merge(std::string* why) const {
  const Vocab& v = spec_.vocab;
  MergeScratch scratch;
  std::vector<uint32_t> got;
  for (uint32_t id = 0; id < v.id_end(); ++id) {
    auto t = v.bytes(id);
    if (t.size() < 2) continue;
    got.clear();
    auto emit = [&](uint32_t x, uint32_t) { got.push_back(x); };
    if (t.size() <= kSmallPiece)
      byte_pair_merge_small(pairs_, byte_ids_.data(), t.data(), t.size(), emit);
    else
      byte_pair_merge_large(pairs_, byte_ids_.data(), t.data(), t.size(), scratch, emit);
    if (got.size() != 1 || got[0] != id) {
      if (why) *why = "token " + std::to_string(id) + " " + show(t) + " cannot be reached by its merges";
      return false;
    }
  }
  return true;
}

bool BpeModel::rank_file_equivalent(std::string* why) const {
  if (!spec_.has_merges) return true;
  const Vocab& v = spec_.vocab;
  size_t splits = 0;
  for (uint32_t id = 0; id < v.id_end(); ++id) {
    auto t = v.bytes(id);
    for (size_t k = 1; k < t.size(); ++k)
      if (v.find(t.data(), k) != kNoId && v.find(t.data() + k, t.size() - k) != kNoId) ++splits;
  }
  if (splits != pairs_.size()) {
    if (why) *why = "the merges are not every split of every token into two tokens (" +
                    std::to_string(pairs_.size()) + " merges, " + std::to_string(splits) + " splits)";
    return false;
  }
  std::vector<std::pair<uint32_t, uint32_t>> order;  // (priority, result)
  order.reserve(pairs_.size());
  pairs_.for_each([&](uint32_t, uint32_t, Merge m) { order.emplace_back(m.priority, m.result); });
  std::sort(order.begin(), order.end());
  for (size_t i = 1; i < order.size(); ++i) {
    if (order[i].second < order[i - 1].second) {
      if (why) *why = "merge priorities do not follow token ids (token " + std::to_string(order[i].second) +
                      " merges after token " + std::to_string(order[i - 1].second) + ")";
      return false;
    }
  }
  return spec_.whole_piece_lookup || tokens_self_merge(why);
}

}  // namespace blt::bpe
