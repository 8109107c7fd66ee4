#include "blt_core/parallel/fork_state.hpp"

#include <pthread.h>

#include <atomic>
#include <cstdlib>

namespace blt {
namespace {

std::atomic<uint64_t> g_generation{0};

// Runs in the child inside fork(): only async-signal-safe work, a lock-free increment.
extern "C" void on_fork_child() { g_generation.fetch_add(1, std::memory_order_relaxed); }

bool install_handler() {
  static const bool installed = [] {
    // Without the handler a child could not be told apart from its parent: refuse to run.
    if (pthread_atfork(nullptr, nullptr, &on_fork_child) != 0) std::abort();
    return true;
  }();
  return installed;
}

// Installed when the library is loaded, before any thread of ours can exist.
const bool g_installed_at_load = install_handler();

}  // namespace

uint64_t fork_generation() {
  install_handler();
  return g_generation.load(std::memory_order_relaxed);
}

}  // namespace blt
