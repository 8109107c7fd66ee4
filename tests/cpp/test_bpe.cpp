// GoogleTest for the BPE core: rank table, merging (small vs heap agree), specials, blob, safe_split.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "blt_core/bpe/bpe_model.hpp"
#include "blt_core/bpe/bpe_tokenizer.hpp"
#include "blt_core/bpe/byte_pair_merge.hpp"
#include "blt_core/bpe/vocab_io.hpp"

#include "test_support.hpp"

using namespace blt;
using namespace blt::bpe;
using namespace blt::test;

namespace {

std::vector<uint32_t> encode(const BpeTokenizer& t, const std::string& s) {
  std::vector<uint32_t> out;
  t.encode_body(bytes_of(s), out);
  return out;
}

}  // namespace

TEST(BpeRankTable, AddFindBytes) {
  RankTable t;
  std::string a = "hello", b = "hell";
  EXPECT_TRUE(t.add(bytes_of(a), 7));
  EXPECT_TRUE(t.add(bytes_of(b), 3));
  EXPECT_FALSE(t.add(bytes_of(a), 9));  // duplicate bytes
  EXPECT_FALSE(t.add(bytes_of(std::string("x")), 3));  // duplicate id
  EXPECT_EQ(t.find(std::string_view("hello")), 7u);
  EXPECT_EQ(t.find(std::string_view("hel")), kNoId);
  EXPECT_EQ(t.bytes(3).size(), 4u);
  EXPECT_FALSE(t.contains(5));
}

TEST(BpeVocabIo, TiktokenErrorsNameTheLine) {
  auto expect_error = [](const std::string& text, const std::string& needle) {
    try {
      parse_tiktoken(bytes_of(text), "f.tiktoken");
      FAIL() << "no error for " << text;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error("YQ== 0\nYg==\n", "f.tiktoken:2:");
  expect_error("YQ== 0\n!!!! 1\n", "bad base64");
  expect_error("YQ== 0\nYg== 0\n", "duplicate rank");
  expect_error("YQ== 0\nYQ== 1\n", "duplicate token");
  expect_error("YQ== x\n", "bad rank");
}

TEST(BpeMerge, SmallAndHeapAgreeOnRandomPieces) {
  auto model = load_r50k();
  if (!model) GTEST_SKIP() << "shared vocab not found";
  std::mt19937 rng(1);
  MergeScratch scratch;
  const char alphabet[] = "aaabbbe  tth01";
  for (int trial = 0; trial < 300; ++trial) {
    size_t n = 2 + rng() % 60;
    std::string s;
    for (size_t i = 0; i < n; ++i) s += alphabet[rng() % (sizeof(alphabet) - 1)];
    std::vector<uint32_t> a, b;
    std::vector<uint32_t> sa, sb;
    byte_pair_merge_small(model->pairs(), model->byte_ids(), bytes_of(s).data(), n,
                          [&](uint32_t id, uint32_t st) { a.push_back(id), sa.push_back(st); });
    byte_pair_merge_large(model->pairs(), model->byte_ids(), bytes_of(s).data(), n, scratch,
                          [&](uint32_t id, uint32_t st) { b.push_back(id), sb.push_back(st); });
    EXPECT_EQ(a, b) << s;
    EXPECT_EQ(sa, sb) << s;
  }
}

TEST(BpeTokenizer, KnownIdsAndSpecials) {
  auto model = load_r50k();
  if (!model) GTEST_SKIP() << "shared vocab not found";
  BpeTokenizer plain(model, {});
  // "hello world" is [31373, 995] in GPT-2 (published example).
  EXPECT_EQ(encode(plain, "hello world"), (std::vector<uint32_t>{31373, 995}));
  BpeTokenizer allowed(model, {SpecialUse::allowed});
  EXPECT_EQ(encode(allowed, "hello<|endoftext|>"), (std::vector<uint32_t>{31373, 50256}));
  BpeTokenizer disallowed(model, {SpecialUse::disallowed});
  EXPECT_THROW(encode(disallowed, "a<|endoftext|>"), std::invalid_argument);
}

TEST(BpeTokenizer, BlobRoundTripEncodesIdentically) {
  auto model = load_r50k();
  if (!model) GTEST_SKIP() << "shared vocab not found";
  std::string blob = serialize_spec(model->spec());
  auto back = std::make_shared<const BpeModel>(deserialize_spec(bytes_of(blob)));
  std::string text = "Hello there, 12345 worlds!!  \n\n  tabs\there";
  EXPECT_EQ(encode(BpeTokenizer(model, {}), text), encode(BpeTokenizer(back, {}), text));
  EXPECT_THROW(deserialize_spec(bytes_of(blob.substr(0, blob.size() / 2))), std::invalid_argument);
}

TEST(BpeTokenizer, SafeSplitNeverCutsInsideSpecialsAndGivesSameIds) {
  auto model = load_r50k();
  if (!model) GTEST_SKIP() << "shared vocab not found";
  BpeTokenizer tok(model, {SpecialUse::allowed});
  std::string text;
  for (int i = 0; i < 40; ++i) text += "some words  here<|endoftext|>and 123 more\n\n ";
  auto whole = encode(tok, text);
  for (size_t target = 1; target + 1 < text.size(); target += 7) {
    size_t p = tok.safe_split(bytes_of(text), target);
    if (p == 0) continue;
    ASSERT_LE(p, target);
    auto a = encode(tok, text.substr(0, p));
    auto b = encode(tok, text.substr(p));
    a.insert(a.end(), b.begin(), b.end());
    ASSERT_EQ(a, whole) << "cut at " << p;
  }
}

TEST(BpeTokenizer, LongRunIsNotQuadratic) {
  auto model = load_r50k();
  if (!model) GTEST_SKIP() << "shared vocab not found";
  BpeTokenizer tok(model, {});
  std::string text(1 << 20, '!');
  auto ids = encode(tok, text);
  std::string back;
  model->decode(ids.data(), ids.size(), back);
  EXPECT_EQ(back, text);
}

TEST(BpeSpecialMatcher, LeftmostLongestPolicyAndPartialTail) {
  SpecialMatcher sm({{"<|a|>", 10, false}, {"<|a|>b", 11, false}, {"<|x|>", 12, false}});
  std::string text = "xx<|x|>yy<|a|>bzz<|a|>";
  SpecialMatch m{};
  SpecialPolicy allow_all{SpecialUse::allowed, SpecialUse::allowed, SpecialUse::allowed};
  ASSERT_TRUE(sm.find(bytes_of(text), 0, allow_all, m));
  EXPECT_EQ(m.start, 2u);
  EXPECT_EQ(m.end, 7u);
  ASSERT_TRUE(sm.find(bytes_of(text), m.end, allow_all, m));
  EXPECT_EQ(sm.tokens()[m.index].id, 11u);  // the longest special at the leftmost position
  SpecialPolicy only_x_disallowed{SpecialUse::text, SpecialUse::text, SpecialUse::disallowed};
  ASSERT_TRUE(sm.find(bytes_of(text), 0, only_x_disallowed, m));
  EXPECT_TRUE(m.disallowed);
  SpecialPolicy short_a_only{SpecialUse::allowed, SpecialUse::text, SpecialUse::text};
  ASSERT_TRUE(sm.find(bytes_of(text), 8, short_a_only, m));
  EXPECT_EQ(sm.tokens()[m.index].id, 10u);
  EXPECT_EQ(sm.partial_tail(bytes_of(std::string("abc<|a"))), 3u);
  EXPECT_EQ(sm.partial_tail(bytes_of(std::string("abc<|x|>"))), 8u);  // complete, nothing longer
  EXPECT_EQ(sm.partial_tail(bytes_of(std::string("abc<|a|>"))), 3u);  // "<|a|>b" may follow
  EXPECT_EQ(sm.partial_tail(bytes_of(std::string("abc"))), 3u);
}

TEST(BpeSpecialMatcher, LstripSwallowsWhitespaceBeforeTheMatch) {
  SpecialToken mask{"<mask>", 5, false};
  mask.lstrip = true;
  SpecialMatcher sm({mask});
  std::string text = "a \xe3\x80\x80 <mask>b";  // ASCII space, U+3000, space
  SpecialMatch m{};
  ASSERT_TRUE(sm.find(bytes_of(text), 0, {SpecialUse::allowed}, m));
  EXPECT_EQ(m.start, 1u);
  EXPECT_EQ(m.end, text.size() - 1);
}
