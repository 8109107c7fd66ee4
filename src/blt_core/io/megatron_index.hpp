// Megatron-LM indexed dataset index (.idx): the byte layout megatron-core's IndexedDatasetBuilder
// writes, its dtype codes and its rule for choosing the id dtype from the vocabulary size.
#pragma once
#include <atomic>
#include <cstdint>
#include <vector>

#include "blt_core/dtype.hpp"
#include "blt_core/io/byte_sink.hpp"

namespace blt {

// "MMIDIDX\0\0", then format version 1 as uint64.
inline constexpr uint8_t kMegatronMagic[9] = {'M', 'M', 'I', 'D', 'I', 'D', 'X', 0, 0};
inline constexpr uint64_t kMegatronVersion = 1;

// Megatron's DType codes: uint16 = 8, int32 = 4, int64 = 5. uint32 has no code there: throws
// std::invalid_argument.
uint8_t megatron_dtype_code(DType dt);

// DType.optimal_dtype: uint16 for a vocabulary below 65,500 ids, else int32.
DType megatron_dtype_for_vocab(uint64_t n_vocab);

// The document table of one shard, as preprocess_data.py builds it: every document is one
// sequence, except that an empty document adds a document boundary and no sequence.
// Keeps 4 bytes per document in memory; the ids themselves go straight to the .bin file.
class MegatronIndex {
 public:
  explicit MegatronIndex(DType dt);
  DType dtype() const { return dt_; }

  // Records a document of n_ids ids (written to the .bin by the caller). Throws
  // std::length_error for a document longer than Megatron's int32 lengths can hold.
  void add_document(uint64_t n_ids);

  uint64_t documents() const { return lengths_.size(); }
  uint64_t sequences() const { return sequences_; }
  uint64_t ids() const { return ids_; }

  // The whole .idx file: header, sequence count, document count (+1: the leading 0), int32
  // sequence lengths, int64 byte pointers, int64 document indices.
  void write(ByteSink& sink, const std::atomic<bool>& stop) const;

 private:
  DType dt_;
  std::vector<int32_t> lengths_;  // per document, 0 for an empty one
  uint64_t sequences_ = 0;
  uint64_t ids_ = 0;
};

}  // namespace blt
