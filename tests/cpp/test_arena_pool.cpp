// GoogleTest for ArenaLease: parallel calls and pipeline runs reuse idle arenas (from any thread),
// and calls running at the same time never share one.
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include "blt_core/parallel/arena_pool.hpp"
#include "blt_core/parallel/parallel_for.hpp"
#include "blt_core/pipeline/driven_run.hpp"

namespace blt {
namespace {

// A parallel_for of 3 threads from a new thread each time, as a Python thread pool or a server's
// executor calls it: the pool builds at most one arena for all of them.
TEST(ArenaPool, CallsFromShortLivedThreadsReuseOneArena) {
  const size_t before = arenas_built();
  for (int i = 0; i < 20; ++i) {
    std::thread t([] {
      std::atomic<size_t> sum{0};
      parallel_for(3, 1000, 10, [&](size_t a, size_t b, int) {
        for (size_t k = a; k < b; ++k) sum += k;
      });
      EXPECT_EQ(sum.load(), 999u * 1000 / 2);
    });
    t.join();
  }
  EXPECT_LE(arenas_built() - before, 1u);
}

TEST(ArenaPool, DrivenRunsReuseOneArena) {
  const size_t before = arenas_built();
  for (int i = 0; i < 20; ++i) {
    RunControl run;
    std::atomic<int> ran{0};
    run_driven(run, 5, [&] { ++ran; }, nullptr, std::chrono::milliseconds(50), 0);
    EXPECT_EQ(ran.load(), 1);
  }
  EXPECT_LE(arenas_built() - before, 1u);
}

TEST(ArenaPool, LeasesHeldAtOnceAreDistinctAndReturnToThePool) {
  std::set<tbb::task_arena*> held;
  {
    ArenaLease a(7), b(7), c(7);
    held = {&a.arena(), &b.arena(), &c.arena()};
    EXPECT_EQ(held.size(), 3u);
  }
  const size_t before = arenas_built();
  {
    ArenaLease a(7), b(7), c(7);
    EXPECT_EQ((std::set<tbb::task_arena*>{&a.arena(), &b.arena(), &c.arena()}), held);
  }
  EXPECT_EQ(arenas_built(), before);
  ArenaLease other(6);  // another size is another arena
  EXPECT_EQ(held.count(&other.arena()), 0u);
}

TEST(ArenaPool, NestedParallelCallsRun) {
  std::atomic<size_t> n{0};
  parallel_for(2, 8, 1, [&](size_t a, size_t b, int) {
    for (size_t i = a; i < b; ++i)
      parallel_for(2, 100, 1, [&](size_t x, size_t y, int) { n += y - x; });
  });
  EXPECT_EQ(n.load(), 800u);
}

}  // namespace
}  // namespace blt
