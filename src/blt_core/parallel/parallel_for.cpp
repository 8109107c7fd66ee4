#include "blt_core/parallel/parallel_for.hpp"

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/parallel_sort.h>
#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "blt_core/parallel/fork_state.hpp"
#include "blt_core/resources.hpp"

namespace blt {

int resolve_threads(int threads) { return threads > 0 ? threads : usable_cores(); }

namespace {

// The arena a call of `threads` threads runs in. oneTBB 2021.8 (Debian 12's libtbb12) keeps about
// 7 KB for every task_arena that ran parallel work and was then destroyed, so an arena per call
// made every parallel encode_batch, hash_ngrams or patch batch grow the process without bound
// (found by the atheris target's RSS, docs/reliability.md). Each calling thread keeps one arena per
// thread count instead: concurrent callers still run in separate arenas, as with an arena per call.
// Arenas are never destroyed (at thread or process exit that would race oneTBB's own teardown);
// the registry keeps them reachable, so leak checkers do not report them. Threads that call once
// and exit keep costing one arena each; a thread pool costs one per thread and size.
tbb::task_arena& arena_for(int threads) {
  thread_local std::vector<std::pair<int, tbb::task_arena*>> mine;
  for (const auto& [n, arena] : mine)
    if (n == threads) return *arena;
  static std::mutex registry_lock;
  static auto* registry = new std::vector<std::unique_ptr<tbb::task_arena>>();
  std::lock_guard<std::mutex> hold(registry_lock);
  registry->push_back(std::make_unique<tbb::task_arena>(threads));
  mine.emplace_back(threads, registry->back().get());
  return *mine.back().second;
}

}  // namespace

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
  arena_for(t).execute([&] {
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
    arena_for(t).execute([&] { tbb::parallel_sort(v.begin(), v.end()); });
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
