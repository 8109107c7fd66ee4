// Patching core: chunked streams equal one-shot patching, hash n-gram check vector, entropy
// model chunking and file format checks.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "blt_core/patch/entropy_model.hpp"
#include "blt_core/patch/patch_sequence.hpp"
#include "blt_core/patch/patch_stream.hpp"
#include "blt_core/patch/ngram_hash.hpp"

using namespace blt::patch;

namespace {

std::vector<uint16_t> random_ids(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint16_t> ids(n);
  const char* text = "the quick brown fox, jumps!\n  over 12 lazy dogs.";
  for (size_t i = 0; i < n; ++i) {
    uint32_t r = rng() % 100;
    if (r < 2) ids[i] = static_cast<uint16_t>(rng() % 4);  // specials incl. BOS/EOS/BPE delim
    else if (r < 5) ids[i] = static_cast<uint16_t>(4 + 0x80 + rng() % 128);
    else ids[i] = static_cast<uint16_t>(4 + static_cast<uint8_t>(text[rng() % 48]));
  }
  if (n) ids[0] = blt::kBosId;
  return ids;
}

std::vector<PatchRule> all_rules() {
  std::vector<PatchRule> rules;
  for (bool next : {false, true})
    for (int maxlen : {0, 3}) {
      PatchRule r;
      r.include_next_token = next;
      r.max_patch_length = maxlen;
      r.kind = PatchRule::Kind::byte; rules.push_back(r);
      r.kind = PatchRule::Kind::static_size; r.patch_size = 4; rules.push_back(r);
      r.kind = PatchRule::Kind::space; rules.push_back(r);
      r.kind = PatchRule::Kind::bpe; rules.push_back(r);
      r.kind = PatchRule::Kind::entropy; r.threshold = 0.5; rules.push_back(r);
      r.monotonicity = true; rules.push_back(r);
      r.monotonicity = false; r.threshold_add = 0.1; rules.push_back(r);
      r.threshold_add.reset();
    }
  return rules;
}

}  // namespace

TEST(PatchStream, ChunkedEqualsOneShot) {
  auto ids = random_ids(997, 7);
  std::mt19937 rng(3);
  std::vector<float> h(ids.size());
  for (auto& x : h) x = static_cast<float>(rng() % 1000) / 1000.0f;
  for (const PatchRule& rule : all_rules()) {
    std::vector<int32_t> one;
    patch_sequence(rule, ids.data(), h.data(), ids.size(), one);
    int64_t sum = std::accumulate(one.begin(), one.end(), int64_t(0));
    EXPECT_EQ(sum, static_cast<int64_t>(ids.size()) + (rule.include_next_token ? 1 : 0));
    EXPECT_EQ(one.front(), 1);
    for (int32_t l : one) EXPECT_GT(l, 0);
    for (size_t chunk : {1u, 2u, 3u, 7u, 64u, 500u, 2000u}) {
      PatchStream s(rule);
      std::vector<int32_t> got;
      for (size_t off = 0; off < ids.size(); off += chunk) {
        size_t m = std::min(chunk, ids.size() - off);
        s.feed(ids.data() + off, h.data() + off, m, got);
      }
      s.finish(got);
      EXPECT_EQ(got, one) << "chunk " << chunk << " kind " << int(rule.kind);
    }
  }
}

TEST(PatchStream, ShortSequences) {
  PatchRule r;
  r.kind = PatchRule::Kind::byte;
  std::vector<int32_t> out;
  patch_sequence(r, nullptr, nullptr, 0, out);
  EXPECT_TRUE(out.empty());
  r.include_next_token = true;
  patch_sequence(r, nullptr, nullptr, 0, out);
  EXPECT_EQ(out, std::vector<int32_t>({1}));
}

TEST(PatchStream, TopKCannotStream) {
  PatchRule r;
  r.kind = PatchRule::Kind::entropy;
  r.threshold.reset();
  EXPECT_THROW(PatchStream s(r), std::invalid_argument);
}

TEST(NgramHash, CheckVector) {
  std::vector<uint16_t> ids = {1, 76, 105, 112, 112, 115};
  std::vector<int> sizes = {3}, funcs = {0};
  std::vector<int64_t> out(ids.size());
  blt::patch::hash_ngrams(ids.data(), ids.size(), sizes, funcs, 500002, out.data());
  EXPECT_EQ(out, std::vector<int64_t>({443987, 124875, 393970, 386145, 358223, 190185}));
}

// Reference floored modulo of the signed value in 128-bit arithmetic.
static int64_t floor_mod_ref(uint64_t u, uint64_t m) {
  __int128 r = static_cast<__int128>(static_cast<int64_t>(u)) % static_cast<__int128>(m);
  if (r < 0) r += m;
  return static_cast<int64_t>(r);
}

TEST(NgramHash, FloorModExactOverTheInt64Range) {
  std::mt19937_64 rng(7);
  std::vector<uint64_t> base;
  for (int64_t v : std::initializer_list<int64_t>{0, 1, -1, 2, -2, INT64_MAX, INT64_MIN,
                                                  INT64_MAX - 1, INT64_MIN + 1})
    base.push_back(static_cast<uint64_t>(v));
  for (int i = 0; i < 64; ++i) {
    base.push_back(uint64_t(1) << i);
    base.push_back((uint64_t(1) << i) - 1);
    base.push_back(~(uint64_t(1) << i) + 1);  // -2^i
  }
  for (int i = 0; i < 20000; ++i) base.push_back(rng());
  for (uint64_t m : {1ull, 2ull, 3ull, 7ull, 1000ull, 500002ull, (1ull << 19) + 1, (1ull << 20) - 1,
                     1ull << 20, (1ull << 31) - 1, (1ull << 40) + 15, 1ull << 62,
                     (1ull << 63) - 1}) {
    std::vector<uint64_t> in = base;
    for (__int128 k = 0; k < 40; ++k)  // multiples of m and their neighbours, both signs, both ends
      for (int d = -2; d <= 2; ++d) {
        in.push_back(static_cast<uint64_t>(k * m + d));
        in.push_back(static_cast<uint64_t>(-k * m + d));
        in.push_back(static_cast<uint64_t>((INT64_MAX / static_cast<__int128>(m) - k) * m + d));
        in.push_back(static_cast<uint64_t>((INT64_MIN / static_cast<__int128>(m) + k) * m + d));
      }
    std::vector<int64_t> out(in.size());
    blt::patch::floor_mod(in.data(), out.data(), in.size(), static_cast<int64_t>(m));
    size_t bad = 0;
    for (size_t i = 0; i < in.size(); ++i) bad += out[i] != floor_mod_ref(in[i], m);
    EXPECT_EQ(bad, 0u) << "divisor " << m;
  }
}

// Every length around the kernel's lane groups and blocks, several size sets (unsorted and
// repeated sizes, more than one function) and divisors on and off the SIMD modulo path, against
// a direct transcription of the definition (wrapping uint64 sums, 128-bit floored modulo).
TEST(NgramHash, BlockEdgesMatchDirectSums) {
  const std::vector<uint16_t> all = random_ids(700, 11);
  const std::vector<std::vector<int>> size_sets = {{3, 4, 5, 6, 7, 8}, {1}, {8, 2, 5}, {4, 4, 9}};
  const std::vector<std::vector<int>> func_sets = {{0}, {6, 1}};
  for (uint64_t m : {500002ull, 3ull, (1ull << 20) + 7, (1ull << 62)})
    for (const auto& sizes : size_sets)
      for (const auto& funcs : func_sets)
        for (size_t n : {0, 1, 3, 4, 5, 127, 128, 129, 131, 260, 700}) {
          const size_t cols = sizes.size() * funcs.size();
          std::vector<int64_t> out(n * cols, -1);
          blt::patch::hash_ngrams(all.data(), n, sizes, funcs, static_cast<int64_t>(m), out.data());
          size_t bad = 0;
          for (size_t j = 0; j < n; ++j)
            for (size_t f = 0; f < funcs.size(); ++f)
              for (size_t s = 0; s < sizes.size(); ++s) {
                const uint64_t p = blt::patch::kNgramHashPrimes[funcs[f]];
                uint64_t h = 0, pw = 1;
                for (int k = 0; k < sizes[s]; ++k) {  // k = 0 the oldest id of the window
                  const ptrdiff_t at = static_cast<ptrdiff_t>(j) - sizes[s] + 1 + k;
                  h += (at < 0 ? 0 : all[static_cast<size_t>(at)]) * pw;
                  pw *= p;
                }
                bad += out[j * cols + f * sizes.size() + s] != floor_mod_ref(h, m);
              }
          EXPECT_EQ(bad, 0u) << "n " << n << " m " << m;
        }
}

TEST(EntropyModel, ChunkedEntropiesAndFileFormat) {
  std::string text;
  for (int i = 0; i < 200; ++i) text += "the cat sat on the mat " + std::to_string(i % 7) + "\n";
  std::vector<ByteSpan> docs = {ByteSpan(reinterpret_cast<const uint8_t*>(text.data()), text.size())};
  NgramCounter counter(4);
  counter.add(docs, 2);
  EntropyModel m = counter.build(2);
  std::vector<uint16_t> ids = {static_cast<uint16_t>(blt::kBosId)};
  for (char c : text.substr(0, 300)) ids.push_back(static_cast<uint16_t>(static_cast<uint8_t>(c) + 4));
  ContextReset reset;
  reset.byte['\n'] = true;
  std::vector<float> one(ids.size()), chunked(ids.size());
  EntropyCursor c1;
  m.entropies(c1, reset, ids.data(), ids.size(), one.data());
  EntropyCursor c2;
  for (size_t off = 0; off < ids.size(); off += 13)
    m.entropies(c2, reset, ids.data() + off, std::min<size_t>(13, ids.size() - off), chunked.data() + off);
  EXPECT_EQ(one, chunked);
  EXPECT_LT(m.bits_per_byte(docs[0], reset), 8.0);

  std::string path = ::testing::TempDir() + "/blt_model_test.bin";
  m.save(path);
  EntropyModel back = EntropyModel::load(path);
  std::vector<float> again(ids.size());
  EntropyCursor c3;
  back.entropies(c3, reset, ids.data(), ids.size(), again.data());
  EXPECT_EQ(one, again);
  {  // flip one byte in the body
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(60);
    char b;
    f.read(&b, 1);
    f.seekp(60);
    b = static_cast<char>(b ^ 0x5a);
    f.write(&b, 1);
  }
  EXPECT_THROW(EntropyModel::load(path), std::invalid_argument);
  std::remove(path.c_str());
}
