// CRC-32 (ISO-HDLC, the ZIP checksum) of byte runs, and the combination of two runs' CRCs, so
// the pipeline's workers can checksum their own chunks and the writer joins them in order.
#pragma once
#include <cstddef>
#include <cstdint>

namespace blt {

// CRC-32 of p[0:n) continuing `crc` (0 for a new run), as zlib's crc32(crc, p, n).
uint32_t crc32_update(uint32_t crc, const uint8_t* p, size_t n);

// CRC-32 of A + B from crc_a = CRC(A), crc_b = CRC(B) and len_b = |B|.
uint32_t crc32_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b);

namespace detail {
// The two kernels crc32_update chooses between (once, by CPU): slicing-by-8 tables everywhere,
// carry-less multiplication on x86-64 CPUs with PCLMULQDQ. Exposed for the tests comparing them.
uint32_t crc32_update_table(uint32_t crc, const uint8_t* p, size_t n);
uint32_t crc32_update_pclmul(uint32_t crc, const uint8_t* p, size_t n);
bool crc32_has_pclmul();
}  // namespace detail

}  // namespace blt
