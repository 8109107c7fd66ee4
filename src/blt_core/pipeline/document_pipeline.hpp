// The document pipeline: JSON lines (one document per line, its text under one key) to a
// Megatron .bin plus its MegatronIndex, in bounded memory with a oneTBB flow graph.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "blt_core/io/byte_sink.hpp"
#include "blt_core/io/byte_source.hpp"
#include "blt_core/io/megatron_index.hpp"
#include "blt_core/pipeline/run_stats.hpp"
#include "blt_core/tokenizer.hpp"

namespace blt {

struct DocumentOptions {
  std::string json_key = "text";
  // Appended after every non-empty document (preprocess_data.py --append-eod).
  std::optional<uint32_t> eod;
  int threads = 0;  // <= 0: all usable cores
  uint64_t memcap = 256u << 20;
  size_t chunk = 1u << 20;  // input bytes per chunk; a longer line makes its chunk longer
  // As PipelineOptions::progress: (input bytes done, total or 0), on the calling thread.
  std::function<void(uint64_t, uint64_t)> progress;
  std::chrono::milliseconds progress_interval{50};
};

struct DocumentStats : RunStats {
  uint64_t documents = 0;
};

// Each non-blank line of `source` is a JSON object; the string under opts.json_key is encoded as
// a whole document (Tokenizer::encode: prefix, body, suffix) in index.dtype(), written to `bin`
// in input order, and recorded in `index`. Chunks of whole lines are parsed and encoded in
// parallel; at most a memcap's worth of them are in flight. A bad line throws
// std::invalid_argument naming the source, the line number and the problem; the sink then holds
// a partial shard: discard it.
DocumentStats tokenize_jsonl(const Tokenizer& tok, ByteSource& source, ByteSink& bin,
                             MegatronIndex& index, const DocumentOptions& opts);

}  // namespace blt
