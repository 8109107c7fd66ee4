// train_vocab: counted pieces in, a byte-level BPE vocabulary (tokens, merges, specials) out.
// Chooses the id layout (default or HF-compatible), the vocabulary budget and the stop rules.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "blt_core/train/merge_engine.hpp"
#include "blt_core/train/piece_table.hpp"

namespace blt::train {

struct TrainOptions {
  // Total vocabulary size, counting the 256 byte tokens and the special tokens.
  uint64_t vocab_size = 0;
  std::vector<std::string> specials;
  // Stop when the best pair occurs fewer times than this.
  uint64_t min_frequency = 2;
  // Longest token in bytes (default mode: no token longer; HF mode: HF's rule, see below).
  std::optional<uint64_t> max_token_length;
  // Reproduce HF tokenizers' BpeTrainer with a ByteLevel alphabet merge for merge: its id layout
  // (hf_layout.hpp) and its max_token_length rule (a pair formed by a merge is counted only if
  // strictly shorter than the limit; pairs of two bytes always are). The tie-break and the other
  // rules are the same in both modes (merge_engine.hpp).
  bool hf_compatible = false;
  std::function<void(uint64_t)> progress;  // merges done; may throw to stop
};

struct TrainedVocab {
  std::vector<std::string> tokens;  // by id; empty at the ids of special tokens
  std::vector<std::pair<std::string, uint32_t>> specials;
  std::vector<MergeStep> merges;    // in the order learned (a repeated result is possible)
};

// Throws std::invalid_argument for an empty table or a vocab_size below 256 + the specials.
// Takes the table by value and frees it once the merge engine holds the words, so the table and
// the engine's pair tables are never in memory together (move a table in that is not needed after).
TrainedVocab train_vocab(PieceTable pieces, const TrainOptions& opts);

}  // namespace blt::train
