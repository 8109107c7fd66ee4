// ChunkStage: work the file pipeline runs on each chunk's ids after encoding, in parallel
// (process), then in stream order (assemble); a stage with one also owns the run's output.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "blt_core/dtype.hpp"
#include "blt_core/pipeline/chunk.hpp"

namespace blt {

// Busy seconds of one named step of a stage (summed over the threads that ran it).
struct StageTime {
  const char* name;
  double seconds;
};

class ChunkStage {
 public:
  virtual ~ChunkStage() = default;
  // Bytes of scratch and output the stage holds per id of a chunk in flight (memcap planning).
  virtual double bytes_per_id() const = 0;
  // Before prefix(), when the run can bound its id count (prefix + body + suffix) in advance.
  virtual void expect_ids(uint64_t at_most) { (void)at_most; }
  // On any worker thread, after encoding: c.out_ptr holds c.n_ids ids of dtype `dt`, raw. Touches
  // only c and its scratch.
  virtual void process(Chunk& c, DType dt) = 0;
  // In stream order, one call at a time: finishes what needs the previous chunk and writes.
  virtual void assemble(Chunk& c, DType dt) = 0;
  // The tokenizer's prefix ids (before every chunk) and suffix ids (after them), in order;
  // finish() completes the output.
  virtual void prefix(const std::vector<uint32_t>& ids, DType dt) = 0;
  virtual void finish(const std::vector<uint32_t>& suffix, DType dt) = 0;
  // Busy time per step so far (for statistics).
  virtual std::vector<StageTime> times() const = 0;
};

}  // namespace blt
