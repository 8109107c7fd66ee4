// RunStats: what every pipeline run reports (bytes read, ids written, chunks, wall time, threads);
// each pipeline's own stats extend it.
#pragma once
#include <cstdint>

namespace blt {

struct RunStats {
  uint64_t bytes_in = 0;  // input bytes consumed (including a skipped BOM)
  uint64_t ids_out = 0;   // ids written (prefix + body + suffix of each document)
  uint64_t chunks = 0;
  double seconds = 0;
  int threads = 0;
};

}  // namespace blt
