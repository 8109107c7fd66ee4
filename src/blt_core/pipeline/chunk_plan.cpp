#include "blt_core/pipeline/chunk_plan.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace blt {

static size_t lookahead_for(size_t chunk) {
  // Enough for UTF-8 alignment and typical pretokenizer lookahead; safe_split widens otherwise.
  return std::clamp<size_t>(chunk / 64, 8, 4096);
}

// Buffer bytes per input byte a chunk holds: its input (unless the caller owns it) and output.
static double bytes_per_input_byte(const ChunkPlanRequest& r) {
  return (r.input_in_memory ? 0.0 : 1.0) + r.out_bytes_per_byte;
}

// Bytes of a buffer holding `window` input bytes.
static uint64_t buffer_bytes_of(const ChunkPlanRequest& r, uint64_t window) {
  return static_cast<uint64_t>(std::ceil(bytes_per_input_byte(r) * static_cast<double>(window)));
}

static uint64_t buffer_bytes_for(const ChunkPlanRequest& r, size_t chunk) {
  return buffer_bytes_of(r, chunk + lookahead_for(chunk));
}

ChunkPlan plan_chunks(const ChunkPlanRequest& r) {
  if (r.threads < 1) throw std::invalid_argument("threads must be >= 1");
  if (r.min_chunk == 0) throw std::invalid_argument("minimum chunk size must be at least 1 byte");
  if (r.min_chunk > r.max_chunk)
    throw std::invalid_argument("minimum chunk size " + std::to_string(r.min_chunk) +
                                " exceeds maximum " + std::to_string(r.max_chunk));
  ChunkPlan p;
  if (r.total_bytes) {
    uint64_t per = *r.total_bytes / (static_cast<uint64_t>(kChunksPerThread) * r.threads);
    p.chunk = static_cast<size_t>(std::clamp<uint64_t>(per, r.min_chunk, r.max_chunk));
  } else {
    p.chunk = r.max_chunk;
  }
  if (buffer_bytes_for(r, 1) * 2 > r.memcap)
    throw std::invalid_argument("memcap of " + std::to_string(r.memcap) +
                                " bytes is too small (needs at least " +
                                std::to_string(buffer_bytes_for(r, 1) * 2) + ")");
  // memcap wins over min_chunk: a cap is a promise, a chunk size a preference.
  while (p.chunk > 1 && buffer_bytes_for(r, p.chunk) * 2 > r.memcap) p.chunk /= 2;
  p.lookahead = lookahead_for(p.chunk);
  p.buffer_bytes = buffer_bytes_for(r, p.chunk);
  uint64_t fit = r.memcap / p.buffer_bytes;  // >= 2
  p.in_flight = static_cast<size_t>(std::min<uint64_t>(fit - 1, 2 * static_cast<uint64_t>(r.threads) + 1));
  p.buffers = p.in_flight + 1;
  const uint64_t in_hand = r.memcap - (p.buffers - 1) * p.buffer_bytes;  // >= buffer_bytes
  p.max_window = std::max<uint64_t>(
      p.chunk + p.lookahead, static_cast<uint64_t>(static_cast<double>(in_hand / 2) / bytes_per_input_byte(r)));
  p.piece_memory = in_hand - std::min(in_hand, buffer_bytes_of(r, p.max_window));
  return p;
}

}  // namespace blt
