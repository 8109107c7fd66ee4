// Tokenizer: the one interface the file pipeline, batch encoding and the server use.
// A tokenizer encodes a span of a byte stream into ids and says where a stream may be cut safely.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "blt_core/dtype.hpp"
#include "blt_core/id_buffer.hpp"

namespace blt {

using ByteSpan = std::span<const uint8_t>;

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  virtual uint64_t n_vocab() const = 0;

  // Ids emitted once before the first byte of a stream (BOS, meta token) and after its last (EOS).
  virtual void prefix(std::vector<uint32_t>& out) const { (void)out; }
  virtual void suffix(std::vector<uint32_t>& out) const { (void)out; }

  // Bytes at the very start of a stream that produce no ids (a BOM being stripped).
  virtual size_t leading_skip(ByteSpan head) const {
    (void)head;
    return 0;
  }

  // A cut point p with 0 < p <= target such that encoding window[0:p] and the rest of the stream
  // separately gives the same ids as encoding them together. `window` starts at the current chunk
  // start and runs as far as the caller has data (target < window.size() unless at end of stream).
  // Returns 0 when the window holds no safe cut at or before target: the caller must then widen.
  virtual size_t safe_split(ByteSpan window, size_t target) const = 0;

  // Appends the ids of a stream span (no prefix/suffix) to `out`.
  virtual void encode_body(ByteSpan in, std::vector<uint32_t>& out) const = 0;

  // Exact id count of encode_body(in), if the tokenizer knows it without encoding (bytes do).
  virtual std::optional<size_t> body_size(ByteSpan in) const {
    (void)in;
    return std::nullopt;
  }

  // Writes encode_body(in) as `dt` at `out`; only called when body_size(in) has a value.
  virtual void encode_body_into(ByteSpan in, DType dt, void* out) const {
    (void)in, (void)dt, (void)out;
  }

  // Appends the bytes that `ids` stand for (the inverse of encoding; specials as the tokenizer
  // defines them). Throws std::invalid_argument or std::out_of_range naming an unknown id; the
  // default, for tokenizers that cannot decode, throws std::invalid_argument.
  virtual void decode_bytes(std::span<const int64_t> ids, std::string& out) const;

  // Whole-document encoding: prefix, leading_skip, body, suffix, in dtype `dt`.
  IdBuffer encode(ByteSpan in, DType dt) const;

  // The same ids written to caller memory that holds `capacity` ids of `dt` (a buffer reused across
  // calls faults in no new pages); returns how many were written. Throws std::length_error naming
  // both counts when they do not fit (out may then hold a partial result).
  size_t encode_into(ByteSpan in, DType dt, void* out, size_t capacity) const;

  // Largest id this tokenizer can emit, for dtype range checks.
  uint64_t max_id() const { return n_vocab() ? n_vocab() - 1 : 0; }
};

// Throws std::invalid_argument when ids of `tok` may not fit in `dt`.
void check_dtype_fits(const Tokenizer& tok, DType dt);

}  // namespace blt
