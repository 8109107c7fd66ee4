// BpeDelimitedCodec: BLT byte ids with the BPE delimiter (id 3) placed before the bytes of every
// token of a BPE tokenizer (BLT's bpe_delim), so the bpe patching rule gives one patch per token.
#pragma once
#include <optional>
#include <vector>

#include "blt_core/bpe/bpe_encoder.hpp"
#include "blt_core/codec/byte_codec.hpp"

namespace blt {

// Ids of a document: [BOS] [meta] (3, b0+4, b1+4, ...) per BPE token ... [EOS]. As in the
// reference, BOS/meta/EOS get no delimiter, and the BPE tokenizer sees the text without them.
// The BPE tokenizer's safe cuts are cuts between tokens, so they are safe here too.
class BpeDelimitedCodec final : public Tokenizer {
 public:
  BpeDelimitedCodec(ByteCodecOptions opts, bpe::BpeEncoder bpe)
      : bytes_(opts), bpe_(std::move(bpe)) {}

  const ByteCodec& byte_codec() const { return bytes_; }
  const bpe::BpeEncoder& bpe() const { return bpe_; }

  uint64_t n_vocab() const override { return bytes_.n_vocab(); }
  void prefix(std::vector<uint32_t>& out) const override { bytes_.prefix(out); }
  void suffix(std::vector<uint32_t>& out) const override { bytes_.suffix(out); }
  size_t leading_skip(ByteSpan head) const override { return bytes_.leading_skip(head); }
  size_t safe_split(ByteSpan window, size_t target) const override {
    return bpe_.safe_split(window, target);
  }
  // Throws std::invalid_argument (from the BPE tokenizer) for a disallowed special token.
  void encode_body(ByteSpan in, std::vector<uint32_t>& out) const override;
  // The bytes of the byte ids; delimiters, BOS/EOS and meta tokens give none.
  void decode_bytes(std::span<const int64_t> ids, std::string& out) const override {
    ByteCodec::decode(ids.data(), ids.size(), out);
  }

 private:
  ByteCodec bytes_;
  bpe::BpeEncoder bpe_;
};

}  // namespace blt
