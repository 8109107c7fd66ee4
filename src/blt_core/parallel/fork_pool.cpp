#include "blt_core/parallel/fork_pool.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "blt_core/parallel/fork_state.hpp"

namespace blt {
namespace {
thread_local bool t_pool_worker = false;

// One parallel_for call: pieces are claimed with one atomic counter; the caller waits for the
// count of finished pieces, after which no helper can touch body (it checks the counter first).
struct Loop {
  const RangeBody* body;
  size_t n, piece, pieces;
  std::atomic<size_t> next{0};
  std::atomic<size_t> finished{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  std::condition_variable cv;
  std::exception_ptr error;

  void work(int slot) {
    for (;;) {
      size_t p = next.fetch_add(1, std::memory_order_relaxed);
      if (p >= pieces) return;
      if (!failed.load(std::memory_order_relaxed)) {
        try {
          size_t a = p * piece;
          (*body)(a, std::min(n, a + piece), slot);
        } catch (...) {
          std::lock_guard lk(mu);
          if (!error) error = std::current_exception();
          failed.store(true, std::memory_order_relaxed);  // later pieces are counted, not run
        }
      }
      if (finished.fetch_add(1, std::memory_order_acq_rel) + 1 == pieces) {
        std::lock_guard lk(mu);
        cv.notify_all();
      }
    }
  }
};
}  // namespace

struct ForkPool::State {
  mutable std::mutex mu;
  std::condition_variable cv;
  std::deque<std::function<void()>> tasks;
  int workers = 0;
};

ForkPool::ForkPool() : s_(new State) {}

ForkPool& ForkPool::current() {
  // Pools are leaked on purpose: a pool inherited through fork() has no threads and may have a
  // locked mutex or a condition variable with waiters that no longer exist; destroying or
  // locking either could block forever. No lock guards the choice either (a lock could itself be
  // inherited held): the (pool, generation) pair is published with one compare-and-swap.
  struct Entry {
    ForkPool* pool;
    uint64_t generation;
  };
  static std::atomic<Entry*> entry{nullptr};
  const uint64_t gen = fork_generation();
  Entry* e = entry.load(std::memory_order_acquire);
  while (!e || e->generation != gen) {
    auto* fresh = new Entry{new ForkPool(), gen};  // no threads until first used
    if (entry.compare_exchange_strong(e, fresh, std::memory_order_acq_rel)) return *fresh->pool;
    // Another thread published first: use its pool if it is this process's (ours is dropped
    // before it ever started a thread).
    delete fresh->pool->s_;
    delete fresh;
  }
  return *e->pool;
}

bool ForkPool::on_worker() { return t_pool_worker; }

int ForkPool::workers() const {
  std::lock_guard lk(s_->mu);
  return s_->workers;
}

void ForkPool::grow_to(int want) {
  std::lock_guard lk(s_->mu);
  for (; s_->workers < want; ++s_->workers) {
    State* s = s_;
    std::thread([s] {
      t_pool_worker = true;
      for (;;) {
        std::function<void()> task;
        {
          std::unique_lock lk(s->mu);
          s->cv.wait(lk, [s] { return !s->tasks.empty(); });
          task = std::move(s->tasks.front());
          s->tasks.pop_front();
        }
        task();
      }
    }).detach();
  }
}

void ForkPool::submit(int threads, std::function<void()> task) {
  grow_to(std::max(1, threads));
  {
    std::lock_guard lk(s_->mu);
    s_->tasks.push_back(std::move(task));
  }
  s_->cv.notify_one();
}

void ForkPool::parallel_for(int threads, size_t n, size_t grain, const RangeBody& body) {
  if (n == 0) return;
  grain = std::max<size_t>(grain, 1);
  if (threads <= 1 || n <= grain || t_pool_worker) {
    body(0, n, 0);
    return;
  }
  auto loop = std::make_shared<Loop>();
  loop->body = &body;
  loop->n = n;
  // About eight pieces per thread balance uneven items without many claims.
  const size_t target = static_cast<size_t>(threads) * 8;
  loop->piece = std::max(grain, (n + target - 1) / target);
  loop->pieces = (n + loop->piece - 1) / loop->piece;
  const int helpers = static_cast<int>(std::min<size_t>(static_cast<size_t>(threads - 1), loop->pieces - 1));
  grow_to(helpers);
  {
    std::lock_guard lk(s_->mu);
    for (int h = 1; h <= helpers; ++h) s_->tasks.push_back([loop, h] { loop->work(h); });
  }
  s_->cv.notify_all();
  loop->work(0);
  {
    std::unique_lock lk(loop->mu);
    loop->cv.wait(lk, [&] { return loop->finished.load(std::memory_order_acquire) == loop->pieces; });
  }
  if (loop->error) std::rethrow_exception(loop->error);
}

}  // namespace blt
