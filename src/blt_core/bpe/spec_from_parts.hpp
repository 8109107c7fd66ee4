// BpeSpec from in-memory parts: token bytes with their ids, an optional merge list and specials
// (what BpeModel.from_parts receives from HF tokenizer.json readers and from in-memory rank maps).
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "blt_core/bpe/bpe_model.hpp"

namespace blt::bpe {

struct BpeParts {
  std::string name;
  std::string pattern;
  std::vector<std::span<const uint8_t>> tokens;  // tokens[i] has id ids[i]
  std::span<const uint32_t> ids;
  std::optional<std::span<const std::array<uint32_t, 2>>> merges;  // (left id, right id) by rank
  bool whole_piece_lookup = true;
  std::vector<SpecialToken> specials;
};

// Throws std::invalid_argument when tokens and ids differ in length, a token is empty, or a
// token's bytes or id appear twice.
BpeSpec spec_from_parts(BpeParts parts);

}  // namespace blt::bpe
