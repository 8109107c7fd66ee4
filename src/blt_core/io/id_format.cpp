#include "blt_core/io/id_format.hpp"

#include <array>
#include <bit>
#include <charconv>
#include <cstring>
#include <stdexcept>

namespace blt {

static_assert(std::endian::native == std::endian::little,
              "bin/npy writers emit native ids as little-endian");

OutputFormat parse_output_format(std::string_view name) {
  if (name == "bin") return OutputFormat::bin;
  if (name == "npy") return OutputFormat::npy;
  if (name == "jsonl") return OutputFormat::jsonl;
  throw std::invalid_argument("unknown output format '" + std::string(name) +
                              "' (expected bin, npy or jsonl)");
}

size_t IdFormat::max_bytes_per_id(uint64_t max_id) const {
  if (binary()) return dtype_size(dt_);
  size_t digits = 1;
  for (uint64_t v = max_id; v >= 10; v /= 10) ++digits;
  return digits + 1;  // the comma
}

std::vector<uint8_t> npy_header(DType dt, uint64_t n) {
  const char* descr = "<u2";
  switch (dt) {
    case DType::u16: descr = "<u2"; break;
    case DType::u32: descr = "<u4"; break;
    case DType::i32: descr = "<i4"; break;
    case DType::i64: descr = "<i8"; break;
  }
  std::string dict = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': (" +
                     std::to_string(n) + ",), }";
  const size_t dict_room = kNpyHeaderBytes - 10;  // magic(6) + version(2) + length(2)
  dict.resize(dict_room - 1, ' ');
  dict.push_back('\n');
  std::vector<uint8_t> h = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                            static_cast<uint8_t>(dict_room & 0xFF), static_cast<uint8_t>(dict_room >> 8)};
  h.insert(h.end(), dict.begin(), dict.end());
  return h;
}

std::vector<uint8_t> IdFormat::head(uint64_t n_ids) const {
  switch (fmt_) {
    case OutputFormat::bin: return {};
    case OutputFormat::npy: return npy_header(dt_, n_ids);
    case OutputFormat::jsonl: return {'['};
  }
  return {};
}

std::vector<uint8_t> IdFormat::tail() const {
  if (fmt_ == OutputFormat::jsonl) return {']', '\n'};
  return {};
}

namespace {
// ",<id>" for ids below 1000 (all byte ids), formatted once and copied as 4 bytes instead of
// running to_chars per id.
struct SmallIdText {
  char text[4];
  uint8_t len;
};
constexpr std::array<SmallIdText, 1000> make_small_ids() {
  std::array<SmallIdText, 1000> t{};
  for (uint32_t v = 0; v < 1000; ++v) {
    char digits[3];
    int k = 0;
    uint32_t x = v;
    do {
      digits[k++] = static_cast<char>('0' + x % 10);
      x /= 10;
    } while (x);
    t[v].text[0] = ',';
    for (int i = 0; i < k; ++i) t[v].text[1 + i] = digits[k - 1 - i];
    t[v].len = static_cast<uint8_t>(k + 1);
  }
  return t;
}
constexpr std::array<SmallIdText, 1000> kSmallIds = make_small_ids();
}  // namespace

size_t IdFormat::write_ids(const uint32_t* ids, size_t n, uint8_t* out) const {
  if (binary()) {
    convert_ids(ids, n, dt_, out);
    return n * dtype_size(dt_);
  }
  char* p = reinterpret_cast<char*>(out);
  for (size_t i = 0; i < n; ++i) {
    uint32_t v = ids[i];
    if (v < kSmallIds.size()) {
      std::memcpy(p, kSmallIds[v].text, 4);  // may write past the text: kWriteSlack covers it
      p += kSmallIds[v].len;
    } else {
      *p++ = ',';
      p = std::to_chars(p, p + 10, v).ptr;
    }
  }
  return static_cast<size_t>(p - reinterpret_cast<char*>(out));
}

void IdFormat::append_ids(const uint32_t* ids, size_t n, std::vector<uint8_t>& out) const {
  size_t old = out.size();
  out.resize(old + n * 11 + kWriteSlack);
  out.resize(old + write_ids(ids, n, out.data() + old));
}

}  // namespace blt
