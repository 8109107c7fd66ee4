#include "blt_core/serve/ids_json.hpp"

#include <charconv>
#include <cstdint>

namespace blt::serve {

namespace {
template <class T>
void append_all(const T* p, size_t n, std::string& out) {
  size_t start = out.size();
  out.resize(start + n * 21 + 2);  // 20 digits of any 64-bit id plus a comma each, brackets
  char* w = out.data() + start;
  char* end = out.data() + out.size();
  *w++ = '[';
  for (size_t i = 0; i < n; ++i) {
    if (i) *w++ = ',';
    w = std::to_chars(w, end, p[i]).ptr;
  }
  *w++ = ']';
  out.resize(static_cast<size_t>(w - out.data()));
}
}  // namespace

void append_ids_json(const IdBuffer& ids, std::string& out) {
  switch (ids.dtype()) {
    case DType::u16: return append_all(ids.as<uint16_t>(), ids.size(), out);
    case DType::u32: return append_all(ids.as<uint32_t>(), ids.size(), out);
    case DType::i32: return append_all(ids.as<int32_t>(), ids.size(), out);
    case DType::i64: return append_all(ids.as<int64_t>(), ids.size(), out);
  }
}

}  // namespace blt::serve
