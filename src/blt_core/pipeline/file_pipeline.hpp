// The file pipeline: tokenizes a ByteSource of any size into a ByteSink in bounded memory with a
// oneTBB flow graph (read -> limiter -> parallel encode -> sequencer -> write), via Tokenizer only.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <vector>

#include "blt_core/dtype.hpp"
#include "blt_core/io/byte_sink.hpp"
#include "blt_core/io/byte_source.hpp"
#include "blt_core/io/id_format.hpp"
#include "blt_core/pipeline/chunk_plan.hpp"
#include "blt_core/pipeline/chunk_stage.hpp"
#include "blt_core/pipeline/run_stats.hpp"
#include "blt_core/tokenizer.hpp"

namespace blt {

struct PipelineOptions {
  DType dtype = DType::u16;
  OutputFormat format = OutputFormat::bin;
  // <= 0: all usable cores; capped at the usable cores. The run gets a task_arena of this size.
  int threads = 0;
  uint64_t memcap = 256u << 20;
  size_t min_chunk = 64u << 10;
  size_t max_chunk = 1u << 20;  // chunk in + out fitting in L2 beats larger ones 2-4x
  // Called on the calling thread about every progress_interval and once at the end with
  // (input bytes done, input bytes total or 0 if unknown). If it throws, the run is cancelled
  // (nothing more is written) and the exception propagates from tokenize_stream.
  std::function<void(uint64_t, uint64_t)> progress;
  std::chrono::milliseconds progress_interval{50};
};

struct PipelineStats : RunStats {
  ChunkPlan plan;
  // Where the time went: busy seconds of each step summed over threads ("encode", the stage's
  // own steps, "write"), and how many encoded chunks waited for the ordered writer (sampled each
  // time it took one: a deep queue means the writer limits the run).
  std::vector<StageTime> stage_times;
  double queue_mean = 0;
  uint64_t queue_max = 0;
};

// Writes the one-shot Tokenizer::encode result of the whole source to `sink`, in `format`:
// output is byte-identical for every chunk size and thread count. Runs the graph on a helper
// thread in its own task_arena (in a forked child, where oneTBB must not be used, waves of
// in_flight chunks encoded on the ForkPool instead) while the calling thread reports progress; on any error or a
// throwing progress callback the graph is cancelled, all threads of the run are joined and the
// exception is rethrown. The sink may hold a partial document then: discard it.
PipelineStats tokenize_stream(const Tokenizer& tok, ByteSource& source, ByteSink& sink,
                              const PipelineOptions& opts);

// The same graph with `stage` run on every chunk's ids (in parallel, then in order) and owning
// the output: ids go to it raw in opts.dtype (opts.format is ignored). Errors as above; the
// stage's output is then incomplete: discard it.
PipelineStats tokenize_stream(const Tokenizer& tok, ByteSource& source, ChunkStage& stage,
                              const PipelineOptions& opts);

}  // namespace blt
