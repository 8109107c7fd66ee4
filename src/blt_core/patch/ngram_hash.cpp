#include "blt_core/patch/ngram_hash.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "blt_core/parallel/parallel_for.hpp"
#include "blt_core/simd/dispatch.hpp"

namespace blt::patch {

#if BLT_SIMD_X86
extern template void NgramHashKernel::operator()<xsimd::avx2>(xsimd::avx2,
                                                              const NgramHashJob&) const;
extern template void NgramHashKernel::operator()<xsimd::sse4_2>(xsimd::sse4_2,
                                                                const NgramHashJob&) const;
extern template void FloorModKernel::operator()<xsimd::avx2>(xsimd::avx2, const uint64_t*,
                                                             int64_t*, size_t, uint64_t) const;
extern template void FloorModKernel::operator()<xsimd::sse4_2>(xsimd::sse4_2, const uint64_t*,
                                                               int64_t*, size_t, uint64_t) const;
#endif

namespace {

// The checked options of one call: primes of the functions, the kernel's ascending size order.
struct HashPlan {
  std::vector<uint64_t> primes;
  std::vector<int> sorted_sizes;  // ascending, as the kernel walks them
  std::vector<int> column_of;     // sorted size i -> the caller's size index
  bool sorted = true;
  int max_size = 0;
  size_t cols = 0;

  HashPlan(std::span<const int> sizes, std::span<const int> funcs, int64_t max_hash) {
    if (max_hash < 1) throw std::invalid_argument("max_hash must be >= 1, got " + std::to_string(max_hash));
    if (sizes.empty()) throw std::invalid_argument("hash_ngrams needs at least one group size");
    if (funcs.empty()) throw std::invalid_argument("hash_ngrams needs at least one hash function");
    for (int s : sizes)
      if (s < 1 || s > kMaxNgramSize)
        throw std::invalid_argument("group size " + std::to_string(s) + " out of range 1.." +
                                    std::to_string(kMaxNgramSize));
    for (int f : funcs) {
      if (f < 0 || f >= kNgramHashFunctions)
        throw std::invalid_argument("hash function number " + std::to_string(f) +
                                    " out of range 0.." + std::to_string(kNgramHashFunctions - 1));
      primes.push_back(kNgramHashPrimes[f]);
    }
    column_of.resize(sizes.size());
    for (size_t i = 0; i < column_of.size(); ++i) column_of[i] = static_cast<int>(i);
    std::stable_sort(column_of.begin(), column_of.end(), [&](int a, int b) { return sizes[a] < sizes[b]; });
    for (int i : column_of) sorted_sizes.push_back(sizes[i]);
    sorted = std::is_sorted(sizes.begin(), sizes.end());
    max_size = sorted_sizes.back();
    cols = sizes.size() * funcs.size();
  }

  // Rows [a, b) of ids (windows look back before a) into out, in the kernel's column order.
  void run(const uint16_t* ids, size_t a, size_t b, int64_t max_hash, int64_t* out, bool stream) const {
    NgramHashJob job{ids, a, b, sorted_sizes.data(), static_cast<int>(sorted_sizes.size()), primes.data(),
                     static_cast<int>(primes.size()), max_size, FloorMod(static_cast<uint64_t>(max_hash)),
                     out, stream};
    simd::run_best(NgramHashKernel{}, job);
  }

  // Row j of the kernel's order as the caller's columns, in the output type.
  template <class T>
  void emit(const int64_t* row, T* out) const {
    const size_t ns = sorted_sizes.size();
    for (size_t f = 0; f < primes.size(); ++f)
      for (size_t i = 0; i < ns; ++i) out[f * ns + static_cast<size_t>(column_of[i])] = static_cast<T>(row[f * ns + i]);
  }
};

constexpr size_t kGrain = size_t(1) << 16;

// Positions in ranges of at least kGrain, on `threads` threads (one range below that).
template <class Body>
void over_ranges(size_t n, int threads, const Body& body) {
  if (threads == 1 || n <= kGrain) {
    body(size_t(0), n);
    return;
  }
  parallel_for(threads, n, kGrain, [&](size_t a, size_t b, int) { body(a, b); });
}

// Rows hashed into a cache-sized int64 block, then permuted and narrowed into out.
template <class T>
void hash_through_blocks(const HashPlan& plan, const uint16_t* ids, size_t n, int64_t max_hash, T* out,
                         int threads) {
  over_ranges(n, threads, [&](size_t a, size_t b) {
    constexpr size_t kRows = 2048;
    std::vector<int64_t> block(kRows * plan.cols);
    for (size_t lo = a; lo < b; lo += kRows) {
      const size_t hi = std::min(b, lo + kRows);
      plan.run(ids, lo, hi, max_hash, block.data(), false);
      for (size_t j = lo; j < hi; ++j) plan.emit(block.data() + (j - lo) * plan.cols, out + j * plan.cols);
    }
  });
}

void check_offsets(std::span<const int64_t> offsets) {
  if (offsets.empty() || offsets[0] != 0) throw std::invalid_argument("offsets must start at 0");
  for (size_t i = 1; i < offsets.size(); ++i)
    if (offsets[i] < offsets[i - 1])
      throw std::invalid_argument("offsets must be non-decreasing (item " + std::to_string(i - 1) + ")");
}

// Every id is below max_hash: int32 output needs max_hash <= 2^31.
template <class T>
void check_fits(int64_t max_hash) {
  if (std::is_same_v<T, int32_t> && max_hash > (int64_t(1) << 31))
    throw std::invalid_argument("int32 hash ids need max_hash <= 2^31, got " + std::to_string(max_hash));
}

// One sequence with checked options: int64 in the kernel's column order goes straight to out (in
// ranges over `threads`); otherwise rows go through cache-sized blocks to be permuted or narrowed.
template <class T>
void hash_planned(const HashPlan& plan, const uint16_t* ids, size_t n, int64_t max_hash, T* out, int threads) {
  if constexpr (std::is_same_v<T, int64_t>) {
    if (plan.sorted) {
      const bool stream = n * plan.cols * sizeof(int64_t) >= kStreamBytes;
      over_ranges(n, threads, [&](size_t a, size_t b) { plan.run(ids, a, b, max_hash, out + a * plan.cols, stream); });
      return;
    }
  }
  hash_through_blocks(plan, ids, n, max_hash, out, threads);
}

template <class T>
void hash_one(const uint16_t* ids, size_t n, std::span<const int> sizes, std::span<const int> funcs,
              int64_t max_hash, T* out, int threads) {
  check_fits<T>(max_hash);
  hash_planned(HashPlan(sizes, funcs, max_hash), ids, n, max_hash, out, threads);
}

// Every sequence of a ragged batch hashed on its own (windows never cross sequences), in parallel,
// with the options checked and planned once.
template <class T>
void hash_batch(const uint16_t* ids, std::span<const int64_t> offsets, std::span<const int> sizes,
                std::span<const int> funcs, int64_t max_hash, T* out, int threads) {
  check_offsets(offsets);
  check_fits<T>(max_hash);
  const HashPlan plan(sizes, funcs, max_hash);
  const size_t items = offsets.size() - 1;
  parallel_for(threads, items, 1, [&](size_t begin, size_t end, int) {
    for (size_t i = begin; i < end; ++i) {
      const size_t a = static_cast<size_t>(offsets[i]), b = static_cast<size_t>(offsets[i + 1]);
      if (b > a) hash_planned(plan, ids + a, b - a, max_hash, out + a * plan.cols, 1);
    }
  });
}

}  // namespace

void hash_ngrams(const uint16_t* ids, size_t n, std::span<const int> sizes,
                 std::span<const int> funcs, int64_t max_hash, int64_t* out, int threads) {
  hash_one(ids, n, sizes, funcs, max_hash, out, threads);
}

void hash_ngrams(const uint16_t* ids, size_t n, std::span<const int> sizes,
                 std::span<const int> funcs, int64_t max_hash, int32_t* out, int threads) {
  hash_one(ids, n, sizes, funcs, max_hash, out, threads);
}

void hash_ngrams_batch(const uint16_t* ids, std::span<const int64_t> offsets,
                       std::span<const int> sizes, std::span<const int> funcs, int64_t max_hash,
                       int64_t* out, int threads) {
  hash_batch(ids, offsets, sizes, funcs, max_hash, out, threads);
}

void hash_ngrams_batch(const uint16_t* ids, std::span<const int64_t> offsets,
                       std::span<const int> sizes, std::span<const int> funcs, int64_t max_hash,
                       int32_t* out, int threads) {
  hash_batch(ids, offsets, sizes, funcs, max_hash, out, threads);
}

void floor_mod(const uint64_t* in, int64_t* out, size_t n, int64_t m) {
  if (m < 1) throw std::invalid_argument("modulus must be >= 1, got " + std::to_string(m));
  simd::run_best(FloorModKernel{}, in, out, n, static_cast<uint64_t>(m));
}

}  // namespace blt::patch
