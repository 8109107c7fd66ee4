// Output file formats for a stream of ids: raw little-endian (.bin), NumPy .npy, JSON lines.
// Owns the byte layout of each format; the pipeline formats chunks in parallel through it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "blt_core/dtype.hpp"

namespace blt {

enum class OutputFormat : uint8_t { bin, npy, jsonl };

OutputFormat parse_output_format(std::string_view name);  // throws std::invalid_argument

// One document of ids in format `fmt` (dtype `dt` for bin/npy):
//   head()  + body bytes of every chunk, in order  + tail()
// For npy the head holds the id count, so it is written with a placeholder first and rewritten
// by the caller once the count is known (same length both times). For jsonl the document is one
// line holding a JSON array; every id is formatted as ",<id>" and the caller drops the very
// first comma of the document (first_id_skip), so chunks can be formatted independently.
class IdFormat {
 public:
  IdFormat(OutputFormat fmt, DType dt) : fmt_(fmt), dt_(dt) {}
  OutputFormat format() const { return fmt_; }
  DType dtype() const { return dt_; }

  // Whether the body is the ids' raw dtype bytes (bin, npy); else text (jsonl).
  bool binary() const { return fmt_ != OutputFormat::jsonl; }

  // Upper bound on body bytes per id, for ids up to max_id.
  size_t max_bytes_per_id(uint64_t max_id) const;

  // Bytes before the first id; for npy with `n_ids` as the array length.
  std::vector<uint8_t> head(uint64_t n_ids) const;
  std::vector<uint8_t> tail() const;

  // Appends the body bytes of n ids.
  void append_ids(const uint32_t* ids, size_t n, std::vector<uint8_t>& out) const;
  // Writes the body bytes of n ids at out and returns the bytes written. `out` must have room for
  // n * max_bytes_per_id(max id) + kWriteSlack bytes (text is stored in small fixed-size copies).
  size_t write_ids(const uint32_t* ids, size_t n, uint8_t* out) const;
  static constexpr size_t kWriteSlack = 8;

  // Bytes to drop at the start of the document's first non-empty body (the jsonl comma).
  size_t first_id_skip() const { return fmt_ == OutputFormat::jsonl ? 1 : 0; }

 private:
  OutputFormat fmt_;
  DType dt_;
};

// NumPy .npy (format 1.0) header for a 1-D little-endian array, always kNpyHeaderBytes long.
inline constexpr size_t kNpyHeaderBytes = 128;
std::vector<uint8_t> npy_header(DType dt, uint64_t n);

}  // namespace blt
