// The id layout HF tokenizers' BpeTrainer gives a ByteLevel vocabulary, for hf_compatible mode:
// special tokens first, then the 256 byte-level characters sorted by code point, then merges.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace blt::train {

// GPT-2's printable stand-in for byte b (bytes_to_unicode): the character HF's ByteLevel
// pre-tokenizer writes for it.
uint32_t byte_level_code_point(uint8_t b);

struct IdLayout {
  std::array<uint32_t, 256> byte_ids{};  // token id of each byte
  std::vector<uint32_t> special_ids;     // id of each special token, in the order given
  uint32_t first_new_id = 0;             // merges get ids from here
  uint32_t base_size = 0;                // tokens before any merge (specials + alphabet)
};

// HF: specials get ids 0.. in order (a repeated special keeps its first id); the alphabet follows
// in code point order, except a byte whose character equals a special, which HF does not add
// twice (that byte keeps the special's id).
IdLayout hf_layout(const std::vector<std::string>& specials);

// Default (tiktoken-like): byte b is id b, merges follow from 256, specials come after the last
// merge (their ids are assigned once the vocabulary is known, see trainer.hpp).
IdLayout byte_order_layout();

}  // namespace blt::train
