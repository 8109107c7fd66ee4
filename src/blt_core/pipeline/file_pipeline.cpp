#include "blt_core/pipeline/file_pipeline.hpp"

#include <oneapi/tbb/concurrent_queue.h>
#include <oneapi/tbb/flow_graph.h>
#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_group.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "blt_core/offset_error.hpp"
#include "blt_core/parallel/fork_state.hpp"
#include "blt_core/parallel/parallel_for.hpp"
#include "blt_core/pipeline/chunk_reader.hpp"
#include "blt_core/resources.hpp"

namespace blt {
namespace {

namespace flow = tbb::flow;

// Encodes c.body and formats it; runs on any worker thread, touches only its own chunk.
void encode_chunk(const Tokenizer& tok, const IdFormat& fmt, uint64_t max_id, Chunk& c) {
  const DType dt = fmt.dtype();
  auto n = tok.body_size(c.body);
  if (n && fmt.binary()) {
    // Known length: encode straight into the output buffer in the final dtype.
    size_t bytes = *n * dtype_size(dt);
    uint8_t* out = c.out.reserve(bytes);
    if (*n) tok.encode_body_into(c.body, dt, out);
    c.out_ptr = out;
    c.out_len = bytes;
    c.n_ids = *n;
    return;
  }
  c.ids.clear();
  if (n) {
    c.ids.resize(*n);
    if (*n) tok.encode_body_into(c.body, DType::u32, c.ids.data());
  } else {
    tok.encode_body(c.body, c.ids);
  }
  c.n_ids = c.ids.size();
  if (fmt.binary() && (dt == DType::u32 || dt == DType::i32)) {
    c.out_ptr = reinterpret_cast<const uint8_t*>(c.ids.data());  // already the output bytes
    c.out_len = c.ids.size() * 4;
    return;
  }
  uint8_t* out = c.out.reserve(c.ids.size() * fmt.max_bytes_per_id(max_id) + IdFormat::kWriteSlack);
  c.out_ptr = out;
  c.out_len = fmt.write_ids(c.ids.data(), c.ids.size(), out);
}

// Shared state of one run: the first error wins, and cancellation reaches every stage.
struct RunState {
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::exception_ptr error;
  // The flow graph's context; none in a forked child, which must not call into oneTBB.
  std::unique_ptr<tbb::task_group_context> ctx;

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

// Writes ids' formatted bytes in order and keeps the jsonl first-comma rule.
class OrderedWriter {
 public:
  OrderedWriter(ByteSink& sink, const IdFormat& fmt, const std::atomic<bool>& stop)
      : sink_(sink), fmt_(fmt), stop_(stop) {}
  void write(const uint8_t* p, size_t n) {
    if (n && !any_) {
      p += fmt_.first_id_skip();
      n -= fmt_.first_id_skip();
      any_ = true;
    }
    if (n) sink_.write(p, n, stop_);
  }
  void write_ids(const std::vector<uint32_t>& ids) {
    std::vector<uint8_t> bytes;
    fmt_.append_ids(ids.data(), ids.size(), bytes);
    write(bytes.data(), bytes.size());
  }

 private:
  ByteSink& sink_;
  const IdFormat& fmt_;
  const std::atomic<bool>& stop_;
  bool any_ = false;
};

using ChunkStep = std::function<void(Chunk*)>;

// The flow graph: read -> limiter (in_flight) -> parallel encode -> sequencer -> serial write.
void run_graph(const ChunkPlan& plan, ChunkReader& reader, RunState& run,
               std::vector<std::unique_ptr<Chunk>>& owned, const ChunkStep& encode, const ChunkStep& write) {
  tbb::concurrent_queue<Chunk*> free_chunks;
  for (size_t i = 0; i < plan.buffers; ++i) {
    owned.push_back(std::make_unique<Chunk>());
    free_chunks.push(owned.back().get());
  }
  flow::graph g(*run.ctx);
  flow::input_node<Chunk*> read_node(g, [&](tbb::flow_control& fc) -> Chunk* {
    try {
      Chunk* c = nullptr;
      if (!free_chunks.try_pop(c)) {
        // Cannot happen with buffers = in_flight + 1; stay correct if it ever does.
        owned.push_back(std::make_unique<Chunk>());
        c = owned.back().get();
      }
      if (reader.next(*c)) return c;
      free_chunks.push(c);
    } catch (...) {
      run.fail(std::current_exception());
    }
    fc.stop();
    return nullptr;
  });
  flow::limiter_node<Chunk*> gate(g, plan.in_flight);
  flow::function_node<Chunk*, Chunk*> encode_node(g, flow::unlimited, [&](Chunk* c) {
    encode(c);
    return c;
  });
  flow::sequencer_node<Chunk*> order(g, [](Chunk* const& c) { return c->seq; });
  flow::function_node<Chunk*, flow::continue_msg> write_node(g, flow::serial, [&](Chunk* c) {
    write(c);
    free_chunks.push(c);
    return flow::continue_msg();
  });
  flow::make_edge(read_node, gate);
  flow::make_edge(gate, encode_node);
  flow::make_edge(encode_node, order);
  flow::make_edge(order, write_node);
  flow::make_edge(write_node, gate.decrementer());
  read_node.activate();
  g.wait_for_all();
}

// A forked child's pipeline (no oneTBB there): reads up to in_flight chunks, encodes them in
// parallel on the ForkPool, writes them in order, and repeats; memory stays within the plan.
void encode_in_waves(size_t in_flight, int threads, ChunkReader& reader, RunState& run,
                     std::vector<std::unique_ptr<Chunk>>& owned, const ChunkStep& encode,
                     const ChunkStep& write) {
  in_flight = std::max<size_t>(in_flight, 1);
  while (owned.size() < in_flight) owned.push_back(std::make_unique<Chunk>());
  std::vector<Chunk*> wave;
  for (bool more = true; more && !run.stop.load();) {
    wave.clear();
    try {
      while (wave.size() < in_flight && (more = reader.next(*owned[wave.size()]))) wave.push_back(owned[wave.size()].get());
    } catch (...) {
      run.fail(std::current_exception());
      return;
    }
    parallel_for(threads, wave.size(), 1, [&](size_t a, size_t b, int) {
      for (size_t i = a; i != b; ++i) encode(wave[i]);
    });
    for (Chunk* c : wave) write(c);
  }
}

}  // namespace

PipelineStats tokenize_stream(const Tokenizer& tok, ByteSource& source, ByteSink& sink,
                              const PipelineOptions& opts) {
  check_dtype_fits(tok, opts.dtype);
  const IdFormat fmt(opts.format, opts.dtype);
  if (opts.format == OutputFormat::npy && !sink.can_rewrite_head())
    throw std::invalid_argument("npy output to '" + sink.name() +
                                "' needs a seekable file (the header holds the length); use "
                                "format bin or jsonl for pipes");
  const uint64_t max_id = tok.max_id();
  // More threads than usable cores cannot run: oneTBB's worker pool is sized by the affinity mask
  // and would print a warning and ignore the extra request.
  const int threads = std::min(resolve_threads(opts.threads), usable_cores());

  // Output bytes per input byte, planned for at most one id per input byte (bytes: exactly one;
  // BPE: fewer). Formats other than the raw dtype also hold a uint32 scratch copy.
  ChunkPlanRequest req;
  req.total_bytes = source.size();
  req.threads = threads;
  req.memcap = opts.memcap;
  req.min_chunk = opts.min_chunk;
  req.max_chunk = opts.max_chunk;
  req.input_in_memory = source.caller_owned();
  const bool exact = tok.body_size(ByteSpan{}).has_value();
  double per_byte = static_cast<double>(fmt.max_bytes_per_id(max_id));
  if (!fmt.binary() || !exact) per_byte += 4;
  req.out_bytes_per_byte = per_byte;
  const ChunkPlan plan = plan_chunks(req);

  PipelineStats stats;
  stats.plan = plan;
  stats.threads = threads;
  auto t0 = std::chrono::steady_clock::now();

  std::vector<uint32_t> head_ids, tail_ids;
  tok.prefix(head_ids);
  tok.suffix(tail_ids);
  if (exact && fmt.binary() && source.size())
    sink.expect(fmt.head(0).size() +
                (*source.size() + head_ids.size() + tail_ids.size()) * dtype_size(opts.dtype));

  RunState run;
  const bool forked = in_forked_child();
  if (!forked) run.ctx = std::make_unique<tbb::task_group_context>();
  std::atomic<uint64_t> bytes_done{0};
  std::mutex done_mu;
  std::condition_variable done_cv;
  bool finished = false;

  // The run goes on this helper thread, which joins an arena of `threads` slots as its master:
  // the caller stays free to report progress and notice cancellation (Python signals are only
  // delivered on the main thread).
  std::thread driver([&] {
    try {
      auto body = [&] {
        OrderedWriter writer(sink, fmt, run.stop);
        auto head = fmt.head(0);
        if (!head.empty()) sink.write(head.data(), head.size(), run.stop);
        writer.write_ids(head_ids);

        std::vector<std::unique_ptr<Chunk>> owned;
        ChunkReader reader(tok, source, plan, run.stop);
        uint64_t ids_out = head_ids.size();
        uint64_t chunks = 0;

        auto encode = [&](Chunk* c) {
          c->error = nullptr;
          if (!run.stop.load(std::memory_order_relaxed)) {
            try {
              encode_chunk(tok, fmt, max_id, *c);
            } catch (const OffsetError& e) {
              // The tokenizer saw only this chunk: name the offset in the whole input.
              c->error = std::make_exception_ptr(e.rebased(c->start_offset));
            } catch (...) {
              c->error = std::current_exception();
            }
          }
        };
        auto write = [&](Chunk* c) {
          if (c->error) {
            // Every earlier chunk encoded fine: this is the error a one-shot encode raises.
            run.fail(c->error);
            c->error = nullptr;
          } else if (!run.stop.load(std::memory_order_relaxed)) {
            try {
              writer.write(c->out_ptr, c->out_len);
              ids_out += c->n_ids;
              ++chunks;
              bytes_done.store(c->end_offset, std::memory_order_relaxed);
              source.release_before(c->end_offset);
            } catch (...) {
              run.fail(std::current_exception());
            }
          }
        };
        if (forked)
          encode_in_waves(plan.in_flight, threads, reader, run, owned, encode, write);
        else
          run_graph(plan, reader, run, owned, encode, write);

        if (run.stop.load()) return;
        writer.write_ids(tail_ids);
        ids_out += tail_ids.size();
        auto tail = fmt.tail();
        if (!tail.empty()) sink.write(tail.data(), tail.size(), run.stop);
        if (opts.format == OutputFormat::npy) {
          auto h = fmt.head(ids_out);
          sink.rewrite_head(h.data(), h.size());
        }
        stats.ids_out = ids_out;
        stats.chunks = chunks;
        stats.bytes_in = reader.consumed();
      };
      if (forked) {
        body();
      } else {
        tbb::task_arena arena(threads);
        arena.execute(body);
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

  const uint64_t total = source.size().value_or(0);
  try {
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(done_mu);
        if (done_cv.wait_for(lock, opts.progress_interval, [&] { return finished; })) break;
      }
      if (opts.progress) opts.progress(bytes_done.load(std::memory_order_relaxed), total);
    }
  } catch (...) {
    run.cancel();
    driver.join();
    throw;
  }
  driver.join();
  if (run.error) std::rethrow_exception(run.error);
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (opts.progress) opts.progress(stats.bytes_in, total ? total : stats.bytes_in);
  return stats;
}

}  // namespace blt
