// Fuzz target: the oneTBB file pipeline (chunk planner, reader, parallel encode, sequencer, id
// formats) with fuzzed text, chunk sizes, thread counts, dtypes and formats: the output equals
// formatting the one-shot Tokenizer::encode, byte for byte.
#include <stdexcept>

#include "blt_core/bpe/bpe_encoder.hpp"
#include "blt_core/codec/byte_codec.hpp"
#include "blt_core/io/byte_sink.hpp"
#include "blt_core/io/byte_source.hpp"
#include "blt_core/io/id_format.hpp"
#include "blt_core/pipeline/file_pipeline.hpp"
#include "fuzz_support.hpp"

using namespace blt;

namespace {

std::shared_ptr<const bpe::BpeModel> g_model;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  g_model = fuzz::load_shared("r50k_base", OpenAIPattern::r50k, 50256);
  if (!g_model) g_model = fuzz::small_model(fuzz::as_bytes(std::string("the quick brown fox 123")));
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Input in(data, size);
  const uint8_t f = in.byte();
  PipelineOptions o;
  const DType dts[] = {DType::u16, DType::u32, DType::i32, DType::i64};
  o.dtype = dts[f % 4];
  const OutputFormat fmts[] = {OutputFormat::bin, OutputFormat::npy, OutputFormat::jsonl};
  o.format = fmts[(f >> 2) % 3];
  o.threads = 1 + ((f >> 4) & 1);
  o.min_chunk = 1 + in.byte();
  o.max_chunk = o.min_chunk + in.byte();
  // Room for a whole 64 KB input as one uncut piece (window and merge), so a refusal is a finding.
  o.memcap = 64u << 20;
  o.progress_interval = std::chrono::milliseconds(0);
  ByteCodecOptions bo;
  bo.strip_bom = f & 32;
  ByteCodec bytes(bo);
  bytes.keep_utf8_chars = f & 64;
  bpe::BpeEncoder bpe_enc(g_model, bpe::SpecialPolicy{});
  const Tokenizer& tok = (f & 128) ? static_cast<const Tokenizer&>(bpe_enc) : bytes;
  if (o.dtype == DType::u16 && tok.max_id() > 0xFFFF) o.dtype = DType::u32;
  ByteSpan text = in.rest();

  MemorySource src(text);
  VectorSink sink;
  tokenize_stream(tok, src, sink, o);

  IdBuffer one = tok.encode(text, DType::u32);
  IdFormat fmt(o.format, o.dtype);
  std::vector<uint8_t> expect = fmt.head(one.size());
  std::vector<uint8_t> body;
  fmt.append_ids(one.as<uint32_t>(), one.size(), body);
  expect.insert(expect.end(), body.begin() + std::min(body.size(), fmt.first_id_skip()), body.end());
  std::vector<uint8_t> tail = fmt.tail();
  expect.insert(expect.end(), tail.begin(), tail.end());
  BLT_FUZZ_CHECK(sink.bytes == expect, "pipeline output == formatted one-shot encode");
  return 0;
}
