// PatchStage: the file pipeline's patching and n-gram hashing stages and its .npz sink (ids,
// patch_lengths, hash_ids): entropies, patch starts and hash ids per chunk in parallel, seams fixed in order.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "blt_core/patch/entropy_model.hpp"
#include "blt_core/patch/patch_rule.hpp"
#include "blt_core/patch/patch_stream.hpp"
#include "blt_core/pipeline/chunk_stage.hpp"
#include "blt_core/pipeline/npz_writer.hpp"

namespace blt {

// Hashed n-gram ids of every position (patch/ngram_hash.hpp), written as int32 or int64.
struct NgramHashOptions {
  std::vector<int> sizes;  // empty: no hash ids
  std::vector<int> funcs;
  int64_t max_hash = 500002;
  DType dtype = DType::i64;  // i32 or i64
};

struct PatchStageOptions {
  std::optional<patch::PatchRule> rule;  // none: no patch lengths
  const patch::EntropyModel* model = nullptr;  // required by the entropy rule; outlives the stage
  patch::ContextReset reset;
  NgramHashOptions hash;
};

// Chunk i's positions that only look back into chunk i are decided by the workers: entropies from
// a fresh model context past the model's order, patch starts past kSeamPositions, hash rows past
// the largest group size. The ordered assembly recomputes the few positions before those with the
// previous chunk's tail (ids and entropies), and turns starts into lengths: the patch open across
// a seam, max_patch_length splits and the static rule's absolute positions are sequential there.
// Output equals Patcher.patch / hash_ngrams of the one-shot ids for any chunking.
class PatchStage final : public ChunkStage {
 public:
  // Throws std::invalid_argument for top-k entropy patching (it needs the whole sequence), an
  // entropy rule without a model, or bad hash options. Writes the archive to out_fd (a regular
  // file at offset 0); lengths and hash ids are spooled to their descriptors (empty regular
  // files, e.g. unnamed temporary files) until finish copies them in.
  PatchStage(const PatchStageOptions& options, int out_fd, std::string out_name,
             int lengths_spool_fd, int hash_spool_fd);

  double bytes_per_id() const override;
  // Lets the archive take the ids and hash ids in place (regions sized for at_most ids) and the
  // lengths at its end, with no spool to copy.
  void expect_ids(uint64_t at_most) override { expected_ = at_most; }
  void process(Chunk& c, DType dt) override;
  void assemble(Chunk& c, DType dt) override;
  void prefix(const std::vector<uint32_t>& ids, DType dt) override;
  void finish(const std::vector<uint32_t>& suffix, DType dt) override;
  std::vector<StageTime> times() const override;

  uint64_t ids_out() const { return pos_; }
  uint64_t patches_out() const { return patches_; }
  size_t hash_columns() const { return cols_; }

 private:
  struct Scratch;
  Scratch& scratch(Chunk& c);
  void sequential(const std::vector<uint32_t>& ids, DType dt);
  // Appends n patch lengths to the archive (or its spool), with their CRC when already known.
  void append_lengths(const int32_t* p, size_t n, std::optional<uint32_t> crc);
  // Where the patch stream stands after the ids assembled so far (the next chunk starts there).
  patch::PatchSeam stream_seam() const;
  void add_time(int step, std::chrono::steady_clock::time_point since) const;

  PatchStageOptions opt_;
  patch::PatchRule free_rule_;  // the rule without max_patch_length / include_next_token
  std::unique_ptr<patch::PatchStream> static_stream_;
  bool entropy_ = false;
  size_t seam_ = 4;      // leading positions of a chunk whose start is decided in order
  size_t ent_fix_ = 0;   // leading entropies recomputed in order (the model's order - 1)
  size_t hash_fix_ = 0;  // leading hash rows recomputed in order (largest size - 1)
  size_t cols_ = 0;
  size_t tail_keep_ = 2;

  NpzWriter npz_;
  SpoolFile lengths_;
  SpoolFile hashes_;
  std::optional<uint64_t> expected_;
  bool direct_ = false;  // members filled in place (no spools)
  NpzWriter::Member ids_m_ = 0, lengths_m_ = 0, hash_m_ = 0;
  size_t hash_item_ = 8;
  bool started_ = false;

  // ordered state
  uint64_t pos_ = 0;
  int64_t last_start_ = 0;
  uint64_t patches_ = 0;
  std::vector<uint16_t> tail_ids_;  // the last tail_keep_ ids
  float tail_h_[2] = {0, 0};        // H at pos_ - 2, pos_ - 1
  std::vector<int32_t> out_lengths_;
  std::vector<int32_t> head_lens_;  // the patch stream over a chunk's first seam_ positions

  static constexpr int kSteps = 5;
  mutable std::atomic<uint64_t> busy_ns_[kSteps] = {};
};

}  // namespace blt
