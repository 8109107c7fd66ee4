// Byte-pair merging of one pre-tokenized piece: start from single bytes, repeatedly merge the
// adjacent pair of lowest priority (leftmost on ties), exactly as tiktoken and HF tokenizers do.
#pragma once
#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <vector>

#include "blt_core/bpe/min_key.hpp"
#include "blt_core/bpe/pair_table.hpp"

namespace blt::bpe {

// Pieces up to this length merge in a small stack array (the loop tiktoken uses); longer pieces
// merge in time linear in their length (byte_pair_merge_large), so that a 1 MB run of one
// character costs twice what half of it does.
inline constexpr size_t kSmallPiece = 64;

// Scratch memory for long pieces, reused across pieces (one per encoding thread).
struct MergeScratch {
  // A pair of adjacent parts that merges: still current while the parts hold these ids.
  struct Candidate {
    uint32_t pos;     // start of the left part (index of its first byte in the piece)
    uint32_t left;    // id of the left part when the pair formed
    uint32_t right;   // id of the right part when the pair formed
    uint32_t result;  // id of the merged token
  };
  struct Urgent {
    uint32_t priority;
    Candidate c;
  };
  std::vector<uint32_t> ids, next, prev;
  std::vector<std::vector<Candidate>> buckets;  // pool: one bucket per pending priority
  std::vector<uint32_t> free_buckets;           // pool slots not in use
  std::vector<uint32_t> bucket_of;              // priority -> pool slot, or kNoMerge
  std::vector<uint32_t> pending;                // min-heap of priorities that have a bucket
  std::vector<Urgent> urgent;                   // min-heap by (priority, pos), see below
  std::vector<Candidate> current, sort_tmp;
  // Work units of the last byte_pair_merge_large call (candidates made and examined, heap and
  // sort steps); machine-independent, so tests can check that the merge stays linear.
  size_t work = 0;
};

// Scratch bytes byte_pair_merge_large holds per byte of its piece, about: ids, next and prev, and
// up to two candidates per byte alive at once (a phase's bucket beside the pairs it forms, or
// beside the sort buffer). Runs under a memory cap refuse a piece that would need more.
inline constexpr size_t kLargeMergeBytesPerByte = 3 * sizeof(uint32_t) + 2 * sizeof(MergeScratch::Candidate);

// byte_pair_merge_small for any priorities (the loop tiktoken uses, on arrays that shift).
template <class Emit>
void byte_pair_merge_small_wide(const PairTable& pairs, const uint32_t* byte_ids, const uint8_t* p,
                           size_t n, Emit&& emit) {
  uint32_t ids[kSmallPiece], start[kSmallPiece];
  Merge merge[kSmallPiece];
  size_t m = n;
  for (size_t i = 0; i < n; ++i) {
    ids[i] = byte_ids[p[i]];
    start[i] = static_cast<uint32_t>(i);
  }
  for (size_t i = 0; i + 1 < n; ++i) merge[i] = pairs.find_known(ids[i], ids[i + 1]);
  merge[n - 1] = Merge{kNoMerge, kNoMerge};
  for (;;) {
    uint32_t best = kNoMerge;
    size_t at = 0;
    for (size_t i = 0; i + 1 < m; ++i) {
      if (merge[i].priority < best) {
        best = merge[i].priority;
        at = i;
      }
    }
    if (best == kNoMerge) break;
    ids[at] = merge[at].result;
    for (size_t i = at + 1; i + 1 < m; ++i) {
      ids[i] = ids[i + 1];
      start[i] = start[i + 1];
      merge[i] = merge[i + 1];
    }
    --m;
    merge[at] = at + 1 < m ? pairs.find_known(ids[at], ids[at + 1]) : Merge{kNoMerge, kNoMerge};
    if (at > 0) merge[at - 1] = pairs.find_known(ids[at - 1], ids[at]);
  }
  for (size_t i = 0; i < m; ++i) emit(ids[i], start[i]);
}

// Writes the token ids of piece p[0:n] (2 <= n <= kSmallPiece) and their start offsets in the
// piece. `emit(id, start)` is called in order; byte_ids maps each byte value to its single-byte
// token. Parts keep their index (a linked list, no shifting), and each pair's (priority, index)
// is packed in one 32-bit key, so the lowest-priority, leftmost pair is a plain minimum over a
// fixed array, which the compiler vectorizes.
template <class Emit>
void byte_pair_merge_small(const PairTable& pairs, const uint32_t* byte_ids, const uint8_t* p,
                           size_t n, Emit&& emit) {
  static_assert(kSmallPiece <= 64, "indices are packed in 6 bits");
  constexpr uint32_t kNoKey = 0xFFFFFFFFu;
  if (pairs.max_priority() >= (kNoKey >> 6)) return byte_pair_merge_small_wide(pairs, byte_ids, p, n, emit);
  alignas(16) uint32_t key[kSmallPiece];  // of the pair that part i starts; kNoKey: none, or i merged away
  uint32_t ids[kSmallPiece], result[kSmallPiece];
  uint8_t next[kSmallPiece], prev[kSmallPiece];
  const uint32_t un = static_cast<uint32_t>(n);
  for (uint32_t i = 0; i < un; ++i) {
    ids[i] = byte_ids[p[i]];
    next[i] = static_cast<uint8_t>(i + 1);
    prev[i] = static_cast<uint8_t>(i - 1);
  }
  auto key_of = [&](uint32_t i) -> uint32_t {  // part i has a next part
    Merge g = pairs.find_known(ids[i], ids[next[i]]);
    result[i] = g.result;
    return g.priority == kNoMerge ? kNoKey : (g.priority << 6) | i;
  };
  auto byte_key = [&](uint32_t i) -> uint32_t {
    Merge g = pairs.find_bytes(p[i], p[i + 1]);
    result[i] = g.result;
    return g.priority == kNoMerge ? kNoKey : (g.priority << 6) | i;
  };
  if (pairs.has_byte_pairs())
    for (uint32_t i = 0; i + 1 < un; ++i) key[i] = byte_key(i);
  else
    for (uint32_t i = 0; i + 1 < un; ++i) key[i] = key_of(i);
  // Short pieces scan inline (baseline SSE2); longer ones call the widest kernel the CPU has.
  static_assert(kSmallPiece % kMinKeyBlock == 0);
  constexpr uint32_t kInlineScan = 8;
  const uint32_t padded = (un + kMinKeyBlock - 1) & ~uint32_t{kMinKeyBlock - 1};
  for (uint32_t i = un - 1; i < padded; ++i) key[i] = kNoKey;
  const MinKeyFn min_of = padded > kInlineScan ? min_key() : nullptr;
  for (;;) {
    uint32_t best = kNoKey;
    if (padded <= kInlineScan)
      for (uint32_t i = 0; i < padded; ++i) best = key[i] < best ? key[i] : best;
    else
      best = min_of(key, padded);
    if (best == kNoKey) break;
    uint32_t at = best & 63, gone = next[at], after = next[gone];
    ids[at] = result[at];
    key[gone] = kNoKey;
    next[at] = static_cast<uint8_t>(after);
    if (after < un) {
      prev[after] = static_cast<uint8_t>(at);
      key[at] = key_of(at);
    } else {
      key[at] = kNoKey;
    }
    if (at > 0) key[prev[at]] = key_of(prev[at]);  // part 0 is never merged away
  }
  for (uint32_t i = 0; i < un; i = next[i]) emit(ids[i], i);
}

namespace detail {

// Sorts candidates by position: in place when short, else by 8-bit radix passes, so that sorting
// k candidates costs O(k). Returns the work done.
inline size_t sort_by_pos(std::vector<MergeScratch::Candidate>& v, std::vector<MergeScratch::Candidate>& tmp) {
  auto by_pos = [](const MergeScratch::Candidate& a, const MergeScratch::Candidate& b) { return a.pos < b.pos; };
  if (std::is_sorted(v.begin(), v.end(), by_pos)) return v.size();
  if (v.size() <= 64) {
    std::sort(v.begin(), v.end(), by_pos);
    return v.size() * 6;
  }
  tmp.resize(v.size());
  size_t work = v.size();
  for (int shift = 0; shift < 32; shift += 8) {
    size_t count[257] = {};
    for (const auto& c : v) ++count[((c.pos >> shift) & 0xFF) + 1];
    work += v.size() + 256;
    if (count[((v[0].pos >> shift) & 0xFF) + 1] == v.size()) continue;  // one digit: nothing to do
    for (size_t i = 1; i < 257; ++i) count[i] += count[i - 1];
    for (const auto& c : v) tmp[count[(c.pos >> shift) & 0xFF]++] = c;
    v.swap(tmp);
    work += v.size();
  }
  return work;
}

}  // namespace detail

// Same result as byte_pair_merge_small for any n >= 2, in time linear in n.
//
// Why it is exact: merges happen in phases, one per priority r, lowest first. When phase r
// begins, every current pair of priority r sits in bucket r (pairs go to the bucket of their
// priority when they form); a pair formed during the phase cannot have priority r itself (its
// token is longer than token r), so taking bucket r's pairs left to right, skipping those whose
// parts have changed, is the leftmost-first order. A vocabulary whose merges are not monotone
// can form a pair of priority <= r during phase r: such a pair is the new global minimum, so it
// goes to the small `urgent` heap, which is interleaved with the sweep by (priority, position).
// Cost: O(n) candidates, a heap over the distinct priorities (at most the vocabulary size), and
// linear-time sorts of buckets that were filled by several phases.
template <class Emit>
void byte_pair_merge_large(const PairTable& pairs, const uint32_t* byte_ids, const uint8_t* p,
                           size_t n, MergeScratch& s, Emit&& emit) {
  using Candidate = MergeScratch::Candidate;
  using Urgent = MergeScratch::Urgent;
  constexpr uint32_t kNone = 0xFFFFFFFFu;
  s.ids.resize(n);
  s.next.resize(n);
  s.prev.resize(n);
  s.pending.clear();
  s.urgent.clear();
  size_t work = n;
  for (size_t i = 0; i < n; ++i) {
    s.ids[i] = byte_ids[p[i]];
    s.next[i] = i + 1 < n ? static_cast<uint32_t>(i + 1) : kNone;
    s.prev[i] = i ? static_cast<uint32_t>(i - 1) : kNone;
  }
  auto pending_later = [](uint32_t a, uint32_t b) { return a > b; };
  auto urgent_later = [](const Urgent& a, const Urgent& b) {
    return a.priority != b.priority ? a.priority > b.priority : a.c.pos > b.c.pos;
  };
  // Pairs of priority below `limit` are urgent (limit = r + 1 during phase r, 0 before).
  uint64_t limit = 0;
  // Files the pair of part pos and part nx, which merge by m.
  auto file = [&](uint32_t pos, uint32_t nx, Merge m) {
    if (m.priority == kNoMerge) return;
    Candidate c{pos, s.ids[pos], s.ids[nx], m.result};
    ++work;
    if (m.priority < limit) {
      s.urgent.push_back({m.priority, c});
      std::push_heap(s.urgent.begin(), s.urgent.end(), urgent_later);
      work += 8;
      return;
    }
    if (m.priority >= s.bucket_of.size()) s.bucket_of.resize(size_t{m.priority} + 1, kNone);
    uint32_t& b = s.bucket_of[m.priority];
    if (b == kNone) {
      if (s.free_buckets.empty()) {
        s.free_buckets.push_back(static_cast<uint32_t>(s.buckets.size()));
        s.buckets.emplace_back();
      }
      b = s.free_buckets.back();
      s.free_buckets.pop_back();
      s.buckets[b].clear();
      s.pending.push_back(m.priority);
      std::push_heap(s.pending.begin(), s.pending.end(), pending_later);
      work += 8;
    }
    s.buckets[b].push_back(c);
  };
  auto add = [&](uint32_t pos) {
    uint32_t nx = s.next[pos];
    if (nx != kNone) file(pos, nx, pairs.find_known(s.ids[pos], s.ids[nx]));
  };
  for (uint32_t i = 0; i + 1 < n; ++i)
    file(i, i + 1, pairs.has_byte_pairs() ? pairs.find_bytes(p[i], p[i + 1]) : pairs.find_known(s.ids[i], s.ids[i + 1]));
  auto merge_at = [&](const Candidate& c) {
    uint32_t nx = s.next[c.pos];
    if (s.ids[c.pos] != c.left || nx == kNone || s.ids[nx] != c.right) return;  // stale
    s.ids[c.pos] = c.result;
    uint32_t nn = s.next[nx];
    s.next[c.pos] = nn;
    if (nn != kNone) s.prev[nn] = c.pos;
    s.ids[nx] = kNone;
    if (s.prev[c.pos] != kNone) add(s.prev[c.pos]);
    add(c.pos);
  };
  while (!s.pending.empty()) {
    std::pop_heap(s.pending.begin(), s.pending.end(), pending_later);
    uint32_t r = s.pending.back();
    s.pending.pop_back();
    work += 8;
    limit = uint64_t{r} + 1;
    uint32_t b = s.bucket_of[r];
    s.bucket_of[r] = kNone;
    s.current.swap(s.buckets[b]);  // the pool may grow during the phase
    s.free_buckets.push_back(b);
    work += detail::sort_by_pos(s.current, s.sort_tmp);
    const std::vector<Candidate>& cur = s.current;
    for (size_t i = 0;;) {
      if (!s.urgent.empty() &&
          (i == cur.size() || s.urgent.front().priority < r || s.urgent.front().c.pos < cur[i].pos)) {
        std::pop_heap(s.urgent.begin(), s.urgent.end(), urgent_later);
        Candidate c = s.urgent.back().c;
        s.urgent.pop_back();
        work += 8;
        merge_at(c);
      } else if (i < cur.size()) {
        ++work;
        merge_at(cur[i++]);
      } else {
        break;
      }
    }
  }
  s.work = work;
  for (uint32_t i = 0; i != kNone; i = s.next[i]) emit(s.ids[i], i);
}

}  // namespace blt::bpe
