// File pipeline: chunk planning, safe cuts, and byte-for-byte equality with one-shot encode for
// every chunk size, thread count, format and source kind.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <unistd.h>

#include <csignal>
#include <system_error>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "blt_core/bpe/bpe_encoder.hpp"
#include "blt_core/codec/byte_codec.hpp"
#include "blt_core/io/byte_sink.hpp"
#include "blt_core/io/byte_source.hpp"
#include "blt_core/offset_error.hpp"
#include "blt_core/out_of_memory.hpp"
#include "blt_core/pipeline/chunk_plan.hpp"
#include "blt_core/pipeline/chunk_reader.hpp"
#include "blt_core/pipeline/file_pipeline.hpp"
#include "blt_core/piece_memory.hpp"
#include "test_support.hpp"

using namespace blt;

namespace {

// Ids are word lengths (a run of non-space bytes -> its length + 10, a space -> 3): a cut inside
// a word changes the ids, so only cuts after a space are safe. No body_size: exercises the
// vector path and widening when a window holds no space.
class WordLengthTokenizer final : public Tokenizer {
 public:
  uint64_t n_vocab() const override { return 1u << 20; }
  void prefix(std::vector<uint32_t>& out) const override { out.push_back(1); }
  void suffix(std::vector<uint32_t>& out) const override { out.push_back(2); }
  size_t safe_split(ByteSpan w, size_t target) const override {
    if (target >= w.size()) return w.size();
    for (size_t p = target; p > 0; --p)
      if (w[p - 1] == ' ') return p;
    return 0;
  }
  void encode_body(ByteSpan in, std::vector<uint32_t>& out) const override {
    size_t run = 0;
    for (uint8_t b : in) {
      if (b == ' ') {
        if (run) out.push_back(static_cast<uint32_t>(run + 10));
        run = 0;
        out.push_back(3);
      } else {
        ++run;
      }
    }
    if (run) out.push_back(static_cast<uint32_t>(run + 10));
  }
};

// Byte ids, except that a chunk holding '!' raises what `fail` throws (the tests of a worker's
// error reaching the caller).
class FailsAtBang final : public Tokenizer {
 public:
  explicit FailsAtBang(std::function<void()> fail) : fail_(std::move(fail)) {}
  uint64_t n_vocab() const override { return 300; }
  size_t safe_split(ByteSpan w, size_t t) const override { return std::min(t, w.size()); }
  void encode_body(ByteSpan in, std::vector<uint32_t>& out) const override {
    for (uint8_t b : in) {
      if (b == '!') fail_();
      out.push_back(b);
    }
  }

 private:
  std::function<void()> fail_;
};

std::vector<uint8_t> random_text(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  // ASCII, 2-, 3- and 4-byte UTF-8 characters, spaces, a BOM at the start sometimes.
  static const std::vector<std::string> pieces = {"a", "b", " ", "  ", "\xc3\xa9", "\xe2\x82\xac",
                                                  "\xf0\x9f\x98\x80", "xyz", "\n"};
  std::vector<uint8_t> out;
  if (seed % 2) out = {0xEF, 0xBB, 0xBF};
  while (out.size() < n) {
    const auto& p = pieces[rng() % pieces.size()];
    out.insert(out.end(), p.begin(), p.end());
  }
  out.resize(n);  // may end inside a character: still exact for bytes
  return out;
}

std::vector<uint8_t> expected_bytes(const Tokenizer& tok, ByteSpan in, DType dt, OutputFormat f) {
  IdBuffer ids = tok.encode(in, dt);
  const auto* p = ids.as<uint8_t>();
  std::vector<uint8_t> body(p, p + ids.nbytes());
  if (f == OutputFormat::bin) return body;
  if (f == OutputFormat::npy) {
    // Written here independently of the library's header code.
    const char* descr = dt == DType::u16 ? "<u2" : dt == DType::u32 ? "<u4" : dt == DType::i32 ? "<i4" : "<i8";
    std::string dict = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': (" +
                       std::to_string(ids.size()) + ",), }";
    dict.resize(117, ' ');
    dict += '\n';
    std::vector<uint8_t> out = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 118, 0};
    out.insert(out.end(), dict.begin(), dict.end());
    out.insert(out.end(), body.begin(), body.end());
    return out;
  }
  std::string s = "[";
  IdBuffer u = tok.encode(in, DType::i64);
  for (size_t i = 0; i < u.size(); ++i) s += (i ? "," : "") + std::to_string(u.as<int64_t>()[i]);
  s += "]\n";
  return std::vector<uint8_t>(s.begin(), s.end());
}

PipelineOptions options(DType dt, OutputFormat f, int threads, size_t chunk) {
  PipelineOptions o;
  o.dtype = dt;
  o.format = f;
  o.threads = threads;
  o.min_chunk = chunk;
  o.max_chunk = chunk;
  o.memcap = 64u << 20;
  return o;
}

// Runs the pipeline from a real file descriptor (temporary file) into a temporary file.
std::vector<uint8_t> run_files(const Tokenizer& tok, const std::vector<uint8_t>& in,
                               const PipelineOptions& o) {
  char in_name[] = "/tmp/blt_pipe_in_XXXXXX";
  char out_name[] = "/tmp/blt_pipe_out_XXXXXX";
  int in_fd = mkstemp(in_name);
  int out_fd = mkstemp(out_name);
  EXPECT_EQ(write(in_fd, in.data(), in.size()), static_cast<ssize_t>(in.size()));
  lseek(in_fd, 0, SEEK_SET);
  {
    FdSource src(in_fd, in_name);
    FdSink sink(out_fd, out_name);
    tokenize_stream(tok, src, sink, o);
  }
  off_t n = lseek(out_fd, 0, SEEK_END);
  std::vector<uint8_t> out(static_cast<size_t>(n));
  EXPECT_EQ(pread(out_fd, out.data(), out.size(), 0), n);
  close(in_fd);
  close(out_fd);
  unlink(in_name);
  unlink(out_name);
  return out;
}

std::vector<uint8_t> run_memory(const Tokenizer& tok, const std::vector<uint8_t>& in,
                                const PipelineOptions& o) {
  MemorySource src(ByteSpan(in.data(), in.size()));
  VectorSink sink;
  tokenize_stream(tok, src, sink, o);
  return sink.bytes;
}

}  // namespace

TEST(ChunkPlan, ClampsTotalOverThreads) {
  ChunkPlanRequest r;
  r.threads = 2;
  r.min_chunk = 1000;
  r.max_chunk = 100000;
  r.memcap = 1u << 30;
  r.total_bytes = 80000;  // 80000 / (4 * 2) = 10000
  EXPECT_EQ(plan_chunks(r).chunk, 10000u);
  r.total_bytes = 10;
  EXPECT_EQ(plan_chunks(r).chunk, 1000u);
  r.total_bytes = 1ull << 40;
  EXPECT_EQ(plan_chunks(r).chunk, 100000u);
  r.total_bytes.reset();
  EXPECT_EQ(plan_chunks(r).chunk, 100000u);
  EXPECT_LE(plan_chunks(r).in_flight, 5u);
}

TEST(ChunkPlan, MemcapBoundsBuffers) {
  ChunkPlanRequest r;
  r.threads = 8;
  r.min_chunk = r.max_chunk = 4u << 20;
  r.out_bytes_per_byte = 2;
  for (uint64_t cap : {64ull << 20, 10ull << 20, 1ull << 20, 1000ull, 64ull}) {
    r.memcap = cap;
    ChunkPlan p = plan_chunks(r);
    EXPECT_GE(p.buffers, 2u);
    EXPECT_LE(p.buffers * p.buffer_bytes, cap) << cap;
    // The chunk in hand, widened as far as allowed, plus one piece's merge, fits beside the others.
    EXPECT_GE(p.max_window, p.chunk + p.lookahead);
    EXPECT_LE((p.buffers - 1) * p.buffer_bytes + p.max_window * 3 + p.piece_memory, cap + 3) << cap;
  }
}

TEST(ChunkPlan, RejectsBadRequests) {
  ChunkPlanRequest r;
  r.min_chunk = 0;
  EXPECT_THROW(plan_chunks(r), std::invalid_argument);
  r.min_chunk = 10;
  r.max_chunk = 5;
  EXPECT_THROW(plan_chunks(r), std::invalid_argument);
  r.max_chunk = 10;
  r.memcap = 3;
  EXPECT_THROW(plan_chunks(r), std::invalid_argument);
  r.memcap = 1000;
  r.threads = 0;
  EXPECT_THROW(plan_chunks(r), std::invalid_argument);
}

TEST(ChunkReader, TextChunksKeepUtf8CharactersWhole) {
  ByteCodec codec;
  codec.keep_utf8_chars = true;
  auto data = random_text(5000, 2);
  // From 4 bytes (the longest character): ByteCodec::safe_split cuts anywhere (still exact) when
  // no character start lies in (0, target], so smaller chunks may split a character.
  for (size_t chunk : {4u, 5u, 7u, 64u}) {
    ChunkPlan plan;
    plan.chunk = chunk;
    plan.lookahead = 8;
    std::atomic<bool> stop{false};
    for (bool memory : {false, true}) {
      MemorySource mem(ByteSpan(data.data(), data.size()));
      // A pipe-like source: same bytes, but not a view, so the stream path is used.
      struct Copy final : ByteSource {
        MemorySource& m;
        explicit Copy(MemorySource& s) : m(s) {}
        std::optional<uint64_t> size() const override { return std::nullopt; }
        size_t read(uint8_t* d, size_t n, const std::atomic<bool>& s) override {
          return m.read(d, std::min<size_t>(n, 3), s);  // short reads on purpose
        }
        const std::string& name() const override { return m.name(); }
      } copy(mem);
      ByteSource& src = memory ? static_cast<ByteSource&>(mem) : copy;
      ChunkReader reader(codec, src, plan, stop);
      Chunk c;
      std::vector<uint8_t> joined;
      while (reader.next(c)) {
        ASSERT_FALSE(c.body.empty());
        ASSERT_NE(c.body[0] & 0xC0, 0x80) << "chunk starts inside a character";
        joined.insert(joined.end(), c.body.begin(), c.body.end());
      }
      EXPECT_EQ(joined, data);
      EXPECT_EQ(reader.consumed(), data.size());
    }
  }
}

TEST(Pipeline, EqualsOneShotEncodeForEveryChunkSizeAndThreadCount) {
  std::vector<std::unique_ptr<Tokenizer>> toks;
  {
    ByteCodecOptions o;
    o.meta = ContentType::text;
    o.strip_bom = true;
    auto c = std::make_unique<ByteCodec>(o);
    c->keep_utf8_chars = true;
    toks.push_back(std::move(c));
    ByteCodecOptions plain;
    plain.bos = false;
    plain.eos = false;
    toks.push_back(std::make_unique<ByteCodec>(plain));
    toks.push_back(std::make_unique<WordLengthTokenizer>());
  }
  uint32_t seed = 0;
  for (size_t n : {0u, 1u, 2u, 5u, 100u, 3000u}) {
    auto data = random_text(n, ++seed);
    for (auto& tok : toks) {
      for (size_t chunk : {1u, 2u, 3u, 7u, 64u, 100000u}) {
        for (int threads : {1, 2, 3}) {
          for (auto f : {OutputFormat::bin, OutputFormat::npy, OutputFormat::jsonl}) {
            for (auto dt : {DType::u16, DType::u32, DType::i64}) {
              if (dt == DType::u16 && tok->max_id() > 0xFFFF) continue;
              auto o = options(dt, f, threads, chunk);
              auto want = expected_bytes(*tok, ByteSpan(data.data(), data.size()), dt, f);
              ASSERT_EQ(run_memory(*tok, data, o), want)
                  << "memory n=" << n << " chunk=" << chunk << " threads=" << threads;
              if (chunk >= 3 || n <= 100)
                ASSERT_EQ(run_files(*tok, data, o), want)
                    << "file n=" << n << " chunk=" << chunk << " threads=" << threads;
            }
          }
        }
      }
    }
  }
}

TEST(Pipeline, LargeInputManyChunks) {
  ByteCodec codec;
  auto data = random_text(3u << 20, 7);
  for (int threads : {1, 2, 4}) {
    auto o = options(DType::u16, OutputFormat::bin, threads, 1);
    o.min_chunk = 4096;
    o.max_chunk = 65536;
    auto want = expected_bytes(codec, ByteSpan(data.data(), data.size()), DType::u16, OutputFormat::bin);
    EXPECT_EQ(run_files(codec, data, o), want);
  }
}

TEST(Pipeline, WidensWhenNoSafeCut) {
  WordLengthTokenizer tok;
  std::vector<uint8_t> data(20000, 'x');  // one long word: the only cut is at the very end
  data[7000] = ' ';
  auto o = options(DType::u32, OutputFormat::bin, 2, 16);
  auto want = expected_bytes(tok, ByteSpan(data.data(), data.size()), DType::u32, OutputFormat::bin);
  EXPECT_EQ(run_memory(tok, data, o), want);
  EXPECT_EQ(run_files(tok, data, o), want);
}

TEST(Pipeline, RefusesToWidenPastWhatTheMemcapHolds) {
  // 4 MB without a safe cut cannot be one chunk under a 1 MB cap: refused, naming where, before
  // anything is written; under a cap that holds it, it is one chunk as before.
  WordLengthTokenizer tok;
  std::vector<uint8_t> data(4u << 20, 'x');
  for (size_t i = 0; i < 1000; i += 10) data[i] = ' ';
  auto o = options(DType::u32, OutputFormat::bin, 2, 4096);
  o.memcap = 1u << 20;
  for (bool file : {false, true}) {
    try {
      file ? run_files(tok, data, o) : run_memory(tok, data, o);
      ADD_FAILURE() << "no error";
    } catch (const std::invalid_argument& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find("no safe place to cut the input"), std::string::npos) << m;
      EXPECT_NE(m.find("from byte offset 991"), std::string::npos) << m;  // after the last space
      EXPECT_NE(m.find("raise memcap"), std::string::npos) << m;
    }
  }
  o.memcap = 256u << 20;
  auto want = expected_bytes(tok, ByteSpan(data.data(), data.size()), DType::u32, OutputFormat::bin);
  EXPECT_EQ(run_files(tok, data, o), want);
}

TEST(Pipeline, RefusesAPieceWhoseMergeExceedsTheMemcap) {
  // One pre-tokenized piece of 2 MB ('a' repeated: no split point) needs about
  // kLargeMergeBytesPerByte per byte to merge. A 64 MB cap holds its window but not its merge: an
  // error naming the piece's offset in the whole input; a 512 MB cap holds both, and the ids equal
  // one-shot encoding.
  auto model = test::load_r50k();
  BLT_NEED_SHARED_DATA(model);
  bpe::BpeEncoder tok(model, {});
  std::string text = "hello world\n";
  text += std::string(2u << 20, 'a');
  std::vector<uint8_t> data(text.begin(), text.end());
  auto o = options(DType::u32, OutputFormat::bin, 2, 64u << 10);
  o.memcap = 64u << 20;
  try {
    run_files(tok, data, o);
    ADD_FAILURE() << "no error";
  } catch (const std::invalid_argument& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("a pre-tokenized piece of 2097152 bytes"), std::string::npos) << m;
    EXPECT_NE(m.find("at byte offset 12"), std::string::npos) << m;
    EXPECT_NE(m.find("raise memcap"), std::string::npos) << m;
  }
  o.memcap = 512u << 20;
  auto want = expected_bytes(tok, ByteSpan(data.data(), data.size()), DType::u32, OutputFormat::bin);
  EXPECT_EQ(run_files(tok, data, o), want);
  // Outside a capped run the same piece encodes (in-memory encode has no cap).
  EXPECT_EQ(PieceMemoryLimit::current(), PieceMemoryLimit::kNone);
}

TEST(Pipeline, NpyNeedsSeekableOutput) {
  ByteCodec codec;
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  std::vector<uint8_t> data(10, 'a');
  MemorySource src(ByteSpan(data.data(), data.size()));
  FdSink sink(fds[1], "<pipe>");
  EXPECT_THROW(tokenize_stream(codec, src, sink, options(DType::u16, OutputFormat::npy, 1, 4)),
               std::invalid_argument);
  close(fds[0]);
  close(fds[1]);
}

TEST(Pipeline, ThrowingProgressCancelsAndPropagates) {
  ByteCodec codec;
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);  // nothing is ever written: the reader waits until cancelled
  FdSource src(fds[0], "<pipe>");
  VectorSink sink;
  auto o = options(DType::u16, OutputFormat::bin, 2, 4);
  int calls = 0;
  o.progress = [&](uint64_t, uint64_t) {
    if (++calls == 3) throw std::runtime_error("stop now");
  };
  EXPECT_THROW(tokenize_stream(codec, src, sink, o), std::runtime_error);
  EXPECT_EQ(calls, 3);
  close(fds[0]);
  close(fds[1]);
}

TEST(Pipeline, WriteErrorPropagates) {
  ByteCodec codec;
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  close(fds[0]);  // writing to a pipe without a reader fails with EPIPE
  signal(SIGPIPE, SIG_IGN);
  std::vector<uint8_t> data(100000, 'a');
  MemorySource src(ByteSpan(data.data(), data.size()));
  FdSink sink(fds[1], "<pipe>");
  EXPECT_THROW(tokenize_stream(codec, src, sink, options(DType::u16, OutputFormat::bin, 2, 1000)),
               std::system_error);
  close(fds[1]);
}

TEST(Pipeline, DirectoryInputIsRejected) {
  int fd = open("/tmp", O_RDONLY | O_DIRECTORY);
  ASSERT_GE(fd, 0);
  EXPECT_THROW(FdSource(fd, "/tmp"), std::system_error);
  close(fd);
}

TEST(Pipeline, TokenizerErrorPropagatesAndStopsTheRun) {
  // Throws on a chunk holding '!': the error must surface once, from tokenize_stream.
  const FailsAtBang tok([] { throw std::runtime_error("bad byte"); });
  std::vector<uint8_t> data(1 << 20, 'a');
  data[700000] = '!';
  for (int threads : {1, 2}) {
    VectorSink sink;
    MemorySource src(ByteSpan(data.data(), data.size()));
    EXPECT_THROW(tokenize_stream(tok, src, sink, options(DType::u16, OutputFormat::bin, threads, 4096)),
                 std::runtime_error);
    EXPECT_LT(sink.bytes.size(), 2 * data.size());  // stopped before the end
  }
}

TEST(Pipeline, OutOfMemoryNamesTheInputAndItsLimits) {
  // std::bad_alloc from a worker (here: on a chunk holding '!') comes out as OutOfMemory, still a
  // std::bad_alloc (MemoryError in Python), whose message names the input and the memory plan
  // instead of "std::bad_alloc".
  const FailsAtBang tok([] { throw std::bad_alloc(); });
  std::vector<uint8_t> data(1 << 20, 'a');
  data[700000] = '!';
  VectorSink sink;
  MemorySource src(ByteSpan(data.data(), data.size()), "corpus.txt");
  try {
    tokenize_stream(tok, src, sink, options(DType::u16, OutputFormat::bin, 2, 4096));
    FAIL() << "no error";
  } catch (const OutOfMemory& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("out of memory while tokenizing 'corpus.txt' (memcap "), std::string::npos) << msg;
    EXPECT_NE(msg.find("lower the memcap or the chunk size"), std::string::npos) << msg;
    const std::bad_alloc& base = e;  // pybind11 maps every std::bad_alloc to MemoryError
    EXPECT_EQ(std::string(base.what()), msg);
  }
}

TEST(Pipeline, OffsetErrorNamesTheFirstBadByteOfTheWholeInput) {
  // Throws OffsetError at the first '!' of the chunk it is given (offset relative to that chunk).
  // The pipeline must report the input's first '!' at its offset in the whole input, whichever
  // chunk a worker finished first, from memory and from a file.
  struct Failing final : Tokenizer {
    uint64_t n_vocab() const override { return 300; }
    size_t safe_split(ByteSpan w, size_t t) const override { return std::min(t, w.size()); }
    void encode_body(ByteSpan in, std::vector<uint32_t>& out) const override {
      for (size_t i = 0; i < in.size(); ++i) {
        if (in[i] == '!') throw OffsetError("bad byte at ", i, ".");
        out.push_back(in[i]);
      }
    }
  } tok;
  std::vector<uint8_t> data(200000, 'a');
  for (size_t at : {150000u, 199999u, 123457u}) data[at] = '!';
  for (int threads : {1, 2, 4})
    for (size_t chunk : {1u, 7u, 4096u, 1u << 20}) {
      if (chunk == 1 && threads > 1) continue;  // 100k+ one-byte chunks once is enough
      for (bool file : {false, true}) {
        try {
          auto o = options(DType::u16, OutputFormat::bin, threads, chunk);
          file ? run_files(tok, data, o) : run_memory(tok, data, o);
          ADD_FAILURE() << "no error";
        } catch (const OffsetError& e) {
          EXPECT_EQ(e.offset(), 123457u) << threads << " " << chunk << " " << file;
          EXPECT_STREQ(e.what(), "bad byte at 123457.");
        }
      }
    }
}
