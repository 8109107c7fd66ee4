// Fuzz target: the binary BPE blob that carries a model through pickle (deserialize_spec) and the
// model built from it. Refused with std::invalid_argument, or it loads, encodes and decodes.
#include <stdexcept>

#include "blt_core/bpe/bpe_encoder.hpp"
#include "blt_core/bpe/special_policy.hpp"
#include "blt_core/bpe/vocab_io.hpp"
#include "fuzz_support.hpp"

using namespace blt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::shared_ptr<const bpe::BpeModel> model;
  try {
    model = std::make_shared<const bpe::BpeModel>(bpe::deserialize_spec(ByteSpan(data, size)));
  } catch (const std::invalid_argument&) {
    return 0;
  }
  // A blob that loads survives its own round trip.
  std::string blob = bpe::serialize_spec(model->spec());
  bpe::BpeModel again(bpe::deserialize_spec(fuzz::as_bytes(blob)));
  BLT_FUZZ_CHECK(again.n_vocab() == model->n_vocab(), "blob round trip keeps n_vocab");
  // And encodes text back to itself (specials as text), unless an HF special swallows whitespace
  // (lstrip/rstrip drop it by design).
  if (model->specials().strips()) return 0;
  bpe::BpeEncoder enc(model, bpe::SpecialPolicy{});
  const std::string text = "Hello world, it's 2024!\n\n  \xc3\xa9t\xc3\xa9 \xff\xfe <|endoftext|>";
  std::vector<uint32_t> ids;
  enc.encode_body(fuzz::as_bytes(text), ids);
  std::vector<int64_t> wide(ids.begin(), ids.end());
  std::string back;
  enc.decode_bytes(wide, back);
  BLT_FUZZ_CHECK(back == text, "decode(encode(text)) == text");
  return 0;
}
