// GoogleTest for BpeDelimitedCodec: delimiter before each BPE token's bytes, BOS/EOS without one,
// and the file pipeline giving the one-shot ids at every chunk size.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "blt_core/bpe/bpe_model.hpp"
#include "blt_core/bpe/bpe_encoder.hpp"
#include "blt_core/bpe/vocab_io.hpp"
#include "blt_core/codec/bpe_delimited_codec.hpp"
#include "blt_core/io/byte_sink.hpp"
#include "blt_core/io/byte_source.hpp"
#include "blt_core/pipeline/file_pipeline.hpp"

#include "test_support.hpp"

using namespace blt;
using namespace blt::bpe;
using namespace blt::test;

namespace {

// The transcription: BOS, then per BPE token 3 followed by its bytes + 4, then EOS.
std::vector<uint32_t> expected(const BpeEncoder& bpe, const std::string& text) {
  std::vector<uint32_t> tokens, out{kBosId};
  bpe.encode_body(bytes_of(text), tokens);
  for (uint32_t t : tokens) {
    out.push_back(3);
    for (uint8_t b : bpe.model().token_bytes(t)) out.push_back(b + 4u);
  }
  out.push_back(kEosId);
  return out;
}

std::vector<uint32_t> as_u32(const IdBuffer& b) {
  const uint16_t* p = static_cast<const uint16_t*>(b.data());
  return std::vector<uint32_t>(p, p + b.size());
}

}  // namespace

TEST(BpeDelimitedCodec, DelimiterBeforeEachTokenAndNoneAroundBosEos) {
  auto model = load_r50k();
  BLT_NEED_SHARED_DATA(model);
  BpeEncoder bpe(model, {});
  BpeDelimitedCodec codec({}, bpe);
  // "hello world" is two GPT-2 tokens: "hello" and " world".
  std::vector<uint32_t> want{1, 3};
  for (char c : std::string("hello")) want.push_back(static_cast<uint8_t>(c) + 4u);
  want.push_back(3);
  for (char c : std::string(" world")) want.push_back(static_cast<uint8_t>(c) + 4u);
  want.push_back(2);
  EXPECT_EQ(as_u32(codec.encode(bytes_of("hello world"), DType::u16)), want);
  EXPECT_EQ(as_u32(codec.encode(bytes_of(""), DType::u16)), (std::vector<uint32_t>{1, 2}));
  EXPECT_EQ(codec.n_vocab(), kBltVocabSize);
  BpeDelimitedCodec strict({}, BpeEncoder(model, {SpecialUse::disallowed}));
  EXPECT_THROW(strict.encode(bytes_of("a<|endoftext|>"), DType::u16), std::invalid_argument);
}

TEST(BpeDelimitedCodec, PipelineEqualsOneShotAtEveryChunkSize) {
  auto model = load_r50k();
  BLT_NEED_SHARED_DATA(model);
  BpeDelimitedCodec codec({}, BpeEncoder(model, {SpecialUse::allowed}));
  std::string text;
  for (int i = 0; i < 60; ++i) text += "Some words,  here<|endoftext|>and 123 m\xc3\xa9re\n\n\t ";
  auto whole = expected(BpeEncoder(model, {SpecialUse::allowed}), text);
  EXPECT_EQ(as_u32(codec.encode(bytes_of(text), DType::u16)), whole);
  for (size_t chunk : {1u, 5u, 64u, 4096u}) {
    PipelineOptions o;
    o.dtype = DType::u32;
    o.min_chunk = o.max_chunk = chunk;
    o.threads = 2;
    MemorySource src(bytes_of(text));
    VectorSink sink;
    tokenize_stream(codec, src, sink, o);
    std::vector<uint32_t> got(sink.bytes.size() / 4);
    std::memcpy(got.data(), sink.bytes.data(), sink.bytes.size());
    EXPECT_EQ(got, whole) << "chunk " << chunk;
  }
}
