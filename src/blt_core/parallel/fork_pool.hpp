// ForkPool: the thread pool a forked child runs its parallel work on instead of the parent's
// oneTBB pool (stale after fork). Plain std::thread workers, built lazily, one pool per process.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>

namespace blt {

// body(begin, end, slot): one piece [begin, end) of a loop; slot in [0, threads) is unique among
// the pieces running at the same moment, so per-slot scratch needs no lock.
using RangeBody = std::function<void(size_t begin, size_t end, int slot)>;

class ForkPool {
 public:
  // This process's pool. After another fork the old pool (whose threads are gone and whose locks
  // may be held) is abandoned untouched and a new one is built.
  static ForkPool& current();

  // Runs body over [0, n) in pieces of at least `grain` items on up to `threads` threads, the
  // caller included; returns when every piece is done and rethrows the first exception a piece
  // threw (the pieces not yet started are then skipped). Called from one of the pool's own
  // workers it runs inline, so nested loops cannot wait on themselves.
  void parallel_for(int threads, size_t n, size_t grain, const RangeBody& body);

  // Runs task on a worker thread later, with at least `threads` workers started; a task must not
  // throw (std::terminate otherwise).
  void submit(int threads, std::function<void()> task);

  // Worker threads started so far (the pool grows to the largest request, never shrinks).
  int workers() const;

  // True on one of this process's pool workers.
  static bool on_worker();

  ForkPool(const ForkPool&) = delete;
  ForkPool& operator=(const ForkPool&) = delete;

 private:
  ForkPool();  // never destroyed: see current()
  struct State;
  void grow_to(int workers);
  State* s_;
};

}  // namespace blt
