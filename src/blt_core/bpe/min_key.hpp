// Minimum of an array of 32-bit merge keys: the inner loop of byte_pair_merge_small on long pieces.
// One instantiation per instruction set (SSE2 has no unsigned 32-bit min); simd/dispatch.hpp picks.
#pragma once
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace blt::bpe {

// Keys are scanned in blocks of this many; callers pad their arrays to a multiple of it.
inline constexpr size_t kMinKeyBlock = 8;

using MinKeyFn = uint32_t (*)(const uint32_t* keys, size_t n);

// The best kernel this CPU runs: min_key()(keys, n) is the smallest of keys[0:n], n a positive
// multiple of kMinKeyBlock. Picked on first use (safe from static initializers and threads).
MinKeyFn pick_min_key();
inline MinKeyFn min_key() {
  static const MinKeyFn best = pick_min_key();
  return best;
}

// Name of the instruction set min_key uses ("avx2", "sse4.2" or "generic").
const char* min_key_arch();

// Every kernel this CPU can run, best first, with its name (for tests).
std::vector<std::pair<const char*, MinKeyFn>> min_key_kernels();

}  // namespace blt::bpe
