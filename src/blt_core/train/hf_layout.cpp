#include "blt_core/train/hf_layout.hpp"

#include <algorithm>
#include <unordered_map>

namespace blt::train {

uint32_t byte_level_code_point(uint8_t b) {
  // Printable Latin-1 bytes stand for themselves; the others map to 256, 257, ... in byte order.
  if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE)) return b;
  uint32_t n = 0;
  for (int x = 0; x < b; ++x) {
    uint8_t y = static_cast<uint8_t>(x);
    if (!((y >= '!' && y <= '~') || (y >= 0xA1 && y <= 0xAC) || (y >= 0xAE))) ++n;
  }
  return 256 + n;
}

static std::string utf8_of(uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

IdLayout hf_layout(const std::vector<std::string>& specials) {
  IdLayout l;
  std::unordered_map<std::string, uint32_t> ids;
  for (const std::string& s : specials) {
    auto [it, fresh] = ids.emplace(s, static_cast<uint32_t>(ids.size()));
    l.special_ids.push_back(it->second);
  }
  std::array<uint8_t, 256> order;
  for (int b = 0; b < 256; ++b) order[b] = static_cast<uint8_t>(b);
  std::sort(order.begin(), order.end(),
            [](uint8_t x, uint8_t y) { return byte_level_code_point(x) < byte_level_code_point(y); });
  for (uint8_t b : order) {
    auto [it, fresh] = ids.emplace(utf8_of(byte_level_code_point(b)), static_cast<uint32_t>(ids.size()));
    l.byte_ids[b] = it->second;
  }
  l.base_size = static_cast<uint32_t>(ids.size());
  l.first_new_id = l.base_size;
  return l;
}

IdLayout byte_order_layout() {
  IdLayout l;
  for (int b = 0; b < 256; ++b) l.byte_ids[b] = static_cast<uint32_t>(b);
  l.base_size = 256;
  l.first_new_id = 256;
  return l;
}

}  // namespace blt::train
