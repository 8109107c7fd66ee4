// Hashed byte n-gram ids of BLT (byte_group_hash_function / rolling_polynomial_hash): one SIMD
// kernel per instruction set over blocks of positions, picked at run time by simd/dispatch.hpp.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include <xsimd/xsimd.hpp>
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif

namespace blt::patch {

// Primes of the reference, indexed by hash function number.
inline constexpr uint64_t kNgramHashPrimes[] = {
    1000000007ull, 5915587277ull, 1500450271ull, 3267000013ull, 5754853343ull, 4093082899ull,
    9576890767ull, 3628273133ull, 2860486313ull, 5463458053ull, 3367900313ull};
inline constexpr int kNgramHashFunctions = 11;
inline constexpr int kMaxNgramSize = 64;

// out has n rows of funcs.size() * sizes.size() int64 columns, function-major: column
// f * sizes.size() + s holds, for position j, sum_k window[k] * prime^k over the sizes[s] ids
// ending at j (left-padded with 0, k = 0 the oldest) in wrapping signed 64-bit arithmetic,
// floored modulo max_hash. Throws std::invalid_argument for bad sizes/functions/max_hash.
// threads <= 0: all usable cores (positions are split into ranges).
void hash_ngrams(const uint16_t* ids, size_t n, std::span<const int> sizes,
                 std::span<const int> funcs, int64_t max_hash, int64_t* out, int threads = 1);

// The same ids as int32 (every id is below max_hash, which must be <= 2^31): half the bytes
// written. Rows are hashed into a cache-sized int64 block and narrowed from there.
void hash_ngrams(const uint16_t* ids, size_t n, std::span<const int> sizes,
                 std::span<const int> funcs, int64_t max_hash, int32_t* out, int threads = 1);

// A ragged batch: sequence i is ids[offsets[i]:offsets[i+1]] (windows never cross sequences); out
// has offsets.back() rows as above. Sequences run in parallel in one task arena (threads <= 0:
// all usable cores). Throws std::invalid_argument for bad offsets or options.
void hash_ngrams_batch(const uint16_t* ids, std::span<const int64_t> offsets,
                       std::span<const int> sizes, std::span<const int> funcs, int64_t max_hash,
                       int64_t* out, int threads = 0);
void hash_ngrams_batch(const uint16_t* ids, std::span<const int64_t> offsets,
                       std::span<const int> sizes, std::span<const int> funcs, int64_t max_hash,
                       int32_t* out, int threads = 0);

// Floored modulo of a signed 64-bit value by a constant, by multiplication (Barrett).
struct FloorMod {
  uint64_t m;      // divisor
  uint64_t magic;  // floor((2^64 - 1) / m)
  uint64_t neg;    // (m - 2^64 mod m) mod m: added for negative inputs
  explicit FloorMod(uint64_t divisor)
      : m(divisor), magic(~uint64_t(0) / divisor),
        neg((divisor - (~uint64_t(0) % divisor + 1) % divisor) % divisor) {}
  uint64_t operator()(uint64_t u) const {
    uint64_t q = static_cast<uint64_t>((static_cast<unsigned __int128>(u) * magic) >> 64);
    uint64_t r = u - q * m;
    r = r >= m ? r - m : r;  // q is at most one short
    if (static_cast<int64_t>(u) < 0) {
      r += neg;
      r = r >= m ? r - m : r;
    }
    return r;
  }
};

struct NgramHashJob {
  const uint16_t* ids;  // the whole sequence (windows look back before `begin`)
  size_t begin, end;    // positions to hash; out points at the row of `begin`
  const int* sizes;
  int n_sizes;
  const uint64_t* primes;
  int n_funcs;
  int max_size;
  FloorMod mod;
  int64_t* out;
  bool stream;  // non-temporal stores allowed (large outputs)
};

// Floored modulo of whole arrays (the same code paths as hash_ngrams, for verification):
// out[i] = int64(in[i]) floor-mod m, for 1 <= m.
void floor_mod(const uint64_t* in, int64_t* out, size_t n, int64_t m);

// SIMD lanes take divisors below 2^20; larger ones use FloorMod per lane.
inline constexpr uint64_t kSimdModLimit = uint64_t(1) << 20;

#if defined(__x86_64__) || defined(_M_X64)
// The floored modulo on SIMD lanes, exact in double arithmetic. The signed value is
// s = hi * 2^32 + lo (hi signed 32-bit, lo unsigned 32-bit), so with c = 2^32 mod m,
// x = hi * c + lo + K * m is congruent to s, with K * m >= 2^31 * c making it non-negative;
// every intermediate is an integer below 2^53 (m < 2^20), hence exact. Both halves become
// doubles with the 2^52 exponent trick (no int64 <-> double conversions before AVX-512).
// q = floor(x * inv) with inv just below 1/m is never too large and at most one too small,
// so r = x - q * m lies in [0, 2m) and one conditional subtraction finishes.
template <class Arch>
struct FloorModLanes {
  using U = xsimd::batch<uint64_t, Arch>;
  using D = xsimd::batch<double, Arch>;
  D c, bias, inv, m;
  explicit FloorModLanes(uint64_t divisor) {
    const uint64_t c32 = (uint64_t(1) << 32) % divisor;
    const uint64_t k = ((uint64_t(1) << 31) * c32 + divisor - 1) / divisor;  // ceil(2^31 c / m)
    c = D(static_cast<double>(c32));
    // x1 = hi * c + (2^52 + lo); x = x1 - (2^52 - K m)
    bias = D(static_cast<double>((uint64_t(1) << 52) - k * divisor));
    // two steps below the rounded 1/m: strictly below 1/m, so q never overshoots
    inv = D(std::nextafter(std::nextafter(1.0 / static_cast<double>(divisor), 0.0), 0.0));
    m = D(static_cast<double>(divisor));
  }
  U operator()(U u) const {
    const U exp52(0x4330000000000000ull), low32(0xFFFFFFFFull);
    // high half: (hi ^ 2^31) in the mantissa, i.e. the double 2^52 + 2^31 + hi (hi signed)
    const U hi_bits(0x4330000080000000ull);
    const D two52(4503599627370496.0), two52_31(4503599627370496.0 + 2147483648.0);
    D lo;  // 2^52 + lo
    if constexpr (U::size == 4)
      lo = xsimd::bitwise_cast<D>(U(_mm256_blend_epi32(u, exp52, 0xAA)));
    else
      lo = xsimd::bitwise_cast<D>((u & low32) | exp52);
    const D hi = xsimd::bitwise_cast<D>((u >> 32) ^ hi_bits) - two52_31;
    const D x = xsimd::fma(hi, c, lo) - bias;
    const D q = xsimd::floor(x * inv);
    D r, fixed;
#if defined(__FMA__)
    if constexpr (U::size == 4)
      r = D(_mm256_fnmadd_pd(q, m, x));  // x - q m, exact
    else
#endif
      r = xsimd::fnma(q, m, x);
    const D r2 = r - m;
    if constexpr (U::size == 4)
      fixed = D(_mm256_blendv_pd(r2, r, r2));  // r where r - m is negative
    else
      fixed = xsimd::select(r2 < D(0.0), r, r2);
    return xsimd::bitwise_cast<U>(fixed + two52) ^ exp52;
  }
};

// a * (p_hi * 2^32 + p_lo) modulo 2^64 per lane, from 32 x 32 -> 64-bit multiplies (AVX2 has
// no 64-bit multiply); kHigh = false when p < 2^32 saves one of the three.
template <bool kHigh, class Arch>
inline xsimd::batch<uint64_t, Arch> mul_mod64(xsimd::batch<uint64_t, Arch> a,
                                               xsimd::batch<uint64_t, Arch> p_lo,
                                               xsimd::batch<uint64_t, Arch> p_hi) {
  using U = xsimd::batch<uint64_t, Arch>;
  auto mul32 = [](U x, U y) -> U {
    if constexpr (U::size == 4)
      return U(_mm256_mul_epu32(x, y));
    else
      return U(_mm_mul_epu32(x, y));
  };
  U cross = mul32(a >> 32, p_lo);
  if constexpr (kHigh) cross = cross + mul32(a, p_hi);
  return mul32(a, p_lo) + (cross << 32);
}

// Writes W rows of `cols` values from a column-major tile (column c at tile + c * stride) into
// the row-major output: column pairs are interleaved in registers and stored 16 bytes at a
// time, non-temporally when `stream` (the output is far larger than the caches, and skipping
// the read-for-ownership of each line nearly halves the memory traffic).
template <class Arch>
inline void store_rows(const uint64_t* tile, size_t stride, size_t cols, int64_t* row0,
                       bool stream) {
  using U = xsimd::batch<uint64_t, Arch>;
  constexpr size_t W = U::size;
  auto put = [stream](int64_t* dst, __m128i v) {
    if (stream)
      _mm_stream_si128(reinterpret_cast<__m128i*>(dst), v);
    else
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), v);
  };
  size_t c = 0;
  for (; c + 2 <= cols; c += 2) {
    const U a = U::load_aligned(tile + c * stride), b = U::load_aligned(tile + (c + 1) * stride);
    if constexpr (W == 4) {
      const __m256i lo = _mm256_unpacklo_epi64(a, b), hi = _mm256_unpackhi_epi64(a, b);
      put(row0 + c, _mm256_castsi256_si128(lo));
      put(row0 + cols + c, _mm256_castsi256_si128(hi));
      put(row0 + 2 * cols + c, _mm256_extracti128_si256(lo, 1));
      put(row0 + 3 * cols + c, _mm256_extracti128_si256(hi, 1));
    } else {
      put(row0 + c, _mm_unpacklo_epi64(a, b));
      put(row0 + cols + c, _mm_unpackhi_epi64(a, b));
    }
  }
  if (c < cols)
    for (size_t l = 0; l < W; ++l) row0[l * cols + c] = static_cast<int64_t>(tile[c * stride + l]);
}
#endif

struct NgramHashKernel {
  template <class Arch>
  void operator()(Arch, const NgramHashJob& job) const;
};

// One position at a time in plain 64-bit arithmetic: block tails and non-x86 builds.
inline void hash_rows_scalar(const NgramHashJob& job, size_t from, size_t to) {
  const size_t cols = static_cast<size_t>(job.n_sizes) * static_cast<size_t>(job.n_funcs);
  for (size_t j = from; j < to; ++j) {
    int64_t* row = job.out + (j - job.begin) * cols;
    for (int f = 0; f < job.n_funcs; ++f) {
      const uint64_t p = job.primes[f];
      uint64_t h = 0;
      int s = 0;
      for (int size = 1; size <= job.max_size && s < job.n_sizes; ++size) {
        const uint64_t x = j + 1 >= static_cast<size_t>(size) ? job.ids[j + 1 - size] : 0;
        h = size == 1 ? x : h * p + x;
        while (s < job.n_sizes && job.sizes[s] == size)
          row[static_cast<size_t>(f) * job.n_sizes + s++] = static_cast<int64_t>(job.mod(h));
      }
    }
  }
}

// wide[t] = id at position j0 - halo + t for t < halo + bn, as uint64 lanes; positions before
// the sequence (the window's left padding) are 0.
inline void widen_block(const uint16_t* ids, size_t j0, size_t bn, size_t halo, uint64_t* wide) {
  if (j0 >= halo) {
    const uint16_t* src = ids + (j0 - halo);
    for (size_t t = 0; t < halo + bn; ++t) wide[t] = src[t];
  } else {
    for (size_t t = 0; t < halo + bn; ++t) {
      ptrdiff_t src = static_cast<ptrdiff_t>(j0 + t) - static_cast<ptrdiff_t>(halo);
      wide[t] = src < 0 ? 0 : ids[src];
    }
  }
}

#if defined(__x86_64__) || defined(_M_X64)
// Blocks of positions, one SIMD lane per position: per function the hash of every size is built
// from the previous one over the whole block, H(n + 1) = H(n) * prime + id[j - n] (one multiply
// per size and position; all sizes share the work), and the sizes asked for are reduced on the
// lanes into a column-major tile in L1, which is then written row-wise. Each loop runs over the
// block with no per-position control flow. Ids are widened to 64 bits once per block, with
// the max_size - 1 ids before it.
template <class Arch, bool kSimdMod, bool kHigh>
void hash_rows_simd(const NgramHashJob& job, bool stream) {
  using U = xsimd::batch<uint64_t, Arch>;
  constexpr size_t W = U::size;
  constexpr size_t kBlock = 128;  // a multiple of W
  const size_t halo = static_cast<size_t>(job.max_size - 1);
  const size_t n_sizes = static_cast<size_t>(job.n_sizes);
  const size_t cols = n_sizes * static_cast<size_t>(job.n_funcs);
  alignas(64) uint64_t wide[kBlock + kMaxNgramSize];
  alignas(64) uint64_t h[kBlock];
  std::vector<uint64_t, xsimd::aligned_allocator<uint64_t, 64>> tile(cols * kBlock);
  const FloorModLanes<Arch> lanes_mod(kSimdMod ? job.mod.m : 2);
  auto reduce = [&](U v, uint64_t* dst) {
    if constexpr (kSimdMod) {
      lanes_mod(v).store_aligned(dst);
    } else {
      v.store_aligned(dst);
      for (size_t l = 0; l < W; ++l) dst[l] = job.mod(dst[l]);
    }
  };
  for (size_t j0 = job.begin; j0 < job.end; j0 += kBlock) {
    const size_t bn = std::min(kBlock, job.end - j0);
    const size_t bw = bn / W * W;  // positions on lanes; the rest go through the scalar path
    widen_block(job.ids, j0, bn, halo, wide);
    const uint64_t* cur = wide + halo;  // cur[i] = id at j0 + i; cur[i - m] = id m back
    for (int f = 0; f < job.n_funcs; ++f) {
      const uint64_t p = job.primes[f];
      const U p_lo(p & 0xFFFFFFFFull), p_hi(p >> 32);
      uint64_t* const cols_f = tile.data() + static_cast<size_t>(f) * n_sizes * kBlock;
      size_t s = 0;
      for (int size = 1; s < n_sizes; ++size) {
        // sizes are sorted ascending (the caller permutes columns otherwise)
        const bool emit = job.sizes[s] == size;
        uint64_t* col = cols_f + s * kBlock;
        const uint64_t* back = cur - (size - 1);
        if (size == 1) {
          for (size_t i = 0; i < bw; i += W) {
            const U v = U::load_unaligned(cur + i);
            v.store_aligned(h + i);
            if (emit) reduce(v, col + i);
          }
        } else if (emit) {
          for (size_t i = 0; i < bw; i += W) {
            const U v = mul_mod64<kHigh>(U::load_aligned(h + i), p_lo, p_hi) +
                        U::load_unaligned(back + i);
            v.store_aligned(h + i);
            reduce(v, col + i);
          }
        } else {
          for (size_t i = 0; i < bw; i += W)
            (mul_mod64<kHigh>(U::load_aligned(h + i), p_lo, p_hi) + U::load_unaligned(back + i))
                .store_aligned(h + i);
        }
        if (emit)  // a size asked for more than once gets copies of its column
          for (++s; s < n_sizes && job.sizes[s] == size; ++s)
            std::memcpy(cols_f + s * kBlock, col, bw * sizeof(uint64_t));
      }
    }
    int64_t* row = job.out + (j0 - job.begin) * cols;
    for (size_t i = 0; i < bw; i += W, row += W * cols)
      store_rows<Arch>(tile.data() + i, kBlock, cols, row, stream);
    hash_rows_scalar(job, j0 + bw, j0 + bn);
  }
  if (stream) _mm_sfence();  // streamed stores are visible before the caller reads the output
}

// The default configuration (sizes kLo..kHi, one function, divisor below 2^20) with
// everything in registers: two lane groups at a time, the sizes unrolled at compile time, the
// reduced columns interleaved straight into the rows (no tile, no per-size loops).
template <class Arch, int kLo, int kHi, bool kHigh>
void hash_rows_fixed(const NgramHashJob& job, bool stream) {
  using U = xsimd::batch<uint64_t, Arch>;
  constexpr size_t W = U::size;
  constexpr size_t kCols = kHi - kLo + 1;
  static_assert(kCols % 2 == 0, "columns are stored in pairs");
  constexpr size_t kBlock = 256;
  constexpr size_t halo = kHi - 1;
  alignas(64) uint64_t wide[kBlock + kMaxNgramSize];
  const FloorModLanes<Arch> lanes_mod(job.mod.m);
  const uint64_t p = job.primes[0];
  const U p_lo(p & 0xFFFFFFFFull), p_hi(p >> 32);
  auto put = [stream](int64_t* dst, __m128i v) {
    if (stream)
      _mm_stream_si128(reinterpret_cast<__m128i*>(dst), v);
    else
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), v);
  };
  for (size_t j0 = job.begin; j0 < job.end; j0 += kBlock) {
    const size_t bn = std::min(kBlock, job.end - j0);
    widen_block(job.ids, j0, bn, halo, wide);
    const uint64_t* cur = wide + halo;
    int64_t* row = job.out + (j0 - job.begin) * kCols;
    size_t i = 0;
    for (; i + 2 * W <= bn; i += 2 * W, row += 2 * W * kCols) {
      U col[2][kCols];
      U h[2] = {U::load_unaligned(cur + i), U::load_unaligned(cur + i + W)};
      if constexpr (kLo == 1) {
        col[0][0] = lanes_mod(h[0]);
        col[1][0] = lanes_mod(h[1]);
      }
#pragma GCC unroll 64
      for (int size = 2; size <= kHi; ++size) {
#pragma GCC unroll 2
        for (size_t g = 0; g < 2; ++g) {
          h[g] = mul_mod64<kHigh>(h[g], p_lo, p_hi) + U::load_unaligned(cur + i + g * W - (size - 1));
          if (size >= kLo) col[g][size - kLo] = lanes_mod(h[g]);
        }
      }
#pragma GCC unroll 2
      for (size_t g = 0; g < 2; ++g) {
        int64_t* r0 = row + g * W * kCols;
#pragma GCC unroll 64
        for (size_t c = 0; c < kCols; c += 2) {
          if constexpr (W == 4) {
            const __m256i lo = _mm256_unpacklo_epi64(col[g][c], col[g][c + 1]);
            const __m256i hi = _mm256_unpackhi_epi64(col[g][c], col[g][c + 1]);
            put(r0 + c, _mm256_castsi256_si128(lo));
            put(r0 + kCols + c, _mm256_castsi256_si128(hi));
            put(r0 + 2 * kCols + c, _mm256_extracti128_si256(lo, 1));
            put(r0 + 3 * kCols + c, _mm256_extracti128_si256(hi, 1));
          } else {
            put(r0 + c, _mm_unpacklo_epi64(col[g][c], col[g][c + 1]));
            put(r0 + kCols + c, _mm_unpackhi_epi64(col[g][c], col[g][c + 1]));
          }
        }
      }
    }
    hash_rows_scalar(job, j0 + i, j0 + bn);
  }
  if (stream) _mm_sfence();  // streamed stores are visible before the caller reads the output
}
#endif

// Outputs larger than this are written with non-temporal stores.
inline constexpr size_t kStreamBytes = size_t(4) << 20;

template <class Arch>
void NgramHashKernel::operator()(Arch, const NgramHashJob& job) const {
#if defined(__x86_64__) || defined(_M_X64)
  const size_t cols = static_cast<size_t>(job.n_sizes) * static_cast<size_t>(job.n_funcs);
  // 16-byte stores of column pairs stay aligned when the rows are an even number of columns
  const bool stream = job.stream && cols % 2 == 0 &&
                      (reinterpret_cast<uintptr_t>(job.out) & 15) == 0;
  bool high = false;
  for (int f = 0; f < job.n_funcs; ++f) high |= (job.primes[f] >> 32) != 0;
  const bool simd_mod = job.mod.m < kSimdModLimit;
  const bool default_sizes = job.n_funcs == 1 && job.n_sizes == 6 && job.sizes[0] == 3 &&
                             job.sizes[1] == 4 && job.sizes[2] == 5 && job.sizes[3] == 6 &&
                             job.sizes[4] == 7 && job.sizes[5] == 8;
  if (simd_mod && default_sizes)
    high ? hash_rows_fixed<Arch, 3, 8, true>(job, stream)
         : hash_rows_fixed<Arch, 3, 8, false>(job, stream);
  else if (simd_mod)
    high ? hash_rows_simd<Arch, true, true>(job, stream)
         : hash_rows_simd<Arch, true, false>(job, stream);
  else
    high ? hash_rows_simd<Arch, false, true>(job, stream)
         : hash_rows_simd<Arch, false, false>(job, stream);
#else
  hash_rows_scalar(job, job.begin, job.end);
#endif
}

struct FloorModKernel {
  template <class Arch>
  void operator()(Arch, const uint64_t* in, int64_t* out, size_t n, uint64_t m) const;
};

template <class Arch>
void FloorModKernel::operator()(Arch, const uint64_t* in, int64_t* out, size_t n,
                                uint64_t m) const {
  size_t i = 0;
#if defined(__x86_64__) || defined(_M_X64)
  using U = xsimd::batch<uint64_t, Arch>;
  if (m < kSimdModLimit) {
    const FloorModLanes<Arch> lanes_mod(m);
    for (; i + U::size <= n; i += U::size)
      lanes_mod(U::load_unaligned(in + i)).store_unaligned(reinterpret_cast<uint64_t*>(out + i));
  }
#endif
  const FloorMod mod(m);
  for (; i < n; ++i) out[i] = static_cast<int64_t>(mod(in[i]));
}

}  // namespace blt::patch
