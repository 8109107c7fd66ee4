// GoogleTest for the BPE lookup structures: the packed pair table against every split of the real
// vocabularies, its HF / wide fallbacks, the merge-key minimum kernels, the huge-page allocator.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "blt_core/bpe/bpe_model.hpp"
#include "blt_core/bpe/huge_page_allocator.hpp"
#include "blt_core/bpe/min_key.hpp"
#include "blt_core/bpe/pair_table.hpp"
#include "blt_core/bpe/vocab_io.hpp"

#include "test_support.hpp"

using namespace blt;
using namespace blt::bpe;
using namespace blt::test;

namespace {

bool same(Merge a, Merge b) { return a.priority == b.priority && a.result == b.result; }

// Every split of every token into two tokens, found through a std::unordered_map of the token
// bytes (not through Vocab or PairTable): (left, right) -> merged token.
std::map<std::pair<uint32_t, uint32_t>, uint32_t> expected_pairs(const Vocab& v) {
  std::unordered_map<std::string, uint32_t> ids;
  for (uint32_t id = 0; id < v.id_end(); ++id) {
    auto b = v.bytes(id);
    if (!b.empty()) ids.emplace(std::string(b.begin(), b.end()), id);
  }
  std::map<std::pair<uint32_t, uint32_t>, uint32_t> out;
  for (const auto& [bytes, id] : ids) {
    for (size_t k = 1; k < bytes.size(); ++k) {
      auto l = ids.find(bytes.substr(0, k)), r = ids.find(bytes.substr(k));
      if (l != ids.end() && r != ids.end()) out[{l->second, r->second}] = id;
    }
  }
  return out;
}

void check_real_vocab(const std::string& name) {
  auto model = load_tiktoken(name);  // the split pattern plays no part in the pair table
  BLT_NEED_SHARED_DATA(model);
  const PairTable& t = model->pairs();
  ASSERT_TRUE(t.frozen()) << name << ": the OpenAI vocabularies fit the packed form";
  auto want = expected_pairs(model->vocab());
  ASSERT_EQ(t.size(), want.size());
  for (const auto& [ab, id] : want) {
    Merge m = t.find(ab.first, ab.second);
    ASSERT_TRUE(same(m, Merge{id, id})) << name << " pair " << ab.first << "," << ab.second;
    ASSERT_TRUE(same(t.find_known(ab.first, ab.second), m));
  }
  size_t visited = 0;
  t.for_each([&](uint32_t a, uint32_t b, Merge m) {
    auto it = want.find({a, b});
    ASSERT_TRUE(it != want.end()) << a << "," << b;
    EXPECT_TRUE(same(m, Merge{it->second, it->second}));
    ++visited;
  });
  EXPECT_EQ(visited, want.size());
  // Absent pairs: random token pairs whose concatenation is no token, and ids that are no token.
  std::mt19937 rng(7);
  const uint32_t end = model->vocab().id_end();
  size_t absent = 0;
  for (int i = 0; i < 200000; ++i) {
    uint32_t a = rng() % end, b = rng() % end;
    if (want.count({a, b})) continue;
    ++absent;
    ASSERT_EQ(t.find(a, b).priority, kNoMerge) << a << "," << b;
    ASSERT_EQ(t.find_known(a, b).priority, kNoMerge) << a << "," << b;
  }
  EXPECT_GT(absent, 190000u);
  for (uint32_t bad : {end, end + 1, 0xFFFFFFFEu, 0xFFFFFFFFu, 1u << 20, (1u << 20) - 1}) {
    EXPECT_EQ(t.find(bad, model->byte_ids()['a']).priority, kNoMerge) << bad;
    EXPECT_EQ(t.find(model->byte_ids()['a'], bad).priority, kNoMerge) << bad;
    EXPECT_EQ(t.find(bad, bad).priority, kNoMerge) << bad;
  }
  // The direct byte-pair table agrees with the hashed one.
  for (int a = 0; a < 256; ++a)
    for (int b = 0; b < 256; ++b)
      ASSERT_TRUE(same(t.find_bytes(static_cast<uint8_t>(a), static_cast<uint8_t>(b)),
                       t.find(model->byte_ids()[a], model->byte_ids()[b])));
}

}  // namespace

TEST(BpePairTable, PackedTableHoldsEverySplitOfCl100k) { check_real_vocab("cl100k_base"); }
TEST(BpePairTable, PackedTableHoldsEverySplitOfO200k) { check_real_vocab("o200k_base"); }

// HF-style merges: the priority is the merge's line, not the merged token, so the packed form finds
// results by priority; a later set() undoes the packing and the next freeze() redoes it.
TEST(BpePairTable, MergeListPrioritiesAndSetAfterFreeze) {
  std::mt19937 rng(3);
  std::map<std::pair<uint32_t, uint32_t>, Merge> want;
  PairTable t;
  for (uint32_t line = 0; line < 5000; ++line) {
    uint32_t a = rng() % 3000, b = rng() % 3000, r = 3000 + rng() % 60000;
    t.set(a, b, Merge{line, r});
    want[{a, b}] = Merge{line, r};  // a later line replaces an earlier one, as in set()
  }
  uint32_t byte_ids[256];
  for (uint32_t i = 0; i < 256; ++i) byte_ids[i] = i;
  t.freeze(byte_ids);
  ASSERT_TRUE(t.frozen());
  ASSERT_EQ(t.size(), want.size());
  for (const auto& [ab, m] : want) ASSERT_TRUE(same(t.find(ab.first, ab.second), m));
  for (int i = 0; i < 20000; ++i) {
    uint32_t a = rng() % 3000, b = rng() % 3000;
    if (!want.count({a, b})) ASSERT_EQ(t.find(a, b).priority, kNoMerge);
  }
  t.set(1, 2, Merge{7000, 99});
  want[{1, 2}] = Merge{7000, 99};
  EXPECT_FALSE(t.frozen());
  for (const auto& [ab, m] : want) ASSERT_TRUE(same(t.find(ab.first, ab.second), m));
  t.freeze(byte_ids);
  EXPECT_TRUE(t.frozen());
  for (const auto& [ab, m] : want) ASSERT_TRUE(same(t.find(ab.first, ab.second), m));
  size_t visited = 0;
  t.for_each([&](uint32_t a, uint32_t b, Merge m) {
    ASSERT_TRUE(same(want.at({a, b}), m));
    ++visited;
  });
  EXPECT_EQ(visited, want.size());
}

// Tables that cannot be packed (ids too wide, one priority with two results) stay in the wide
// form and still answer exactly.
TEST(BpePairTable, UnpackableTablesStayWide) {
  uint32_t byte_ids[256];
  for (uint32_t i = 0; i < 256; ++i) byte_ids[i] = i;
  PairTable wide_ids;
  wide_ids.set(5, 0xFFFFFFF0u, Merge{1, 6});
  wide_ids.set(0xFFFFFFF0u, 5, Merge{2, 7});
  wide_ids.freeze(byte_ids);
  EXPECT_FALSE(wide_ids.frozen());
  EXPECT_TRUE(same(wide_ids.find(5, 0xFFFFFFF0u), Merge{1, 6}));
  EXPECT_TRUE(same(wide_ids.find_known(0xFFFFFFF0u, 5), Merge{2, 7}));
  EXPECT_EQ(wide_ids.find(5, 5).priority, kNoMerge);

  PairTable clash;
  clash.set(1, 2, Merge{10, 300});
  clash.set(3, 4, Merge{10, 301});
  clash.freeze(byte_ids);
  EXPECT_FALSE(clash.frozen());
  EXPECT_TRUE(same(clash.find(1, 2), Merge{10, 300}));
  EXPECT_TRUE(same(clash.find(3, 4), Merge{10, 301}));
}

TEST(BpeMinKey, EveryKernelFindsTheMinimum) {
  std::mt19937 rng(11);
  auto kernels = min_key_kernels();
  ASSERT_FALSE(kernels.empty());
  EXPECT_EQ(kernels.front().first, std::string(min_key_arch()));  // the dispatcher picks the best
  alignas(64) uint32_t keys[64];
  for (const auto& [arch, fn] : kernels) {
    for (int trial = 0; trial < 2000; ++trial) {
      size_t n = kMinKeyBlock * (1 + rng() % (64 / kMinKeyBlock));
      for (size_t i = 0; i < n; ++i) {
        // Mostly "no merge" (all ones), with values above 2^31 so a signed minimum would fail.
        uint32_t r = static_cast<uint32_t>(rng());
        keys[i] = r % 3 == 0 ? 0xFFFFFFFFu : (trial % 2 ? r | 0x80000000u : r >> (r % 31));
      }
      ASSERT_EQ(fn(keys, n), *std::min_element(keys, keys + n)) << arch << " n=" << n;
    }
  }
}

TEST(BpeHugePageAllocator, LargeBlocksAreAlignedAndHoldTheirValues) {
  std::vector<uint64_t, HugePageAllocator<uint64_t>> big(3 << 18, 7);  // 6 MiB
  EXPECT_EQ(reinterpret_cast<uintptr_t>(big.data()) % HugePageAllocator<uint64_t>::kHuge, 0u);
  big[12345] = 42;
  auto copy = big;
  EXPECT_EQ(copy[12345], 42u);
  EXPECT_EQ(copy[0], 7u);
  std::vector<uint32_t, HugePageAllocator<uint32_t>> small(10, 1);
  EXPECT_EQ(small[9], 1u);
}
