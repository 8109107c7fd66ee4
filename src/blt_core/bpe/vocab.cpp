#include "blt_core/bpe/vocab.hpp"

#include <stdexcept>
#include <string>

namespace blt::bpe {

bool Vocab::add(std::span<const uint8_t> token, uint32_t id) {
  if (token.empty()) throw std::invalid_argument("empty token");
  if (id == kNoId) throw std::invalid_argument("token id too large");
  if (id >= kDenseIds && id / kIdsPerToken >= count_ + 1)
    throw std::invalid_argument("token id " + std::to_string(id) + " is too large for a vocabulary of " +
                                std::to_string(count_ + 1) + " tokens (ids above " +
                                std::to_string(kDenseIds) + " need a token per " +
                                std::to_string(kIdsPerToken) + " ids)");
  if (contains(id) || find(token) != kNoId) return false;
  if (arena_.size() + token.size() > 0xFFFFFFFFull) throw std::invalid_argument("vocabulary too large");
  if (id >= spans_.size()) spans_.resize(static_cast<size_t>(id) + 1, Span{0, 0});
  spans_[id] = Span{static_cast<uint32_t>(arena_.size()), static_cast<uint32_t>(token.size())};
  arena_.insert(arena_.end(), token.begin(), token.end());
  ++count_;
  // Load factor <= 1/2 keeps probe chains short.
  if ((count_ + 1) * 2 > slots_.size()) {
    rehash(slots_.empty() ? kMinSlots : slots_.size() * 2);
  } else {
    insert_slot(id);
  }
  return true;
}

void Vocab::insert_slot(uint32_t id) {
  auto b = bytes(id);
  uint64_t h = hash_bytes(b.data(), b.size());
  const size_t i = probe(h & mask_, mask_, [&](size_t j) { return slots_[j].id == kNoId; });
  slots_[i] = Slot{short_key(b.data(), b.size()), make_tag(h, b.size()), id};
}

void Vocab::rehash(size_t capacity) {
  slots_.assign(capacity, Slot{0, 0, kNoId});
  mask_ = capacity - 1;
  for (uint32_t id = 0; id < spans_.size(); ++id)
    if (spans_[id].len) insert_slot(id);
}

}  // namespace blt::bpe
