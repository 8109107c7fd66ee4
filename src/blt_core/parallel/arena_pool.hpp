// ArenaLease: the oneTBB task_arena one parallel call or pipeline run uses, leased from a process-wide
// pool of idle arenas of that size and handed back when the call ends, so arenas are reused, never destroyed.
#pragma once
#include <oneapi/tbb/task_arena.h>

#include <cstddef>

namespace blt {

// Why a pool: oneTBB 2021.8 (Debian 12's libtbb12) keeps about 7 KB for every task_arena that ran
// parallel work and was then destroyed, and once the last arena is gone it shuts its worker threads
// down, so the next call starts new ones (while the old ones may still be exiting). Calls running at
// the same time hold different arenas, as they would with an arena each; the pool holds at most as
// many arenas of a size as ever ran at once. Never use it in a forked child (in_forked_child()):
// its arenas belong to the parent's oneTBB.
class ArenaLease {
 public:
  // An idle arena of `threads` slots (threads >= 1), or a new one when every such arena is in use.
  explicit ArenaLease(int threads);
  ~ArenaLease();
  ArenaLease(const ArenaLease&) = delete;
  ArenaLease& operator=(const ArenaLease&) = delete;

  tbb::task_arena& arena() { return *arena_; }

 private:
  int threads_;
  tbb::task_arena* arena_;
};

// How many arenas the pool has built so far, of every size (for tests of reuse).
size_t arenas_built();

}  // namespace blt
