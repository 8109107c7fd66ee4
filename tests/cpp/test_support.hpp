// Helpers shared by the GoogleTest files: byte views of strings, ids as plain vectors, shared data.
// Test-only; the tests find the shared data through BLT_SHARED_DIR like the Python tests do.
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
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
  return d && *d ? d : "../shared";
}

// BLT_REQUIRE_SHARED=1 (make test, CI): a test whose shared data is missing fails instead of
// skipping, so a green run always ran the tests on the real vocabularies and corpus.
inline bool shared_data_required() {
  const char* v = std::getenv("BLT_REQUIRE_SHARED");
  return v && std::string(v) == "1";
}

// Ends the test (or the helper it stands in) when `found` is false: skipped with the reason, or
// failed when BLT_REQUIRE_SHARED=1.
#define BLT_NEED_SHARED_DATA(found)                                                               \
  if (!(found)) {                                                                                 \
    if (::blt::test::shared_data_required())                                                      \
      GTEST_FAIL() << "shared data not found under " << ::blt::test::shared_dir()                 \
                   << " and BLT_REQUIRE_SHARED=1";                                                \
    else                                                                                          \
      GTEST_SKIP() << "shared data not found under " << ::blt::test::shared_dir()                 \
                   << " (set BLT_SHARED_DIR to the shared folder)";                               \
  }

// The whole file, or "" when it cannot be read.
inline std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// The r50k/p50k split pattern, from the core's one copy of the OpenAI patterns.
inline const std::string kR50kPattern{openai_pattern_text(OpenAIPattern::r50k)};

// A rank file of the shared vocabulary folder (name without .tiktoken) with r50k's split pattern and
// the given specials, or nullptr when the file is missing (see BLT_NEED_SHARED_DATA).
inline std::shared_ptr<const bpe::BpeModel> load_tiktoken(const std::string& name,
                                                          std::vector<bpe::SpecialToken> specials = {}) {
  std::string data = read_file(shared_dir() + "/vocab/" + name + ".tiktoken");
  if (data.empty()) return nullptr;
  bpe::BpeSpec spec;
  spec.name = name;
  spec.pattern = kR50kPattern;
  spec.vocab = bpe::parse_tiktoken(bytes_of(data), name + ".tiktoken");
  spec.specials = std::move(specials);
  return std::make_shared<const bpe::BpeModel>(std::move(spec));
}

// r50k_base from the shared vocabulary, or nullptr when the file is missing.
inline std::shared_ptr<const bpe::BpeModel> load_r50k() {
  return load_tiktoken("r50k_base", {{"<|endoftext|>", 50256, false}});
}

}  // namespace blt::test
