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

namespace {

// A whole document: the prefix and suffix ids, and the body once the leading skip is cut off.
struct Document {
  std::vector<uint32_t> head, tail;
  ByteSpan body;
};

Document split_document(const Tokenizer& t, ByteSpan in) {
  Document d;
  t.prefix(d.head);
  t.suffix(d.tail);
  d.body = in.subspan(t.leading_skip(in));
  return d;
}

// Writes the document as `dt` at `base` (room for head + n + tail ids), where n = body_size(body):
// every id straight into place, one pass, no temporary.
void write_known(const Tokenizer& t, const Document& d, size_t n, DType dt, std::byte* base) {
  const size_t w = dtype_size(dt);
  convert_ids(d.head.data(), d.head.size(), dt, base);
  t.encode_body_into(d.body, dt, base + d.head.size() * w);
  convert_ids(d.tail.data(), d.tail.size(), dt, base + (d.head.size() + n) * w);
}

}  // namespace

IdBuffer Tokenizer::encode(ByteSpan in, DType dt) const {
  check_dtype_fits(*this, dt);
  Document d = split_document(*this, in);
  if (auto n = body_size(d.body)) {
    IdBuffer out = IdBuffer::allocate(dt, d.head.size() + *n + d.tail.size());
    write_known(*this, d, *n, dt, out.as<std::byte>());
    return out;
  }
  std::vector<uint32_t> ids = std::move(d.head);
  encode_body(d.body, ids);
  ids.insert(ids.end(), d.tail.begin(), d.tail.end());
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
  const Document d = split_document(*this, in);
  auto* base = static_cast<std::byte*>(out);
  if (auto n = body_size(d.body)) {
    const size_t total = d.head.size() + *n + d.tail.size();
    if (total > capacity) throw too_small(total);
    write_known(*this, d, *n, dt, base);
    return total;
  }
  // Unknown length: ids go through a per-thread scratch vector, which keeps its capacity between
  // calls (up to 16 Mi ids: one huge input must not pin its scratch for the thread's life).
  constexpr size_t kKeepIds = size_t(1) << 24;
  thread_local std::vector<uint32_t> ids;
  ids.assign(d.head.begin(), d.head.end());
  encode_body(d.body, ids);
  ids.insert(ids.end(), d.tail.begin(), d.tail.end());
  const size_t n = ids.size();
  if (n <= capacity) convert_ids(ids.data(), n, dt, base);
  if (ids.capacity() > kKeepIds) std::vector<uint32_t>().swap(ids);
  if (n > capacity) throw too_small(n);
  return n;
}

}  // namespace blt
