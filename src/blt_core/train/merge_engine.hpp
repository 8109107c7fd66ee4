// MergeEngine: the BPE merge loop over counted pieces, with incremental pair counts.
// Words never shift: symbols sit in flat arrays linked by next/prev; a lazy max-heap picks merges.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

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
  // first_new_id. Throws std::length_error if the pieces hold 2^32 bytes or more.
  MergeEngine(const std::vector<std::pair<Bytes, uint64_t>>& pieces,
              const std::array<uint32_t, 256>& byte_ids, uint32_t first_new_id);

  std::vector<MergeStep> run(const MergeOptions& opts);

  // Bytes of a token id made by the engine or of a byte id; empty for other ids.
  const std::string& token(uint32_t id) const;

 private:
  struct PairStat {
    int64_t count = 0;
    uint32_t touched = 0;          // merge number of the last +1 (dedupes heap pushes)
    std::vector<uint32_t> words;   // words where the pair was formed (may be stale, no repeats)
  };
  struct Change {
    uint64_t key;
    int64_t delta;
    uint32_t word;
  };
  bool eligible(uint32_t a, uint32_t b) const;
  PairStat& stat(uint64_t key);
  void merge_in_word(uint32_t w, uint32_t a, uint32_t b, uint32_t out, std::vector<Change>& changes);

  static constexpr uint32_t kNone = 0xFFFFFFFFu;
  std::vector<uint32_t> sym_, next_, prev_;
  std::vector<uint32_t> word_start_;
  std::vector<int64_t> word_count_;
  std::vector<std::string> tokens_;  // by id
  std::vector<uint64_t> token_len_;
  std::vector<uint8_t> single_byte_;  // by id: 1 for the byte tokens
  uint32_t next_id_;
  MergeOptions opts_;
};

}  // namespace blt::train
