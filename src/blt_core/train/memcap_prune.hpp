// The memcap rule for the piece table: when counting outgrows memcap, drop the rarest pieces.
// One documented, deterministic rule, so a capped run gives the same vocabulary on every machine.
#pragma once
#include <cstdint>

#include "blt_core/train/piece_table.hpp"

namespace blt::train {

// The smallest memcap accepted: room for a table of the 256 single-byte pieces (the alphabet).
uint64_t min_memcap();

// Throws std::invalid_argument if memcap cannot hold the alphabet (see min_memcap).
void check_memcap(uint64_t memcap);

// The pruning rule. Called after each batch of input is counted (batches have a fixed size, not a
// per-thread one, so the result does not depend on the thread count). If the table holds more
// than `memcap` bytes, every piece whose count is below t is dropped, for the smallest power of
// two t >= 2 that brings the table to at most memcap / 2 (so pruning is not repeated for every
// batch). Pieces seen once go first, then those seen fewer than 4 times, and so on. A dropped
// piece that appears again is counted from zero, so rare pieces are undercounted: merges made
// mostly of rare pieces come later or not at all. Returns t, or 0 if nothing was pruned.
uint64_t prune_to_memcap(PieceTable& table, uint64_t memcap);

}  // namespace blt::train
