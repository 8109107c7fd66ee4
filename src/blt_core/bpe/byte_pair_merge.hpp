// Byte-pair merging of one pre-tokenized piece: start from single bytes, repeatedly merge the
// adjacent pair of lowest priority (leftmost on ties), exactly as tiktoken and HF tokenizers do.
#pragma once
#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <vector>

#include "blt_core/bpe/pair_table.hpp"

namespace blt::bpe {

// Pieces up to this length merge in a small stack array (the loop tiktoken uses); longer pieces
// use a heap over a linked list so that a 1 MB run of one character stays O(n log n).
inline constexpr size_t kSmallPiece = 64;

// Scratch memory for long pieces, reused across pieces (one per encoding thread).
struct MergeScratch {
  struct Candidate {
    uint32_t priority;
    uint32_t pos;
    uint32_t left;
    uint32_t right;
  };
  std::vector<uint32_t> ids, next, prev;
  std::vector<Candidate> heap;
};

// Writes the token ids of piece p[0:n] (n >= 2) and their start offsets in the piece.
// `emit(id, start)` is called in order; byte_ids maps each byte value to its single-byte token.
template <class Emit>
void byte_pair_merge_small(const PairTable& pairs, const uint32_t* byte_ids, const uint8_t* p,
                           size_t n, Emit&& emit) {
  uint32_t ids[kSmallPiece], start[kSmallPiece];
  Merge merge[kSmallPiece];
  size_t m = n;
  for (size_t i = 0; i < n; ++i) {
    ids[i] = byte_ids[p[i]];
    start[i] = static_cast<uint32_t>(i);
  }
  for (size_t i = 0; i + 1 < n; ++i) merge[i] = pairs.find(ids[i], ids[i + 1]);
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
    merge[at] = at + 1 < m ? pairs.find(ids[at], ids[at + 1]) : Merge{kNoMerge, kNoMerge};
    if (at > 0) merge[at - 1] = pairs.find(ids[at - 1], ids[at]);
  }
  for (size_t i = 0; i < m; ++i) emit(ids[i], start[i]);
}

// Same result for any n >= 2, in O(n log n): a min-heap of (priority, position) candidates over a
// doubly linked list of parts; stale candidates are recognised by their ids and skipped.
template <class Emit>
void byte_pair_merge_large(const PairTable& pairs, const uint32_t* byte_ids, const uint8_t* p,
                           size_t n, MergeScratch& s, Emit&& emit) {
  constexpr uint32_t kNone = 0xFFFFFFFFu;
  s.ids.resize(n);
  s.next.resize(n);
  s.prev.resize(n);
  s.heap.clear();
  for (size_t i = 0; i < n; ++i) {
    s.ids[i] = byte_ids[p[i]];
    s.next[i] = i + 1 < n ? static_cast<uint32_t>(i + 1) : kNone;
    s.prev[i] = i ? static_cast<uint32_t>(i - 1) : kNone;
  }
  auto later = [](const MergeScratch::Candidate& a, const MergeScratch::Candidate& b) {
    return a.priority != b.priority ? a.priority > b.priority : a.pos > b.pos;
  };
  auto push = [&](uint32_t pos) {
    uint32_t nx = s.next[pos];
    if (nx == kNone) return;
    Merge m = pairs.find(s.ids[pos], s.ids[nx]);
    if (m.priority == kNoMerge) return;
    s.heap.push_back({m.priority, pos, s.ids[pos], s.ids[nx]});
    std::push_heap(s.heap.begin(), s.heap.end(), later);
  };
  for (size_t i = 0; i + 1 < n; ++i) {
    Merge m = pairs.find(s.ids[i], s.ids[i + 1]);
    if (m.priority != kNoMerge)
      s.heap.push_back({m.priority, static_cast<uint32_t>(i), s.ids[i], s.ids[i + 1]});
  }
  std::make_heap(s.heap.begin(), s.heap.end(), later);
  while (!s.heap.empty()) {
    std::pop_heap(s.heap.begin(), s.heap.end(), later);
    auto c = s.heap.back();
    s.heap.pop_back();
    uint32_t nx = s.next[c.pos];
    // A part's id only ever grows into a longer token, so matching ids mean the pair is current.
    if (s.ids[c.pos] != c.left || nx == kNone || s.ids[nx] != c.right) continue;
    s.ids[c.pos] = pairs.find(c.left, c.right).result;
    uint32_t nn = s.next[nx];
    s.next[c.pos] = nn;
    if (nn != kNone) s.prev[nn] = c.pos;
    s.ids[nx] = kNone;
    if (s.prev[c.pos] != kNone) push(s.prev[c.pos]);
    push(c.pos);
  }
  for (uint32_t i = 0; i != kNone; i = s.next[i]) emit(s.ids[i], i);
}

}  // namespace blt::bpe
