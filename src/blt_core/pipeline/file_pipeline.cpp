#include "blt_core/pipeline/file_pipeline.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <stdexcept>
#include <vector>

#include "blt_core/offset_error.hpp"
#include "blt_core/out_of_memory.hpp"
#include "blt_core/parallel/parallel_for.hpp"
#include "blt_core/piece_memory.hpp"
#include "blt_core/pipeline/chunk_reader.hpp"
#include "blt_core/pipeline/driven_run.hpp"
#include "blt_core/pipeline/ordered_graph.hpp"
#include "blt_core/resources.hpp"

namespace blt {
namespace {

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

using ChunkStep = std::function<void(Chunk&)>;

// A forked child's pipeline (no oneTBB there): reads up to in_flight chunks, encodes them in
// parallel on the ForkPool, writes them in order, and repeats; memory stays within the plan.
void encode_in_waves(size_t in_flight, int threads, ChunkReader& reader, RunControl& run,
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
      for (size_t i = a; i != b; ++i) encode(*wave[i]);
    });
    for (Chunk* c : wave) write(*c);
  }
}

using Clock = std::chrono::steady_clock;

uint64_t ns_since(Clock::time_point t) {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t).count());
}

// A sink that takes nothing: with a stage, the stage writes.
class NullSink final : public ByteSink {
 public:
  void write(const uint8_t*, size_t, const std::atomic<bool>&) override {}
  bool can_rewrite_head() const override { return true; }
  void rewrite_head(const uint8_t*, size_t) override {}
  const std::string& name() const override { return name_; }

 private:
  std::string name_ = "<stage>";
};

PipelineStats run_pipeline(const Tokenizer& tok, ByteSource& source, ByteSink& sink,
                           ChunkStage* stage, const PipelineOptions& opts) {
  check_dtype_fits(tok, opts.dtype);
  const IdFormat fmt(stage ? OutputFormat::bin : opts.format, opts.dtype);
  if (!stage && opts.format == OutputFormat::npy && !sink.can_rewrite_head())
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
  if (stage) per_byte += stage->bytes_per_id();
  req.out_bytes_per_byte = per_byte;
  const ChunkPlan plan = plan_chunks(req);

  PipelineStats stats;
  stats.plan = plan;
  stats.threads = threads;
  auto t0 = std::chrono::steady_clock::now();

  std::vector<uint32_t> head_ids, tail_ids;
  tok.prefix(head_ids);
  tok.suffix(tail_ids);
  if (!stage && exact && fmt.binary() && source.size())
    sink.expect(fmt.head(0).size() +
                (*source.size() + head_ids.size() + tail_ids.size()) * dtype_size(opts.dtype));

  RunControl run;
  std::atomic<uint64_t> encode_ns{0}, write_ns{0};
  std::atomic<int64_t> waiting{0};  // chunks encoded, not yet taken by the writer
  uint64_t queue_sum = 0, queue_samples = 0, queue_max = 0;

  auto body = [&] {
    OrderedWriter writer(sink, fmt, run.stop);
    auto head = fmt.head(0);
    if (!head.empty()) sink.write(head.data(), head.size(), run.stop);
    if (stage) {
      // One id per input byte (a probe decides): the count is bounded by the input size.
      const uint8_t probe[64] = {};
      auto per = tok.body_size(ByteSpan(probe, sizeof probe));
      if (per && *per == sizeof probe && source.size())
        stage->expect_ids(*source.size() + head_ids.size() + tail_ids.size());
      stage->prefix(head_ids, opts.dtype);
    } else {
      writer.write_ids(head_ids);
    }

    std::vector<std::unique_ptr<Chunk>> owned;
    ChunkReader reader(tok, source, plan, run.stop);
    uint64_t ids_out = head_ids.size();
    uint64_t chunks = 0;

    auto encode = [&](Chunk& c) {
      c.error = nullptr;
      if (!run.stop.load(std::memory_order_relaxed)) {
        try {
          const auto t = Clock::now();
          PieceMemoryLimit::Scope piece_limit(plan.piece_memory);
          encode_chunk(tok, fmt, max_id, c);
          encode_ns.fetch_add(ns_since(t), std::memory_order_relaxed);
          if (stage) stage->process(c, opts.dtype);
        } catch (const OffsetError& e) {
          // The tokenizer saw only this chunk: name the offset in the whole input.
          c.error = std::make_exception_ptr(e.rebased(c.start_offset));
        } catch (...) {
          c.error = std::current_exception();
        }
      }
      waiting.fetch_add(1, std::memory_order_relaxed);
    };
    auto write = [&](Chunk& c) {
      const uint64_t depth =
          static_cast<uint64_t>(std::max<int64_t>(0, waiting.fetch_sub(1, std::memory_order_relaxed)));
      queue_sum += depth;
      ++queue_samples;
      queue_max = std::max(queue_max, depth);
      if (c.error) {
        // Every earlier chunk encoded fine: this is the error a one-shot encode raises.
        run.fail(c.error);
        c.error = nullptr;
      } else if (!run.stop.load(std::memory_order_relaxed)) {
        try {
          const auto t = Clock::now();
          if (stage)
            stage->assemble(c, opts.dtype);
          else
            writer.write(c.out_ptr, c.out_len);
          write_ns.fetch_add(ns_since(t), std::memory_order_relaxed);
          ids_out += c.n_ids;
          ++chunks;
          run.done.store(c.end_offset, std::memory_order_relaxed);
          source.release_before(c.end_offset);
        } catch (...) {
          run.fail(std::current_exception());
        }
      }
    };
    if (run.forked())
      encode_in_waves(plan.in_flight, threads, reader, run, owned, encode, write);
    else
      run_ordered_graph(run, plan.in_flight, owned, [&](Chunk& c) { return reader.next(c); }, encode, write);

    if (run.stop.load()) return;
    ids_out += tail_ids.size();
    if (stage) {
      const auto t = Clock::now();
      stage->finish(tail_ids, opts.dtype);
      write_ns.fetch_add(ns_since(t), std::memory_order_relaxed);
      stats.ids_out = ids_out;
      stats.chunks = chunks;
      stats.bytes_in = reader.consumed();
      return;
    }
    writer.write_ids(tail_ids);
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

  const uint64_t total = source.size().value_or(0);
  try {
    run_driven(run, threads, body, opts.progress, opts.progress_interval, total);
  } catch (const OutOfMemory&) {
    throw;
  } catch (const std::bad_alloc&) {
    // Any step may be the one that fails (a pooled buffer, a long piece's merge state); the
    // limits the run had are what the user can change.
    throw OutOfMemory("out of memory while tokenizing '" + source.name() + "' (memcap " +
                      std::to_string(opts.memcap) + " bytes, " + std::to_string(plan.buffers) +
                      " buffers of " + std::to_string(plan.buffer_bytes) + " bytes for chunks of " +
                      std::to_string(plan.chunk) + " bytes, " + std::to_string(threads) +
                      " threads): lower the memcap or the chunk size");
  }
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  stats.stage_times.push_back({"encode", static_cast<double>(encode_ns.load()) * 1e-9});
  if (stage)
    for (const StageTime& t : stage->times()) stats.stage_times.push_back(t);
  stats.stage_times.push_back({"write", static_cast<double>(write_ns.load()) * 1e-9});
  stats.queue_max = queue_max;
  stats.queue_mean = queue_samples ? static_cast<double>(queue_sum) / static_cast<double>(queue_samples) : 0;
  if (opts.progress) opts.progress(stats.bytes_in, total ? total : stats.bytes_in);
  return stats;
}

}  // namespace

PipelineStats tokenize_stream(const Tokenizer& tok, ByteSource& source, ByteSink& sink,
                              const PipelineOptions& opts) {
  return run_pipeline(tok, source, sink, nullptr, opts);
}

PipelineStats tokenize_stream(const Tokenizer& tok, ByteSource& source, ChunkStage& stage,
                              const PipelineOptions& opts) {
  NullSink sink;
  return run_pipeline(tok, source, sink, &stage, opts);
}

}  // namespace blt
