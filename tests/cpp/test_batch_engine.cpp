// Batch engine from C++ alone: results equal direct encoding, batching by size and deadline,
// priority order, bounded queues, cancellation, timeouts, shutdown and stream segments.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "blt_core/bpe/bpe_encoder.hpp"
#include "blt_core/codec/byte_codec.hpp"
#include "blt_core/offset_error.hpp"
#include "blt_core/serve/batch_engine.hpp"
#include "blt_core/serve/ids_json.hpp"

#include "test_support.hpp"

using namespace blt;
using namespace blt::serve;
using namespace blt::test;
using namespace std::chrono_literals;

namespace {

// Records completions in delivery order; tests wait for a count with a generous bound.
class RecordingSink : public CompletionSink {
 public:
  void deliver(std::vector<Completion>& done) override {
    std::lock_guard lk(mu_);
    for (auto& c : done) got_.push_back(std::move(c));
    ++deliveries_;
    cv_.notify_all();
  }
  bool wait_for(size_t n, std::chrono::seconds limit = 30s) {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, limit, [&] { return got_.size() >= n; });
  }
  std::vector<Completion> take() {
    std::lock_guard lk(mu_);
    return std::move(got_);
  }
  size_t size() {
    std::lock_guard lk(mu_);
    return got_.size();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Completion> got_;
  size_t deliveries_ = 0;
};

// A byte tokenizer whose encoding blocks until the gate opens: keeps the engine's only worker busy.
class GatedTokenizer : public Tokenizer {
 public:
  uint64_t n_vocab() const override { return 256; }
  size_t safe_split(ByteSpan, size_t target) const override { return target; }
  void encode_body(ByteSpan in, std::vector<uint32_t>& out) const override {
    {
      std::unique_lock lk(mu_);
      entered_ = true;
      cv_.notify_all();
      cv_.wait(lk, [&] { return open_; });
    }
    for (auto b : in) out.push_back(b);
  }
  void open() {
    std::lock_guard lk(mu_);
    open_ = true;
    cv_.notify_all();
  }
  bool wait_entered() {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, 30s, [&] { return entered_; });
  }

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  mutable bool entered_ = false;
  bool open_ = false;
};

// Cuts only after a space, like a pretokenizer that never splits words.
class WordTokenizer : public Tokenizer {
 public:
  uint64_t n_vocab() const override { return 100000; }
  size_t safe_split(ByteSpan w, size_t target) const override {
    for (size_t p = target; p > 0; --p)
      if (w[p - 1] == ' ') return p;
    return 0;
  }
  void encode_body(ByteSpan in, std::vector<uint32_t>& out) const override {
    for (auto b : in) out.push_back(b + 1000u);
  }
};

Request request(std::shared_ptr<const Tokenizer> tok, std::string data,
                      Priority pr = Priority::normal, DType dt = DType::u32) {
  Request r;
  r.tokenizer = std::move(tok);
  r.data = std::move(data);
  r.priority = pr;
  r.dtype = dt;
  return r;
}

}  // namespace

TEST(BatchEngine, ResultsEqualDirectEncodingFromManyThreads) {
  auto sink = std::make_shared<RecordingSink>();
  auto codec = std::make_shared<ByteCodec>();
  EngineOptions o;
  o.max_batch_size = 16;
  o.max_wait = 500us;
  o.threads = 2;
  BatchEngine engine(o, sink);
  constexpr int kThreads = 4, kPer = 200;
  std::vector<std::vector<std::pair<uint64_t, std::string>>> sent(kThreads);
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      std::mt19937 rng(t);
      for (int i = 0; i < kPer; ++i) {
        std::string s(rng() % 300, '\0');
        for (auto& ch : s) ch = static_cast<char>(rng());
        auto id = engine.submit(request(codec, s, Priority::normal, DType::u16));
        sent[t].emplace_back(id, s);
      }
    });
  }
  for (auto& t : ts) t.join();
  ASSERT_TRUE(sink->wait_for(kThreads * kPer));
  std::map<uint64_t, Completion> by_id;
  for (auto& c : sink->take()) {
    ASSERT_EQ(by_id.count(c.id), 0u) << "request completed twice";
    by_id.emplace(c.id, std::move(c));
  }
  ASSERT_EQ(by_id.size(), size_t(kThreads * kPer));
  for (auto& per : sent)
    for (auto& [id, s] : per) {
      auto& c = by_id.at(id);
      ASSERT_EQ(c.status, Status::ok) << c.error;
      EXPECT_EQ(to_vec(c.ids), to_vec(codec->encode(bytes_of(s), DType::u16)));
    }
  auto st = engine.stats();
  EXPECT_EQ(st.submitted, uint64_t(kThreads * kPer));
  EXPECT_EQ(st.batched_requests, uint64_t(kThreads * kPer));
  EXPECT_LE(st.batches, st.batched_requests);
}

TEST(BatchEngine, FullBatchGoesWithoutWaitingForTheDeadline) {
  auto sink = std::make_shared<RecordingSink>();
  auto codec = std::make_shared<ByteCodec>();
  EngineOptions o;
  o.max_batch_size = 8;
  o.max_wait = std::chrono::hours(1);  // only a full batch can leave before the test's bound
  o.threads = 1;
  BatchEngine engine(o, sink);
  for (int i = 0; i < 8; ++i) engine.submit(request(codec, "x"));
  ASSERT_TRUE(sink->wait_for(8));
  EXPECT_EQ(engine.stats().batches, 1u);
  EXPECT_EQ(engine.stats().batch_size_counts[3], 1u);  // bucket (4, 8]
  engine.submit(request(codec, "y"));  // alone: waits for a deadline an hour away
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(sink->size(), 8u);
  engine.shutdown(false);
  auto got = sink->take();
  ASSERT_EQ(got.size(), 9u);
  EXPECT_EQ(got.back().status, Status::shut_down);
}

TEST(BatchEngine, FlushSendsAPartialBatchAtOnce) {
  auto sink = std::make_shared<RecordingSink>();
  auto codec = std::make_shared<ByteCodec>();
  EngineOptions o;
  o.max_batch_size = 64;
  o.max_wait = std::chrono::hours(1);
  BatchEngine engine(o, sink);
  engine.flush();  // nothing queued: no effect
  for (int i = 0; i < 3; ++i) engine.submit(request(codec, "abc"));
  engine.flush();
  ASSERT_TRUE(sink->wait_for(3));
  EXPECT_EQ(engine.stats().batches, 1u);
  engine.submit(request(codec, "later"));  // the flush is spent: this one waits again
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(sink->size(), 3u);
}

TEST(BatchEngine, WithoutWakeOnSubmitQueuedRequestsWaitForAFlush) {
  auto sink = std::make_shared<RecordingSink>();
  auto codec = std::make_shared<ByteCodec>();
  EngineOptions o;
  o.max_batch_size = 2;  // a full batch would leave at once if submits woke the batcher
  o.max_wait = 1ms;
  o.wake_on_submit = false;
  BatchEngine engine(o, sink);
  // One flushed round trip first, so the batcher has started and gone back to sleep (a batcher
  // still awake forms batches by size and deadline as usual).
  engine.submit(request(codec, "first"));
  engine.flush();
  ASSERT_TRUE(sink->wait_for(1));
  std::this_thread::sleep_for(20ms);
  for (int i = 0; i < 3; ++i) engine.submit(request(codec, "abc"));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(sink->size(), 1u);
  engine.flush();
  ASSERT_TRUE(sink->wait_for(4));
  for (auto& c : sink->take()) EXPECT_EQ(c.status, Status::ok);
  EXPECT_EQ(engine.stats().batched_requests, 4u);
}

TEST(BatchEngine, PartialBatchLeavesAtTheDeadline) {
  auto sink = std::make_shared<RecordingSink>();
  EngineOptions o;
  o.max_batch_size = 64;
  o.max_wait = 2ms;
  BatchEngine engine(o, sink);
  auto codec = std::make_shared<ByteCodec>();
  for (int i = 0; i < 3; ++i) engine.submit(request(codec, "abc"));
  ASSERT_TRUE(sink->wait_for(3));
  for (auto& c : sink->take()) EXPECT_EQ(c.status, Status::ok);
}

TEST(BatchEngine, HighPriorityFillsBatchesFirstAndQueuesAreBounded) {
  auto sink = std::make_shared<RecordingSink>();
  auto gate = std::make_shared<GatedTokenizer>();
  auto codec = std::make_shared<ByteCodec>();
  EngineOptions o;
  o.max_batch_size = 3;
  o.max_wait = 0us;
  o.threads = 1;
  o.max_inflight_batches = 1;
  o.queue_capacity = 3;
  BatchEngine engine(o, sink);
  engine.submit(request(gate, "g"));
  ASSERT_TRUE(gate->wait_entered());  // the only batch slot is now busy
  std::vector<uint64_t> low, normal, high;
  for (int i = 0; i < 3; ++i) low.push_back(engine.submit(request(codec, "l", Priority::low)));
  for (int i = 0; i < 3; ++i) normal.push_back(engine.submit(request(codec, "n", Priority::normal)));
  for (int i = 0; i < 3; ++i) high.push_back(engine.submit(request(codec, "h", Priority::high)));
  EXPECT_THROW(engine.submit(request(codec, "x", Priority::low)), QueueFull);
  EXPECT_EQ(engine.queue_depth(), (std::array<size_t, 3>{3, 3, 3}));
  EXPECT_EQ(engine.stats().rejected, 1u);
  gate->open();
  ASSERT_TRUE(sink->wait_for(10));
  auto got = sink->take();
  std::vector<uint64_t> order;
  for (auto& c : got) order.push_back(c.id);
  std::vector<uint64_t> expected = {1};
  for (auto v : {high, normal, low})
    for (auto id : v) expected.push_back(id);
  // Within a batch completions keep submission order; batches go high, normal, low.
  EXPECT_EQ(order, expected);
}

TEST(BatchEngine, CancelRemovesQueuedRequestsOnly) {
  auto sink = std::make_shared<RecordingSink>();
  auto gate = std::make_shared<GatedTokenizer>();
  EngineOptions o;
  o.max_batch_size = 1;
  o.threads = 1;
  o.max_inflight_batches = 1;
  BatchEngine engine(o, sink);
  auto busy = engine.submit(request(gate, "g"));
  ASSERT_TRUE(gate->wait_entered());
  auto queued = engine.submit(request(gate, "q"));
  auto kept = engine.submit(request(gate, "k"));
  EXPECT_TRUE(engine.cancel(queued));
  EXPECT_FALSE(engine.cancel(queued));
  EXPECT_FALSE(engine.cancel(busy));  // already encoding: its completion still comes
  gate->open();
  ASSERT_TRUE(sink->wait_for(2));
  engine.shutdown(true);
  auto got = sink->take();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].id, busy);
  EXPECT_EQ(got[1].id, kept);
  EXPECT_EQ(engine.stats().cancelled, 1u);
}

TEST(BatchEngine, ExpiredRequestsAreAnsweredTimedOut) {
  auto sink = std::make_shared<RecordingSink>();
  auto gate = std::make_shared<GatedTokenizer>();
  auto codec = std::make_shared<ByteCodec>();
  EngineOptions o;
  o.max_batch_size = 4;
  o.max_wait = 0us;
  o.threads = 1;
  o.max_inflight_batches = 1;
  BatchEngine engine(o, sink);
  engine.submit(request(gate, "g"));
  ASSERT_TRUE(gate->wait_entered());
  auto r = request(codec, "late");
  r.timeout = 1ms;
  auto late = engine.submit(std::move(r));
  auto ok = engine.submit(request(codec, "fine"));
  std::this_thread::sleep_for(20ms);  // the deadline passes while the worker is busy
  gate->open();
  ASSERT_TRUE(sink->wait_for(3));
  for (auto& c : sink->take()) {
    if (c.id == late) EXPECT_EQ(c.status, Status::timed_out);
    if (c.id == ok) EXPECT_EQ(c.status, Status::ok);
  }
  EXPECT_EQ(engine.stats().timed_out, 1u);
}

TEST(BatchEngine, ShutdownDrainsOrFailsQueuedRequestsAndRefusesNewOnes) {
  for (bool drain : {true, false}) {
    auto sink = std::make_shared<RecordingSink>();
    auto gate = std::make_shared<GatedTokenizer>();
    EngineOptions o;
    o.max_batch_size = 2;
    o.threads = 1;
    o.max_inflight_batches = 1;
    auto engine = std::make_unique<BatchEngine>(o, sink);
    engine->submit(request(gate, "g"));
    ASSERT_TRUE(gate->wait_entered());
    for (int i = 0; i < 5; ++i) engine->submit(request(gate, "q"));
    std::thread opener([&] {
      std::this_thread::sleep_for(10ms);
      gate->open();
    });
    engine->shutdown(drain);
    opener.join();
    EXPECT_THROW(engine->submit(request(gate, "z")), std::runtime_error);
    auto got = sink->take();
    ASSERT_EQ(got.size(), 6u) << "every accepted request is answered exactly once";
    size_t ok = 0;
    for (auto& c : got) ok += c.status == Status::ok;
    EXPECT_EQ(ok, drain ? 6u : 1u);
    engine.reset();  // destructor after shutdown is a no-op
  }
}

TEST(BatchEngine, SegmentsOfAStreamEqualTheWholeDocument) {
  auto sink = std::make_shared<RecordingSink>();
  EngineOptions o;
  o.max_wait = 0us;
  BatchEngine engine(o, sink);
  ByteCodecOptions bo;
  bo.strip_bom = true;
  bo.meta = ContentType::text;
  std::vector<std::shared_ptr<const Tokenizer>> toks = {std::make_shared<ByteCodec>(bo),
                                                        std::make_shared<WordTokenizer>()};
  std::string text = "\xEF\xBB\xBF";
  std::mt19937 rng(3);
  for (int i = 0; i < 3000; ++i) text += std::string(1 + rng() % 9, char('a' + rng() % 26)) + " ";
  for (auto& tok : toks) {
    std::vector<uint64_t> streamed;
    size_t pos = 0, window = 64;
    bool first = true;
    uint64_t seen = 0;
    while (true) {
      bool end = pos + window >= text.size();
      Request r = request(tok, text.substr(pos, end ? std::string::npos : window));
      r.segment = true;
      r.stream_start = first;
      r.stream_end = end;
      r.target = end ? r.data.size() : r.data.size() - 1;
      engine.submit(std::move(r));
      ASSERT_TRUE(sink->wait_for(++seen));
      auto c = std::move(sink->take().back());
      ASSERT_EQ(c.status, Status::ok) << c.error;
      seen = 0;
      for (auto v : to_vec(c.ids)) streamed.push_back(v);
      if (end) break;
      if (c.consumed == 0) {
        window *= 2;  // no safe cut yet: widen
        continue;
      }
      first = false;
      pos += c.consumed;
      window = 64;
    }
    EXPECT_EQ(streamed, to_vec(tok->encode(bytes_of(text), DType::u32)));
  }
}

TEST(BatchEngine, SegmentErrorsNameTheirOffsetInTheWholeStream) {
  // Throws OffsetError at the first '!' of the span it is given (offset relative to that span).
  class BangTokenizer : public Tokenizer {
   public:
    uint64_t n_vocab() const override { return 256; }
    size_t safe_split(ByteSpan, size_t target) const override { return target; }
    void encode_body(ByteSpan in, std::vector<uint32_t>& out) const override {
      for (size_t i = 0; i < in.size(); ++i) {
        if (in[i] == '!') throw OffsetError("bad byte at ", i, ".");
        out.push_back(in[i]);
      }
    }
  };
  auto sink = std::make_shared<RecordingSink>();
  EngineOptions o;
  o.max_wait = 0us;
  BatchEngine engine(o, sink);
  auto tok = std::make_shared<BangTokenizer>();
  Request whole = request(tok, "abc!");  // not a segment: offsets are the document's own
  whole.stream_offset = 500;                   // (only segments are rebased)
  engine.submit(std::move(whole));
  Request seg = request(tok, "xy!z");
  seg.segment = true;
  seg.stream_end = true;
  seg.target = seg.data.size();
  seg.stream_offset = 1000;
  engine.submit(std::move(seg));
  ASSERT_TRUE(sink->wait_for(2));
  std::set<std::string> errors;
  for (auto& c : sink->take()) {
    EXPECT_EQ(c.status, Status::invalid);
    errors.insert(c.error);
  }
  EXPECT_EQ(errors.count("bad byte at 3."), 1u);
  EXPECT_EQ(errors.count("bad byte at 1002."), 1u);
}

TEST(BatchEngine, RejectsBadRequests) {
  auto sink = std::make_shared<RecordingSink>();
  BatchEngine engine({}, sink);
  EXPECT_THROW(engine.submit(request(nullptr, "x")), std::invalid_argument);
  EXPECT_THROW(engine.submit(request(std::make_shared<WordTokenizer>(), "x", Priority::normal, DType::u16)),
               std::invalid_argument);  // ids up to 99999 do not fit uint16
  EXPECT_THROW(parse_priority("urgent"), std::invalid_argument);
  EXPECT_THROW(BatchEngine(EngineOptions{.max_batch_size = 0}, sink), std::invalid_argument);
}

// A sink that shuts its own engine down from the completion thread must get an error, not hang.
TEST(BatchEngine, ShutdownFromItsOwnThreadIsRefused) {
  struct SelfStopSink : CompletionSink {
    BatchEngine* engine = nullptr;
    std::atomic<int> refused{0};
    void deliver(std::vector<Completion>&) override {
      try {
        engine->shutdown(false);
      } catch (const std::logic_error&) {
        refused.fetch_add(1);
      }
    }
  };
  auto sink = std::make_shared<SelfStopSink>();
  EngineOptions o;
  o.max_wait = 0us;
  BatchEngine engine(o, sink);
  sink->engine = &engine;
  EXPECT_FALSE(engine.on_own_thread());
  engine.submit(request(std::make_shared<ByteCodec>(), "x"));
  engine.shutdown(true);
  EXPECT_EQ(sink->refused.load(), 1);
}

TEST(BatchEngine, JsonTextOfIdsForEveryDtype) {
  auto sink = std::make_shared<RecordingSink>();
  EngineOptions o;
  o.max_wait = 0us;
  BatchEngine engine(o, sink);
  auto codec = std::make_shared<ByteCodec>();
  size_t n = 0;
  for (auto dt : {DType::u16, DType::u32, DType::i32, DType::i64}) {
    auto r = request(codec, "Hi", Priority::normal, dt);
    r.json_only = true;
    engine.submit(std::move(r));
    ASSERT_TRUE(sink->wait_for(++n));
  }
  auto r = request(codec, "", Priority::normal, DType::u32);
  r.json = true;
  engine.submit(std::move(r));
  ASSERT_TRUE(sink->wait_for(++n));
  auto got = sink->take();
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(got[i].json, "[1,76,109,2]");
    EXPECT_EQ(got[i].count, 4u);
    EXPECT_EQ(got[i].ids.size(), 0u);  // json_only: no array
  }
  EXPECT_EQ(got[4].json, "[1,2]");
  EXPECT_EQ(to_vec(got[4].ids), (std::vector<uint64_t>{1, 2}));
  IdBuffer big = IdBuffer::allocate(DType::i64, 2);
  big.as<int64_t>()[0] = 9223372036854775807LL;
  big.as<int64_t>()[1] = 0;
  std::string out = "x";
  append_ids_json(big, out);
  EXPECT_EQ(out, "x[9223372036854775807,0]");
}

namespace {
Request decode_request(std::shared_ptr<const Tokenizer> tok, std::vector<int64_t> ids) {
  Request r;
  r.tokenizer = std::move(tok);
  r.decode = true;
  r.ids = std::move(ids);
  return r;
}
}  // namespace

// Decodes ride the same batches as encodes and give what the tokenizer's own decode gives; an
// unknown id is answered invalid (naming it) without failing its batch neighbours.
TEST(BatchEngine, DecodeRequestsShareBatchesAndMatchDirectDecoding) {
  auto model = load_r50k();
  BLT_NEED_SHARED_DATA(model);
  auto bpe = std::make_shared<bpe::BpeEncoder>(model, bpe::SpecialPolicy{});
  auto codec = std::make_shared<ByteCodec>();
  auto sink = std::make_shared<RecordingSink>();
  EngineOptions o;
  o.max_batch_size = 64;
  o.max_wait = std::chrono::hours(1);
  BatchEngine engine(o, sink);
  const std::string text = "Decoding in batches, \xE2\x9C\x93 with r50k and BLT byte ids.";
  std::vector<uint32_t> bpe_ids;
  bpe->encode_body(bytes_of(text), bpe_ids);
  std::vector<int64_t> bpe64(bpe_ids.begin(), bpe_ids.end());
  bpe64.push_back(50256);  // a special decodes to its text
  auto byte_ids = to_vec(codec->encode(bytes_of(text), DType::u32));
  auto a = engine.submit(decode_request(bpe, bpe64));
  auto b = engine.submit(decode_request(codec, std::vector<int64_t>(byte_ids.begin(), byte_ids.end())));
  auto c = engine.submit(request(codec, "enc"));
  auto d = engine.submit(decode_request(bpe, {15496, 50257}));  // 50257: past r50k's last id
  auto e = engine.submit(decode_request(codec, {76, -1}));
  auto f = engine.submit(decode_request(std::make_shared<WordTokenizer>(), {1000}));
  engine.flush();
  ASSERT_TRUE(sink->wait_for(6));
  std::map<uint64_t, Completion> got;
  for (auto& x : sink->take()) got.emplace(x.id, std::move(x));
  EXPECT_EQ(engine.stats().batches, 1u);
  ASSERT_EQ(got.at(a).status, Status::ok) << got.at(a).error;
  EXPECT_TRUE(got.at(a).decoded);
  EXPECT_EQ(got.at(a).bytes, text + "<|endoftext|>");
  EXPECT_EQ(got.at(a).count, got.at(a).bytes.size());
  ASSERT_EQ(got.at(b).status, Status::ok) << got.at(b).error;
  EXPECT_EQ(got.at(b).bytes, text);  // BOS/EOS give no bytes
  EXPECT_EQ(got.at(c).status, Status::ok);
  EXPECT_FALSE(got.at(c).decoded);
  EXPECT_EQ(got.at(d).status, Status::invalid);
  EXPECT_NE(got.at(d).error.find("50257"), std::string::npos) << got.at(d).error;
  EXPECT_EQ(got.at(e).status, Status::invalid);
  EXPECT_NE(got.at(e).error.find("-1"), std::string::npos) << got.at(e).error;
  EXPECT_EQ(got.at(f).status, Status::invalid);  // a tokenizer without a decoder says so
  EXPECT_NE(got.at(f).error.find("cannot decode"), std::string::npos) << got.at(f).error;
  auto seg = decode_request(codec, {76});
  seg.segment = true;
  EXPECT_THROW(engine.submit(std::move(seg)), std::invalid_argument);
}
