// BpeEncoder: a BpeModel plus one special-token policy, as a blt::Tokenizer.
// Cheap to create per call (shares the model); immutable and safe to use from many threads.
#pragma once
#include <memory>
#include <vector>

#include "blt_core/bpe/bpe_model.hpp"
#include "blt_core/tokenizer.hpp"

namespace blt::bpe {

class BpeEncoder final : public Tokenizer {
 public:
  BpeEncoder(std::shared_ptr<const BpeModel> model, SpecialPolicy policy);

  const BpeModel& model() const { return *model_; }
  const std::shared_ptr<const BpeModel>& model_ptr() const { return model_; }

  uint64_t n_vocab() const override { return model_->n_vocab(); }
  size_t safe_split(ByteSpan window, size_t target) const override;
  // Throws std::invalid_argument if the text holds a disallowed special token.
  void encode_body(ByteSpan in, std::vector<uint32_t>& out) const override;

  // The first max_tokens ids of encode_body(in); returns how many input bytes they cover
  // (in.size() if the whole input fit). The rest of the input is still checked for disallowed
  // specials, so the call raises exactly when a full encode would.
  size_t encode_prefix(ByteSpan in, size_t max_tokens, std::vector<uint32_t>& out) const;

  // encode_body plus each token's start byte offset in `in`.
  void encode_with_offsets(ByteSpan in, std::vector<uint32_t>& ids, std::vector<int64_t>& starts) const;

  // Bytes of the tokens (specials give their text); std::invalid_argument for an unknown id.
  void decode_bytes(std::span<const int64_t> ids, std::string& out) const override {
    model_->decode(ids.data(), ids.size(), out);
  }

  // Number of ids encode_body would produce, without storing them.
  size_t count(ByteSpan in) const;

 private:
  template <class Sink>
  size_t run(ByteSpan in, Sink& sink) const;
  template <class Sink>
  bool encode_plain_span(ByteSpan text, size_t base, Sink& sink) const;
  void check_disallowed(ByteSpan in, size_t from) const;

  std::shared_ptr<const BpeModel> model_;
  SpecialPolicy policy_;
  bool specials_active_;
};

// Character index (UTF-8 lead bytes before it) of each byte offset in `starts` (ascending), in
// place: a token starting inside a multi-byte character gets that character's index.
void byte_to_char_offsets(ByteSpan text, std::vector<int64_t>& starts);

}  // namespace blt::bpe
