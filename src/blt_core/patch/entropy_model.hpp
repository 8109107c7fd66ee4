// EntropyModel: a byte n-gram language model (interpolated Witten-Bell smoothing) that gives the
// next-byte entropy at every position of a BLT id sequence, for entropy patching on the CPU.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "blt_core/linear_probe_table.hpp"

namespace blt::patch {

using ByteSpan = std::span<const uint8_t>;

// Symbols: the 256 bytes and one boundary symbol (BOS, EOS, other specials and meta tokens all
// map to it). A model predicts 257 outcomes: a byte or the end of the document.
// Contexts are packed newest-first into 5 slots of 9 bits (slot value = outcome + 1, 0 = empty);
// a context shorter than the order leaves its oldest slots empty, so a reset context is simply a
// short key. Keys are exact (no hashing collisions): the table hash only places them.
inline constexpr int kMaxOrder = 6;
inline constexpr int kSlots = kMaxOrder - 1;
inline constexpr int kSlotBits = 9;
inline constexpr uint32_t kOutcomes = 257;
inline constexpr uint32_t kEndOutcome = 256;
inline constexpr uint32_t kTotalPseudoOutcome = 511;  // n-gram key holding a context's total

// Which bytes end the context seen by the model (paper §4.4: newlines). Specials always do.
struct ContextReset {
  std::array<bool, 256> byte{};
  static ContextReset none() { return {}; }
};

// Rolling context of one sequence; carried across chunks so chunked entropies equal one-shot.
struct EntropyCursor {
  uint64_t context = 0;
};

struct ContextStats {
  float entropy = 0;   // nats, of the interpolated next-symbol distribution
  uint32_t types = 0;  // distinct outcomes seen after the context (Witten-Bell's T)
};

class EntropyModel {
 public:
  EntropyModel() = default;

  int order() const { return order_; }
  size_t n_contexts() const { return contexts_.size(); }
  size_t n_ngrams() const { return ngrams_.size(); }

  // H[k] for the n ids (BLT ids, <= 264) continuing `cursor`: entropy in nats of the predicted
  // distribution of id k+1. The cursor is updated; a fresh cursor starts a sequence.
  void entropies(EntropyCursor& cursor, const ContextReset& reset, const uint16_t* ids, size_t n,
                 float* out) const;

  // Mean -log2 P(byte | context) over the bytes of `data` read as one document (BOS + bytes).
  double bits_per_byte(ByteSpan data, const ContextReset& reset) const;

  // Every stored context key (packed as described above) with its entropy, sorted by key: for
  // inspection and for independent re-implementations (the NumPy benchmark baseline).
  void context_table(std::vector<uint64_t>& keys, std::vector<float>& entropies) const;

  // Versioned binary file with an FNV-1a checksum; load throws std::invalid_argument when the
  // file is not a model, has another version, is truncated or corrupt.
  void save(const std::string& path) const;
  static EntropyModel load(const std::string& path);

  // The file's bytes. Entries are written sorted by key, so equal models give equal bytes
  // whatever their tables' history (pickles and cache fingerprints rely on it). from_bytes
  // validates as load does; `what` names the source in its errors.
  std::string to_bytes() const;
  static EntropyModel from_bytes(std::string_view data, const std::string& what);

 private:
  friend class NgramCounter;
  double prob(uint64_t context, uint32_t outcome) const;

  // Models of order <= 4 answer from two small structures built at train/load time, so a
  // position costs one dense load plus (order 4) one hash probe, with no back-off loop:
  // suffix2_[s1 * 512 + s2] is the entropy of the longest seen suffix of the two newest
  // symbols (slot values s1, s2; 0 = none), and contexts3_ holds the seen three-symbol
  // contexts (27-bit key, entropy), open addressing without wrap-around.
  struct Context3Slot {
    uint32_t key;
    float entropy;
  };
  static constexpr uint32_t kSlotValues = kOutcomes + 1;  // 0 (empty) .. 257 (boundary)
  static constexpr uint32_t kContext3Empty = ~uint32_t(0);
  void build_lookup();
  float longest_suffix_entropy(uint64_t context) const;
  template <bool kThird>
  void entropies_dense(EntropyCursor& cursor, const ContextReset& reset, const uint16_t* ids,
                       size_t n, float* out) const;
  void entropies_table(EntropyCursor& cursor, const ContextReset& reset, const uint16_t* ids,
                       size_t n, float* out) const;
  std::vector<float> suffix2_;
  std::vector<Context3Slot> contexts3_;
  uint32_t context3_home_mask_ = 0;
  int context3_hash_shift_ = 32;

  int order_ = 1;
  std::array<uint64_t, kSlots + 1> masks_{};  // masks_[l] keeps the l newest slots
  LinearProbeTable<ContextStats> contexts_;
  LinearProbeTable<uint64_t> ngrams_;  // (context << 9 | outcome) -> count; outcome 511 -> total
  void set_order(int order);
};

// Collects n-gram counts from documents (in parallel, oneTBB) and builds an EntropyModel.
// Each document is read as BOS + bytes + EOS; contexts never cross documents.
class NgramCounter {
 public:
  explicit NgramCounter(int order);
  void add(std::span<const ByteSpan> documents, int threads);
  uint64_t bytes_seen() const { return bytes_; }
  EntropyModel build(int threads) const;

 private:
  int order_;
  uint64_t bytes_ = 0;
  LinearProbeTable<uint64_t> counts_;
};

}  // namespace blt::patch
