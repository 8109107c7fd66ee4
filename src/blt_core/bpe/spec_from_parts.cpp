// Validates in-memory vocabulary parts into a BpeSpec (see spec_from_parts.hpp).
#include "blt_core/bpe/spec_from_parts.hpp"

#include <stdexcept>

namespace blt::bpe {

BpeSpec spec_from_parts(BpeParts parts) {
  if (parts.tokens.size() != parts.ids.size())
    throw std::invalid_argument("tokens and ids differ in length");
  BpeSpec spec;
  spec.name = std::move(parts.name);
  spec.pattern = std::move(parts.pattern);
  spec.whole_piece_lookup = parts.whole_piece_lookup;
  spec.specials = std::move(parts.specials);
  spec.vocab.reserve(parts.tokens.size());
  for (size_t i = 0; i < parts.tokens.size(); ++i) {
    const uint32_t id = parts.ids[i];
    if (parts.tokens[i].empty())
      throw std::invalid_argument("token with id " + std::to_string(id) + " is empty");
    if (!spec.vocab.add(parts.tokens[i], id))
      throw std::invalid_argument("token id " + std::to_string(id) + " or its bytes appear twice");
  }
  if (parts.merges) {
    spec.has_merges = true;
    spec.merges.assign(parts.merges->begin(), parts.merges->end());
  }
  return spec;
}

}  // namespace blt::bpe
