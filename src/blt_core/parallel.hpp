// Runs native work on a oneTBB task_arena sized by the caller's thread count.
// Thread limits are per call (never a global setting), so callers do not affect each other.
#pragma once
#include <oneapi/tbb/task_arena.h>

#include <stdexcept>
#include <utility>

#include "blt_core/resources.hpp"

namespace blt {

// threads <= 0 means "all usable cores" (affinity mask).
inline int resolve_threads(int threads) { return threads > 0 ? threads : usable_cores(); }

template <class F>
decltype(auto) run_in_arena(int threads, F&& f) {
  tbb::task_arena arena(resolve_threads(threads));
  return arena.execute(std::forward<F>(f));
}

}  // namespace blt
