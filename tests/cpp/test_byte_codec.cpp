// Byte codec and batch encoding from C++ alone (no Python): ids, BOM, safe splits, dtypes.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "blt_core/batch.hpp"
#include "blt_core/codec/byte_codec.hpp"
#include "blt_core/simd/byte_kernel.hpp"

#include "test_support.hpp"

using namespace blt;
using namespace blt::test;

TEST(ByteCodec, DocumentedIds) {
  ByteCodec codec;
  EXPECT_EQ(to_vec(codec.encode(bytes_of("Hi"), DType::u16)), (std::vector<uint64_t>{1, 76, 109, 2}));
  ByteCodecOptions o;
  o.meta = ContentType::image;
  o.eos = false;
  EXPECT_EQ(to_vec(ByteCodec(o).encode(bytes_of("A"), DType::i64)), (std::vector<uint64_t>{1, 262, 69}));
}

TEST(ByteCodec, KernelMatchesScalarForEveryDtypeAndLength) {
  std::mt19937 rng(7);
  for (size_t n : {0, 1, 15, 16, 31, 33, 64, 1000, 4097}) {
    std::vector<uint8_t> in(n);
    for (auto& b : in) b = static_cast<uint8_t>(rng());
    for (DType dt : {DType::u16, DType::u32, DType::i32, DType::i64}) {
      IdBuffer out = IdBuffer::allocate(dt, n);
      simd::bytes_to_ids(in.data(), n, kByteOffset, dt, out.data());
      auto v = to_vec(out);
      for (size_t i = 0; i < n; ++i) ASSERT_EQ(v[i], in[i] + 4u) << "n=" << n << " i=" << i;
    }
  }
}

TEST(ByteCodec, BomLengths) {
  EXPECT_EQ(ByteCodec::bom_length(bytes_of("\xEF\xBB\xBFx")), 3u);
  EXPECT_EQ(ByteCodec::bom_length(bytes_of(std::string("\xFF\xFE\x00\x00", 4))), 4u);
  EXPECT_EQ(ByteCodec::bom_length(bytes_of(std::string("\x00\x00\xFE\xFF", 4))), 4u);
  EXPECT_EQ(ByteCodec::bom_length(bytes_of("\xFF\xFEx")), 2u);
  EXPECT_EQ(ByteCodec::bom_length(bytes_of("\xFE\xFFx")), 2u);
  EXPECT_EQ(ByteCodec::bom_length(bytes_of("\xEF\xBB")), 0u);
}

TEST(ByteCodec, SafeSplitKeepsUtf8CharactersForText) {
  ByteCodec codec;
  codec.keep_utf8_chars = true;
  std::string s = "a\xE2\x82\xAC" "b";  // a, euro sign (3 bytes), b
  auto w = bytes_of(s);
  EXPECT_EQ(codec.safe_split(w, 1), 1u);
  EXPECT_EQ(codec.safe_split(w, 2), 1u);
  EXPECT_EQ(codec.safe_split(w, 3), 1u);
  EXPECT_EQ(codec.safe_split(w, 4), 4u);
  // no character start in (0, target]: the caller must widen the window
  std::string cont = "\x82\xAC" "b";
  EXPECT_EQ(codec.safe_split(bytes_of(cont), 1), 0u);
  EXPECT_EQ(codec.safe_split(bytes_of(cont), 2), 2u);
  codec.keep_utf8_chars = false;
  EXPECT_EQ(codec.safe_split(w, 2), 2u);
}

TEST(ByteCodec, DecodeRejectsOutOfRange) {
  std::vector<int64_t> ids{1, 69, 265};
  std::string out;
  try {
    ByteCodec::decode(ids.data(), ids.size(), out);
    FAIL() << "expected InvalidIdError";
  } catch (const InvalidIdError& e) {
    EXPECT_EQ(e.id, 265);
    EXPECT_EQ(e.position, 2u);
  }
}

TEST(Batch, RaggedEqualsSingleEncodes) {
  ByteCodec codec;
  std::vector<std::string> docs{"", "a", "hello", std::string(10000, 'z')};
  std::vector<ByteSpan> spans;
  for (auto& d : docs) spans.push_back(bytes_of(d));
  for (int threads : {1, 2, 3}) {
    RaggedIds r = encode_batch(codec, spans, DType::u32, threads);
    ASSERT_EQ(r.offsets.size(), docs.size() + 1);
    auto ids = to_vec(r.ids);
    for (size_t i = 0; i < docs.size(); ++i) {
      auto one = to_vec(codec.encode(spans[i], DType::u32));
      std::vector<uint64_t> part(ids.begin() + r.offsets.as<int64_t>()[i],
                                 ids.begin() + r.offsets.as<int64_t>()[i + 1]);
      EXPECT_EQ(part, one);
    }
  }
}

TEST(Tokenizer, EncodeIntoEqualsEncodeAndRefusesASmallOutput) {
  ByteCodecOptions o;
  o.strip_bom = true;
  const ByteCodec codec(o);
  const std::string text = "\xef\xbb\xbfhello";
  const ByteSpan in(reinterpret_cast<const uint8_t*>(text.data()), text.size());
  for (DType dt : {DType::u16, DType::u32, DType::i32, DType::i64}) {
    const IdBuffer want = codec.encode(in, dt);
    std::vector<uint8_t> out((want.size() + 3) * dtype_size(dt), 0xAB);
    ASSERT_EQ(codec.encode_into(in, dt, out.data(), want.size() + 3), want.size());
    EXPECT_EQ(std::memcmp(out.data(), want.data(), want.nbytes()), 0);
    EXPECT_EQ(out[want.nbytes()], 0xAB);  // nothing written past the ids
    EXPECT_THROW(codec.encode_into(in, dt, out.data(), want.size() - 1), std::length_error);
  }
}
