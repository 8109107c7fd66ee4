// Builds a SpecialPolicy from lists of special-token names (see special_policy.hpp).
#include "blt_core/bpe/special_policy.hpp"

#include <string_view>
#include <unordered_map>

namespace blt::bpe {

SpecialPolicy make_special_policy(const std::vector<SpecialToken>& tokens,
                                  std::span<const std::string> allowed,
                                  std::span<const std::string> disallowed) {
  SpecialPolicy policy(tokens.size(), SpecialUse::text);
  std::unordered_map<std::string_view, size_t> index;
  for (size_t i = 0; i < tokens.size(); ++i) index.emplace(tokens[i].text, i);
  for (const auto& a : allowed)
    if (auto it = index.find(a); it != index.end()) policy[it->second] = SpecialUse::allowed;
  for (const auto& d : disallowed)
    if (auto it = index.find(d); it != index.end()) policy[it->second] = SpecialUse::disallowed;
  return policy;
}

}  // namespace blt::bpe
