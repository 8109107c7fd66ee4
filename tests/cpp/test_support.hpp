// Helpers shared by the GoogleTest files: byte views of strings, ids as plain vectors, shared data.
// Test-only; the tests find the shared data through BLT_SHARED_DIR like the Python tests do.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "blt_core/bpe/bpe_model.hpp"
#include "blt_core/bpe/vocab_io.hpp"
#include "blt_core/id_buffer.hpp"
#include "blt_core/text/openai_patterns.hpp"
#include "blt_core/tokenizer.hpp"

namespace blt::test {

inline ByteSpan bytes_of(const std::string& s) {
  return ByteSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

// The ids of any dtype, widened, so one expectation serves every dtype.
inline std::vector<uint64_t> to_vec(const IdBuffer& b) {
  std::vector<uint64_t> v;
  for (size_t i = 0; i < b.size(); ++i) {
    switch (b.dtype()) {
      case DType::u16: v.push_back(b.as<uint16_t>()[i]); break;
      case DType::u32: case DType::i32: v.push_back(b.as<uint32_t>()[i]); break;
      case DType::i64: v.push_back(static_cast<uint64_t>(b.as<int64_t>()[i])); break;
    }
  }
  return v;
}

inline std::string shared_dir() {
  const char* d = std::getenv("BLT_SHARED_DIR");
  return d ? d : "../shared";
}

// The whole file, or "" when it cannot be read.
inline std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The r50k/p50k split pattern, from the core's one copy of the OpenAI patterns.
inline const std::string kR50kPattern{openai_pattern_text(OpenAIPattern::r50k)};

// r50k_base from the shared vocabulary, or nullptr when the file is missing (tests then skip).
inline std::shared_ptr<const bpe::BpeModel> load_r50k() {
  std::string data = read_file(shared_dir() + "/vocab/r50k_base.tiktoken");
  if (data.empty()) return nullptr;
  bpe::BpeSpec spec;
  spec.name = "r50k_base";
  spec.pattern = kR50kPattern;
  spec.vocab = bpe::parse_tiktoken(bytes_of(data), "r50k_base.tiktoken");
  spec.specials = {{"<|endoftext|>", 50256, false}};
  return std::make_shared<const bpe::BpeModel>(std::move(spec));
}

}  // namespace blt::test
