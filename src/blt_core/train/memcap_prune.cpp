#include "blt_core/train/memcap_prune.hpp"

#include <array>
#include <bit>
#include <stdexcept>
#include <string>

namespace blt::train {

uint64_t min_memcap() { return PieceTable::memory_for(256, 1); }

void check_memcap(uint64_t memcap) {
  if (memcap < min_memcap())
    throw std::invalid_argument("memcap of " + std::to_string(memcap) +
                                " bytes is too small to hold the 256-byte alphabet (needs at least " +
                                std::to_string(min_memcap()) + ")");
}

uint64_t prune_to_memcap(PieceTable& table, uint64_t memcap) {
  if (table.memory_bytes() <= memcap) return 0;
  // Pieces and their bytes by floor(log2(count)): enough to find t without sorting.
  std::array<uint64_t, 65> n{}, bytes{};
  table.for_each([&](Bytes b, uint64_t c) {
    int k = std::bit_width(c) - 1;
    n[k] += 1;
    bytes[k] += b.size();
  });
  uint64_t keep_n = 0, keep_bytes = 0;
  for (int k = 1; k < 64; ++k) keep_n += n[k], keep_bytes += bytes[k];
  // t = 2^k keeps the buckets k and above.
  int k = 1;
  for (; k < 63; ++k) {
    uint64_t avg = keep_n ? (keep_bytes + keep_n - 1) / keep_n : 0;
    if (PieceTable::memory_for(keep_n, avg) <= memcap / 2) break;
    keep_n -= n[k];
    keep_bytes -= bytes[k];
  }
  uint64_t t = uint64_t{1} << k;
  table.keep_at_least(t);
  return t;
}

}  // namespace blt::train
