// Happens-before annotations for ThreadSanitizer at hand-offs it cannot see: oneTBB's task queues
// live in Debian's uninstrumented libtbb.so. No-ops in every build without -fsanitize=thread.
#pragma once

#if defined(__SANITIZE_THREAD__)
#define BLT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define BLT_TSAN 1
#endif
#endif

#ifdef BLT_TSAN
extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);
#endif

namespace blt {

// What a thread did before tsan_release(p) happens before what another thread does after a later
// tsan_acquire(p): call them on both sides of a hand-off through a TBB queue.
inline void tsan_release(const void* p) {
#ifdef BLT_TSAN
  __tsan_release(const_cast<void*>(p));
#else
  (void)p;
#endif
}
inline void tsan_acquire(const void* p) {
#ifdef BLT_TSAN
  __tsan_acquire(const_cast<void*>(p));
#else
  (void)p;
#endif
}

}  // namespace blt
