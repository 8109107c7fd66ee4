// Special-token policy of one encoder: which specials of a vocabulary an encode call treats as
// allowed, disallowed or plain text, built from the caller's lists of names (tiktoken's arguments).
#pragma once
#include <span>
#include <string>
#include <vector>

#include "blt_core/bpe/special_matcher.hpp"

namespace blt::bpe {

// One entry per token of `tokens` (text by default). Names that are no special of this vocabulary
// are ignored, and a name in both lists is disallowed (tiktoken checks disallowed specials first).
SpecialPolicy make_special_policy(const std::vector<SpecialToken>& tokens,
                                  std::span<const std::string> allowed,
                                  std::span<const std::string> disallowed);

}  // namespace blt::bpe
