// DrivenRun: runs a pipeline body on a helper thread inside a task_arena of n slots while the
// calling thread reports progress; a throwing progress callback cancels the run, and the body's
// first error is rethrown on the caller once every thread of the run has been joined.
#pragma once
#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_group.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

namespace blt {

// Shared state of one run: the first error wins, and cancellation reaches every stage.
struct RunControl {
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> done{0};  // progress in input bytes, stored by the body
  tbb::task_group_context ctx;
  std::mutex mu;
  std::exception_ptr error;

  void fail(std::exception_ptr e) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!error) error = e;
    }
    cancel();
  }
  void cancel() {
    stop.store(true);
    ctx.cancel_group_execution();
  }
};

// Runs body() in an arena of `threads` slots on a helper thread (Python only delivers signals on
// the main thread, so the caller must stay free to notice them through `progress`).
inline void run_driven(RunControl& run, int threads, const std::function<void()>& body,
                       const std::function<void(uint64_t, uint64_t)>& progress,
                       std::chrono::milliseconds interval, uint64_t total) {
  std::mutex done_mu;
  std::condition_variable done_cv;
  bool finished = false;
  std::thread driver([&] {
    try {
      tbb::task_arena arena(threads);
      arena.execute(body);
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
