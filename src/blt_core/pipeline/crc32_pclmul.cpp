// CRC-32 by carry-less multiplication (PCLMULQDQ), compiled with -mpclmul; crc32.cpp calls it
// only on CPUs that have the instruction.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "blt_core/pipeline/crc32.hpp"

namespace blt::detail {

namespace {

// Folding constants of the reflected polynomial 0x104C11DB7: (x^e mod P), bit-reversed and
// shifted left once (the reflected product of two 64-bit halves comes out one bit short).
// Folding 128 bits forward by D bits multiplies its first 64 bits by x^(D+32) and its last 64
// by x^(D-32). A wrong constant fails the test Crc32.PclmulKernelEqualsTheTableKernel.
constexpr uint64_t kX544 = 0x154442bd4, kX480 = 0x1c6e41596;  // D = 512 (four lanes)
constexpr uint64_t kX160 = 0x1751997d0, kX96 = 0x0ccaa009e;    // D = 128 (one lane)

inline __m128i fold(__m128i x, __m128i k, __m128i next) {
  const __m128i lo = _mm_clmulepi64_si128(x, k, 0x00);
  const __m128i hi = _mm_clmulepi64_si128(x, k, 0x11);
  return _mm_xor_si128(_mm_xor_si128(lo, hi), next);
}

inline __m128i load(const uint8_t* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }

}  // namespace

// Folds the message 64 bytes at a time (four independent lanes), then into one 16-byte value
// congruent to the whole prefix modulo P; the table code finishes those 16 bytes and the tail.
uint32_t crc32_update_pclmul(uint32_t crc, const uint8_t* p, size_t n) {
  if (n < 64) return crc32_update_table(crc, p, n);
  const __m128i k512 = _mm_set_epi64x(static_cast<long long>(kX480), static_cast<long long>(kX544));
  const __m128i k128 = _mm_set_epi64x(static_cast<long long>(kX96), static_cast<long long>(kX160));
  __m128i x0 = _mm_xor_si128(load(p), _mm_cvtsi32_si128(static_cast<int>(~crc)));
  __m128i x1 = load(p + 16), x2 = load(p + 32), x3 = load(p + 48);
  p += 64;
  n -= 64;
  while (n >= 64) {
    x0 = fold(x0, k512, load(p));
    x1 = fold(x1, k512, load(p + 16));
    x2 = fold(x2, k512, load(p + 32));
    x3 = fold(x3, k512, load(p + 48));
    p += 64;
    n -= 64;
  }
  __m128i x = fold(x0, k128, x1);
  x = fold(x, k128, x2);
  x = fold(x, k128, x3);
  while (n >= 16) {
    x = fold(x, k128, load(p));
    p += 16;
    n -= 16;
  }
  alignas(16) uint8_t rest[16];
  _mm_store_si128(reinterpret_cast<__m128i*>(rest), x);
  // The initial ~crc is already in x, so the table code starts from a zero register (crc ~0).
  return crc32_update_table(crc32_update_table(0xFFFFFFFFu, rest, 16), p, n);
}

}  // namespace blt::detail
