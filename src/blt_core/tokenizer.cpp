#include "blt_core/tokenizer.hpp"

#include <stdexcept>
#include <string>

namespace blt {

void check_dtype_fits(const Tokenizer& tok, DType dt) {
  if (tok.max_id() > dtype_max_id(dt)) {
    throw std::invalid_argument("dtype " + std::string(dtype_name(dt)) + " cannot hold ids up to " +
                                std::to_string(tok.max_id()) + " (vocabulary of " +
                                std::to_string(tok.n_vocab()) + ")");
  }
}

void Tokenizer::decode_bytes(std::span<const int64_t> ids, std::string& out) const {
  (void)ids, (void)out;
  throw std::invalid_argument("this tokenizer cannot decode ids");
}

IdBuffer Tokenizer::encode(ByteSpan in, DType dt) const {
  check_dtype_fits(*this, dt);
  std::vector<uint32_t> head, tail;
  prefix(head);
  suffix(tail);
  in = in.subspan(leading_skip(in));
  if (auto n = body_size(in)) {
    // Known length: write every id straight into the final buffer, one pass, no temporary.
    IdBuffer out = IdBuffer::allocate(dt, head.size() + *n + tail.size());
    auto* base = out.as<std::byte>();
    size_t w = dtype_size(dt);
    convert_ids(head.data(), head.size(), dt, base);
    encode_body_into(in, dt, base + head.size() * w);
    convert_ids(tail.data(), tail.size(), dt, base + (head.size() + *n) * w);
    return out;
  }
  std::vector<uint32_t> ids = std::move(head);
  encode_body(in, ids);
  ids.insert(ids.end(), tail.begin(), tail.end());
  if (dt == DType::u32 || dt == DType::i32) {
    return IdBuffer::adopt(std::move(ids), dt);
  }
  IdBuffer out = IdBuffer::allocate(dt, ids.size());
  convert_ids(ids.data(), ids.size(), dt, out.data());
  return out;
}

}  // namespace blt
