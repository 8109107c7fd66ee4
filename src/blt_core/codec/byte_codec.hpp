// ByteCodec: BLT byte ids (BOE=0, BOS=1, EOS=2, BPE delimiter=3, byte+4), content-type meta
// tokens after them, BOM stripping, and decoding back to bytes. Ids as in facebookresearch/blt.
#pragma once
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "blt_core/codec/blt_ids.hpp"
#include "blt_core/tokenizer.hpp"

namespace blt {

std::optional<ContentType> parse_content_type(std::string_view name);  // nullopt if unknown
std::string_view content_type_name(ContentType t);

// Raised by decode for an id outside the vocabulary; carries the id and its position.
class InvalidIdError : public std::out_of_range {
 public:
  InvalidIdError(int64_t id, size_t position, uint64_t n_vocab);
  int64_t id;
  size_t position;
};

struct ByteCodecOptions {
  bool bos = true;
  bool eos = true;
  std::optional<ContentType> meta;  // meta token placed right after BOS
  bool strip_bom = false;
};

class ByteCodec final : public Tokenizer {
 public:
  static constexpr uint32_t meta_id(ContentType t) { return blt::meta_id(t); }

  // Length of a leading UTF-8, UTF-32 LE/BE or UTF-16 LE/BE byte order mark (0 if none).
  static size_t bom_length(ByteSpan data);

  explicit ByteCodec(ByteCodecOptions opts = {}) : opts_(opts) {}
  const ByteCodecOptions& options() const { return opts_; }

  uint64_t n_vocab() const override { return kBltVocabSize; }
  void prefix(std::vector<uint32_t>& out) const override;
  void suffix(std::vector<uint32_t>& out) const override;
  size_t leading_skip(ByteSpan head) const override;
  size_t safe_split(ByteSpan window, size_t target) const override;
  void encode_body(ByteSpan in, std::vector<uint32_t>& out) const override;
  std::optional<size_t> body_size(ByteSpan in) const override { return in.size(); }
  void encode_body_into(ByteSpan in, DType dt, void* out) const override;

  void decode_bytes(std::span<const int64_t> ids, std::string& out) const override {
    decode(ids.data(), ids.size(), out);
  }

  // Appends the bytes of ids (any integer type) to `out`, skipping specials and meta tokens.
  // Throws InvalidIdError for an id < 0 or > kMaxBltId.
  template <class T>
  static void decode(const T* ids, size_t n, std::string& out);

  // When true, safe_split keeps UTF-8 characters whole (type=text); bytes cut anywhere otherwise.
  bool keep_utf8_chars = false;

 private:
  ByteCodecOptions opts_;
};

template <class T>
void ByteCodec::decode(const T* ids, size_t n, std::string& out) {
  out.reserve(out.size() + n);
  for (size_t i = 0; i < n; ++i) {
    int64_t id = static_cast<int64_t>(ids[i]);
    if (id < 0 || id > static_cast<int64_t>(kMaxBltId)) throw InvalidIdError(id, i, kBltVocabSize);
    if (id >= static_cast<int64_t>(kByteOffset) && id < static_cast<int64_t>(kFirstMetaId))
      out.push_back(static_cast<char>(id - kByteOffset));
  }
}

}  // namespace blt
