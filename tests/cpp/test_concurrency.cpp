// GoogleTest for the concurrency contract: one tokenizer (and patcher, entropy model) object shared
// by 32 threads mixing encode, batch encode, decode, count and patching gives the serial results.
// Run under TSan by `make tsan-test` (TSAN_REPEAT=20 for the acceptance run).
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "blt_core/batch.hpp"
#include "blt_core/bpe/bpe_encoder.hpp"
#include "blt_core/bpe/special_policy.hpp"
#include "blt_core/codec/bpe_delimited_codec.hpp"
#include "blt_core/codec/byte_codec.hpp"
#include "blt_core/patch/entropy_model.hpp"
#include "blt_core/patch/patch_options.hpp"
#include "blt_core/patch/patch_sequence.hpp"
#include "test_support.hpp"

namespace blt {
namespace {

using test::bytes_of;

constexpr int kThreads = 32;

// Documents that exercise different paths: prose, code, whitespace runs, specials, invalid UTF-8.
std::vector<std::string> documents() {
  std::vector<std::string> docs = {
      "Hello world, it's a test of the concurrency contract.\n",
      "def f(x):\n    return x * 2  # doubled\n\n\n",
      "<|endoftext|>after the special <|endoftext|>",
      "caf\xc3\xa9 \xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x98\x80 \xff\xfe broken \x80",
      std::string(3000, ' ') + "x" + std::string(2000, '!'),
  };
  std::string corpus = test::read_file(test::shared_dir() + "/corpus/en_prose.txt");
  for (size_t i = 0; i < 8 && corpus.size() > 100000; ++i) docs.push_back(corpus.substr(i * 10000, 2000 + 500 * i));
  return docs;
}

std::vector<int64_t> widen(const std::vector<uint32_t>& v) { return {v.begin(), v.end()}; }

struct Serial {
  std::vector<std::vector<uint32_t>> ids, delimited;
  std::vector<size_t> counts;
  std::vector<std::string> decoded;
  std::vector<std::vector<int32_t>> patches;
};

TEST(Concurrency, SharedObjectsGiveSerialResults) {
  auto model = test::load_r50k();
  BLT_NEED_SHARED_DATA(model);
  const std::vector<std::string> docs = documents();
  std::vector<std::string> allowed{"<|endoftext|>"};
  const bpe::BpeEncoder enc(model, bpe::make_special_policy(model->specials().tokens(), allowed, {}));
  const BpeDelimitedCodec delim(ByteCodecOptions{}, enc);
  const ByteCodec bytes{};
  std::vector<ByteSpan> spans;
  for (auto& d : docs) spans.push_back(bytes_of(d));
  patch::NgramCounter counter(3);
  counter.add(spans, 1);
  const patch::EntropyModel em = counter.build(1);
  patch::PatchOptions po;
  po.kind = "entropy";
  po.threshold = 1.5;
  const patch::PatchRule rule = patch::make_patch_rule(po);
  const patch::ContextReset reset = patch::ContextReset::none();

  auto patch_of = [&](const std::string& d) {
    IdBuffer b = bytes.encode(bytes_of(d), DType::u16);
    const int64_t offs[2] = {0, static_cast<int64_t>(b.size())};
    RaggedIds r = patch::patch_batch_with_model(rule, em, reset, b.as<uint16_t>(), offs, 1);
    return std::vector<int32_t>(r.ids.as<int32_t>(), r.ids.as<int32_t>() + r.ids.size());
  };

  Serial s;
  for (auto& d : docs) {
    std::vector<uint32_t> v;
    enc.encode_body(bytes_of(d), v);
    s.ids.push_back(v);
    s.counts.push_back(enc.count(bytes_of(d)));
    std::string back;
    enc.decode_bytes(widen(v), back);
    s.decoded.push_back(back);
    IdBuffer dl = delim.encode(bytes_of(d), DType::u32);
    s.delimited.emplace_back(dl.as<uint32_t>(), dl.as<uint32_t>() + dl.size());
    s.patches.push_back(patch_of(d));
  }
  ASSERT_EQ(s.decoded[0], docs[0]);

  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (size_t round = 0; round < 3; ++round) {
        for (size_t k = 0; k < docs.size(); ++k) {
          const size_t i = (k + t + round) % docs.size();
          const ByteSpan in = bytes_of(docs[i]);
          switch ((t + k + round) % 5) {
            case 0: {
              std::vector<uint32_t> v;
              enc.encode_body(in, v);
              if (v != s.ids[i]) ++mismatches;
              break;
            }
            case 1: {
              RaggedIds r = encode_batch(enc, spans, DType::u32, 2);
              const int64_t* off = r.offsets.as<int64_t>();
              std::vector<uint32_t> v(r.ids.as<uint32_t>() + off[i], r.ids.as<uint32_t>() + off[i + 1]);
              if (v != s.ids[i]) ++mismatches;
              break;
            }
            case 2: {
              std::string back;
              enc.decode_bytes(widen(s.ids[i]), back);
              if (back != s.decoded[i] || enc.count(in) != s.counts[i]) ++mismatches;
              break;
            }
            case 3: {
              IdBuffer dl = delim.encode(in, DType::u32);
              if (std::vector<uint32_t>(dl.as<uint32_t>(), dl.as<uint32_t>() + dl.size()) != s.delimited[i])
                ++mismatches;
              break;
            }
            case 4:
              if (patch_of(docs[i]) != s.patches[i]) ++mismatches;
              break;
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

}  // namespace
}  // namespace blt
