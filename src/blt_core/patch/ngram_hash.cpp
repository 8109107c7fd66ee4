#include "blt_core/patch/ngram_hash.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>
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

void hash_ngrams(const uint16_t* ids, size_t n, std::span<const int> sizes,
                 std::span<const int> funcs, int64_t max_hash, int64_t* out, int threads) {
  if (max_hash < 1) throw std::invalid_argument("max_hash must be >= 1, got " + std::to_string(max_hash));
  if (sizes.empty()) throw std::invalid_argument("hash_ngrams needs at least one group size");
  if (funcs.empty()) throw std::invalid_argument("hash_ngrams needs at least one hash function");
  for (int s : sizes)
    if (s < 1 || s > kMaxNgramSize)
      throw std::invalid_argument("group size " + std::to_string(s) + " out of range 1.." +
                                  std::to_string(kMaxNgramSize));
  std::vector<uint64_t> primes;
  for (int f : funcs) {
    if (f < 0 || f >= kNgramHashFunctions)
      throw std::invalid_argument("hash function number " + std::to_string(f) +
                                  " out of range 0.." + std::to_string(kNgramHashFunctions - 1));
    primes.push_back(kNgramHashPrimes[f]);
  }
  // The kernel walks sizes in ascending order; columns keep the caller's order.
  std::vector<int> order(sizes.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return sizes[a] < sizes[b]; });
  bool sorted = std::is_sorted(sizes.begin(), sizes.end());
  const int max_size = *std::max_element(sizes.begin(), sizes.end());
  const size_t cols = sizes.size() * funcs.size();
  if (sorted) {
    const FloorMod mod(static_cast<uint64_t>(max_hash));
    const bool stream = n * cols * sizeof(int64_t) >= kStreamBytes;
    auto run = [&](size_t a, size_t b) {
      NgramHashJob job{ids, a, b, sizes.data(), static_cast<int>(sizes.size()), primes.data(),
                       static_cast<int>(primes.size()), max_size, mod, out + a * cols, stream};
      simd::run_best(NgramHashKernel{}, job);
    };
    constexpr size_t kGrain = size_t(1) << 16;
    if (threads == 1 || n <= kGrain) {
      run(0, n);
      return;
    }
    parallel_for(threads, n, kGrain, [&](size_t a, size_t b, int) { run(a, b); });
    return;
  }
  // Unsorted sizes: hash with sorted sizes, then permute the columns back.
  std::vector<int> sorted_sizes(sizes.size());
  for (size_t i = 0; i < order.size(); ++i) sorted_sizes[i] = sizes[order[i]];
  std::vector<int64_t> tmp(n * cols);
  hash_ngrams(ids, n, sorted_sizes, funcs, max_hash, tmp.data(), threads);
  const size_t ns = sizes.size();
  for (size_t j = 0; j < n; ++j)
    for (size_t f = 0; f < funcs.size(); ++f)
      for (size_t i = 0; i < ns; ++i)
        out[j * cols + f * ns + order[i]] = tmp[j * cols + f * ns + i];
}

void floor_mod(const uint64_t* in, int64_t* out, size_t n, int64_t m) {
  if (m < 1) throw std::invalid_argument("modulus must be >= 1, got " + std::to_string(m));
  simd::run_best(FloorModKernel{}, in, out, n, static_cast<uint64_t>(m));
}

}  // namespace blt::patch
