// Fuzz target: the real OpenAI vocabularies (r50k, cl100k, o200k from BLT_SHARED_DIR; a small
// model when missing) and the BPE-delimited byte codec on fuzzed text: decode(encode(x)) == x,
// count == len(encode), encode_prefix is a prefix, and chunked encoding at safe cuts == one-shot.
#include <stdexcept>

#include "blt_core/bpe/bpe_encoder.hpp"
#include "blt_core/bpe/special_policy.hpp"
#include "blt_core/codec/bpe_delimited_codec.hpp"
#include "fuzz_support.hpp"

using namespace blt;

namespace {

std::vector<std::shared_ptr<const bpe::BpeModel>> g_models;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  g_models.push_back(fuzz::load_shared("r50k_base", OpenAIPattern::r50k, 50256));
  g_models.push_back(fuzz::load_shared("cl100k_base", OpenAIPattern::cl100k, 100257));
  g_models.push_back(fuzz::load_shared("o200k_base", OpenAIPattern::o200k, 199999));
  std::string seed = "the quick brown fox jumps over the lazy dog 0123456789 ''s 've";
  for (auto& m : g_models)
    if (!m) m = fuzz::small_model(fuzz::as_bytes(seed));
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Input in(data, size);
  const auto& model = g_models[in.byte() % g_models.size()];
  const uint8_t mode = in.byte();
  std::vector<std::string> allowed, disallowed;
  if (mode & 1) allowed.push_back("<|endoftext|>");
  if (mode & 2) disallowed.push_back("<|endoftext|>");
  bpe::BpeEncoder enc(model, bpe::make_special_policy(model->specials().tokens(), allowed, disallowed));
  const size_t step = 1 + in.byte();
  ByteSpan text = in.rest();
  const std::string expect(reinterpret_cast<const char*>(text.data()), text.size());

  std::vector<uint32_t> ids;
  try {
    enc.encode_body(text, ids);
  } catch (const std::invalid_argument&) {
    // Only a disallowed special may refuse the text.
    BLT_FUZZ_CHECK(!disallowed.empty() && expect.find("<|endoftext|>") != std::string::npos,
                   "encode refuses only a disallowed special");
    return 0;
  }
  BLT_FUZZ_CHECK(disallowed.empty() || allowed.size() || expect.find("<|endoftext|>") == std::string::npos,
                 "a disallowed special is refused");
  std::vector<int64_t> wide(ids.begin(), ids.end());
  std::string back;
  enc.decode_bytes(wide, back);
  BLT_FUZZ_CHECK(back == expect, "decode(encode(text)) == text");
  BLT_FUZZ_CHECK(enc.count(text) == ids.size(), "count == len(encode)");

  std::vector<uint32_t> head;
  size_t covered = enc.encode_prefix(text, step, head);
  BLT_FUZZ_CHECK(head.size() <= step && covered <= text.size(), "encode_prefix bounds");
  BLT_FUZZ_CHECK(std::equal(head.begin(), head.end(), ids.begin()), "encode_prefix is a prefix");

  std::vector<uint32_t> chunked;
  for (size_t pos = 0; pos < text.size();) {
    ByteSpan window = text.subspan(pos);
    size_t cut = window.size() > step ? enc.safe_split(window, step) : window.size();
    if (cut == 0) cut = window.size();
    BLT_FUZZ_CHECK(cut <= window.size(), "safe_split stays in the window");
    enc.encode_body(window.first(cut), chunked);
    pos += cut;
  }
  BLT_FUZZ_CHECK(chunked == ids, "chunked at safe cuts == one-shot");

  // The BPE-delimited byte codec: its byte ids decode to the text as well.
  ByteCodecOptions opts;
  opts.bos = mode & 4;
  opts.eos = mode & 8;
  BpeDelimitedCodec codec(opts, enc);
  IdBuffer all = codec.encode(text, DType::u32);
  std::vector<int64_t> all_wide(all.as<uint32_t>(), all.as<uint32_t>() + all.size());
  std::string bytes_back;
  codec.decode_bytes(all_wide, bytes_back);
  BLT_FUZZ_CHECK(bytes_back == expect, "delimited codec decodes to the text");
  return 0;
}
