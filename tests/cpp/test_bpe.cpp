// GoogleTest for the BPE core: vocabulary (Vocab), merging (small, linear and a naive reference agree; linear work), specials, blob, safe_split.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <algorithm>
#include <random>
#include <sstream>
#include <string>

#include "blt_core/bpe/bpe_model.hpp"
#include "blt_core/bpe/bpe_encoder.hpp"
#include "blt_core/bpe/byte_pair_merge.hpp"
#include "blt_core/bpe/vocab_io.hpp"

#include "test_support.hpp"

using namespace blt;
using namespace blt::bpe;
using namespace blt::test;

namespace {

std::vector<uint32_t> encode(const BpeEncoder& t, const std::string& s) {
  std::vector<uint32_t> out;
  t.encode_body(bytes_of(s), out);
  return out;
}

}  // namespace

TEST(BpeVocab, AddFindBytes) {
  Vocab t;
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
  // One token at a huge rank would need a dense id table of that size (32 GB near 2^32).
  expect_error("YQ== 4000000000\n", "f.tiktoken:1: token id 4000000000 is too large");
}

TEST(BpeVocab, SparseHugeIdsAreRefusedNotAllocated) {
  Vocab v;
  EXPECT_THROW(v.add(bytes_of("a"), 4000000000u), std::invalid_argument);
  EXPECT_THROW(v.add(bytes_of("a"), Vocab::kDenseIds), std::invalid_argument);
  EXPECT_EQ(v.id_end(), 0u);  // nothing was allocated for the refused ids
  EXPECT_TRUE(v.add(bytes_of("a"), Vocab::kDenseIds - 1));  // below kDenseIds: any order
  // Above it, an id must stay below kIdsPerToken times the token count (this one included).
  const uint32_t n = 70000;
  for (uint32_t i = 0; i < n - 1; ++i) ASSERT_TRUE(v.add(bytes_of("t" + std::to_string(i)), i));
  ASSERT_EQ(v.size(), n);
  const uint32_t limit = (n + 1) * Vocab::kIdsPerToken;
  EXPECT_THROW(v.add(bytes_of("c"), limit), std::invalid_argument);
  EXPECT_TRUE(v.add(bytes_of("b"), limit - 1));
}

// The merge loop of tiktoken's reference implementation, written out naively (quadratic): the
// lowest-priority adjacent pair merges first, the leftmost on ties.
static std::vector<std::pair<uint32_t, uint32_t>> reference_merge(const BpeModel& m, const std::string& s) {
  std::vector<std::pair<uint32_t, uint32_t>> parts;  // (id, start)
  for (size_t i = 0; i < s.size(); ++i) parts.push_back({m.byte_ids()[static_cast<uint8_t>(s[i])], i});
  auto merge_of = [&](size_t i) {
    return i + 1 < parts.size() ? m.pairs().find(parts[i].first, parts[i + 1].first) : Merge{kNoMerge, kNoMerge};
  };
  std::vector<Merge> merges;  // merges[i]: of parts i and i + 1
  for (size_t i = 0; i < parts.size(); ++i) merges.push_back(merge_of(i));
  for (;;) {
    size_t at = 0;
    for (size_t i = 1; i < merges.size(); ++i)
      if (merges[i].priority < merges[at].priority) at = i;
    if (merges[at].priority == kNoMerge) return parts;
    parts[at].first = merges[at].result;
    parts.erase(parts.begin() + at + 1);
    merges.erase(merges.begin() + at + 1);
    merges[at] = merge_of(at);
    if (at > 0) merges[at - 1] = merge_of(at - 1);
  }
}

static std::vector<std::pair<uint32_t, uint32_t>> linear_merge(const BpeModel& m, const std::string& s,
                                                        MergeScratch& scratch) {
  std::vector<std::pair<uint32_t, uint32_t>> out;
  byte_pair_merge_large(m.pairs(), m.byte_ids(), bytes_of(s).data(), s.size(), scratch,
                        [&](uint32_t id, uint32_t st) { out.push_back({id, st}); });
  return out;
}

TEST(BpeMerge, SmallWideAndLinearAgreeOnRandomPieces) {
  auto model = load_r50k();
  BLT_NEED_SHARED_DATA(model);
  std::mt19937 rng(1);
  MergeScratch scratch;
  const char alphabet[] = "aaabbbe  tth01";
  for (int trial = 0; trial < 300; ++trial) {
    size_t n = 2 + rng() % 60;
    std::string s;
    for (size_t i = 0; i < n; ++i) s += alphabet[rng() % (sizeof(alphabet) - 1)];
    std::vector<std::pair<uint32_t, uint32_t>> a;
    byte_pair_merge_small(model->pairs(), model->byte_ids(), bytes_of(s).data(), n,
                          [&](uint32_t id, uint32_t st) { a.push_back({id, st}); });
    std::vector<std::pair<uint32_t, uint32_t>> wide;
    byte_pair_merge_small_wide(model->pairs(), model->byte_ids(), bytes_of(s).data(), n,
                               [&](uint32_t id, uint32_t st) { wide.push_back({id, st}); });
    EXPECT_EQ(a, wide) << s;
    EXPECT_EQ(a, linear_merge(*model, s, scratch)) << s;
    EXPECT_EQ(a, reference_merge(*model, s)) << s;
  }
}

TEST(BpeMerge, LinearMergeMatchesReferenceOnLongPieces) {
  auto model = load_r50k();
  BLT_NEED_SHARED_DATA(model);
  std::mt19937 rng(2);
  MergeScratch scratch;
  // Small alphabets make long chains of equal pairs and many merge levels; the last one mixes
  // in multi-byte UTF-8 and raw bytes.
  const std::vector<std::string> alphabets = {"a", "ab", "aab", "0123456789", "eeettaaoinshrdlu",
                                              "\xc3\xa9\xe4\xb8\xad\xe6\x96\x87xyz\xff!"};
  for (int trial = 0; trial < 120; ++trial) {
    const std::string& alpha = alphabets[trial % alphabets.size()];
    size_t n = 65 + rng() % 1500;
    std::string s;
    for (size_t i = 0; i < n; ++i) s += alpha[rng() % alpha.size()];
    ASSERT_EQ(linear_merge(*model, s, scratch), reference_merge(*model, s)) << "trial " << trial;
  }
}

// Merges whose order is not monotone (a merge forms a pair that an earlier-listed merge joins),
// as HF / GPT-2 merge lists allow: the linear merge must still follow the list order exactly.
TEST(BpeMerge, LinearMergeFollowsNonMonotoneMergeLists) {
  BpeSpec spec;
  spec.name = "non_monotone";
  spec.pattern = kR50kPattern;
  for (int b = 0; b < 256; ++b) {
    uint8_t byte = static_cast<uint8_t>(b);
    spec.vocab.add({&byte, 1}, static_cast<uint32_t>(b));
  }
  uint32_t next_id = 256;
  auto id_of = [&](const std::string& t) {
    uint32_t id = spec.vocab.find(std::string_view(t));
    if (id == kNoId) spec.vocab.add(bytes_of(t), id = next_id++);
    return id;
  };
  // Listed first, applicable only after later ones: (ab, a), (x, ab), (ab, ab), (xab, b) before (a, b).
  const std::vector<std::pair<std::string, std::string>> merges = {
      {"ab", "a"}, {"x", "ab"}, {"ab", "ab"}, {"xab", "b"}, {"b", "x"}, {"a", "b"}, {"a", "a"}, {"bx", "aa"}, {"aa", "b"}};
  for (const auto& [l, r] : merges) {
    uint32_t a = id_of(l), b = id_of(r);
    id_of(l + r);
    spec.merges.push_back({a, b});
  }
  spec.has_merges = true;
  spec.whole_piece_lookup = false;
  BpeModel model(std::move(spec));
  std::mt19937 rng(4);
  MergeScratch scratch;
  const std::string alpha = "aabx";
  for (int trial = 0; trial < 200; ++trial) {
    size_t n = 2 + rng() % 400;
    std::string s;
    for (size_t i = 0; i < n; ++i) s += alpha[rng() % alpha.size()];
    ASSERT_EQ(linear_merge(model, s, scratch), reference_merge(model, s)) << s;
  }
}

// Work units (candidates made and examined, heap and sort steps) of the long-piece merge grow
// linearly: doubling the piece at most doubles them, plus a little, for the inputs that made
// earlier versions super-linear (one repeated character, digits, letters, random bytes).
TEST(BpeMerge, LongPieceMergeWorkIsLinear) {
  auto model = load_r50k();
  BLT_NEED_SHARED_DATA(model);
  MergeScratch scratch;
  auto work_of = [&](const std::string& s) {
    linear_merge(*model, s, scratch);
    return static_cast<double>(scratch.work);
  };
  std::mt19937 rng(3);
  auto random_text = [&](const std::string& alpha, size_t n) {
    std::string s;
    for (size_t i = 0; i < n; ++i) s += alpha[rng() % alpha.size()];
    return s;
  };
  std::string all_bytes;
  for (int b = 0; b < 256; ++b) all_bytes += static_cast<char>(b);
  const size_t n = 200000;
  for (const std::string& alpha : {std::string("a"), std::string("0123456789"),
                                   std::string("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"), all_bytes}) {
    double w1 = work_of(random_text(alpha, n));
    double w2 = work_of(random_text(alpha, 2 * n));
    EXPECT_LT(w2 / w1, 2.1) << "alphabet of " << alpha.size();
    EXPECT_LT(w2 / (2 * n), 40.0) << "alphabet of " << alpha.size();
  }
}

TEST(BpeEncoder, KnownIdsAndSpecials) {
  auto model = load_r50k();
  BLT_NEED_SHARED_DATA(model);
  BpeEncoder plain(model, {});
  // "hello world" is [31373, 995] in GPT-2 (published example).
  EXPECT_EQ(encode(plain, "hello world"), (std::vector<uint32_t>{31373, 995}));
  BpeEncoder allowed(model, {SpecialUse::allowed});
  EXPECT_EQ(encode(allowed, "hello<|endoftext|>"), (std::vector<uint32_t>{31373, 50256}));
  BpeEncoder disallowed(model, {SpecialUse::disallowed});
  EXPECT_THROW(encode(disallowed, "a<|endoftext|>"), std::invalid_argument);
}

// Two special texts may share an id (tiktoken's o200k_harmony does): both encode to it, and the
// id decodes to the text given first.
TEST(BpeEncoder, SpecialAliasSharesTheIdAndDecodesToTheFirstText) {
  auto model = load_tiktoken("r50k_base", {{"<|endoftext|>", 50256, false}, {"<|eot|>", 50256, false},
                                           {"<|a|>", 50300, false}, {"<|b|>", 50300, false}});
  BLT_NEED_SHARED_DATA(model);
  BpeEncoder allowed(model, std::vector<SpecialUse>(4, SpecialUse::allowed));
  EXPECT_EQ(encode(allowed, "<|eot|>x<|endoftext|><|b|><|a|>"),
            (std::vector<uint32_t>{50256, 87, 50256, 50300, 50300}));
  auto first = model->token_bytes(50300);
  EXPECT_EQ(std::string(first.begin(), first.end()), "<|a|>");
  EXPECT_THROW(load_tiktoken("r50k_base", {{"<|a|>", 50300, false}, {"<|a|>", 50301, false}}),
               std::invalid_argument);
}

// encode_body writes ids through blocks made inside the reserved capacity: a short text keeps a
// small buffer (results go to NumPy zero-copy), and output beyond the estimate (one id per byte
// here, the estimate is a third) still comes out whole, appended after what `out` held.
TEST(BpeEncoder, EncodeBodyKeepsSmallBuffersAndGrowsPastTheEstimate) {
  auto model = load_r50k();
  BLT_NEED_SHARED_DATA(model);
  BpeEncoder plain(model, {});
  std::vector<uint32_t> small;
  plain.encode_body(bytes_of("hello world"), small);
  EXPECT_EQ(small, (std::vector<uint32_t>{31373, 995}));
  EXPECT_LE(small.capacity(), 11u / 3 + 16);

  std::mt19937 rng(5);
  std::string soup;
  for (int i = 0; i < 40000; ++i) soup += static_cast<char>(0x80 + rng() % 64);  // lone continuation bytes
  std::vector<uint32_t> ids{7, 8, 9}, offset_ids;
  std::vector<int64_t> starts;
  plain.encode_body(bytes_of(soup), ids);
  plain.encode_with_offsets(bytes_of(soup), offset_ids, starts);
  ASSERT_GT(offset_ids.size(), soup.size() / 3 + 16);
  ASSERT_EQ(ids.size(), offset_ids.size() + 3);
  EXPECT_EQ(std::vector<uint32_t>(ids.begin(), ids.begin() + 3), (std::vector<uint32_t>{7, 8, 9}));
  EXPECT_TRUE(std::equal(offset_ids.begin(), offset_ids.end(), ids.begin() + 3));
}

TEST(BpeEncoder, BlobRoundTripEncodesIdentically) {
  auto model = load_r50k();
  BLT_NEED_SHARED_DATA(model);
  std::string blob = serialize_spec(model->spec());
  auto back = std::make_shared<const BpeModel>(deserialize_spec(bytes_of(blob)));
  std::string text = "Hello there, 12345 worlds!!  \n\n  tabs\there";
  EXPECT_EQ(encode(BpeEncoder(model, {}), text), encode(BpeEncoder(back, {}), text));
  EXPECT_THROW(deserialize_spec(bytes_of(blob.substr(0, blob.size() / 2))), std::invalid_argument);
}

TEST(BpeEncoder, SafeSplitNeverCutsInsideSpecialsAndGivesSameIds) {
  auto model = load_r50k();
  BLT_NEED_SHARED_DATA(model);
  BpeEncoder tok(model, {SpecialUse::allowed});
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

TEST(BpeEncoder, LongRunIsNotQuadratic) {
  auto model = load_r50k();
  BLT_NEED_SHARED_DATA(model);
  BpeEncoder tok(model, {});
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
