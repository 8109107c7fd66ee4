#include "blt_core/serve/batch_engine.hpp"

#include <oneapi/tbb/info.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_arena.h>

#include <algorithm>

#include "blt_core/offset_error.hpp"
#include "blt_core/parallel/fork_pool.hpp"
#include "blt_core/parallel/fork_state.hpp"
#include "blt_core/parallel/parallel_for.hpp"
#include "blt_core/serve/ids_json.hpp"

namespace blt::serve {

Priority parse_priority(std::string_view name) {
  if (name == "high") return Priority::high;
  if (name == "normal") return Priority::normal;
  if (name == "low") return Priority::low;
  throw std::invalid_argument("unknown priority '" + std::string(name) +
                              "' (expected high, normal or low)");
}

namespace {
thread_local const void* t_engine = nullptr;  // the engine whose thread this is

// Bytes leading_skip may need to see: the longest byte order mark (UTF-32).
constexpr size_t kLeadingLookahead = 4;

// No arena slot is reserved for a master thread: the batcher only enqueues and oneTBB's workers do
// all encoding. oneTBB starts one worker fewer than the machine's concurrency (the caller is meant
// to be the last one), so asking for more would only be refused with a warning.
int arena_workers(int threads) {
  int market = std::max(1, tbb::info::default_concurrency() - 1);
  return std::min(resolve_threads(threads), market);
}

void check_owner(const BatchEngine& e) {
  if (!e.owned_by_this_process())
    throw std::runtime_error("this batch engine was created before the process forked; create a new one in this process");
}
}  // namespace

BatchEngine::BatchEngine(EngineOptions opts, std::shared_ptr<CompletionSink> sink)
    : opts_(opts),
      sink_(std::move(sink)),
      fork_generation_(fork_generation()) {
  // A forked child must not call into oneTBB (not even tbb::info): batches go to its ForkPool.
  if (!in_forked_child()) arena_ = std::make_unique<tbb::task_arena>(arena_workers(opts.threads), 0);
  if (!sink_) throw std::invalid_argument("BatchEngine needs a completion sink");
  if (opts_.max_batch_size == 0) throw std::invalid_argument("max_batch_size must be >= 1");
  if (opts_.queue_capacity == 0) throw std::invalid_argument("queue_capacity must be >= 1");
  if (opts_.max_wait.count() < 0) throw std::invalid_argument("max_wait must be >= 0");
  max_inflight_ = opts_.max_inflight_batches ? opts_.max_inflight_batches
                                             : static_cast<size_t>(resolve_threads(opts.threads));
  completer_ = std::thread([this] {
    t_engine = this;
    completer_loop();
  });
  batcher_ = std::thread([this] {
    t_engine = this;
    batcher_loop();
  });
}

BatchEngine::~BatchEngine() { shutdown(false); }

uint64_t BatchEngine::submit(Request&& req) {
  check_owner(*this);
  if (!req.tokenizer) throw std::invalid_argument("request has no tokenizer");
  if (req.decode && req.segment) throw std::invalid_argument("a decode request cannot be a stream segment");
  if (!req.decode) check_dtype_fits(*req.tokenizer, req.dtype);
  if (req.segment && !req.stream_end && req.target >= req.data.size())
    throw std::invalid_argument("segment target must lie inside the window unless it ends the stream");
  auto now = Clock::now();
  std::unique_lock lk(mu_);
  if (!accepting_) throw std::runtime_error("batch engine is shut down");
  auto& q = queues_[static_cast<size_t>(req.priority)];
  if (q.size() >= opts_.queue_capacity) {
    rejected_.fetch_add(1, std::memory_order_relaxed);
    throw QueueFull("request queue full (" + std::to_string(opts_.queue_capacity) +
                    " waiting at this priority); retry later");
  }
  uint64_t id = next_id_++;
  auto deadline = req.timeout.count() > 0 ? now + req.timeout : Clock::time_point::max();
  if (req.timeout.count() > 0) ++with_deadline_;
  q.push_back(Pending{id, std::move(req), now, deadline});
  index_.emplace(id, std::prev(q.end()));
  size_t total = total_queued_locked();
  submitted_.fetch_add(1, std::memory_order_relaxed);
  lk.unlock();
  // The batcher only needs waking when work appears or a batch has just become full, and not at
  // all when the caller flushes instead.
  if (opts_.wake_on_submit && (total == 1 || total >= opts_.max_batch_size)) cv_.notify_all();
  return id;
}

bool BatchEngine::cancel(uint64_t id) {
  check_owner(*this);
  Pending removed;
  {
    std::lock_guard lk(mu_);
    auto it = index_.find(id);
    if (it == index_.end()) return false;
    auto& q = queues_[static_cast<size_t>(it->second->req.priority)];
    if (it->second->deadline != Clock::time_point::max()) --with_deadline_;
    removed = std::move(*it->second);
    q.erase(it->second);
    index_.erase(it);
  }
  cancelled_.fetch_add(1, std::memory_order_relaxed);
  return true;  // `removed` (and its tokenizer reference) is released here, on the caller's thread
}

void BatchEngine::flush() {
  check_owner(*this);
  {
    std::lock_guard lk(mu_);
    if (total_queued_locked() == 0) return;
    flush_ = true;
  }
  cv_.notify_all();
}

size_t BatchEngine::total_queued_locked() const {
  size_t n = 0;
  for (auto& q : queues_) n += q.size();
  return n;
}

Clock::time_point BatchEngine::oldest_arrival_locked() const {
  auto t = Clock::time_point::max();
  for (auto& q : queues_)
    if (!q.empty()) t = std::min(t, q.front().arrival);
  return t;
}

void BatchEngine::expire_locked(Clock::time_point now, std::vector<Completion>& out) {
  if (with_deadline_ == 0) return;
  for (auto& q : queues_) {
    for (auto it = q.begin(); it != q.end();) {
      if (it->deadline <= now) {
        Completion c;
        c.id = it->id;
        c.status = Status::timed_out;
        c.error = "request timed out while queued";
        c.tokenizer = std::move(it->req.tokenizer);
        out.push_back(std::move(c));
        index_.erase(it->id);
        --with_deadline_;
        it = q.erase(it);
      } else {
        ++it;
      }
    }
  }
}

void BatchEngine::batcher_loop() {
  std::unique_lock lk(mu_);
  for (;;) {
    cv_.wait(lk, [&] { return stop_ || total_queued_locked() > 0; });
    if (stop_ && (!drain_ || total_queued_locked() == 0)) break;
    // A worker slot first: while all are busy the queue keeps filling, so batches grow with load.
    cv_.wait(lk, [&] { return inflight_ < max_inflight_ || (stop_ && !drain_); });
    if (stop_ && !drain_) break;
    if (!stop_) {
      auto until = oldest_arrival_locked() + opts_.max_wait;
      cv_.wait_until(lk, until, [&] {
        return stop_ || flush_ || total_queued_locked() >= opts_.max_batch_size;
      });
      if (stop_ && !drain_) break;
    }
    std::vector<Completion> expired;
    expire_locked(Clock::now(), expired);
    std::vector<Pending> batch;
    batch.reserve(opts_.max_batch_size);
    // Fill from the highest priority down.
    for (auto& q : queues_) {
      while (!q.empty() && batch.size() < opts_.max_batch_size) {
        if (q.front().deadline != Clock::time_point::max()) --with_deadline_;
        index_.erase(q.front().id);
        batch.push_back(std::move(q.front()));
        q.pop_front();
      }
    }
    if (!batch.empty()) ++inflight_;
    if (total_queued_locked() == 0) flush_ = false;  // what was flushed has all left
    lk.unlock();
    if (!expired.empty()) {
      timed_out_.fetch_add(expired.size(), std::memory_order_relaxed);
      push_completions(std::move(expired));
    }
    if (!batch.empty()) {
      size_t n = batch.size();
      batches_.fetch_add(1, std::memory_order_relaxed);
      batched_requests_.fetch_add(n, std::memory_order_relaxed);
      size_t b = std::lower_bound(kBatchSizeBounds.begin(), kBatchSizeBounds.end(), n) -
                 kBatchSizeBounds.begin();
      batch_counts_[b].fetch_add(1, std::memory_order_relaxed);
      auto shared = std::make_shared<std::vector<Pending>>(std::move(batch));
      if (arena_)
        arena_->enqueue([this, shared] { run_batch(*shared); });
      else
        ForkPool::current().submit(static_cast<int>(max_inflight_), [this, shared] { run_batch(*shared); });
    }
    lk.lock();
  }
  // Not draining: whatever is still queued is answered shut_down.
  std::vector<Completion> rest;
  for (auto& q : queues_) {
    for (auto& p : q) {
      Completion c;
      c.id = p.id;
      c.status = Status::shut_down;
      c.error = "batch engine shut down before the request was encoded";
      c.tokenizer = std::move(p.req.tokenizer);
      rest.push_back(std::move(c));
    }
    q.clear();
  }
  index_.clear();
  with_deadline_ = 0;
  lk.unlock();
  if (!rest.empty()) push_completions(std::move(rest));
}

Completion BatchEngine::encode_one(Pending& p) {
  Completion c;
  c.id = p.id;
  const Tokenizer& tok = *p.req.tokenizer;
  auto& r = p.req;
  try {
    if (r.decode) {
      c.decoded = true;
      tok.decode_bytes(r.ids, c.bytes);
      c.count = c.bytes.size();
      return c;
    }
    if (!r.segment) {
      ByteSpan in(reinterpret_cast<const uint8_t*>(r.data.data()), r.data.size());
      c.ids = tok.encode(in, r.dtype);
      c.consumed = r.data.size();
    } else {
      ByteSpan window(reinterpret_cast<const uint8_t*>(r.data.data()), r.data.size());
      size_t skip = r.stream_start ? tok.leading_skip(window) : 0;
      size_t cut = r.stream_end ? window.size() : tok.safe_split(window, r.target);
      // The stream's first cut must come after the bytes leading_skip looks at (a BOM), or a BOM
      // split across segments would be encoded as text: ask for a wider window instead.
      if (r.stream_start && !r.stream_end && (window.size() < kLeadingLookahead || cut < skip))
        cut = 0;
      std::vector<uint32_t> ids;
      if (cut > 0 || r.stream_end) {
        if (r.stream_start) tok.prefix(ids);
        if (cut > skip) {
          try {
            tok.encode_body(window.subspan(skip, cut - skip), ids);
          } catch (const OffsetError& e) {
            // The tokenizer saw only this segment's body: name the offset in the whole stream.
            throw e.rebased(r.stream_offset + skip);
          }
        }
        if (r.stream_end) tok.suffix(ids);
      }
      c.consumed = cut;
      if (r.dtype == DType::u32 || r.dtype == DType::i32) {
        c.ids = IdBuffer::adopt(std::move(ids), r.dtype);
      } else {
        c.ids = IdBuffer::allocate(r.dtype, ids.size());
        convert_ids(ids.data(), ids.size(), r.dtype, c.ids.data());
      }
    }
    c.count = c.ids.size();
    if (r.json || r.json_only) append_ids_json(c.ids, c.json);
    if (r.json_only) c.ids = IdBuffer();
  } catch (const std::invalid_argument& e) {
    c.status = Status::invalid;
    c.error = e.what();
  } catch (const std::out_of_range& e) {  // an id outside the vocabulary (decode)
    c.status = Status::invalid;
    c.error = e.what();
  } catch (const std::exception& e) {
    c.status = Status::failed;
    c.error = e.what();
  }
  return c;
}

void BatchEngine::run_batch(std::vector<Pending>& batch) {
  std::vector<Completion> done(batch.size());
  // Requests with deadlines that passed while the batch waited for a worker are not encoded.
  auto now = Clock::now();
  auto encode_range = [&](size_t first, size_t last) {
    for (size_t i = first; i != last; ++i) {
      if (batch[i].deadline <= now) {
        done[i].id = batch[i].id;
        done[i].status = Status::timed_out;
        done[i].error = "request timed out before it was encoded";
      } else {
        done[i] = encode_one(batch[i]);
      }
      done[i].tokenizer = std::move(batch[i].req.tokenizer);
    }
  };
  if (arena_) {
    tbb::parallel_for(tbb::blocked_range<size_t>(0, batch.size()),
                      [&](const tbb::blocked_range<size_t>& r) { encode_range(r.begin(), r.end()); });
  } else {
    encode_range(0, batch.size());  // on one ForkPool worker; batches run side by side
  }
  size_t timed = 0;
  for (auto& c : done) timed += c.status == Status::timed_out;
  if (timed) timed_out_.fetch_add(timed, std::memory_order_relaxed);
  batch.clear();
  push_completions(std::move(done));
  std::lock_guard lk(mu_);
  --inflight_;
  cv_.notify_all();  // under the lock: shutdown() may destroy the engine once inflight_ hits 0
}

void BatchEngine::push_completions(std::vector<Completion>&& done) {
  {
    std::lock_guard lk(done_mu_);
    if (done_.empty()) {
      done_ = std::move(done);
    } else {
      for (auto& c : done) done_.push_back(std::move(c));
    }
  }
  done_cv_.notify_one();
}

void BatchEngine::completer_loop() {
  std::vector<Completion> group;
  for (;;) {
    {
      std::unique_lock lk(done_mu_);
      done_cv_.wait(lk, [&] { return completer_stop_ || !done_.empty(); });
      if (done_.empty() && completer_stop_) return;
      group.swap(done_);
    }
    size_t n = group.size();
    try {
      sink_->deliver(group);
    } catch (...) {
      // A failing sink must not take the engine down; the requests are lost to it either way.
    }
    group.clear();
    completed_.fetch_add(n, std::memory_order_relaxed);
  }
}

bool BatchEngine::on_own_thread() const { return t_engine == this; }

bool BatchEngine::owned_by_this_process() const { return fork_generation_ == fork_generation(); }

void discard(std::unique_ptr<BatchEngine> engine) {
  if (engine && !engine->owned_by_this_process()) (void)engine.release();
}

void BatchEngine::shutdown(bool drain) {
  if (!owned_by_this_process()) return;
  if (on_own_thread())
    throw std::logic_error("BatchEngine::shutdown called from an engine thread");
  std::lock_guard serial(shutdown_mu_);
  {
    std::lock_guard lk(mu_);
    if (shut_down_) return;
    shut_down_ = true;
    accepting_ = false;
    stop_ = true;
    drain_ = drain;
  }
  cv_.notify_all();
  if (batcher_.joinable()) batcher_.join();
  {
    std::unique_lock lk(mu_);
    cv_.wait(lk, [&] { return inflight_ == 0; });
  }
  {
    std::lock_guard lk(done_mu_);
    completer_stop_ = true;
  }
  done_cv_.notify_one();
  if (completer_.joinable()) completer_.join();
}

std::array<size_t, kPriorities> BatchEngine::queue_depth() const {
  check_owner(*this);
  std::lock_guard lk(mu_);
  std::array<size_t, kPriorities> d{};
  for (size_t i = 0; i < kPriorities; ++i) d[i] = queues_[i].size();
  return d;
}

EngineStats BatchEngine::stats() const {
  check_owner(*this);
  EngineStats s;
  s.submitted = submitted_.load();
  s.completed = completed_.load();
  s.rejected = rejected_.load();
  s.cancelled = cancelled_.load();
  s.timed_out = timed_out_.load();
  s.batches = batches_.load();
  s.batched_requests = batched_requests_.load();
  for (size_t i = 0; i < s.batch_size_counts.size(); ++i) s.batch_size_counts[i] = batch_counts_[i].load();
  std::lock_guard lk(mu_);
  for (size_t i = 0; i < kPriorities; ++i) s.queued[i] = queues_[i].size();
  s.inflight_batches = inflight_;
  return s;
}

}  // namespace blt::serve
