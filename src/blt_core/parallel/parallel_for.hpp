// The one way core code runs a loop in parallel: on a oneTBB task_arena of the caller's size, or,
// in a forked child (where oneTBB is stale), on this process's ForkPool; never silently serial.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>

#include "blt_core/parallel/fork_pool.hpp"

namespace blt {

// threads <= 0 means "all usable cores" (affinity mask).
int resolve_threads(int threads);

// Runs body(begin, end, slot) over [0, n) in pieces of at least `grain` items on
// resolve_threads(threads) threads; slot < resolve_threads(threads) is unique among pieces running
// at once (index per-slot scratch with it). Thread limits are per call, never a global setting.
// Exceptions from body propagate to the caller.
void parallel_for(int threads, size_t n, size_t grain, const RangeBody& body);

// Sorts v ascending on resolve_threads(threads) threads, on the same backend as parallel_for.
void parallel_sort(int threads, std::span<std::pair<uint64_t, uint64_t>> v);

// "onetbb" in a process that never forked from one with this library, else "fork_pool".
std::string parallel_backend();

}  // namespace blt
