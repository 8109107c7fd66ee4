// Helpers shared by the libFuzzer targets: reading choices from the fuzz input, a failing check that
// aborts (so libFuzzer records the input), small BPE models and the shared vocabularies.
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "blt_core/bpe/bpe_model.hpp"
#include "blt_core/bpe/vocab_io.hpp"
#include "blt_core/text/openai_patterns.hpp"
#include "blt_core/tokenizer.hpp"

namespace blt::fuzz {

// A property the target checks; on failure prints what broke and aborts, which libFuzzer reports
// as a crash and saves the input for.
#define BLT_FUZZ_CHECK(cond, what)                                                       \
  do {                                                                                    \
    if (!(cond)) {                                                                        \
      std::fprintf(stderr, "%s:%d: check failed: %s (%s)\n", __FILE__, __LINE__, #cond, \
                   what);                                                                 \
      std::abort();                                                                       \
    }                                                                                     \
  } while (0)

// Takes bytes from the front of the fuzz input for decisions; the rest is the payload.
class Input {
 public:
  Input(const uint8_t* data, size_t size) : p_(data), n_(size) {}
  uint8_t byte() {
    if (!n_) return 0;
    --n_;
    return *p_++;
  }
  uint32_t u32() { return byte() | (uint32_t{byte()} << 8) | (uint32_t{byte()} << 16) | (uint32_t{byte()} << 24); }
  // Uniform-ish in [0, bound) (bound > 0).
  uint32_t below(uint32_t bound) { return (bound <= 256 ? byte() : u32()) % bound; }
  bool flag() { return byte() & 1; }
  // Up to max_len bytes as one field.
  std::span<const uint8_t> take(size_t max_len) {
    size_t k = n_ < max_len ? n_ : max_len;
    std::span<const uint8_t> s(p_, k);
    p_ += k;
    n_ -= k;
    return s;
  }
  std::span<const uint8_t> rest() { return take(n_); }
  size_t remaining() const { return n_; }

 private:
  const uint8_t* p_;
  size_t n_;
};

inline ByteSpan as_bytes(const std::string& s) {
  return ByteSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

inline std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

inline std::string shared_dir() {
  const char* d = std::getenv("BLT_SHARED_DIR");
  return d && *d ? d : "../shared";
}

// A real OpenAI vocabulary from the shared folder with its split pattern and <|endoftext|>
// special, or nullptr when the file is missing (targets then fall back to a small model).
inline std::shared_ptr<const bpe::BpeModel> load_shared(const std::string& name, OpenAIPattern pat,
                                                        uint32_t eot_id) {
  std::string data = read_file(shared_dir() + "/vocab/" + name + ".tiktoken");
  if (data.empty()) return nullptr;
  bpe::BpeSpec spec;
  spec.name = name;
  spec.pattern = std::string(openai_pattern_text(pat));
  spec.vocab = bpe::parse_tiktoken(as_bytes(data), name + ".tiktoken");
  spec.specials = {{"<|endoftext|>", eot_id, false}};
  return std::make_shared<const bpe::BpeModel>(std::move(spec));
}

// A small rank vocabulary: the 256 bytes plus every pair of bytes from `text` seen in order
// (ranks as first seen), the r50k pattern and one special. Always a valid model.
inline std::shared_ptr<const bpe::BpeModel> small_model(std::span<const uint8_t> text) {
  bpe::BpeSpec spec;
  spec.name = "small";
  spec.pattern = std::string(openai_pattern_text(OpenAIPattern::r50k));
  uint32_t id = 0;
  for (int b = 0; b < 256; ++b) {
    uint8_t c = static_cast<uint8_t>(b);
    spec.vocab.add(std::span<const uint8_t>(&c, 1), id++);
  }
  for (size_t i = 0; i + 1 < text.size() && id < 600; ++i)
    if (spec.vocab.add(text.subspan(i, 2), id)) ++id;
  for (size_t i = 0; i + 3 < text.size() && id < 700; i += 3)
    if (spec.vocab.add(text.subspan(i, 4), id)) ++id;
  spec.specials = {{"<|endoftext|>", id + 10, false}};
  return std::make_shared<const bpe::BpeModel>(std::move(spec));
}

}  // namespace blt::fuzz
