// DrivenRun: runs a pipeline body on a helper thread inside a task_arena of n slots while the
// calling thread reports progress; a throwing progress callback cancels the run, and the body's
// first error is rethrown on the caller once every thread of the run has been joined.
#pragma once
#include <oneapi/tbb/task_group.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "blt_core/parallel/arena_pool.hpp"
#include "blt_core/parallel/fork_state.hpp"

namespace blt {

// Shared state of one run: the first error wins, and cancellation reaches every stage.
struct RunControl {
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> done{0};  // progress in input bytes, stored by the body
  // The flow graph's context; none in a forked child, which must not call into oneTBB (its
  // workers did not survive the fork).
  std::unique_ptr<tbb::task_group_context> ctx =
      in_forked_child() ? nullptr : std::make_unique<tbb::task_group_context>();
  std::mutex mu;
  std::exception_ptr error;

  bool forked() const { return !ctx; }
  void fail(std::exception_ptr e) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!error) error = e;
    }
    cancel();
  }
  void cancel() {
    stop.store(true);
    if (ctx) ctx->cancel_group_execution();
  }
};

// Runs body() on a helper thread (Python only delivers signals on the main thread, so the caller
// must stay free to notice them through `progress`): in an arena of `threads` slots, or directly
// in a forked child, where the body must use the fork pool instead of oneTBB.
inline void run_driven(RunControl& run, int threads, const std::function<void()>& body,
                       const std::function<void(uint64_t, uint64_t)>& progress,
                       std::chrono::milliseconds interval, uint64_t total) {
  std::mutex done_mu;
  std::condition_variable done_cv;
  bool finished = false;
  std::thread driver([&] {
    try {
      if (run.forked()) {
        body();
      } else {
        ArenaLease lease(threads);
        lease.arena().execute(body);
      }
    } catch (...) {
      run.fail(std::current_exception());
    }
    {
      std::lock_guard<std::mutex> lock(done_mu);
      finished = true;
    }
    done_cv.notify_all();
  });
  try {
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(done_mu);
        if (done_cv.wait_for(lock, interval, [&] { return finished; })) break;
      }
      if (progress) progress(run.done.load(std::memory_order_relaxed), total);
    }
  } catch (...) {
    run.cancel();
    driver.join();
    throw;
  }
  driver.join();
  if (run.error) std::rethrow_exception(run.error);
}

}  // namespace blt
