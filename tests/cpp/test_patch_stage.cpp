// File pipeline with the patch stage: the .npz's ids, patch_lengths and hash_ids equal one-shot
// encode, patch_sequence and hash_ngrams for every rule, chunk size down to 1 byte and thread count.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "blt_core/codec/byte_codec.hpp"
#include "blt_core/io/byte_source.hpp"
#include "blt_core/patch/entropy_model.hpp"
#include "blt_core/patch/ngram_hash.hpp"
#include "blt_core/patch/patch_sequence.hpp"
#include "blt_core/pipeline/crc32.hpp"
#include "blt_core/pipeline/file_pipeline.hpp"
#include "blt_core/pipeline/patch_stage.hpp"

using namespace blt;
using patch::PatchRule;

namespace {

std::vector<uint8_t> sample_text(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  static const std::vector<std::string> words = {"the ", "cat", " sat", "\n", "on ", "a mat",
                                                 "\xc3\xa9t\xc3\xa9 ", "42", ". ", "zzzz", "\x02"};
  std::string s;
  while (s.size() < n) s += words[rng() % words.size()];
  s.resize(n);
  return {s.begin(), s.end()};
}

int temp_fd() {
  char path[] = "/tmp/blt_patch_stage_XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) throw std::runtime_error("mkstemp failed");
  unlink(path);
  return fd;
}

std::vector<uint8_t> read_all(int fd) {
  std::vector<uint8_t> out;
  uint8_t buf[1 << 16];
  off_t off = 0;
  for (;;) {
    ssize_t k = pread(fd, buf, sizeof buf, off);
    if (k <= 0) break;
    out.insert(out.end(), buf, buf + k);
    off += k;
  }
  return out;
}

// Members of an archive in NpzWriter's layout: name -> (data bytes after the npy header, crc ok).
std::map<std::string, std::vector<uint8_t>> read_npz(const std::vector<uint8_t>& z) {
  std::map<std::string, std::vector<uint8_t>> m;
  size_t off = 0;
  auto u16 = [&](size_t o) { return uint32_t(z[o]) | uint32_t(z[o + 1]) << 8; };
  auto u32 = [&](size_t o) { uint32_t v; std::memcpy(&v, &z[o], 4); return v; };
  auto u64 = [&](size_t o) { uint64_t v; std::memcpy(&v, &z[o], 8); return v; };
  while (off + 4 <= z.size() && u32(off) == 0x04034B50) {
    const uint32_t crc = u32(off + 14);
    const size_t name_len = u16(off + 26), extra_len = u16(off + 28);
    std::string name(z.begin() + off + 30, z.begin() + off + 30 + name_len);
    const uint64_t size = u64(off + 30 + name_len + 4);
    const size_t data = off + 30 + name_len + extra_len;
    EXPECT_EQ(crc32_update(0, &z[data], size), crc) << name;
    const size_t header = 10 + u16(data + 8);
    m[name] = std::vector<uint8_t>(z.begin() + data + header, z.begin() + data + size);
    off = data + size;
  }
  return m;
}

template <class T>
std::vector<T> as(const std::vector<uint8_t>& b) {
  std::vector<T> v(b.size() / sizeof(T));
  if (!v.empty()) std::memcpy(v.data(), b.data(), b.size());
  return v;
}

// A stream of unknown size (like a pipe): the stage spools lengths and hash ids, then copies them.
class UnsizedSource final : public ByteSource {
 public:
  explicit UnsizedSource(const std::vector<uint8_t>& d) : data_(d) {}
  std::optional<uint64_t> size() const override { return std::nullopt; }
  size_t read(uint8_t* dst, size_t n, const std::atomic<bool>&) override {
    n = std::min(n, data_.size() - pos_);
    std::memcpy(dst, data_.data() + pos_, n);
    pos_ += n;
    return n;
  }
  const std::string& name() const override { return name_; }

 private:
  const std::vector<uint8_t>& data_;
  size_t pos_ = 0;
  std::string name_ = "<unsized>";
};

struct Case {
  PatchRule rule;
  bool entropy = false;
  std::vector<int> sizes;
  DType hash_dtype = DType::i64;
};

patch::EntropyModel train(int order) {
  auto text = sample_text(20000, 99);
  std::vector<patch::ByteSpan> docs{patch::ByteSpan(text.data(), text.size())};
  patch::NgramCounter counter(order);
  counter.add(docs, 1);
  return counter.build(1);
}

void check_case(const Case& k, const patch::EntropyModel* model, const std::vector<uint8_t>& text,
                size_t chunk, int threads, bool sized = true) {
  ByteCodec codec;
  patch::ContextReset reset;
  reset.byte['\n'] = true;
  PatchStageOptions o;
  o.rule = k.rule;
  o.model = model;
  o.reset = reset;
  o.hash.sizes = k.sizes;
  o.hash.funcs = {0, 2};
  o.hash.max_hash = 1009;
  o.hash.dtype = k.hash_dtype;
  const int out = temp_fd(), lens = temp_fd(), hashes = temp_fd();
  {
    PatchStage stage(o, out, "<test>", lens, hashes);
    MemorySource mem(ByteSpan(text.data(), text.size()));
    UnsizedSource unsized(text);
    ByteSource& src = sized ? static_cast<ByteSource&>(mem) : unsized;
    PipelineOptions po;
    po.threads = threads;
    po.min_chunk = chunk;
    po.max_chunk = chunk;
    tokenize_stream(codec, src, stage, po);
  }
  auto members = read_npz(read_all(out));
  close(out);
  close(lens);
  close(hashes);

  IdBuffer ref = codec.encode(ByteSpan(text.data(), text.size()), DType::u16);
  const uint16_t* ids = ref.as<uint16_t>();
  const size_t n = ref.size();
  ASSERT_EQ(as<uint16_t>(members["ids.npy"]), std::vector<uint16_t>(ids, ids + n));
  std::vector<float> h(n);
  if (k.entropy) {
    patch::EntropyCursor cur;
    model->entropies(cur, reset, ids, n, h.data());
  }
  std::vector<int32_t> want;
  patch::patch_sequence(k.rule, ids, k.entropy ? h.data() : nullptr, n, want);
  EXPECT_EQ(as<int32_t>(members["patch_lengths.npy"]), want)
      << "chunk " << chunk << " threads " << threads;
  if (!k.sizes.empty()) {
    std::vector<int> funcs{0, 2};
    std::vector<int64_t> hw(n * k.sizes.size() * 2);
    patch::hash_ngrams(ids, n, k.sizes, funcs, 1009, hw.data(), 1);
    if (k.hash_dtype == DType::i32) {
      std::vector<int32_t> h32(hw.begin(), hw.end());
      EXPECT_EQ(as<int32_t>(members["hash_ids.npy"]), h32);
    } else {
      EXPECT_EQ(as<int64_t>(members["hash_ids.npy"]), hw);
    }
  }
}

}  // namespace

TEST(PatchStage, ChunkedEqualsOneShotForEveryRule) {
  const patch::EntropyModel model = train(4);
  auto text = sample_text(3000, 7);
  std::vector<Case> cases;
  auto rule = [](PatchRule::Kind kind) {
    PatchRule r;
    r.kind = kind;
    return r;
  };
  cases.push_back({rule(PatchRule::Kind::byte), false, {3, 1, 6}});
  PatchRule st = rule(PatchRule::Kind::static_size);
  st.patch_size = 5;
  st.max_patch_length = 3;
  cases.push_back({st, false, {}});
  PatchRule sp = rule(PatchRule::Kind::space);
  sp.include_next_token = true;
  cases.push_back({sp, false, {2}, DType::i32});
  PatchRule bp = rule(PatchRule::Kind::bpe);
  bp.force_boundaries = false;
  cases.push_back({bp, false, {}});
  PatchRule e = rule(PatchRule::Kind::entropy);
  e.threshold = 1.2;
  e.max_patch_length = 4;
  e.include_next_token = true;
  cases.push_back({e, true, {8}});
  PatchRule mono = e;
  mono.monotonicity = true;
  mono.threshold = 0.1;
  cases.push_back({mono, true, {}});
  PatchRule add = rule(PatchRule::Kind::entropy);
  add.threshold = 0.8;
  add.threshold_add = 0.05;
  cases.push_back({add, true, {}});
  for (const Case& k : cases)
    for (size_t chunk : {size_t(1), size_t(3), size_t(17), size_t(1000), size_t(1) << 20})
      for (int threads : {1, 2, 4}) check_case(k, &model, text, chunk, threads);
  // Unknown input size: lengths and hash ids go through the spools.
  for (const Case& k : cases) check_case(k, &model, text, 17, 2, false);
}

TEST(PatchStage, RejectsTopkAndMissingModel) {
  PatchStageOptions o;
  PatchRule topk;
  topk.kind = PatchRule::Kind::entropy;
  topk.threshold.reset();
  o.rule = topk;
  EXPECT_THROW(PatchStage(o, -1, "x", -1, -1), std::invalid_argument);
  PatchRule e;
  e.kind = PatchRule::Kind::entropy;
  o.rule = e;
  EXPECT_THROW(PatchStage(o, -1, "x", -1, -1), std::invalid_argument);
  o.rule.reset();
  o.hash.sizes = {3};
  o.hash.funcs = {0};
  o.hash.dtype = DType::i32;
  o.hash.max_hash = int64_t(1) << 40;
  EXPECT_THROW(PatchStage(o, -1, "x", -1, -1), std::invalid_argument);
}

TEST(Crc32, CombineEqualsWholeRun) {
  const char* s = "123456789";
  const auto* p = reinterpret_cast<const uint8_t*>(s);
  EXPECT_EQ(crc32_update(0, p, 9), 0xCBF43926u);
  EXPECT_EQ(crc32_combine(crc32_update(0, p, 4), crc32_update(0, p + 4, 5), 5), 0xCBF43926u);
}

// Every length around the 16- and 64-byte folding steps, at every alignment, from several
// starting CRCs; and a long run (many four-lane folds).
TEST(Crc32, PclmulKernelEqualsTheTableKernel) {
  if (!detail::crc32_has_pclmul()) GTEST_SKIP() << "this CPU has no PCLMULQDQ";
  std::mt19937 rng(42);
  std::vector<uint8_t> data(1 << 20);
  for (auto& b : data) b = static_cast<uint8_t>(rng());
  for (uint32_t start : {0u, 0xFFFFFFFFu, 0x12345678u})
    for (size_t offset = 0; offset < 16; ++offset)
      for (size_t n = 0; n <= 300; ++n)
        ASSERT_EQ(detail::crc32_update_pclmul(start, data.data() + offset, n),
                  detail::crc32_update_table(start, data.data() + offset, n))
            << "start " << start << " offset " << offset << " length " << n;
  EXPECT_EQ(detail::crc32_update_pclmul(7, data.data() + 3, data.size() - 3),
            detail::crc32_update_table(7, data.data() + 3, data.size() - 3));
  const auto* check = reinterpret_cast<const uint8_t*>("123456789123456789123456789123456789123456789123456789123456789123456789");
  EXPECT_EQ(detail::crc32_update_pclmul(0, check, 72), detail::crc32_update_table(0, check, 72));
}

TEST(NgramHashBatch, EqualsEachSequenceAlone) {
  const std::vector<uint16_t> ids = {1, 76, 105, 112, 112, 2, 1, 40, 41, 2, 1, 9, 9, 9, 9, 9, 9, 2};
  const std::vector<int64_t> offsets = {0, 6, 6, 10, 18};
  const std::vector<int> sizes = {4, 2}, funcs = {1, 3};
  std::vector<int64_t> got(ids.size() * 4), want(ids.size() * 4);
  patch::hash_ngrams_batch(ids.data(), offsets, sizes, funcs, 997, got.data(), 2);
  for (size_t i = 0; i + 1 < offsets.size(); ++i)
    if (offsets[i + 1] > offsets[i])
      patch::hash_ngrams(ids.data() + offsets[i], static_cast<size_t>(offsets[i + 1] - offsets[i]), sizes,
                         funcs, 997, want.data() + offsets[i] * 4, 1);
  EXPECT_EQ(got, want);
  const std::vector<int64_t> bad = {0, 7, 6};
  EXPECT_THROW(patch::hash_ngrams_batch(ids.data(), bad, sizes, funcs, 997, got.data(), 1),
               std::invalid_argument);
}

TEST(NgramHashInt32, EqualsInt64ForSortedAndUnsortedSizesAndAnyThreads) {
  std::vector<uint16_t> ids(300000);
  uint32_t x = 12345;
  for (auto& v : ids) v = static_cast<uint16_t>((x = x * 1103515245u + 12345u) >> 20) % 260;
  const std::vector<int> funcs = {0, 2};
  for (const std::vector<int>& sizes : {std::vector<int>{3, 4, 8}, std::vector<int>{8, 3, 5}}) {
    for (int64_t max_hash : {int64_t(500002), int64_t(1) << 31}) {
      const size_t cols = sizes.size() * funcs.size();
      std::vector<int64_t> wide(ids.size() * cols);
      patch::hash_ngrams(ids.data(), ids.size(), sizes, funcs, max_hash, wide.data(), 1);
      for (int threads : {1, 2, 3}) {
        std::vector<int32_t> narrow(ids.size() * cols, -1);
        patch::hash_ngrams(ids.data(), ids.size(), sizes, funcs, max_hash, narrow.data(), threads);
        ASSERT_TRUE(std::equal(wide.begin(), wide.end(), narrow.begin(),
                               [](int64_t w, int32_t n) { return w == static_cast<int64_t>(n) && n >= 0; }))
            << "max_hash " << max_hash << ", threads " << threads;
      }
    }
  }
  std::vector<int32_t> out(ids.size() * 2);
  EXPECT_THROW(patch::hash_ngrams(ids.data(), ids.size(), std::vector<int>{3}, std::vector<int>{0, 1},
                                  (int64_t(1) << 31) + 1, out.data(), 1),
               std::invalid_argument);
  const std::vector<int64_t> offsets = {0, 5, 5, 1000, static_cast<int64_t>(ids.size())};
  std::vector<int64_t> wide(ids.size() * 2);
  std::vector<int32_t> narrow(ids.size() * 2);
  patch::hash_ngrams_batch(ids.data(), offsets, std::vector<int>{5}, std::vector<int>{0, 1}, 997, wide.data(), 2);
  patch::hash_ngrams_batch(ids.data(), offsets, std::vector<int>{5}, std::vector<int>{0, 1}, 997, narrow.data(), 2);
  EXPECT_TRUE(std::equal(wide.begin(), wide.end(), narrow.begin(),
                         [](int64_t w, int32_t n) { return w == static_cast<int64_t>(n); }));
}
