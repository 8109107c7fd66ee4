// Which process this is relative to fork(): a pthread_atfork child handler counts the forks this
// process descends from, so code can tell a forked child (where oneTBB's state is stale) apart.
#pragma once
#include <cstdint>

namespace blt {

// Number of fork() calls between the process that loaded this library and this one: 0 in that
// process (and in any spawned or exec'd process), n in a child n forks down. Installs the fork
// handler on first use; the library also installs it when loaded, so no fork is missed.
uint64_t fork_generation();

// True in a process forked from one that had this library loaded. oneTBB does not support fork():
// its worker threads do not exist in the child and its locks may be held by them, so a forked
// child never calls into oneTBB again (see parallel_for.hpp). Nothing can switch this off.
inline bool in_forked_child() { return fork_generation() != 0; }

}  // namespace blt
