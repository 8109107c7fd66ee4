// Hashed byte n-gram ids of BLT (byte_group_hash_function / rolling_polynomial_hash): one SIMD
// kernel per instruction set over blocks of positions, picked at run time by xsimd.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include <xsimd/xsimd.hpp>
#if defined(__x86_64__) || defined(_M_X64)
#include <emmintrin.h>
#endif

namespace blt::simd {

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
};

// The same floored modulo on SIMD lanes, in double arithmetic that stays exact: for a divisor
// below 2^26, u = hi * 2^32 + lo reduces as ((hi mod m) * (2^32 mod m) + lo) mod m with every
// intermediate below 2^53. Lanes are converted with the 2^52 exponent trick (no int64<->double
// conversion instructions needed before AVX-512).
inline constexpr uint64_t kSimdModLimit = uint64_t(1) << 26;

template <class Arch>
void floor_mod_block(const uint64_t* in, uint64_t* out, size_t n, const FloorMod& mod) {
  using D = xsimd::batch<double, Arch>;
  using U = xsimd::batch<uint64_t, Arch>;
  constexpr size_t W = D::size;
  const U exp52(0x4330000000000000ull), low32(0xFFFFFFFFull), mant(0x000FFFFFFFFFFFFFull);
  const D two52(4503599627370496.0), m(static_cast<double>(mod.m)), inv(1.0 / static_cast<double>(mod.m));
  const D r32(static_cast<double>((uint64_t(1) << 32) % mod.m)), neg(static_cast<double>(mod.neg));
  const D zero(0.0);
  auto reduce = [&](D x) {  // x in [0, 2^53): x mod m, exact
    D q = xsimd::floor(x * inv);
    D r = x - q * m;
    r = xsimd::select(r < zero, r + m, r);
    return xsimd::select(r >= m, r - m, r);
  };
  size_t i = 0;
  if (mod.m < (uint64_t(1) << 21)) {
    // Small divisors: hi * (2^32 mod m) + lo < 2^53 without reducing hi first, and the sign
    // correction folds in as - 2^64 mod m (floor then handles a negative x).
    const D c64(static_cast<double>((mod.m - mod.neg) % mod.m)), two31(2147483648.0);
    for (; i + W <= n; i += W) {
      U u = U::load_unaligned(in + i);
      D lo = xsimd::bitwise_cast<D>((u & low32) | exp52) - two52;
      D hi = xsimd::bitwise_cast<D>((u >> 32) | exp52) - two52;
      D x = hi * r32 + lo - xsimd::select(hi >= two31, c64, zero);
      D r = x - xsimd::floor(x * inv) * m;
      r = xsimd::select(r < zero, r + m, r);
      r = xsimd::select(r >= m, r - m, r);
      U bits = xsimd::bitwise_cast<U>(r + two52) & mant;
      bits.store_unaligned(out + i);
    }
  }
  for (; i + W <= n; i += W) {
    U u = U::load_unaligned(in + i);
    D lo = xsimd::bitwise_cast<D>((u & low32) | exp52) - two52;
    D hi = xsimd::bitwise_cast<D>((u >> 32) | exp52) - two52;
    D r = reduce(reduce(hi) * r32 + lo);
    D sign = xsimd::bitwise_cast<D>((u >> 63) | exp52) - two52;  // 1 for negative int64
    r = r + sign * neg;
    r = xsimd::select(r >= m, r - m, r);
    U bits = xsimd::bitwise_cast<U>(r + two52) & mant;
    bits.store_unaligned(out + i);
  }
  for (; i < n; ++i) out[i] = mod(in[i]);
}

struct NgramHashKernel {
  template <class Arch>
  void operator()(Arch, const NgramHashJob& job) const;
};

// Copies a finished tile of rows to the output with non-temporal stores: the output is far
// larger than the caches, so skipping the read-for-ownership of each line halves the traffic.
inline void stream_copy(int64_t* out, const uint64_t* tile, size_t count) {
#if defined(__x86_64__) || defined(_M_X64)
  char* dst = reinterpret_cast<char*>(out);
  const char* src = reinterpret_cast<const char*>(tile);
  size_t bytes = count * sizeof(int64_t);
  if ((reinterpret_cast<uintptr_t>(dst) & 15) && bytes >= 8) {
    std::memcpy(dst, src, 8);
    dst += 8, src += 8, bytes -= 8;
  }
  for (; bytes >= 16; dst += 16, src += 16, bytes -= 16)
    _mm_stream_si128(reinterpret_cast<__m128i*>(dst),
                     _mm_loadu_si128(reinterpret_cast<const __m128i*>(src)));
  if (bytes) std::memcpy(dst, src, bytes);
#else
  std::memcpy(out, tile, count * sizeof(int64_t));
#endif
}

// Positions go in blocks: ids are widened once per block (with the max_size - 1 ids before it),
// then for each function the hash of every size is built from the previous one,
// H(n + 1) = H(n) * prime + id[j - n], over the whole block, which compiles to packed 64-bit
// multiplies; the floored modulo runs on SIMD lanes per column into an L1-sized tile of rows,
// which is then streamed to the output.
template <class Arch>
void NgramHashKernel::operator()(Arch, const NgramHashJob& job) const {
  constexpr size_t kBlock = 256;
  const size_t halo = static_cast<size_t>(job.max_size - 1);
  const size_t cols = static_cast<size_t>(job.n_sizes) * static_cast<size_t>(job.n_funcs);
  alignas(64) uint64_t wide[kBlock + kMaxNgramSize];
  alignas(64) uint64_t h[kBlock];
  alignas(64) uint64_t r[kBlock];
  std::vector<uint64_t> tile(kBlock * cols);
  for (size_t j0 = job.begin; j0 < job.end; j0 += kBlock) {
    const size_t bn = std::min(kBlock, job.end - j0);
    for (size_t t = 0; t < halo + bn; ++t) {
      ptrdiff_t src = static_cast<ptrdiff_t>(j0 + t) - static_cast<ptrdiff_t>(halo);
      wide[t] = src < 0 ? 0 : job.ids[src];
    }
    const uint64_t* cur = wide + halo;  // cur[i] = id at j0 + i; cur[i - m] = id m back
    for (int f = 0; f < job.n_funcs; ++f) {
      const uint64_t p = job.primes[f];
      for (size_t i = 0; i < bn; ++i) h[i] = cur[i];
      int s = 0;
      for (int size = 1; size <= job.max_size; ++size) {
        if (size > 1) {
          const uint64_t* back = cur - (size - 1);
          for (size_t i = 0; i < bn; ++i) h[i] = h[i] * p + back[i];
        }
        // sizes are sorted ascending (the caller permutes columns otherwise)
        while (s < job.n_sizes && job.sizes[s] == size) {
#if defined(__x86_64__) || defined(_M_X64)
          if (job.mod.m < kSimdModLimit)
            floor_mod_block<Arch>(h, r, bn, job.mod);
          else
#endif
            for (size_t i = 0; i < bn; ++i) r[i] = job.mod(h[i]);
          uint64_t* o = tile.data() + static_cast<size_t>(f) * job.n_sizes + s;
          for (size_t i = 0; i < bn; ++i) o[i * cols] = r[i];
          ++s;
        }
      }
    }
    stream_copy(job.out + (j0 - job.begin) * cols, tile.data(), bn * cols);
  }
#if defined(__x86_64__) || defined(_M_X64)
  _mm_sfence();  // streamed stores are visible before the caller reads the output
#endif
}

}  // namespace blt::simd
