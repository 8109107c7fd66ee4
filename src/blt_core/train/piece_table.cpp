#include "blt_core/train/piece_table.hpp"

#include <algorithm>
#include <cstring>

#include "blt_core/bpe/vocab.hpp"

namespace blt::train {

namespace {
uint64_t add_saturating(uint64_t a, uint64_t b) {
  uint64_t s = a + b;
  return s < a ? ~uint64_t{0} : s;
}
}  // namespace

PieceTable::Slot* PieceTable::find_slot(Bytes piece, uint64_t h) {
  for (size_t i = h & mask_;; i = (i + 1) & mask_) {
    Slot& s = slots_[i];
    if (s.len == kEmpty) return &s;
    if (s.hash == h && s.len == piece.size() &&
        std::memcmp(arena_.data() + s.off, piece.data(), piece.size()) == 0)
      return &s;
  }
}

void PieceTable::grow() {
  size_t cap = slots_.empty() ? 1024 : slots_.size() * 2;
  std::vector<Slot> old(cap);
  old.swap(slots_);
  mask_ = cap - 1;
  for (const Slot& s : old) {
    if (s.len == kEmpty) continue;
    for (size_t i = s.hash & mask_;; i = (i + 1) & mask_)
      if (slots_[i].len == kEmpty) {
        slots_[i] = s;
        break;
      }
  }
}

void PieceTable::add(Bytes piece, uint64_t count) {
  if (piece.empty() || count == 0) return;
  if ((live_ + 1) * 4 > slots_.size() * 3) grow();  // load factor <= 3/4
  uint64_t h = bpe::hash_bytes(piece.data(), piece.size());
  Slot* s = find_slot(piece, h);
  if (s->len != kEmpty) {
    s->count = add_saturating(s->count, count);
    return;
  }
  s->hash = h;
  s->count = count;
  s->off = arena_.size();
  s->len = static_cast<uint32_t>(piece.size());
  arena_.insert(arena_.end(), piece.begin(), piece.end());
  ++live_;
}

void PieceTable::merge_from(const PieceTable& other) {
  other.for_each([&](Bytes b, uint64_t c) { add(b, c); });
}

uint64_t PieceTable::count(Bytes piece) const {
  if (piece.empty() || slots_.empty()) return 0;
  uint64_t h = bpe::hash_bytes(piece.data(), piece.size());
  const Slot* s = const_cast<PieceTable*>(this)->find_slot(piece, h);
  return s->len == kEmpty ? 0 : s->count;
}

// Sizes, not capacities: the figure depends only on what the table holds (the slot count follows
// from the largest piece count reached), never on the order pieces came in, so memcap pruning
// decides the same way whatever the thread count.
uint64_t PieceTable::memory_bytes() const { return slots_.size() * sizeof(Slot) + arena_.size(); }

uint64_t PieceTable::memory_for(size_t n, size_t len) {
  size_t cap = 1024;
  while (n * 4 > cap * 3) cap *= 2;
  return cap * sizeof(Slot) + n * len;
}

void PieceTable::keep_at_least(uint64_t min_count) {
  PieceTable kept;
  for_each([&](Bytes b, uint64_t c) {
    if (c >= min_count) kept.add(b, c);
  });
  kept.arena_.shrink_to_fit();
  *this = std::move(kept);
}

void PieceTable::clear() { *this = PieceTable(); }

std::vector<std::pair<Bytes, uint64_t>> PieceTable::sorted() const {
  std::vector<std::pair<Bytes, uint64_t>> out;
  out.reserve(live_);
  for_each([&](Bytes b, uint64_t c) { out.emplace_back(b, c); });
  std::sort(out.begin(), out.end(), [](const auto& x, const auto& y) {
    return std::lexicographical_compare(x.first.begin(), x.first.end(), y.first.begin(), y.first.end());
  });
  return out;
}

}  // namespace blt::train
