#include "blt_core/pipeline/crc32.hpp"

#include <array>
#include <cstring>

#include "blt_core/simd/dispatch.hpp"

namespace blt {
namespace {

constexpr uint32_t kPoly = 0xEDB88320u;  // reflected x^32 + x^26 + ... + 1

// Slicing-by-8 tables: table[k][b] is the CRC of byte b followed by k zero bytes.
struct CrcTables {
  uint32_t t[8][256];
  constexpr CrcTables() : t() {
    for (uint32_t b = 0; b < 256; ++b) {
      uint32_t c = b;
      for (int k = 0; k < 8; ++k) c = c & 1 ? (c >> 1) ^ kPoly : c >> 1;
      t[0][b] = c;
    }
    for (uint32_t b = 0; b < 256; ++b)
      for (int k = 1; k < 8; ++k) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xFF];
  }
};
constexpr CrcTables kTables{};

// Product of two polynomials modulo the CRC polynomial (bit 31 is x^0: reflected order).
uint32_t mult_mod_p(uint32_t a, uint32_t b) {
  uint32_t m = 1u << 31, p = 0;
  for (;;) {
    if (a & m) {
      p ^= b;
      if ((a & (m - 1)) == 0) break;
    }
    m >>= 1;
    b = b & 1 ? (b >> 1) ^ kPoly : b >> 1;
  }
  return p;
}

// x^(2^k) modulo the polynomial, k = 0..63.
struct PowerTable {
  std::array<uint32_t, 64> v{};
  PowerTable() {
    uint32_t p = 1u << 30;  // x^1
    for (auto& e : v) {
      e = p;
      p = mult_mod_p(p, p);
    }
  }
};

}  // namespace

namespace detail {

bool crc32_has_pclmul() {
#if BLT_SIMD_X86
  static const bool has = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse2");
  return has;
#else
  return false;
#endif
}

uint32_t crc32_update_table(uint32_t crc, const uint8_t* p, size_t n) {
  const auto& t = kTables.t;
  uint32_t c = ~crc;
  while (n >= 8) {
    uint32_t lo, hi;
    std::memcpy(&lo, p, 4);
    std::memcpy(&hi, p + 4, 4);
    lo ^= c;  // little-endian load: byte 0 is the low byte
    c = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24] ^
        t[3][hi & 0xFF] ^ t[2][(hi >> 8) & 0xFF] ^ t[1][(hi >> 16) & 0xFF] ^ t[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n--) c = (c >> 8) ^ t[0][(c ^ *p++) & 0xFF];
  return ~c;
}

#if !BLT_SIMD_X86
uint32_t crc32_update_pclmul(uint32_t crc, const uint8_t* p, size_t n) { return crc32_update_table(crc, p, n); }
#endif

}  // namespace detail

uint32_t crc32_update(uint32_t crc, const uint8_t* p, size_t n) {
  static const bool fast = detail::crc32_has_pclmul();
  return fast ? detail::crc32_update_pclmul(crc, p, n) : detail::crc32_update_table(crc, p, n);
}

uint32_t crc32_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b) {
  static const PowerTable powers;
  // crc_a times x^(8 len_b): appending len_b zero bytes to A, then B's own CRC on top.
  uint32_t x = 1u << 31;  // x^0
  uint64_t bits = len_b;
  for (int k = 3; bits; bits >>= 1, ++k)
    if (bits & 1) x = mult_mod_p(powers.v[static_cast<size_t>(k & 63)], x);
  return mult_mod_p(x, crc_a) ^ crc_b;
}

}  // namespace blt
