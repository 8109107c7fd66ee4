#include "blt_core/codec/bpe_delimited_codec.hpp"

namespace blt {

void BpeDelimitedCodec::encode_body(ByteSpan in, std::vector<uint32_t>& out) const {
  // Token ids first (one BPE pass, scratch reused per thread), then each token expands to the
  // delimiter plus its bytes. A byte-level BPE's tokens spell the input back, so the output is
  // about in.size() + tokens ids; an allowed special that swallowed whitespace (HF lstrip) is
  // shorter, hence no exact size is assumed.
  thread_local std::vector<uint32_t> tokens;
  tokens.clear();
  bpe_.encode_body(in, tokens);
  const bpe::BpeModel& model = bpe_.model();
  out.reserve(out.size() + tokens.size() + in.size());
  for (uint32_t t : tokens) {
    out.push_back(ByteCodec::kBpeDelim);
    for (uint8_t b : model.token_bytes(t)) out.push_back(b + ByteCodec::kOffset);
  }
}

}  // namespace blt
