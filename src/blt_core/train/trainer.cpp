#include "blt_core/train/trainer.hpp"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <set>
#include <stdexcept>

#include "blt_core/train/hf_layout.hpp"

namespace blt::train {

namespace {
// Returns freed heap pages to the system (peak memory is what memcap and users budget for).
void release_free_memory() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}
}  // namespace

TrainedVocab train_vocab(PieceTable pieces, const TrainOptions& opts) {
  if (pieces.empty()) throw std::invalid_argument("there is no text to train on (the input is empty)");
  IdLayout layout = opts.hf_compatible ? hf_layout(opts.specials) : byte_order_layout();
  uint64_t n_specials = opts.hf_compatible
                            ? layout.base_size - 256
                            : std::set<std::string>(opts.specials.begin(), opts.specials.end()).size();
  uint64_t base = opts.hf_compatible ? layout.base_size : 256 + n_specials;
  if (opts.vocab_size < base)
    throw std::invalid_argument("vocab_size " + std::to_string(opts.vocab_size) +
                                " is below the 256 byte tokens + " + std::to_string(n_specials) +
                                " special tokens (" + std::to_string(base) + ")");
  if (opts.vocab_size > 0xFFFFFFF0ull) throw std::invalid_argument("vocab_size must be below 2^32");
  MergeOptions m;
  m.max_new_tokens = opts.vocab_size - base;
  m.min_frequency = opts.min_frequency;
  if (opts.max_token_length) {
    if (opts.hf_compatible) {
      m.max_pair_len = *opts.max_token_length == 0 ? 0 : *opts.max_token_length - 1;
      m.byte_pairs_always = true;
    } else {
      m.max_pair_len = *opts.max_token_length;
    }
  }
  m.progress = opts.progress;
  TrainedVocab out;
  uint32_t end = layout.first_new_id;
  {
    MergeEngine engine(pieces.sorted(), layout.byte_ids, layout.first_new_id);
    pieces.clear();
    // The counting threads freed their tables into their own malloc arenas, which keep the
    // pages: give them back before the merge loop allocates its tables.
    release_free_memory();
    out.merges = engine.run(m);
    for (const MergeStep& s : out.merges) end = std::max(end, s.result + 1);
    out.tokens.resize(end);
    for (uint32_t id = 0; id < end; ++id) out.tokens[id] = engine.token(id);
  }
  // Likewise the engine's tables, before the caller builds a tokenizer from the result.
  release_free_memory();
  if (opts.hf_compatible) {
    std::set<uint32_t> seen;
    for (size_t i = 0; i < opts.specials.size(); ++i)
      if (seen.insert(layout.special_ids[i]).second) out.specials.emplace_back(opts.specials[i], layout.special_ids[i]);
  } else {
    std::set<std::string> seen;
    uint32_t next = end;
    for (const std::string& s : opts.specials)
      if (seen.insert(s).second) out.specials.emplace_back(s, next++);
  }
  return out;
}

}  // namespace blt::train
