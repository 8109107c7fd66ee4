// Fuzz target: the .tiktoken rank-file loader (parse_tiktoken) and the model built from it.
// Any input is either refused with std::invalid_argument or loads, re-formats and re-parses equal.
#include <stdexcept>

#include "blt_core/bpe/vocab_io.hpp"
#include "fuzz_support.hpp"

using namespace blt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  bpe::Vocab vocab;
  try {
    vocab = bpe::parse_tiktoken(ByteSpan(data, size), "fuzz.tiktoken");
  } catch (const std::invalid_argument&) {
    return 0;
  }
  BLT_FUZZ_CHECK(vocab.size() > 0, "a loaded vocabulary has tokens");
  // Written back in rank order and read again, the vocabulary is the same.
  std::string text = bpe::format_tiktoken(vocab);
  bpe::Vocab again = bpe::parse_tiktoken(fuzz::as_bytes(text), "formatted.tiktoken");
  BLT_FUZZ_CHECK(again.size() == vocab.size(), "re-parsed size");
  for (uint32_t id = 0; id < vocab.id_end(); ++id) {
    auto a = vocab.bytes(id), b = again.bytes(id);
    BLT_FUZZ_CHECK(a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin()), "re-parsed token");
    if (!a.empty()) BLT_FUZZ_CHECK(vocab.find(a) == id, "token finds its own rank");
  }
  // A model needs every single byte as a token; most fuzzed files are refused here, cleanly.
  bpe::BpeSpec spec;
  spec.name = "fuzz";
  spec.pattern = std::string(openai_pattern_text(OpenAIPattern::cl100k));
  spec.vocab = std::move(vocab);
  try {
    bpe::BpeModel model(std::move(spec));
    (void)model.merge_list();
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
