// fork() safety of the core: a forked child never touches the parent's (stale) oneTBB state and
// still runs batches in parallel, on a ForkPool of its own, whatever the parent was doing.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <numeric>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "blt_core/batch.hpp"
#include "blt_core/codec/byte_codec.hpp"
#include "blt_core/io/byte_sink.hpp"
#include "blt_core/io/byte_source.hpp"
#include "blt_core/parallel/fork_pool.hpp"
#include "blt_core/parallel/fork_state.hpp"
#include "blt_core/parallel/parallel_for.hpp"
#include "blt_core/pipeline/file_pipeline.hpp"
#include "blt_core/serve/batch_engine.hpp"
#include "test_support.hpp"

using namespace blt;
using namespace blt::test;
using namespace std::chrono_literals;

namespace {

constexpr int kChildSeconds = 20;  // watchdog of every child; a hang fails the test, never the suite

// What a child reports: its exit code (0: passed) and one number written to a pipe.
struct ChildResult {
  bool finished = false;  // exited on its own before the watchdog
  int exit_code = -1;
  long value = -1;
};

// Forks; the child runs f (its return value is the exit code, `value` goes to the parent) under
// an alarm, and the parent waits at most kChildSeconds + 5 s before killing it.
ChildResult run_in_child(const std::function<int(long& value)>& f) {
  int fds[2];
  if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    close(fds[0]);
    alarm(kChildSeconds);
    long value = -1;
    int code = 99;
    try {
      code = f(value);
    } catch (...) {
      code = 98;
    }
    (void)!write(fds[1], &value, sizeof(value));
    _exit(code);
  }
  close(fds[1]);
  ChildResult r;
  pollfd p{fds[0], POLLIN, 0};
  if (poll(&p, 1, (kChildSeconds + 5) * 1000) > 0) {
    long v;
    if (read(fds[0], &v, sizeof(v)) == static_cast<ssize_t>(sizeof(v))) r.value = v;
  }
  close(fds[0]);
  int status = 0;
  for (int i = 0; i < 500 && waitpid(pid, &status, WNOHANG) == 0; ++i) std::this_thread::sleep_for(10ms);
  if (waitpid(pid, &status, WNOHANG) == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return r;
  }
  r.finished = WIFEXITED(status);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

std::vector<std::string> documents(size_t n, size_t len) {
  std::vector<std::string> docs(n);
  for (size_t i = 0; i < n; ++i) {
    docs[i].resize(len + i % 17);
    for (size_t j = 0; j < docs[i].size(); ++j) docs[i][j] = static_cast<char>('a' + (i * 31 + j) % 26);
  }
  return docs;
}

std::vector<ByteSpan> spans(const std::vector<std::string>& docs) {
  std::vector<ByteSpan> v;
  for (auto& d : docs) v.push_back(bytes_of(d));
  return v;
}

bool same(const RaggedIds& a, const RaggedIds& b) {
  return to_vec(a.ids) == to_vec(b.ids) && to_vec(a.offsets) == to_vec(b.offsets);
}

// A byte tokenizer that records which threads encode, and takes a little while per document so
// that every worker of a pool gets some of a batch.
class ThreadRecordingTokenizer : public Tokenizer {
 public:
  uint64_t n_vocab() const override { return 256; }
  size_t safe_split(ByteSpan, size_t target) const override { return target; }
  void encode_body(ByteSpan in, std::vector<uint32_t>& out) const override {
    {
      std::lock_guard lk(mu_);
      seen_.insert(std::this_thread::get_id());
    }
    std::this_thread::sleep_for(2ms);
    for (uint8_t b : in) out.push_back(b);
  }
  size_t threads_seen() const {
    std::lock_guard lk(mu_);
    return seen_.size();
  }
  void clear() {
    std::lock_guard lk(mu_);
    seen_.clear();
  }

 private:
  mutable std::mutex mu_;
  mutable std::set<std::thread::id> seen_;
};

// Runs encode_batch in a loop on another thread until stopped: oneTBB is busy at any fork.
class BusyEncoder {
 public:
  explicit BusyEncoder(const Tokenizer& tok) : docs_(documents(256, 400)), items_(spans(docs_)) {
    t_ = std::thread([this, &tok] {
      while (!stop_.load()) {
        encode_batch(tok, items_, DType::u16, 2);
        rounds_.fetch_add(1);
      }
    });
    while (rounds_.load() == 0) std::this_thread::sleep_for(1ms);
  }
  ~BusyEncoder() {
    stop_.store(true);
    t_.join();
  }

 private:
  std::vector<std::string> docs_;
  std::vector<ByteSpan> items_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> rounds_{0};
  std::thread t_;
};

// The child's check: a batch equal to the parent's, on the fork pool.
int child_encodes_batch(const Tokenizer& tok, const RaggedIds& expected, const std::vector<ByteSpan>& items) {
  if (!in_forked_child() || parallel_backend() != "fork_pool") return 2;
  if (!same(encode_batch(tok, items, DType::u16, 2), expected)) return 3;
  return 0;
}

}  // namespace

TEST(ForkPool, CoversEveryIndexOnceWithSlotsBelowTheThreadCount) {
  for (size_t n : {size_t(1), size_t(7), size_t(1000), size_t(100003)}) {
    std::vector<std::atomic<int>> hits(n);
    std::atomic<int> bad_slot{0};
    ForkPool::current().parallel_for(4, n, 3, [&](size_t a, size_t b, int slot) {
      if (slot < 0 || slot >= 4) bad_slot.fetch_add(1);
      for (size_t i = a; i < b; ++i) hits[i].fetch_add(1);
    });
    EXPECT_EQ(bad_slot.load(), 0);
    for (size_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "n=" << n << " i=" << i;
  }
}

TEST(ForkPool, RethrowsTheFirstErrorAndStaysUsable) {
  EXPECT_THROW(ForkPool::current().parallel_for(4, 1000, 1,
                                                [](size_t a, size_t, int) {
                                                  if (a >= 500) throw std::invalid_argument("boom");
                                                }),
               std::invalid_argument);
  std::atomic<size_t> sum{0};
  ForkPool::current().parallel_for(4, 100, 1, [&](size_t a, size_t b, int) {
    for (size_t i = a; i < b; ++i) sum.fetch_add(i);
  });
  EXPECT_EQ(sum.load(), 4950u);
}

TEST(ForkPool, NestedLoopsRunInlineOnWorkers) {
  std::atomic<size_t> count{0};
  ForkPool::current().parallel_for(3, 30, 1, [&](size_t a, size_t b, int) {
    for (size_t i = a; i < b; ++i)
      ForkPool::current().parallel_for(3, 10, 1, [&](size_t x, size_t y, int) { count.fetch_add(y - x); });
  });
  EXPECT_EQ(count.load(), 300u);
}

TEST(Fork, ParentUsesOneTbbAndCountsNoFork) {
  EXPECT_EQ(fork_generation(), 0u);
  EXPECT_EQ(parallel_backend(), "onetbb");
}

// Acceptance check 1 (c): after a parallel run in the parent, the child's batch uses more than
// one thread (a fresh pool, not a silently serial fallback) and equals the parent's.
TEST(Fork, ChildBatchAfterAParallelRunUsesMoreThanOneThread) {
  ThreadRecordingTokenizer tok;
  auto docs = documents(64, 50);
  auto items = spans(docs);
  RaggedIds expected = encode_batch(tok, items, DType::u16, 4);
  EXPECT_GT(tok.threads_seen(), 0u);
  ChildResult r = run_in_child([&](long& value) {
    tok.clear();
    RaggedIds got = encode_batch(tok, items, DType::u16, 4);
    value = static_cast<long>(tok.threads_seen());
    if (!same(got, expected)) return 3;
    return parallel_backend() == "fork_pool" ? 0 : 2;
  });
  ASSERT_TRUE(r.finished) << "child hung or died";
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_GT(r.value, 1) << "the child's batch ran on " << r.value << " thread(s)";
  RecordProperty("child_batch_threads", static_cast<int>(r.value));
  std::printf("child batch ran on %ld threads\n", r.value);
}

TEST(Fork, ManyForksWhileAnotherThreadEncodes) {
  ByteCodec codec;
  auto docs = documents(300, 200);
  auto items = spans(docs);
  RaggedIds expected = encode_batch(codec, items, DType::u16, 2);
  BusyEncoder busy(codec);
  int hangs = 0, failures = 0;
  for (int i = 0; i < 200; ++i) {
    ChildResult r = run_in_child([&](long&) { return child_encodes_batch(codec, expected, items); });
    hangs += !r.finished;
    failures += r.finished && r.exit_code != 0;
  }
  EXPECT_EQ(hangs, 0);
  EXPECT_EQ(failures, 0);
}

TEST(Fork, ForkFromANonMainThreadAndAgainFromTheChild) {
  ByteCodec codec;
  auto docs = documents(200, 300);
  auto items = spans(docs);
  RaggedIds expected = encode_batch(codec, items, DType::u16, 2);
  BusyEncoder busy(codec);
  std::vector<ChildResult> results(20);
  std::thread forker([&] {
    for (auto& res : results)
      res = run_in_child([&](long& value) {
        if (int bad = child_encodes_batch(codec, expected, items)) return bad;
        // A grandchild forked while this child's pool exists gets a pool of its own.
        ChildResult g = run_in_child([&](long&) {
          if (fork_generation() != 2) return 4;
          return child_encodes_batch(codec, expected, items);
        });
        value = g.exit_code;
        return g.finished && g.exit_code == 0 ? 0 : 5;
      });
  });
  forker.join();
  for (auto& r : results) {
    ASSERT_TRUE(r.finished);
    EXPECT_EQ(r.exit_code, 0) << "grandchild exit " << r.value;
  }
}

TEST(Fork, ChildRunsTheFilePipelineWhileTheParentsRunIsInFlight) {
  ByteCodec codec;
  std::string text;
  for (int i = 0; i < 20000; ++i) text += "line " + std::to_string(i) + " of the pipeline input\n";
  const ByteSpan in = bytes_of(text);
  PipelineOptions o;
  o.dtype = DType::u16;
  o.format = OutputFormat::bin;
  o.threads = 2;
  o.min_chunk = o.max_chunk = 4096;
  auto run = [&] {
    MemorySource src(in);
    VectorSink sink;
    tokenize_stream(codec, src, sink, o);
    return sink.bytes;
  };
  const std::vector<uint8_t> expected = run();
  std::atomic<bool> stop{false};
  std::thread parent_runs([&] {
    while (!stop.load()) run();
  });
  int hangs = 0, failures = 0;
  for (int i = 0; i < 50; ++i) {
    ChildResult r = run_in_child([&](long&) { return run() == expected ? 0 : 3; });
    hangs += !r.finished;
    failures += r.finished && r.exit_code != 0;
  }
  stop.store(true);
  parent_runs.join();
  EXPECT_EQ(hangs, 0);
  EXPECT_EQ(failures, 0);
}

namespace {
class CountingSink : public serve::CompletionSink {
 public:
  void deliver(std::vector<serve::Completion>& done) override {
    std::lock_guard lk(mu_);
    for (auto& c : done) got_.push_back(std::move(c));
    cv_.notify_all();
  }
  bool wait_for(size_t n) {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, 10s, [&] { return got_.size() >= n; });
  }
  std::vector<serve::Completion> got_;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
};

serve::Request byte_request(std::shared_ptr<const Tokenizer> tok, std::string data) {
  serve::Request r;
  r.tokenizer = std::move(tok);
  r.data = std::move(data);
  r.dtype = DType::u16;
  return r;
}
}  // namespace

TEST(Fork, InheritedEngineIsRefusedAndDiscardedAndANewOneWorks) {
  auto codec = std::make_shared<ByteCodec>();
  serve::EngineOptions opts;
  opts.threads = 2;
  opts.max_wait = 200us;
  auto sink = std::make_shared<CountingSink>();
  auto engine = std::make_unique<serve::BatchEngine>(opts, sink);
  std::atomic<bool> stop{false};
  std::thread submitter([&] {
    while (!stop.load()) {
      try {
        engine->submit(byte_request(codec, std::string(500, 'x')));
      } catch (const serve::QueueFull&) {
      }
      std::this_thread::sleep_for(50us);
    }
  });
  const IdBuffer expected = codec->encode(bytes_of("hello"), DType::u16);
  int failures = 0, hangs = 0;
  for (int i = 0; i < 30; ++i) {
    ChildResult r = run_in_child([&](long&) {
      if (engine->owned_by_this_process()) return 2;
      try {
        engine->submit(byte_request(codec, "x"));
        return 3;
      } catch (const std::runtime_error&) {
      }
      engine->shutdown(false);        // returns at once
      serve::discard(std::move(engine));  // leaks, never joins or destroys
      auto child_sink = std::make_shared<CountingSink>();
      serve::BatchEngine fresh(opts, child_sink);
      fresh.submit(byte_request(codec, "hello"));
      if (!child_sink->wait_for(1)) return 4;
      if (to_vec(child_sink->got_[0].ids) != to_vec(expected)) return 5;
      fresh.shutdown(true);
      return 0;
    });
    hangs += !r.finished;
    failures += r.finished && r.exit_code != 0;
  }
  stop.store(true);
  submitter.join();
  engine->shutdown(true);
  EXPECT_EQ(hangs, 0);
  EXPECT_EQ(failures, 0);
}

TEST(Fork, ChildSortsAndTrainsLikeTheParent) {
  std::vector<std::pair<uint64_t, uint64_t>> v(100000);
  for (size_t i = 0; i < v.size(); ++i) v[i] = {(i * 2654435761u) % 1000, i};
  auto sorted = v;
  std::sort(sorted.begin(), sorted.end());
  ChildResult r = run_in_child([&](long&) {
    auto w = v;
    parallel_sort(3, w);
    return w == sorted ? 0 : 3;
  });
  ASSERT_TRUE(r.finished);
  EXPECT_EQ(r.exit_code, 0);
}
