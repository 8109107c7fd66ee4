// BatchEngine: bounded per-priority queues of encode requests, a batcher thread that groups them by
// size or deadline, oneTBB workers (a ForkPool in a forked child) that encode each batch, and one
// thread that hands results out.
#pragma once
#include <oneapi/tbb/task_arena.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "blt_core/tokenizer.hpp"

namespace blt::serve {

using Clock = std::chrono::steady_clock;

enum class Priority : uint8_t { high = 0, normal = 1, low = 2 };
constexpr size_t kPriorities = 3;

// "high" / "normal" / "low"; throws std::invalid_argument otherwise.
Priority parse_priority(std::string_view name);

// Outcome of one request.
enum class Status : uint8_t { ok, invalid, timed_out, shut_down, failed };

// Thrown by submit() when the request's priority queue is at capacity: callers shed load.
class QueueFull : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One unit of work for the engine: an encode of `data` or, with `decode`, a decode of `ids`.
struct Request {
  // Shared so a tokenizer swapped out of a registry lives until its last request completes.
  std::shared_ptr<const Tokenizer> tokenizer;
  std::string data;  // owned copy: workers must not touch caller (Python) memory
  DType dtype = DType::u32;
  Priority priority = Priority::normal;
  Clock::duration timeout{0};  // 0: none; an expired request is answered timed_out, not encoded

  // Segment mode encodes one window of a longer stream: it cuts at tokenizer.safe_split(data,
  // target) (or at the end when stream_end), adds the prefix only when stream_start and the
  // suffix only when stream_end, and reports how many bytes it consumed (0: widen the window;
  // also asked while a stream start holds fewer than 4 bytes, so a BOM is never split).
  bool segment = false;
  bool stream_start = false;
  bool stream_end = false;
  size_t target = 0;
  // Bytes of the stream before this window: an OffsetError (a disallowed special) is rebased by it
  // so the message names the offset in the whole stream, as the file pipeline does for chunks.
  uint64_t stream_offset = 0;

  // Also (json) or only (json_only) deliver the ids as JSON text (Completion::json), formatted by
  // the worker rather than by the caller's event loop.
  bool json = false;
  bool json_only = false;

  // A decode request: the worker turns `ids` into bytes (Completion::bytes) with
  // Tokenizer::decode_bytes; `data` and the encode fields above are unused. Decodes share the
  // queues, priorities, timeouts and batches of encodes.
  bool decode = false;
  std::vector<int64_t> ids;
};

struct Completion {
  uint64_t id = 0;
  Status status = Status::ok;
  std::string error;
  IdBuffer ids;
  size_t consumed = 0;  // segment mode: bytes of the window encoded (including a skipped BOM)
  size_t count = 0;     // number of ids (also when only their JSON text is delivered)
  std::string json;     // "[id,id,...]" when the request asked for JSON
  bool decoded = false; // a decode request: its result is `bytes` (count = its length)
  std::string bytes;
  // Handed back so the sink decides on which thread (and under which lock) it is released.
  std::shared_ptr<const Tokenizer> tokenizer;
};

// Receives completions on the engine's single completion thread, never concurrently. Each call
// gets every completion ready at that moment, so a sink that must take a lock (the GIL) takes it
// once per group rather than once per request.
class CompletionSink {
 public:
  virtual ~CompletionSink() = default;
  virtual void deliver(std::vector<Completion>& done) = 0;
};

struct EngineOptions {
  size_t max_batch_size = 64;
  std::chrono::microseconds max_wait{2000};  // longest a request waits for its batch to fill
  size_t queue_capacity = 1024;              // per priority
  int threads = 0;                           // encode workers; <= 0: all usable cores
  size_t max_inflight_batches = 0;           // 0: one per worker thread
  // false: submit() never wakes the batcher; only flush() (and shutdown) do, and max_wait then
  // starts at the flush. For callers that flush after every burst of submits (an event loop
  // flushes once per iteration): a wake is a futex call and, when the batcher sleeps, a
  // cross-CPU interrupt, paid per request with max_batch_size 1 and per burst otherwise.
  bool wake_on_submit = true;
};

// Upper bounds of the batch-size histogram buckets (the last bucket is +inf).
inline constexpr std::array<size_t, 11> kBatchSizeBounds = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};

struct EngineStats {
  uint64_t submitted = 0, completed = 0, rejected = 0, cancelled = 0, timed_out = 0, batches = 0;
  uint64_t batched_requests = 0;                               // sum of batch sizes
  std::array<uint64_t, kBatchSizeBounds.size() + 1> batch_size_counts{};  // per bucket, not cumulative
  std::array<size_t, kPriorities> queued{};
  size_t inflight_batches = 0;
};

class BatchEngine {
 public:
  BatchEngine(EngineOptions opts, std::shared_ptr<CompletionSink> sink);
  ~BatchEngine();  // shutdown(false)
  BatchEngine(const BatchEngine&) = delete;
  BatchEngine& operator=(const BatchEngine&) = delete;

  // Queues a request and returns its id. Throws QueueFull when its priority queue is full,
  // std::invalid_argument for a bad request, std::runtime_error after shutdown.
  uint64_t submit(Request&& req);

  // Removes a request that is still queued (true); false when it is already being encoded or
  // done, in which case its completion still arrives.
  bool cancel(uint64_t id);

  // Sends what is queued now without waiting for max_wait (partial batches). An event loop calls
  // it once per iteration, so requests submitted together go together and nobody idles waiting
  // for a batch that the (closed-loop) clients cannot fill.
  void flush();

  // Stops accepting requests. drain: queued requests are still encoded; otherwise they complete
  // with Status::shut_down. Returns after every completion has been delivered and all engine
  // threads have stopped. Must not be called while holding a lock the sink takes, nor from one
  // of this engine's threads (throws std::logic_error there). Idempotent.
  void shutdown(bool drain);

  // True on this engine's batcher or completion thread (where shutdown() would wait for itself).
  bool on_own_thread() const;

  // False in a process forked after this engine was built: its threads do not exist there and
  // its locks may be held by them. Every call then throws std::runtime_error (shutdown() returns
  // at once) and the engine must be given to discard(), never deleted.
  bool owned_by_this_process() const;

  std::array<size_t, kPriorities> queue_depth() const;
  EngineStats stats() const;
  const EngineOptions& options() const { return opts_; }

 private:
  struct Pending {
    uint64_t id;
    Request req;
    Clock::time_point arrival;
    Clock::time_point deadline;  // max() when none
  };
  using Queue = std::list<Pending>;

  void batcher_loop();
  void completer_loop();
  void run_batch(std::vector<Pending>& batch);
  static Completion encode_one(Pending& p);
  void push_completions(std::vector<Completion>&& done);
  void expire_locked(Clock::time_point now, std::vector<Completion>& out);
  size_t total_queued_locked() const;
  Clock::time_point oldest_arrival_locked() const;

  EngineOptions opts_;
  std::shared_ptr<CompletionSink> sink_;
  uint64_t fork_generation_;               // the process that built the engine
  std::unique_ptr<tbb::task_arena> arena_;  // null when built in a forked child (ForkPool then)
  size_t max_inflight_;

  mutable std::mutex mu_;
  std::condition_variable cv_;  // batcher: work, free slot, stop; shutdown: inflight == 0
  std::array<Queue, kPriorities> queues_;
  std::unordered_map<uint64_t, Queue::iterator> index_;
  size_t with_deadline_ = 0;
  uint64_t next_id_ = 1;
  size_t inflight_ = 0;
  bool accepting_ = true;
  bool stop_ = false;
  bool drain_ = false;
  bool flush_ = false;
  bool shut_down_ = false;

  std::mutex done_mu_;
  std::condition_variable done_cv_;
  std::vector<Completion> done_;
  bool completer_stop_ = false;

  std::mutex shutdown_mu_;  // serialises shutdown() callers

  // Counters read by stats() without taking mu_.
  std::atomic<uint64_t> submitted_{0}, completed_{0}, rejected_{0}, cancelled_{0}, timed_out_{0},
      batches_{0}, batched_requests_{0};
  std::array<std::atomic<uint64_t>, kBatchSizeBounds.size() + 1> batch_counts_{};

  std::thread batcher_;
  std::thread completer_;
};

// Destroys an engine, or leaks it when it was built before this process forked: joining its
// (absent) threads or destroying its (possibly held) mutexes and condition variables there could
// block forever. Callers that own an engine release it through here.
void discard(std::unique_ptr<BatchEngine> engine);

}  // namespace blt::serve
