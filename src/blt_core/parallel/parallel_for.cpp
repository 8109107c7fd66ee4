#include "blt_core/parallel/parallel_for.hpp"

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/parallel_sort.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "blt_core/parallel/arena_pool.hpp"
#include "blt_core/parallel/fork_state.hpp"
#include "blt_core/resources.hpp"

namespace blt {

int resolve_threads(int threads) { return threads > 0 ? threads : usable_cores(); }

void parallel_for(int threads, size_t n, size_t grain, const RangeBody& body) {
  if (n == 0) return;
  const int t = resolve_threads(threads);
  grain = std::max<size_t>(grain, 1);
  if (t == 1 || n <= grain) {
    body(0, n, 0);
    return;
  }
  if (in_forked_child()) {
    ForkPool::current().parallel_for(t, n, grain, body);
    return;
  }
  ArenaLease lease(t);
  lease.arena().execute([&] {
    tbb::parallel_for(tbb::blocked_range<size_t>(0, n, grain), [&](const tbb::blocked_range<size_t>& r) {
      body(r.begin(), r.end(), tbb::this_task_arena::current_thread_index());
    });
  });
}

void parallel_sort(int threads, std::span<std::pair<uint64_t, uint64_t>> v) {
  const int t = resolve_threads(threads);
  if (t == 1 || v.size() < 2) {
    std::sort(v.begin(), v.end());
    return;
  }
  if (!in_forked_child()) {
    ArenaLease lease(t);
    lease.arena().execute([&] { tbb::parallel_sort(v.begin(), v.end()); });
    return;
  }
  // Sort one run per thread, then merge neighbouring runs level by level, each level in parallel.
  const size_t runs = static_cast<size_t>(t);
  std::vector<size_t> bound(runs + 1);
  for (size_t r = 0; r <= runs; ++r) bound[r] = v.size() * r / runs;
  parallel_for(t, runs, 1, [&](size_t a, size_t b, int) {
    for (size_t r = a; r < b; ++r) std::sort(v.begin() + bound[r], v.begin() + bound[r + 1]);
  });
  for (size_t width = 1; width < runs; width *= 2) {
    const size_t pairs = (runs + 2 * width - 1) / (2 * width);
    parallel_for(t, pairs, 1, [&](size_t a, size_t b, int) {
      for (size_t p = a; p < b; ++p) {
        size_t lo = p * 2 * width, mid = std::min(runs, lo + width), hi = std::min(runs, lo + 2 * width);
        std::inplace_merge(v.begin() + bound[lo], v.begin() + bound[mid], v.begin() + bound[hi]);
      }
    });
  }
}

std::string parallel_backend() { return in_forked_child() ? "fork_pool" : "onetbb"; }

}  // namespace blt
