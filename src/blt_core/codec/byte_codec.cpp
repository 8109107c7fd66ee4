#include "blt_core/codec/byte_codec.hpp"

#include <cstring>

#include "blt_core/simd/byte_kernel.hpp"

namespace blt {

static constexpr std::string_view kContentNames[] = {"text", "audio", "image", "video", "bin"};

std::optional<ContentType> parse_content_type(std::string_view name) {
  for (size_t i = 0; i < std::size(kContentNames); ++i)
    if (kContentNames[i] == name) return static_cast<ContentType>(i);
  return std::nullopt;
}

std::string_view content_type_name(ContentType t) {
  return kContentNames[static_cast<size_t>(t)];
}

InvalidIdError::InvalidIdError(int64_t id_, size_t position_, uint64_t n_vocab)
    : std::out_of_range("id " + std::to_string(id_) + " at position " + std::to_string(position_) +
                        " is outside the vocabulary [0, " + std::to_string(n_vocab) + ")"),
      id(id_),
      position(position_) {}

size_t ByteCodec::bom_length(ByteSpan d) {
  auto starts = [&](std::initializer_list<uint8_t> bom) {
    return d.size() >= bom.size() && std::equal(bom.begin(), bom.end(), d.begin());
  };
  // UTF-32 LE must be tested before UTF-16 LE: FF FE 00 00 starts with FF FE.
  if (starts({0xEF, 0xBB, 0xBF})) return 3;
  if (starts({0xFF, 0xFE, 0x00, 0x00})) return 4;
  if (starts({0x00, 0x00, 0xFE, 0xFF})) return 4;
  if (starts({0xFF, 0xFE})) return 2;
  if (starts({0xFE, 0xFF})) return 2;
  return 0;
}

void ByteCodec::prefix(std::vector<uint32_t>& out) const {
  if (opts_.bos) out.push_back(kBosId);
  if (opts_.meta) out.push_back(meta_id(*opts_.meta));
}

void ByteCodec::suffix(std::vector<uint32_t>& out) const {
  if (opts_.eos) out.push_back(kEosId);
}

size_t ByteCodec::leading_skip(ByteSpan head) const {
  return opts_.strip_bom ? bom_length(head) : 0;
}

size_t ByteCodec::safe_split(ByteSpan window, size_t target) const {
  if (target == 0 || window.empty()) return 0;
  if (target > window.size()) target = window.size();
  if (!keep_utf8_chars || target == window.size()) return target;
  // Every byte is its own id, so any cut is exact; for text we still move the cut back to a
  // character start so each chunk holds whole UTF-8 characters (at most 3 continuation bytes).
  size_t p = target;
  for (size_t steps = 0; p > 0 && steps < 4; --p, ++steps) {
    if ((window[p] & 0xC0) != 0x80) return p;
  }
  // Only continuation bytes back to the window start: ask for a wider window. Four or more in a
  // row is not UTF-8, and any cut is still exact for bytes.
  return p == 0 ? 0 : target;
}

void ByteCodec::encode_body(ByteSpan in, std::vector<uint32_t>& out) const {
  size_t old = out.size();
  out.resize(old + in.size());
  simd::bytes_to_ids(in.data(), in.size(), kByteOffset, DType::u32, out.data() + old);
}

void ByteCodec::encode_body_into(ByteSpan in, DType dt, void* out) const {
  simd::bytes_to_ids(in.data(), in.size(), kByteOffset, dt, out);
}

}  // namespace blt
