// Chunk planning for the file pipeline: chunk size, read-ahead and how many chunks may be in
// flight so that the pipeline's buffers stay within the memory cap (memcap = backpressure).
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>

namespace blt {

struct ChunkPlanRequest {
  std::optional<uint64_t> total_bytes;  // input size if known (streams: unknown)
  int threads = 1;                      // resolved thread count (>= 1)
  uint64_t memcap = 256u << 20;         // bytes the in-flight buffers may use
  size_t min_chunk = 64u << 10;
  size_t max_chunk = 1u << 20;  // chunk in + out fitting in L2 beats larger ones 2-4x
  bool input_in_memory = false;   // chunks are views of caller memory: no input bytes to count
  double out_bytes_per_byte = 2;  // output (+ scratch) bytes per input byte, upper bound
};

struct ChunkPlan {
  size_t chunk = 0;           // target bytes per chunk (a safe cut may make it shorter)
  size_t lookahead = 0;       // bytes read past the target so safe_split can look ahead
  size_t in_flight = 1;       // limiter tokens: chunks between reader and writer
  size_t buffers = 2;         // pooled chunk buffers (in_flight + the reader's one in hand)
  uint64_t buffer_bytes = 0;  // planned bytes of one pooled buffer (input + output + scratch)
  // When no safe cut lets a chunk end near `chunk`, it widens up to max_window bytes, and one
  // pre-tokenized piece may take piece_memory bytes to merge; past either the run is refused
  // rather than breaking the cap. No limit when built by hand (UINT64_MAX).
  uint64_t max_window = UINT64_MAX;
  uint64_t piece_memory = UINT64_MAX;
};

// Chunks per thread aimed at: enough to balance uneven chunks, few enough to stay large.
inline constexpr int kChunksPerThread = 4;

// chunk = clamp(total / (kChunksPerThread * threads), min_chunk, max_chunk), or max_chunk for an
// unknown total; then halved until two buffers fit in memcap; in_flight is what memcap allows,
// at most 2 * threads + 1. The chunk in hand may use what the other buffers leave of memcap: about
// half for a widened window's buffers (max_window) and the rest for one piece's merge
// (piece_memory), so other buffers + window + piece_memory <= memcap. Throws std::invalid_argument for min_chunk == 0, min_chunk > max_chunk,
// threads < 1, or a memcap too small for two 1-byte chunks.
ChunkPlan plan_chunks(const ChunkPlanRequest& req);

}  // namespace blt
