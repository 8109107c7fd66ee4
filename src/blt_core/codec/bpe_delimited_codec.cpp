#include "blt_core/codec/bpe_delimited_codec.hpp"

namespace blt {

void BpeDelimitedCodec::encode_body(ByteSpan in, std::vector<uint32_t>& out) const {
  // Token ids first (one BPE pass, scratch reused per thread), then each token expands to the
  // delimiter plus its bytes. The exact size is summed first: an allowed special that swallowed
  // whitespace (HF lstrip) spells fewer bytes than it consumed, so in.size() is not assumed.
  thread_local std::vector<uint32_t> tokens;
  tokens.clear();
  bpe_.encode_body(in, tokens);
  const bpe::BpeModel& model = bpe_.model();
  size_t n = tokens.size();
  for (uint32_t t : tokens) n += model.token_bytes(t).size();
  size_t w = out.size();
  out.resize(w + n);
  uint32_t* o = out.data() + w;
  for (uint32_t t : tokens) {
    auto b = model.token_bytes(t);
    *o++ = kBpeDelimId;
    for (uint8_t x : b) *o++ = x + kByteOffset;  // tokens are short: no SIMD call
  }
}

}  // namespace blt
