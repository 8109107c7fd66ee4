#include "blt_core/train/merge_engine.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <unordered_map>

namespace blt::train {

namespace {

uint64_t pair_key(uint32_t a, uint32_t b) { return (uint64_t{a} << 32) | b; }

struct HeapEntry {
  int64_t count;
  uint64_t key;
};
// Max-heap order: higher count first; on ties the smaller (left, right) first.
struct HeapLess {
  bool operator()(const HeapEntry& x, const HeapEntry& y) const {
    return x.count != y.count ? x.count < y.count : x.key > y.key;
  }
};

}  // namespace

MergeEngine::MergeEngine(const std::vector<std::pair<Bytes, uint64_t>>& pieces,
                         const std::array<uint32_t, 256>& byte_ids, uint32_t first_new_id)
    : next_id_(first_new_id) {
  uint64_t total = 0;
  for (const auto& [p, c] : pieces) total += p.size();
  if (total >= kNone) throw std::length_error("the distinct pieces hold 2^32 bytes or more; set a memcap");
  sym_.reserve(total);
  next_.reserve(total);
  prev_.reserve(total);
  word_start_.reserve(pieces.size());
  word_count_.reserve(pieces.size());
  for (const auto& [p, c] : pieces) {
    if (p.empty()) continue;
    uint32_t start = static_cast<uint32_t>(sym_.size());
    word_start_.push_back(start);
    word_count_.push_back(static_cast<int64_t>(std::min<uint64_t>(c, std::numeric_limits<int64_t>::max())));
    for (size_t i = 0; i < p.size(); ++i) {
      sym_.push_back(byte_ids[p[i]]);
      next_.push_back(i + 1 < p.size() ? start + static_cast<uint32_t>(i) + 1 : kNone);
      prev_.push_back(i > 0 ? start + static_cast<uint32_t>(i) - 1 : kNone);
    }
  }
  uint32_t end = first_new_id;
  for (uint32_t id : byte_ids) end = std::max(end, id + 1);
  tokens_.resize(end);
  token_len_.assign(end, 0);
  single_byte_.assign(end, 0);
  for (int b = 0; b < 256; ++b) {
    tokens_[byte_ids[b]] = std::string(1, static_cast<char>(b));
    token_len_[byte_ids[b]] = 1;
    single_byte_[byte_ids[b]] = 1;
  }
}

const std::string& MergeEngine::token(uint32_t id) const {
  static const std::string kEmpty;
  return id < tokens_.size() ? tokens_[id] : kEmpty;
}

bool MergeEngine::eligible(uint32_t a, uint32_t b) const {
  if (opts_.byte_pairs_always && single_byte_[a] && single_byte_[b]) return true;
  return token_len_[a] + token_len_[b] <= opts_.max_pair_len;
}

void MergeEngine::merge_in_word(uint32_t w, uint32_t a, uint32_t b, uint32_t out,
                                std::vector<Change>& changes) {
  int64_t c = word_count_[w];
  uint32_t p = word_start_[w];
  while (p != kNone) {
    uint32_t q = next_[p];
    if (q == kNone) break;
    if (sym_[p] != a || sym_[q] != b) {
      p = q;
      continue;
    }
    uint32_t before = prev_[p], after = next_[q];
    if (before != kNone) {
      uint32_t x = sym_[before];
      if (eligible(x, a)) changes.push_back({pair_key(x, a), -c, w});
      if (eligible(x, out)) changes.push_back({pair_key(x, out), c, w});
    }
    sym_[p] = out;
    next_[p] = after;
    if (after != kNone) {
      prev_[after] = p;
      uint32_t y = sym_[after];
      if (eligible(b, y)) changes.push_back({pair_key(b, y), -c, w});
      if (eligible(out, y)) changes.push_back({pair_key(out, y), c, w});
    }
    p = after;  // non-overlapping: the next match starts after the merged pair
  }
}

std::vector<MergeStep> MergeEngine::run(const MergeOptions& opts) {
  opts_ = opts;
  std::unordered_map<uint64_t, PairStat> pairs;
  pairs.reserve(sym_.size() / 4 + 1024);
  for (uint32_t w = 0; w < word_start_.size(); ++w) {
    for (uint32_t p = word_start_[w]; next_[p] != kNone; p = next_[p]) {
      uint32_t a = sym_[p], b = sym_[next_[p]];
      if (!eligible(a, b)) continue;
      PairStat& s = pairs[pair_key(a, b)];
      s.count += word_count_[w];
      if (s.words.empty() || s.words.back() != w) s.words.push_back(w);
    }
  }
  std::vector<HeapEntry> heap;
  heap.reserve(pairs.size());
  for (auto& [key, s] : pairs)
    if (s.count > 0) heap.push_back({s.count, key});
  std::make_heap(heap.begin(), heap.end(), HeapLess{});

  std::unordered_map<std::string, uint32_t> by_bytes;
  for (uint32_t id = 0; id < tokens_.size(); ++id)
    if (!tokens_[id].empty()) by_bytes.emplace(tokens_[id], id);

  const int64_t floor = static_cast<int64_t>(std::clamp<uint64_t>(opts.min_frequency, 1, std::numeric_limits<int64_t>::max()));
  std::vector<MergeStep> merges;
  std::vector<Change> changes;
  std::vector<uint64_t> pushed;
  uint64_t added = 0;
  while (added < opts.max_new_tokens && !heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), HeapLess{});
    HeapEntry top = heap.back();
    heap.pop_back();
    auto it = pairs.find(top.key);
    int64_t now = it == pairs.end() ? 0 : it->second.count;
    if (now != top.count) {  // stale entry: counts changed since it was pushed
      if (now > 0) {
        heap.push_back({now, top.key});
        std::push_heap(heap.begin(), heap.end(), HeapLess{});
      }
      continue;
    }
    if (top.count < floor) break;
    uint32_t a = static_cast<uint32_t>(top.key >> 32), b = static_cast<uint32_t>(top.key);
    std::string merged = tokens_[a] + tokens_[b];
    uint32_t out;
    if (auto found = by_bytes.find(merged); found != by_bytes.end()) {
      out = found->second;
    } else {
      out = next_id_++;
      ++added;
      if (tokens_.size() <= out) {
        tokens_.resize(out + 1);
        token_len_.resize(out + 1, 0);
        single_byte_.resize(out + 1, 0);
      }
      token_len_[out] = merged.size();
      tokens_[out] = merged;
      by_bytes.emplace(std::move(merged), out);
    }
    merges.push_back({a, b, out});
    std::vector<uint32_t> words = std::move(it->second.words);
    pairs.erase(it);
    changes.clear();
    for (uint32_t w : words) merge_in_word(w, a, b, out, changes);
    const uint32_t step = static_cast<uint32_t>(merges.size());
    pushed.clear();
    for (const Change& ch : changes) {
      PairStat& s = pairs[ch.key];
      s.count += ch.delta;
      if (ch.delta > 0) {
        if (s.words.empty() || s.words.back() != ch.word) s.words.push_back(ch.word);
        if (s.touched != step) {
          s.touched = step;
          pushed.push_back(ch.key);
        }
      }
    }
    for (uint64_t key : pushed) {
      int64_t c = pairs[key].count;
      if (c > 0) {
        heap.push_back({c, key});
        std::push_heap(heap.begin(), heap.end(), HeapLess{});
      }
    }
    if (opts.progress && (merges.size() & 255) == 0) opts.progress(merges.size());
  }
  if (opts.progress) opts.progress(merges.size());
  return merges;
}

}  // namespace blt::train
