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
  // Pair counts are signed 64-bit (merges add and subtract): the pair occurrences of all words,
  // each weighted by its word's count, must stay below 2^63 so no count can wrap.
  unsigned __int128 occurrences = 0;
  for (const auto& [p, c] : pieces) {
    total += p.size();
    if (p.size() > 1) occurrences += static_cast<unsigned __int128>(c) * (p.size() - 1);
  }
  if (total >= kNone) throw std::length_error("the distinct pieces hold 2^32 bytes or more; set a memcap");
  if (occurrences >= (static_cast<unsigned __int128>(1) << 63))
    throw std::overflow_error("the piece counts add up to 2^63 pair occurrences or more (counts times "
                              "piece lengths): too large to count exactly");
  sym_.reserve(total);
  word_start_.reserve(pieces.size() + 1);
  word_count_.reserve(pieces.size());
  for (const auto& [p, c] : pieces) {
    // A one-byte word holds no pair: it can never change, so it is not kept.
    if (p.size() < 2 || c == 0) continue;
    word_start_.push_back(static_cast<uint32_t>(sym_.size()));
    word_count_.push_back(static_cast<int64_t>(c));
    for (uint8_t byte : p) sym_.push_back(byte_ids[byte]);
  }
  word_start_.push_back(static_cast<uint32_t>(sym_.size()));
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
  return uint64_t{token_len_[a]} + token_len_[b] <= opts_.max_pair_len;
}

uint32_t MergeEngine::stat_index(uint64_t key) {
  const uint32_t n = stats_.size();
  const uint32_t index = pair_index_.find_or_insert(static_cast<uint32_t>(key >> 32), static_cast<uint32_t>(key), n);
  if (index == n) stats_.emplace_back();
  return index;
}

void MergeEngine::note_word(PairStat& s, uint32_t word) {
  if (s.head != kNone && links_[s.head].word == word) return;
  uint32_t link;
  if (free_links_ != kNone) {
    link = free_links_;
    free_links_ = links_[link].next;
  } else {
    link = links_.emplace_back();
  }
  links_[link] = {word, s.head};
  s.head = link;
}

void MergeEngine::merge_in_word(uint32_t w, uint32_t a, uint32_t b, uint32_t out,
                                std::vector<Change>& changes) {
  const int64_t c = word_count_[w];
  const uint32_t start = word_start_[w], end = word_start_[w + 1];
  const uint32_t len_b = token_len_[b];
  uint32_t p = start;
  while (p < end) {
    const uint32_t q = p + token_len_[sym_[p]];
    if (q >= end) break;
    if (sym_[p] != a || sym_[q] != b) {
      p = q;
      continue;
    }
    const uint32_t after = q + len_b;
    if (p > start) {
      const uint32_t x = sym_[p - 1];
      if (eligible(x, a)) changes.push_back({pair_key(x, a), -c, w});
      if (eligible(x, out)) changes.push_back({pair_key(x, out), c, w});
    }
    sym_[p] = out;
    sym_[after - 1] = out;
    if (after < end) {
      const uint32_t y = sym_[after];
      if (eligible(b, y)) changes.push_back({pair_key(b, y), -c, w});
      if (eligible(out, y)) changes.push_back({pair_key(out, y), c, w});
    }
    p = after;  // non-overlapping: the next match starts after the merged pair
  }
}

// Two passes over the words: the first counts every pair and how many words hold it, the second
// writes each pair's words into its exactly sized range of initial_words_.
void MergeEngine::count_initial_pairs() {
  const uint32_t n_words = static_cast<uint32_t>(word_count_.size());
  auto for_each_pair = [&](auto&& f) {
    for (uint32_t w = 0; w < n_words; ++w)
      for (uint32_t p = word_start_[w]; p + 1 < word_start_[w + 1]; ++p)
        if (eligible(sym_[p], sym_[p + 1])) f(w, pair_key(sym_[p], sym_[p + 1]));
  };
  std::vector<uint32_t> n_holding;
  for_each_pair([&](uint32_t w, uint64_t key) {
    const uint32_t index = stat_index(key);
    PairStat& s = stats_[index];
    if (index >= n_holding.size()) n_holding.resize(index + 1, 0);
    s.count += word_count_[w];
    if (s.queued != w) {  // `queued` holds the last word seen until the merge loop starts
      s.queued = w;
      ++n_holding[index];
    }
  });
  initial_begin_.assign(stats_.size() + 1, 0);
  for (uint32_t i = 0; i < stats_.size(); ++i) initial_begin_[i + 1] = initial_begin_[i] + n_holding[i];
  initial_words_.resize(initial_begin_.back());
  std::vector<uint32_t>().swap(n_holding);
  std::vector<uint32_t> fill(initial_begin_.begin(), initial_begin_.end() - 1);
  for (uint32_t i = 0; i < stats_.size(); ++i) stats_[i].queued = kNone;
  for_each_pair([&](uint32_t w, uint64_t key) {
    const uint32_t index = existing_index(key);
    PairStat& s = stats_[index];
    if (s.queued != w) {
      s.queued = w;
      initial_words_[fill[index]++] = w;
    }
  });
  for (uint32_t i = 0; i < stats_.size(); ++i) stats_[i].queued = kNone;
}

std::vector<MergeStep> MergeEngine::run(const MergeOptions& opts) {
  opts_ = opts;
  count_initial_pairs();
  const int64_t floor = static_cast<int64_t>(
      std::clamp<uint64_t>(opts.min_frequency, 1, std::numeric_limits<int64_t>::max()));
  // A pair below the floor is not queued: it is queued again by the merge that lifts it.
  std::vector<HeapEntry> heap;
  for (uint32_t w = 0; w < word_count_.size(); ++w)
    for (uint32_t p = word_start_[w]; p + 1 < word_start_[w + 1]; ++p) {
      if (!eligible(sym_[p], sym_[p + 1])) continue;
      PairStat& s = existing(pair_key(sym_[p], sym_[p + 1]));
      if (s.count >= floor && s.queued != 0) {
        s.queued = 0;  // queued before the first merge
        heap.push_back({s.count, pair_key(sym_[p], sym_[p + 1])});
      }
    }
  std::make_heap(heap.begin(), heap.end(), HeapLess{});

  std::unordered_map<std::string, uint32_t> by_bytes;
  for (uint32_t id = 0; id < tokens_.size(); ++id)
    if (!tokens_[id].empty()) by_bytes.emplace(tokens_[id], id);

  std::vector<MergeStep> merges;
  std::vector<Change> changes;
  std::vector<uint64_t> queued;
  uint64_t added = 0;
  while (added < opts.max_new_tokens && !heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), HeapLess{});
    HeapEntry top = heap.back();
    heap.pop_back();
    const uint32_t index = existing_index(top.key);
    PairStat& best = stats_[index];
    if (best.count != top.count) {  // stale entry: counts changed since it was pushed
      if (best.count >= floor) {
        heap.push_back({best.count, top.key});
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
      token_len_[out] = static_cast<uint32_t>(merged.size());
      tokens_[out] = merged;
      by_bytes.emplace(std::move(merged), out);
    }
    merges.push_back({a, b, out});
    // Merge in every word of the list, then hand its links back to the pool.
    changes.clear();
    if (index + 1 < initial_begin_.size())
      for (uint32_t i = initial_begin_[index]; i < initial_begin_[index + 1]; ++i)
        merge_in_word(initial_words_[i], a, b, out, changes);
    uint32_t link = best.head;
    best.head = kNone;
    best.count = 0;  // the pair occurs nowhere any more
    while (link != kNone) {
      merge_in_word(links_[link].word, a, b, out, changes);
      uint32_t next = links_[link].next;
      links_[link].next = free_links_;
      free_links_ = link;
      link = next;
    }
    const uint32_t step = static_cast<uint32_t>(merges.size());
    queued.clear();
    for (const Change& ch : changes) {
      if (ch.key == top.key) continue;  // overlapping copies of the merged pair ("aaa") are gone too
      PairStat& s = stat(ch.key);
      s.count += ch.delta;
      if (ch.delta > 0) {
        note_word(s, ch.word);
        if (s.queued != step) {
          s.queued = step;
          queued.push_back(ch.key);
        }
      }
    }
    for (uint64_t key : queued) {
      int64_t c = existing(key).count;
      if (c >= floor) {
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
