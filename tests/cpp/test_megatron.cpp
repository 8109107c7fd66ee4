// Megatron shards: the .idx byte layout, the JSON string field reader, and the JSONL document
// pipeline (equal to encoding every document alone, for every chunk size and thread count).
#include <gtest/gtest.h>

#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "blt_core/codec/byte_codec.hpp"
#include "blt_core/io/byte_sink.hpp"
#include "blt_core/io/byte_source.hpp"
#include "blt_core/io/json_field.hpp"
#include "blt_core/io/megatron_index.hpp"
#include "blt_core/pipeline/document_pipeline.hpp"
#include "test_support.hpp"

using namespace blt;
using blt::test::bytes_of;

namespace {

template <class T>
void put(std::vector<uint8_t>& v, T x) {
  uint8_t b[sizeof(T)];
  std::memcpy(b, &x, sizeof(T));
  v.insert(v.end(), b, b + sizeof(T));
}

std::string field(const std::string& json, const std::string& key) {
  std::string out = "stale";
  json_string_field(json, key, out);
  return out;
}

}  // namespace

TEST(MegatronIndex, LayoutMatchesIndexedDatasetBuilder) {
  MegatronIndex idx(DType::u16);
  idx.add_document(3);
  idx.add_document(0);  // empty: a boundary, no sequence
  idx.add_document(2);
  VectorSink sink;
  std::atomic<bool> stop{false};
  idx.write(sink, stop);

  std::vector<uint8_t> want(kMegatronMagic, kMegatronMagic + 9);
  put<uint64_t>(want, 1);
  put<uint8_t>(want, 8);    // uint16
  put<uint64_t>(want, 2);   // sequences
  put<uint64_t>(want, 4);   // document indices: 0 then one per document
  put<int32_t>(want, 3);
  put<int32_t>(want, 2);
  put<int64_t>(want, 0);
  put<int64_t>(want, 6);    // 3 ids of 2 bytes
  for (int64_t d : {0, 1, 1, 2}) put<int64_t>(want, d);
  EXPECT_EQ(sink.bytes, want);
  EXPECT_EQ(idx.documents(), 3u);
  EXPECT_EQ(idx.sequences(), 2u);
  EXPECT_EQ(idx.ids(), 5u);
}

TEST(MegatronIndex, DtypeRule) {
  EXPECT_EQ(megatron_dtype_for_vocab(260), DType::u16);
  EXPECT_EQ(megatron_dtype_for_vocab(65499), DType::u16);
  EXPECT_EQ(megatron_dtype_for_vocab(65500), DType::i32);
  EXPECT_EQ(megatron_dtype_code(DType::i32), 4);
  EXPECT_EQ(megatron_dtype_code(DType::i64), 5);
  EXPECT_THROW(MegatronIndex{DType::u32}, std::invalid_argument);  // braces: not a declaration
  MegatronIndex idx(DType::i32);
  EXPECT_THROW(idx.add_document(uint64_t{1} << 31), std::length_error);
}

TEST(JsonField, DecodesTheKeysString) {
  EXPECT_EQ(field(R"({"text": "hi"})", "text"), "hi");
  EXPECT_EQ(field(R"( {"id": 3, "meta": {"text": "no", "a": [1, {"b": "]"}]}, "text":"yes"} )", "text"), "yes");
  EXPECT_EQ(field(R"({"text": "a\"b\\c\/d\n\t\u00e9\u20ac\ud83d\ude00"})", "text"),
            "a\"b\\c/d\n\t\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
  EXPECT_EQ(field("{\"text\": \"\xc3\xa9 raw\"}", "text"), "\xc3\xa9 raw");
  EXPECT_EQ(field(R"({"text": "first", "text": "last"})", "text"), "last");
  EXPECT_EQ(field(R"({"t\u0065xt": "escaped key", "x": null, "y": true, "z": -1.5e3})", "text"), "escaped key");
  EXPECT_EQ(field(R"({"text": ""})", "text"), "");
}

TEST(JsonField, RejectsBadInput) {
  for (const char* bad : {"", "[]", "{", R"({"text": 1})", R"({"text": "a)", R"({"other": "a"})",
                          R"({"text": "\ud800"})", R"({"text": "\udc00x"})", R"({"text": "\q"})",
                          R"({"text": "a"} x)", R"({"text" "a"})", "{\"text\": \"a\tb\"}"}) {
    std::string out;
    EXPECT_THROW(json_string_field(bad, "text", out), std::invalid_argument) << bad;
  }
}

TEST(DocumentPipeline, EqualsEncodingEachDocument) {
  ByteCodec codec;
  std::vector<std::string> docs;
  std::string jsonl;
  for (int i = 0; i < 300; ++i) {
    std::string d(static_cast<size_t>(i * 7 % 53), static_cast<char>('a' + i % 26));
    if (i % 17 == 0) d.clear();
    docs.push_back(d);
    jsonl += "{\"id\": " + std::to_string(i) + ", \"text\": \"" + d + "\"}\n";
    if (i % 50 == 0) jsonl += "  \n";  // blank lines are skipped
  }
  for (bool eod : {false, true}) {
    std::vector<uint8_t> want;
    MegatronIndex want_idx(DType::u16);
    for (const auto& d : docs) {
      IdBuffer ids = codec.encode(bytes_of(d), DType::u16);
      size_t n = ids.size();
      want.insert(want.end(), ids.as<uint8_t>(), ids.as<uint8_t>() + n * 2);
      if (eod && n) {
        put<uint16_t>(want, 2);
        ++n;
      }
      want_idx.add_document(n);
    }
    for (size_t chunk : {size_t{1}, size_t{64}, size_t{1000}, size_t{1} << 20}) {
      for (int threads : {1, 2}) {
        MemorySource src(bytes_of(jsonl), "docs.jsonl");
        VectorSink bin;
        MegatronIndex idx(DType::u16);
        DocumentOptions o;
        o.chunk = chunk;
        o.threads = threads;
        if (eod) o.eod = 2;
        DocumentStats st = tokenize_jsonl(codec, src, bin, idx, o);
        EXPECT_EQ(bin.bytes, want) << chunk << " " << threads;
        EXPECT_EQ(st.documents, docs.size());
        EXPECT_EQ(st.bytes_in, jsonl.size());
        VectorSink a, b;
        std::atomic<bool> stop{false};
        idx.write(a, stop);
        want_idx.write(b, stop);
        EXPECT_EQ(a.bytes, b.bytes);
      }
    }
  }
}

TEST(DocumentPipeline, BadLineNamesItsNumber) {
  ByteCodec codec;
  std::string jsonl;
  for (int i = 0; i < 100; ++i) jsonl += i == 73 ? "{\"txt\": \"x\"}\n" : "{\"text\": \"x\"}\n";
  for (size_t chunk : {size_t{16}, size_t{1} << 20}) {
    MemorySource src(bytes_of(jsonl), "docs.jsonl");
    VectorSink bin;
    MegatronIndex idx(DType::u16);
    DocumentOptions o;
    o.chunk = chunk;
    try {
      tokenize_jsonl(codec, src, bin, idx, o);
      FAIL() << "no error";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("docs.jsonl line 74: no key \"text\""), std::string::npos) << e.what();
    }
  }
}
