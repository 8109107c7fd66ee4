// MergeEngine: the BPE merge loop over counted pieces, with incremental pair counts.
// Words never shift: symbols sit in one flat array, spans by token length; a lazy max-heap picks merges.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "blt_core/train/chunked_pool.hpp"
#include "blt_core/train/pair_index.hpp"
#include "blt_core/train/piece_table.hpp"

namespace blt::train {

struct MergeStep {
  uint32_t left, right, result;
};

struct MergeOptions {
  // New tokens to create at most (a merge whose bytes are already a token creates none).
  uint64_t max_new_tokens = 0;
  // Stop as soon as the best pair occurs fewer times than this (and always below 1).
  uint64_t min_frequency = 0;
  // A pair formed by a merge is counted only if its byte length is at most this, so longer
  // tokens never form. Pairs of two single bytes are counted anyway if bytes_pairs_always.
  uint64_t max_pair_len = ~uint64_t{0};
  bool byte_pairs_always = false;
  // Called every few hundred merges with the number done; may throw to stop training.
  std::function<void(uint64_t)> progress;
};

// The rule (shared by the default and the HF-compatible mode; they differ only in the ids they
// give the bytes): repeatedly take the adjacent pair (a, b) with the highest count, where a
// word's pairs are counted overlapping ("aaa" has (a, a) twice) and weighted by the word's
// count; on equal counts the smallest (a, b) (compared as ids, left first) wins. Merge it in
// every word left to right, non-overlapping, into the token of bytes(a) + bytes(b) (a new id
// unless those bytes already are a token).
class MergeEngine {
 public:
  // `pieces` with their counts; byte b starts as token id byte_ids[b]; new ids start at
  // first_new_id. Throws std::length_error if the pieces hold 2^32 bytes or more, and
  // std::overflow_error if count x (length - 1) summed over the pieces reaches 2^63.
  MergeEngine(const std::vector<std::pair<Bytes, uint64_t>>& pieces,
              const std::array<uint32_t, 256>& byte_ids, uint32_t first_new_id);

  std::vector<MergeStep> run(const MergeOptions& opts);

  // Bytes of a token id made by the engine or of a byte id; empty for other ids.
  const std::string& token(uint32_t id) const;

 private:
  static constexpr uint32_t kNone = 0xFFFFFFFFu;
  // Per pair: its weighted count, the head of its list of words where merges formed it (newest
  // first; may name words that lost it since, never the same word twice in a row) and the merge
  // step that last queued it.
  struct PairStat {
    int64_t count = 0;
    uint32_t head = kNone;
    uint32_t queued = kNone;
  };
  // One link of a word list; all lists share one pool, and a merged pair's links are reused.
  struct WordLink {
    uint32_t word;
    uint32_t next;
  };
  struct Change {
    uint64_t key;
    int64_t delta;
    uint32_t word;
  };
  bool eligible(uint32_t a, uint32_t b) const;
  void count_initial_pairs();
  // Index of a pair's PairStat (a new one if the pair is new), and of one that exists.
  uint32_t stat_index(uint64_t key);
  uint32_t existing_index(uint64_t key) const { return pair_index_.find(uint32_t(key >> 32), uint32_t(key)); }
  PairStat& stat(uint64_t key) { return stats_[stat_index(key)]; }
  PairStat& existing(uint64_t key) { return stats_[existing_index(key)]; }
  void note_word(PairStat& s, uint32_t word);
  void merge_in_word(uint32_t w, uint32_t a, uint32_t b, uint32_t out, std::vector<Change>& changes);

  // The words, one byte position each, back to back (word w is [word_start_[w], word_start_[w+1])).
  // A token covering positions [s, e) is written at s and at e - 1, the rest of its span is
  // unused: the next token starts at e, the previous one ends at s - 1 and starts its own length
  // before. Merging rewrites two ends and never shifts anything.
  std::vector<uint32_t> sym_;
  std::vector<uint32_t> word_start_;
  std::vector<int64_t> word_count_;
  PairIndex pair_index_;  // pair -> index in stats_
  ChunkedPool<PairStat> stats_;
  // Words of the pairs present at the start, pair by pair (stats_ index i owns
  // initial_words_[initial_begin_[i] .. initial_begin_[i + 1])): built once, exactly sized.
  std::vector<uint32_t> initial_begin_;
  std::vector<uint32_t> initial_words_;
  // Words where pairs formed later, as linked lists.
  ChunkedPool<WordLink> links_;
  uint32_t free_links_ = kNone;
  std::vector<std::string> tokens_;  // by id
  std::vector<uint32_t> token_len_;
  std::vector<uint8_t> single_byte_;  // by id: 1 for the byte tokens
  uint32_t next_id_;
  MergeOptions opts_;
};

}  // namespace blt::train
