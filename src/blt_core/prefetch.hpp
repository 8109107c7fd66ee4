// prefetch_line: start loading one cache line ahead of a lookup. The one prefetch helper of the
// core, used by the hash tables (BPE vocabulary and pair table, patch n-gram tables).
#pragma once

namespace blt {

// Not __builtin_prefetch on x86: GCC 12 deletes that builtin when it sits under a condition (a
// block whose only effect is a prefetch counts as dead); an asm statement it keeps.
inline void prefetch_line(const void* p) {
#if defined(__x86_64__) || defined(__i386__)
  asm volatile("prefetcht0 (%0)" : : "r"(p));
#else
  __builtin_prefetch(p);
#endif
}

}  // namespace blt
