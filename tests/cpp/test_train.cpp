// BPE trainer core: piece table, memcap pruning, piece counting (documents vs chunked source,
// threads, line mode), the merge engine's rules, the HF id layout and train_vocab's errors.
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <iterator>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "blt_core/io/byte_source.hpp"
#include "blt_core/text/openai_patterns.hpp"
#include "blt_core/train/chunked_pool.hpp"
#include "blt_core/train/hf_layout.hpp"
#include "blt_core/train/memcap_prune.hpp"
#include "blt_core/train/merge_engine.hpp"
#include "blt_core/train/pair_index.hpp"
#include "blt_core/train/piece_counter.hpp"
#include "blt_core/train/piece_table.hpp"
#include "blt_core/train/trainer.hpp"
#include "test_support.hpp"

namespace blt::train {
namespace {

// Views a literal (static storage) or a string that outlives the view.
Bytes b(std::string_view s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

std::map<std::string, uint64_t> as_map(const PieceTable& t) {
  std::map<std::string, uint64_t> m;
  t.for_each([&](Bytes x, uint64_t c) { m[std::string(x.begin(), x.end())] = c; });
  return m;
}

std::string gpt2() { return std::string(openai_pattern_text(OpenAIPattern::r50k)); }

TEST(PieceTable, CountsMergesAndSaturates) {
  PieceTable t, u;
  t.add(b("ab"), 3);
  t.add(b("ab"));
  t.add(b(""), 5);
  u.add(b("ab"), ~uint64_t{0} - 1);
  u.add(b("c"), 2);
  EXPECT_EQ(t.count(b("ab")), 4u);
  EXPECT_EQ(t.size(), 1u);
  t.merge_from(u);
  EXPECT_EQ(t.count(b("ab")), ~uint64_t{0});  // saturated, not wrapped
  EXPECT_EQ(t.count(b("c")), 2u);
  for (int i = 0; i < 5000; ++i) t.add(b("w" + std::to_string(i)), 1 + i % 3);
  EXPECT_EQ(t.size(), 5002u);
  EXPECT_EQ(t.count(b("w4999")), 2u);
  auto s = t.sorted();
  EXPECT_EQ(s.size(), t.size());
  for (size_t i = 1; i < s.size(); ++i)
    EXPECT_TRUE(std::lexicographical_compare(s[i - 1].first.begin(), s[i - 1].first.end(), s[i].first.begin(),
                                             s[i].first.end()));
}

TEST(MemcapPrune, DropsTheRarestPiecesFirst) {
  EXPECT_THROW(check_memcap(min_memcap() - 1), std::invalid_argument);
  EXPECT_NO_THROW(check_memcap(min_memcap()));
  PieceTable t;
  for (int i = 0; i < 20000; ++i) t.add(b("once" + std::to_string(i)), 1);
  for (int i = 0; i < 100; ++i) t.add(b("often" + std::to_string(i)), 1000);
  uint64_t cap = t.memory_bytes() - 1;
  uint64_t th = prune_to_memcap(t, cap);
  EXPECT_EQ(th, 2u);
  EXPECT_EQ(t.size(), 100u);
  EXPECT_LE(t.memory_bytes(), cap);
  EXPECT_EQ(t.count(b("often7")), 1000u);
  EXPECT_EQ(prune_to_memcap(t, t.memory_bytes()), 0u);  // fits: untouched
}

TEST(PieceCounter, DocumentsSourceAndThreadsAgree) {
  std::string text;
  for (int i = 0; i < 60000; ++i) text += "word" + std::to_string(i % 977) + " more text, \n\n  x" + std::to_string(i % 13);
  std::map<std::string, uint64_t> ref;
  for (int threads : {1, 2}) {
    CountOptions o;
    o.threads = threads;
    PieceCounter docs(gpt2(), o);
    docs.count_documents({test::bytes_of(text)});
    PieceCounter src(gpt2(), o);
    MemorySource ms(test::bytes_of(text));
    std::atomic<bool> stop{false};
    uint64_t last = 0;
    src.count_source(ms, [&](uint64_t done) { last = done; }, stop);
    EXPECT_EQ(last, text.size());
    EXPECT_EQ(src.bytes_counted(), text.size());
    EXPECT_EQ(as_map(docs.table()), as_map(src.table()));
    if (threads == 1) ref = as_map(docs.table());
    EXPECT_EQ(as_map(docs.table()), ref);
  }
  EXPECT_EQ(ref[" \n\n "], 60000u);  // whole-text split keeps a blank line's newlines together
}

TEST(PieceCounter, SplitLinesPreTokenizesEachLineAlone) {
  CountOptions o;
  o.split_lines = true;
  PieceCounter c(gpt2(), o);
  c.count_documents({test::bytes_of("a \nb\n\nc")});
  auto m = as_map(c.table());
  EXPECT_EQ(m[" \n"], 1u);  // "a \n" is one line: its trailing whitespace is one piece
  EXPECT_EQ(m["\n"], 2u);
  EXPECT_EQ(m["c"], 1u);
}

TEST(PieceCounter, MemcapBoundsTheTable) {
  std::string text;
  for (int i = 0; i < 200000; ++i) text += " w" + std::to_string(i) + " the";
  CountOptions o;
  o.memcap = 1u << 20;
  PieceCounter c(gpt2(), o);
  MemorySource ms(test::bytes_of(text));
  std::atomic<bool> stop{false};
  c.count_source(ms, nullptr, stop);
  EXPECT_LE(c.table().memory_bytes(), 1u << 20);
  EXPECT_GE(c.prune_threshold(), 2u);
  EXPECT_EQ(c.table().count(b(" the")), 200000u);  // frequent pieces keep exact counts
  CountOptions bad;
  bad.memcap = 100;
  EXPECT_THROW(PieceCounter(gpt2(), bad), std::invalid_argument);
}

std::array<uint32_t, 256> identity() {
  std::array<uint32_t, 256> ids;
  for (int i = 0; i < 256; ++i) ids[i] = i;
  return ids;
}

TEST(MergeEngine, OverlappingCountsNonOverlappingMerges) {
  std::vector<std::pair<Bytes, uint64_t>> pieces = {{b("aaaa"), 1}, {b("ab"), 1}};
  MergeEngine e(pieces, identity(), 256);
  MergeOptions o;
  o.max_new_tokens = 10;
  auto m = e.run(o);
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[0].left, 'a');  // (a, a) counted 3 times in "aaaa"
  EXPECT_EQ(m[0].right, 'a');
  EXPECT_EQ(e.token(m[1].result), "ab");  // tie at 1 with (aa, aa): the smaller pair first
  EXPECT_EQ(e.token(m[2].result), "aaaa");  // "aaaa" -> [aa, aa] (not [aa, a, a]) -> aaaa
}

TEST(MergeEngine, TieBreakSmallestPairAndStopRules) {
  std::vector<std::pair<Bytes, uint64_t>> pieces = {{b("xy"), 5}, {b("cd"), 5}, {b("ab"), 1}};
  MergeEngine e(pieces, identity(), 256);
  MergeOptions o;
  o.max_new_tokens = 10;
  o.min_frequency = 2;
  auto m = e.run(o);
  ASSERT_EQ(m.size(), 2u);  // "ab" occurs once: below min_frequency
  EXPECT_EQ(e.token(m[0].result), "cd");  // equal counts: smaller (left, right) first
  EXPECT_EQ(e.token(m[1].result), "xy");
  MergeEngine capped(pieces, identity(), 256);
  o.max_new_tokens = 1;
  EXPECT_EQ(capped.run(o).size(), 1u);
}

TEST(MergeEngine, MaxPairLengthAndHugeCounts) {
  std::vector<std::pair<Bytes, uint64_t>> pieces = {{b("abcabc"), uint64_t{1} << 40}};
  MergeEngine e(pieces, identity(), 256);
  MergeOptions o;
  o.max_new_tokens = 100;
  o.max_pair_len = 3;
  auto m = e.run(o);
  for (const auto& s : m) EXPECT_LE(e.token(s.result).size(), 3u);
  EXPECT_EQ(e.token(m.back().result), "abc");
}

TEST(MergeEngine, RefusesCountsThatCouldWrap) {
  // 3 pairs x 2^62 occurrences reach 2^63: a signed 64-bit pair count could wrap, so it refuses.
  std::vector<std::pair<Bytes, uint64_t>> pieces = {{b("abcd"), uint64_t{1} << 62}};
  EXPECT_THROW(MergeEngine(pieces, identity(), 256), std::overflow_error);
  std::vector<std::pair<Bytes, uint64_t>> fits = {{b("abcd"), (uint64_t{1} << 62) / 3}};
  EXPECT_NO_THROW(MergeEngine(fits, identity(), 256));
}

TEST(MergeEngine, OneByteWordsAndLongWords) {
  // One-byte words hold no pair; a long run merges down to powers of two without shifting.
  std::string run(4096, 'z');
  std::vector<std::pair<Bytes, uint64_t>> pieces = {{b("q"), 100}, {b(run), 1}};
  MergeEngine e(pieces, identity(), 256);
  MergeOptions o;
  o.max_new_tokens = 20;
  auto m = e.run(o);
  ASSERT_EQ(m.size(), 12u);  // z^2, z^4, ..., z^4096
  EXPECT_EQ(e.token(m.back().result), run);
}

TEST(PairIndex, GrowsAndFindsEveryPair) {
  PairIndex idx;
  for (uint32_t i = 0; i < 50000; ++i) EXPECT_EQ(idx.find_or_insert(i, i * 7 + 1, i), i);
  EXPECT_EQ(idx.size(), 50000u);
  for (uint32_t i = 0; i < 50000; ++i) EXPECT_EQ(idx.find(i, i * 7 + 1), i);
  EXPECT_EQ(idx.find(1, 1), PairIndex::kAbsent);
  EXPECT_EQ(idx.find_or_insert(3, 22, 99), 3u);  // present: keeps its number
}

TEST(ChunkedPool, IndicesAndReferencesStayValidAcrossBlocks) {
  ChunkedPool<uint64_t> pool;
  uint64_t& first = pool[pool.emplace_back()];
  first = 7;
  for (uint32_t i = 1; i < 100000; ++i) pool[pool.emplace_back()] = i * 3;
  EXPECT_EQ(pool.size(), 100000u);
  EXPECT_EQ(first, 7u);  // blocks never move
  EXPECT_EQ(pool[99999], 299997u);
  EXPECT_EQ(pool[32768], 98304u);
}

TEST(HfLayout, SpecialsThenByteLevelOrder) {
  IdLayout l = hf_layout({"<s>", "</s>", "<s>"});
  EXPECT_EQ(l.special_ids, (std::vector<uint32_t>{0, 1, 0}));
  EXPECT_EQ(l.byte_ids['!'], 2u);          // code point 0x21, the smallest
  EXPECT_EQ(l.byte_ids[0], 2u + 188u);      // U+0100, after the 188 printable bytes
  EXPECT_EQ(l.base_size, 258u);
  EXPECT_EQ(byte_level_code_point(' '), 0x120u);
}

TEST(TrainVocab, ErrorsAndLayouts) {
  PieceTable empty;
  TrainOptions o;
  o.vocab_size = 300;
  EXPECT_THROW(train_vocab(empty, o), std::invalid_argument);
  PieceTable t;
  t.add(b("hello"), 10);
  t.add(b(" world"), 7);
  o.specials = {"<|endoftext|>"};
  o.vocab_size = 256;
  EXPECT_THROW(train_vocab(t, o), std::invalid_argument);
  o.vocab_size = 260;
  TrainedVocab v = train_vocab(t, o);
  EXPECT_EQ(v.merges.size(), 3u);
  EXPECT_EQ(v.tokens.size(), 259u);
  ASSERT_EQ(v.specials.size(), 1u);
  EXPECT_EQ(v.specials[0].second, 259u);  // default layout: specials after the merges
  o.hf_compatible = true;
  TrainedVocab h = train_vocab(t, o);
  EXPECT_EQ(h.specials[0].second, 0u);  // HF: specials first
  EXPECT_EQ(h.merges.size(), 3u);
}

}  // namespace
}  // namespace blt::train
