#include "blt_core/pipeline/document_pipeline.hpp"

#include <algorithm>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "blt_core/io/json_field.hpp"
#include "blt_core/parallel/fork_state.hpp"
#include "blt_core/parallel/parallel_for.hpp"
#include "blt_core/resources.hpp"
#include "blt_core/pipeline/driven_run.hpp"
#include "blt_core/pipeline/ordered_graph.hpp"

namespace blt {
namespace {

// Whole lines of input, their encoded ids (in the shard's dtype) and their document lengths.
struct LineChunk {
  uint64_t seq = 0;
  uint64_t end_offset = 0;        // input bytes consumed once this chunk is written
  std::vector<uint8_t> in;        // whole lines, the last one ending in '\n' unless at EOF
  std::vector<uint8_t> out;       // ids as dtype bytes
  std::vector<uint64_t> lengths;  // ids per document
  uint64_t lines = 0;             // lines in `in` (for line numbers in errors)
  std::string error;              // why line error_line (0-based, in this chunk) failed
  uint64_t error_line = 0;
  bool failed = false;
};

bool blank(std::string_view line) {
  return line.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

void encode_lines(const Tokenizer& tok, const DocumentOptions& opts, DType dt, LineChunk& c) {
  c.out.clear();
  c.lengths.clear();
  c.lines = 0;
  c.failed = false;
  std::string text;
  std::string_view rest(reinterpret_cast<const char*>(c.in.data()), c.in.size());
  const size_t item = dtype_size(dt);
  while (!rest.empty()) {
    size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    ++c.lines;
    if (blank(line)) continue;
    try {
      json_string_field(line, opts.json_key, text);
      IdBuffer ids = tok.encode(ByteSpan(reinterpret_cast<const uint8_t*>(text.data()), text.size()), dt);
      size_t n = ids.size();
      size_t old = c.out.size();
      bool eod = opts.eod && n > 0;
      c.out.resize(old + (n + (eod ? 1 : 0)) * item);
      if (n) std::memcpy(c.out.data() + old, ids.data(), n * item);
      if (eod) {
        uint32_t e = *opts.eod;
        convert_ids(&e, 1, dt, c.out.data() + old + n * item);
        ++n;
      }
      c.lengths.push_back(n);
    } catch (const std::exception& e) {
      c.failed = true;
      c.error = e.what();
      c.error_line = c.lines - 1;
      return;
    }
  }
}

// Cuts the source into chunks of whole lines, in order. Not thread-safe: the input node only.
class LineReader {
 public:
  LineReader(ByteSource& src, size_t chunk, const std::atomic<bool>& stop)
      : src_(src), chunk_(chunk), stop_(stop) {}

  bool next(LineChunk& c) {
    c.in.assign(carry_.begin(), carry_.end());
    carry_.clear();
    size_t scanned = 0;  // bytes of c.in known to hold no '\n'
    size_t want = std::max(chunk_, c.in.size() + 1);
    for (;;) {
      while (!eof_ && c.in.size() < want) {
        size_t old = c.in.size();
        c.in.resize(want);
        size_t got = src_.read(c.in.data() + old, want - old, stop_);
        c.in.resize(old + got);
        if (got == 0) eof_ = true;
        if (stop_.load(std::memory_order_relaxed)) return false;
      }
      // The chunk ends after the last newline; without one, read on (a line longer than chunk).
      const uint8_t* base = c.in.data();
      size_t cut = 0;
      for (size_t i = c.in.size(); i > scanned; --i)
        if (base[i - 1] == '\n') {
          cut = i;
          break;
        }
      if (cut || eof_) {
        if (!cut) cut = c.in.size();
        carry_.assign(c.in.begin() + static_cast<std::ptrdiff_t>(cut), c.in.end());
        c.in.resize(cut);
        break;
      }
      scanned = c.in.size();
      want = c.in.size() * 2;
    }
    if (c.in.empty()) return false;
    offset_ += c.in.size();
    c.end_offset = offset_;
    c.seq = seq_++;
    return true;
  }

  uint64_t consumed() const { return offset_; }

 private:
  ByteSource& src_;
  size_t chunk_;
  const std::atomic<bool>& stop_;
  std::vector<uint8_t> carry_;
  bool eof_ = false;
  uint64_t offset_ = 0;
  uint64_t seq_ = 0;
};

}  // namespace

DocumentStats tokenize_jsonl(const Tokenizer& tok, ByteSource& source, ByteSink& bin,
                             MegatronIndex& index, const DocumentOptions& opts) {
  // This graph runs on oneTBB, which a forked child must not touch (its workers did not survive
  // the fork): refuse clearly rather than hang.
  if (in_forked_child())
    throw std::runtime_error("JSONL-to-Megatron conversion cannot run in a forked child process; "
                             "run it in the parent or a spawned process");
  const DType dt = index.dtype();
  check_dtype_fits(tok, dt);
  if (opts.eod && *opts.eod > dtype_max_id(dt))
    throw std::invalid_argument("eod id " + std::to_string(*opts.eod) + " does not fit in " +
                                std::string(dtype_name(dt)));
  if (opts.chunk == 0) throw std::invalid_argument("chunk size must be > 0");
  const int threads = std::min(resolve_threads(opts.threads), usable_cores());
  // A chunk holds its input, up to 4 bytes of ids per input byte and the lengths: about 6x.
  const uint64_t per_chunk = static_cast<uint64_t>(opts.chunk) * 6;
  const size_t in_flight = static_cast<size_t>(
      std::clamp<uint64_t>(opts.memcap / std::max<uint64_t>(per_chunk, 1), 1, 2 * threads + 1));

  DocumentStats stats;
  stats.threads = threads;
  auto t0 = std::chrono::steady_clock::now();
  RunControl run;
  const std::string name = source.name();

  auto body = [&] {
    std::vector<std::unique_ptr<LineChunk>> owned;
    LineReader reader(source, opts.chunk, run.stop);
    uint64_t lines_done = 0;
    auto encode = [&](LineChunk& c) {
      if (!run.stop.load(std::memory_order_relaxed)) encode_lines(tok, opts, dt, c);
    };
    auto write = [&](LineChunk& c) {
      if (run.stop.load(std::memory_order_relaxed)) return;
      try {
        if (c.failed)
          throw std::invalid_argument(name + " line " + std::to_string(lines_done + c.error_line + 1) +
                                      ": " + c.error);
        if (!c.out.empty()) bin.write(c.out.data(), c.out.size(), run.stop);
        for (uint64_t n : c.lengths) index.add_document(n);
        lines_done += c.lines;
        stats.documents += c.lengths.size();
        stats.ids_out += c.out.size() / dtype_size(dt);
        ++stats.chunks;
        run.done.store(c.end_offset, std::memory_order_relaxed);
        source.release_before(c.end_offset);
      } catch (...) {
        run.fail(std::current_exception());
      }
    };
    run_ordered_graph(run, in_flight, owned, [&](LineChunk& c) { return reader.next(c); }, encode, write);
    stats.bytes_in = reader.consumed();
  };

  const uint64_t total = source.size().value_or(0);
  run_driven(run, threads, body, opts.progress, opts.progress_interval, total);
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (opts.progress) opts.progress(stats.bytes_in, total ? total : stats.bytes_in);
  return stats;
}

}  // namespace blt
