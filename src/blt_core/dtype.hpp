// Output id element types (uint16/uint32/int32/int64) and conversion of id runs between them.
// Owns nothing else: every encoder writes ids through these helpers so dtype logic lives once.
#pragma once
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace blt {

enum class DType : uint8_t { u16, u32, i32, i64 };

constexpr size_t dtype_size(DType dt) {
  switch (dt) {
    case DType::u16: return 2;
    case DType::u32: return 4;
    case DType::i32: return 4;
    case DType::i64: return 8;
  }
  return 0;
}

constexpr std::string_view dtype_name(DType dt) {
  switch (dt) {
    case DType::u16: return "uint16";
    case DType::u32: return "uint32";
    case DType::i32: return "int32";
    case DType::i64: return "int64";
  }
  return "?";
}

// Largest id value a dtype can hold (ids are never negative).
constexpr uint64_t dtype_max_id(DType dt) {
  switch (dt) {
    case DType::u16: return 0xFFFFu;
    case DType::u32: return 0xFFFFFFFFu;
    case DType::i32: return 0x7FFFFFFFu;
    case DType::i64: return 0x7FFFFFFFFFFFFFFFull;
  }
  return 0;
}

inline DType parse_dtype(std::string_view name) {
  if (name == "uint16" || name == "u16") return DType::u16;
  if (name == "uint32" || name == "u32") return DType::u32;
  if (name == "int32" || name == "i32") return DType::i32;
  if (name == "int64" || name == "i64") return DType::i64;
  throw std::invalid_argument("unknown dtype '" + std::string(name) +
                              "' (expected uint16, uint32, int32 or int64)");
}

// Writes n uint32 ids as dtype `dt` at `out` (which must hold n * dtype_size(dt) bytes).
inline void convert_ids(const uint32_t* in, size_t n, DType dt, void* out) {
  switch (dt) {
    case DType::u16: {
      auto* o = static_cast<uint16_t*>(out);
      for (size_t i = 0; i < n; ++i) o[i] = static_cast<uint16_t>(in[i]);
      break;
    }
    case DType::u32:
    case DType::i32: {
      auto* o = static_cast<uint32_t*>(out);
      for (size_t i = 0; i < n; ++i) o[i] = in[i];
      break;
    }
    case DType::i64: {
      auto* o = static_cast<int64_t*>(out);
      for (size_t i = 0; i < n; ++i) o[i] = in[i];
      break;
    }
  }
}

}  // namespace blt
