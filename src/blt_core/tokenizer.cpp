#include "blt_core/tokenizer.hpp"

#include <cstddef>
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

size_t Tokenizer::encode_into(ByteSpan in, DType dt, void* out, size_t capacity) const {
  check_dtype_fits(*this, dt);
  auto too_small = [&](size_t need) {
    return std::length_error("the output array holds " + std::to_string(capacity) + " ids; this input needs " +
                             std::to_string(need));
  };
  std::vector<uint32_t> head, tail;
  prefix(head);
  suffix(tail);
  in = in.subspan(leading_skip(in));
  const size_t w = dtype_size(dt);
  auto* base = static_cast<std::byte*>(out);
  if (auto n = body_size(in)) {
    const size_t total = head.size() + *n + tail.size();
    if (total > capacity) throw too_small(total);
    convert_ids(head.data(), head.size(), dt, base);
    encode_body_into(in, dt, base + head.size() * w);
    convert_ids(tail.data(), tail.size(), dt, base + (head.size() + *n) * w);
    return total;
  }
  // Unknown length: ids go through a per-thread scratch vector, which keeps its capacity between
  // calls (up to 16 Mi ids: one huge input must not pin its scratch for the thread's life).
  constexpr size_t kKeepIds = size_t(1) << 24;
  thread_local std::vector<uint32_t> ids;
  ids.assign(head.begin(), head.end());
  encode_body(in, ids);
  ids.insert(ids.end(), tail.begin(), tail.end());
  const size_t n = ids.size();
  if (n <= capacity) convert_ids(ids.data(), n, dt, base);
  if (ids.capacity() > kKeepIds) std::vector<uint32_t>().swap(ids);
  if (n > capacity) throw too_small(n);
  return n;
}

}  // namespace blt
