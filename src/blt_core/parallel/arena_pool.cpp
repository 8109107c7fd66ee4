#include "blt_core/parallel/arena_pool.hpp"

#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace blt {

namespace {

struct Pool {
  std::mutex lock;
  std::vector<std::unique_ptr<tbb::task_arena>> all;              // owns every arena ever built
  std::unordered_map<int, std::vector<tbb::task_arena*>> idle;  // by slot count
};

// Never destroyed: destroying arenas at process exit would race oneTBB's own teardown, and the
// pool keeps them reachable, so leak checkers do not report them.
Pool& pool() {
  static auto* p = new Pool();
  return *p;
}

}  // namespace

ArenaLease::ArenaLease(int threads) : threads_(threads), arena_(nullptr) {
  Pool& p = pool();
  std::lock_guard<std::mutex> hold(p.lock);
  auto& idle = p.idle[threads];
  if (!idle.empty()) {
    arena_ = idle.back();
    idle.pop_back();
    return;
  }
  p.all.push_back(std::make_unique<tbb::task_arena>(threads));
  arena_ = p.all.back().get();
}

ArenaLease::~ArenaLease() {
  Pool& p = pool();
  std::lock_guard<std::mutex> hold(p.lock);
  p.idle[threads_].push_back(arena_);
}

size_t arenas_built() {
  Pool& p = pool();
  std::lock_guard<std::mutex> hold(p.lock);
  return p.all.size();
}

}  // namespace blt
