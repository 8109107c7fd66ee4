// Vocabulary files and blobs: the .tiktoken rank format (base64 token, space, rank per line) and
// the compact binary blob that carries a whole BpeModel through pickle.
#pragma once
#include <cstdint>
#include <span>
#include <string>

#include "blt_core/bpe/bpe_model.hpp"

namespace blt::bpe {

// Parses a .tiktoken file's contents. Throws std::invalid_argument "SOURCE:LINE: what" for a line
// without two fields, bad base64, a rank that is not a number, a duplicate rank or token.
Vocab parse_tiktoken(std::span<const uint8_t> data, const std::string& source);

// The .tiktoken text of the ordinary tokens, in rank order.
std::string format_tiktoken(const Vocab& vocab);

// Compact binary form of a model's spec (the vocabulary once, merges only if not derived).
std::string serialize_spec(const BpeSpec& spec);
// Inverse of serialize_spec; throws std::invalid_argument on a truncated or foreign blob.
BpeSpec deserialize_spec(std::span<const uint8_t> blob);

}  // namespace blt::bpe
