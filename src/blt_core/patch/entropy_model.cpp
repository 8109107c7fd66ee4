#include "blt_core/patch/entropy_model.hpp"


#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "blt_core/codec/blt_ids.hpp"
#include "blt_core/parallel/parallel_for.hpp"
#include "blt_core/prefetch.hpp"

namespace blt::patch {
namespace {

constexpr uint64_t kBoundaryCode = kEndOutcome + 1;  // slot value of the boundary symbol
constexpr int kNewestShift = kSlotBits * (kSlots - 1);

inline int context_depth(uint64_t ctx) {
  int d = 0;
  while (d < kSlots && ((ctx >> (kSlotBits * (kSlots - 1 - d))) & 511u) != 0) ++d;
  return d;
}

// FNV-1a, 64-bit: a cheap whole-file checksum that catches truncation and bit flips.
uint64_t fnv1a(const char* p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; ++i) {
    h ^= static_cast<uint8_t>(p[i]);
    h *= 0x100000001b3ull;
  }
  return h;
}

constexpr char kMagic[8] = {'B', 'L', 'T', 'N', 'G', 'R', 'A', 'M'};
constexpr uint32_t kFormatVersion = 1;
constexpr uint32_t kSmoothingWittenBell = 0;

struct FileHeader {
  char magic[8];
  uint32_t version;
  uint32_t order;
  uint32_t smoothing;
  uint32_t reserved;
  uint64_t n_contexts;
  uint64_t n_ngrams;
};
struct FileContext {
  uint64_t key;
  float entropy;
  uint32_t types;
};
struct FileNgram {
  uint64_t key;
  uint64_t count;
};

}  // namespace

void EntropyModel::set_order(int order) {
  if (order < 1 || order > kMaxOrder)
    throw std::invalid_argument("n-gram order must be between 1 and " + std::to_string(kMaxOrder) +
                                ", got " + std::to_string(order));
  order_ = order;
  const uint64_t all = (uint64_t(1) << (kSlotBits * kSlots)) - 1;
  for (int l = 0; l <= kSlots; ++l)
    masks_[l] = l == 0 ? 0 : all & ~((uint64_t(1) << (kSlotBits * (kSlots - l))) - 1);
}

float EntropyModel::longest_suffix_entropy(uint64_t ctx) const {
  for (int l = std::min(context_depth(ctx), order_ - 1); l >= 0; --l)
    if (const ContextStats* st = contexts_.find(ctx & masks_[l])) return st->entropy;
  return 0.0f;
}

namespace {
inline uint32_t context3_hash(uint32_t key, int shift) { return (key * 0x9E3779B1u) >> shift; }
constexpr int kContext3Shift = kSlotBits * (kSlots - 3);  // the three newest slots, 27 bits
constexpr int kSuffix2Shift = kSlotBits * (kSlots - 2);   // the two newest: s1 * 512 + s2
// Slots after the last home slot, so probes never wrap (a probe run longer than this
// rebuilds the table twice as large).
constexpr size_t kContext3Overflow = 64;
}  // namespace

void EntropyModel::build_lookup() {
  suffix2_.clear();
  contexts3_.clear();
  if (order_ > 4) return;  // longer contexts use the main table
  // Indexed by the two newest 9-bit slots as they sit in the context (s1 * 512 + s2): one
  // shift per lookup. Only slot values up to 257 occur.
  suffix2_.assign(size_t(1) << (2 * kSlotBits), 0.0f);
  for (uint64_t s1 = 0; s1 < kSlotValues; ++s1)
    for (uint64_t s2 = 0; s2 < kSlotValues; ++s2) {
      // s2 without s1 never occurs (symbols fill the newest slots first)
      const uint64_t ctx = s1 == 0 ? 0 : (s1 << kNewestShift) | (s2 << (kNewestShift - kSlotBits));
      suffix2_[(s1 << kSlotBits) | s2] = longest_suffix_entropy(ctx & masks_[order_ - 1]);
    }
  if (order_ < 4) return;
  std::vector<uint32_t> keys;
  for (const auto& s : contexts_.slots())
    if (s.key != kEmptyKey && context_depth(s.key) == 3)
      keys.push_back(static_cast<uint32_t>(s.key >> kContext3Shift));
  // Load factor <= 1/4: an absent context (the common case on unfamiliar text) usually meets
  // an empty slot within the first two.
  size_t cap = std::bit_ceil(std::max<size_t>(16, keys.size() * 4));
  while (true) {
    contexts3_.assign(cap + kContext3Overflow, Context3Slot{kContext3Empty, 0.0f});
    context3_home_mask_ = static_cast<uint32_t>(cap - 1);
    context3_hash_shift_ = 32 - std::countr_zero(cap);
    bool fits = true;
    for (uint32_t k : keys) {
      size_t i = context3_hash(k, context3_hash_shift_);
      while (i < contexts3_.size() && contexts3_[i].key != kContext3Empty) ++i;
      if (i + 1 >= contexts3_.size()) {  // the last slot stays empty: every probe ends
        fits = false;
        break;
      }
      const uint64_t ctx = static_cast<uint64_t>(k) << kContext3Shift;
      contexts3_[i] = Context3Slot{k, contexts_.find(ctx)->entropy};
    }
    if (fits) break;
    cap *= 2;
  }
}

void EntropyModel::entropies(EntropyCursor& cursor, const ContextReset& reset,
                             const uint16_t* ids, size_t n, float* out) const {
  if (!contexts3_.empty())
    entropies_dense<true>(cursor, reset, ids, n, out);
  else if (!suffix2_.empty())
    entropies_dense<false>(cursor, reset, ids, n, out);
  else
    entropies_table(cursor, reset, ids, n, out);
}

namespace {
// Per id: the context after it is ((context >> 9) & keep_of[id]) | newest_of[id], where
// newest_of holds the id's symbol in the newest slot and keep_of is the model's context mask,
// or 0 when the id resets the context. Table-driven so the key loop has no branches.
struct ContextStep {
  uint64_t newest_of[kMaxBltId + 1];
  uint64_t keep_of[kMaxBltId + 1];
  ContextStep(const ContextReset& reset, uint64_t keep) {
    for (int id = 0; id <= static_cast<int>(kMaxBltId); ++id) {
      const bool special = id < static_cast<int>(kByteOffset) || id >= static_cast<int>(kFirstMetaId);
      const uint64_t code = special ? kBoundaryCode : uint64_t(id - kByteOffset) + 1;
      newest_of[id] = (code << kNewestShift) & keep;
      keep_of[id] = special || reset.byte[static_cast<size_t>(id) - kByteOffset] ? 0 : keep;
    }
  }
  uint64_t next(uint64_t ctx, uint16_t id) const {
    return ((ctx >> kSlotBits) & keep_of[id]) | newest_of[id];
  }
};

[[noreturn]] void bad_id(uint16_t id, size_t pos) {
  throw std::invalid_argument("id " + std::to_string(id) + " at position " + std::to_string(pos) +
                              " is not a BLT byte id (0.." + std::to_string(kMaxBltId) + ")");
}
}  // namespace

// Contexts of a block are computed first (arithmetic only), prefetching the slot each one
// will probe (the dense table is mostly cache-resident), so the lookups that follow mostly hit; a lookup is one dense load and (kThird)
// the first two slots of one probe, compared without branches.
template <bool kThird>
void EntropyModel::entropies_dense(EntropyCursor& cursor, const ContextReset& reset,
                                   const uint16_t* ids, size_t n, float* out) const {
  const uint64_t keep = masks_[order_ - 1];
  const ContextStep step(reset, keep);
  const float* const suffix2 = suffix2_.data();
  const Context3Slot* const table = contexts3_.data();
  const int hash_shift = context3_hash_shift_;
  constexpr size_t kBlock = 256;
  uint64_t ctxs[kBlock];
  uint32_t homes[kBlock];
  uint64_t ctx = cursor.context;
  for (size_t b0 = 0; b0 < n; b0 += kBlock) {
    const size_t bn = std::min(kBlock, n - b0);
    uint16_t mx = 0;
    for (size_t i = 0; i < bn; ++i) mx = std::max(mx, ids[b0 + i]);
    if (mx > kMaxBltId)
      for (size_t i = 0; i < bn; ++i)
        if (ids[b0 + i] > kMaxBltId) bad_id(ids[b0 + i], b0 + i);
#pragma GCC unroll 4
    for (size_t i = 0; i < bn; ++i) {
      const uint16_t id = ids[b0 + i];
      ctx = step.next(ctx, id);
      ctxs[i] = ctx;
      if constexpr (kThird) {
        homes[i] = context3_hash(static_cast<uint32_t>(ctx >> kContext3Shift), hash_shift);
        prefetch_line(&table[homes[i]]);
      } else {
        prefetch_line(&suffix2[ctx >> kSuffix2Shift]);
      }
    }
#pragma GCC unroll 4
    for (size_t i = 0; i < bn; ++i) {
      const uint64_t c = ctxs[i];
      float e = suffix2[c >> kSuffix2Shift];
      if constexpr (kThird) {
        const uint32_t k = static_cast<uint32_t>(c >> kContext3Shift);
        const Context3Slot* s = table + homes[i];
        const Context3Slot a = s[0], b = s[1];
        e = b.key == k ? b.entropy : e;
        e = a.key == k ? a.entropy : e;
        // Both slots taken by other contexts (keys are below 2^27, the empty key has the top
        // bit set): the probe goes on, rarely at load factor 1/4.
        if ((a.key != k) & (b.key != k) & (((a.key | b.key) >> 31) == 0)) [[unlikely]] {
          for (s += 2; s->key != kContext3Empty; ++s)
            if (s->key == k) {
              e = s->entropy;
              break;
            }
        }
      }
      out[b0 + i] = e;
    }
  }
  cursor.context = ctx;
}

void EntropyModel::entropies_table(EntropyCursor& cursor, const ContextReset& reset,
                                   const uint16_t* ids, size_t n, float* out) const {
  const uint64_t keep = masks_[order_ - 1];
  const ContextStep step(reset, keep);
  const int top = order_ - 1;
  constexpr size_t kBlock = 512;
  constexpr size_t kAhead = 12;
  uint64_t keys[kBlock];
  uint64_t ctx = cursor.context;
  for (size_t b0 = 0; b0 < n; b0 += kBlock) {
    const size_t bn = std::min(kBlock, n - b0);
    for (size_t i = 0; i < bn; ++i) {
      const uint16_t id = ids[b0 + i];
      if (id > kMaxBltId) bad_id(id, b0 + i);
      ctx = step.next(ctx, id);
      keys[i] = ctx;
    }
    for (size_t i = 0; i < std::min(kAhead, bn); ++i) contexts_.prefetch(keys[i]);
    for (size_t i = 0; i < bn; ++i) {
      if (i + kAhead < bn) contexts_.prefetch(keys[i + kAhead]);
      // an unseen context's interpolated distribution equals that of its longest seen
      // suffix, so its entropy is that one too
      const ContextStats* st = contexts_.find(keys[i]);
      for (int l = top - 1; !st && l >= 0; --l) st = contexts_.find(keys[i] & masks_[l]);
      out[b0 + i] = st ? st->entropy : 0.0f;
    }
  }
  cursor.context = ctx;
}

double EntropyModel::prob(uint64_t ctx, uint32_t w) const {
  double p = 1.0 / kOutcomes;
  const int depth = std::min(context_depth(ctx), order_ - 1);
  for (int l = 0; l <= depth; ++l) {
    const uint64_t key = ctx & masks_[l];
    const ContextStats* st = contexts_.find(key);
    if (!st) break;  // every suffix of a seen context was seen, so longer ones are unseen too
    const uint64_t* total = ngrams_.find((key << kSlotBits) | kTotalPseudoOutcome);
    const uint64_t* cw = ngrams_.find((key << kSlotBits) | w);
    const double t = st->types;
    p = ((cw ? double(*cw) : 0.0) + t * p) / (double(total ? *total : 0) + t);
  }
  return p;
}

double EntropyModel::bits_per_byte(ByteSpan data, const ContextReset& reset) const {
  if (data.empty()) return 0.0;
  const uint64_t keep = masks_[order_ - 1];
  uint64_t ctx = (kBoundaryCode << kNewestShift) & keep;
  double sum = 0;
  for (uint8_t b : data) {
    sum -= std::log2(prob(ctx, b));
    const uint64_t code = uint64_t(b) + 1;
    ctx = reset.byte[b] ? (code << kNewestShift) & keep
                        : ((ctx >> kSlotBits) | (code << kNewestShift)) & keep;
  }
  return sum / static_cast<double>(data.size());
}

void EntropyModel::context_table(std::vector<uint64_t>& keys,
                                 std::vector<float>& entropies) const {
  std::vector<std::pair<uint64_t, float>> all;
  all.reserve(contexts_.size());
  for (const auto& s : contexts_.slots())
    if (s.key != kEmptyKey) all.emplace_back(s.key, s.value.entropy);
  std::sort(all.begin(), all.end());
  keys.clear();
  entropies.clear();
  for (const auto& [k, e] : all) {
    keys.push_back(k);
    entropies.push_back(e);
  }
}

std::string EntropyModel::to_bytes() const {
  FileHeader h{};
  std::memcpy(h.magic, kMagic, 8);
  h.version = kFormatVersion;
  h.order = static_cast<uint32_t>(order_);
  h.smoothing = kSmoothingWittenBell;
  h.n_contexts = contexts_.size();
  h.n_ngrams = ngrams_.size();
  std::vector<FileContext> contexts;
  contexts.reserve(h.n_contexts);
  for (const auto& s : contexts_.slots())
    if (s.key != kEmptyKey) contexts.push_back(FileContext{s.key, s.value.entropy, s.value.types});
  std::vector<FileNgram> ngrams;
  ngrams.reserve(h.n_ngrams);
  for (const auto& s : ngrams_.slots())
    if (s.key != kEmptyKey) ngrams.push_back(FileNgram{s.key, s.value});
  std::sort(contexts.begin(), contexts.end(), [](const FileContext& x, const FileContext& y) { return x.key < y.key; });
  std::sort(ngrams.begin(), ngrams.end(), [](const FileNgram& x, const FileNgram& y) { return x.key < y.key; });
  std::string buf(sizeof(h), '\0');
  std::memcpy(buf.data(), &h, sizeof(h));
  buf.reserve(sizeof(h) + contexts.size() * sizeof(FileContext) + ngrams.size() * sizeof(FileNgram) + 8);
  buf.append(reinterpret_cast<const char*>(contexts.data()), contexts.size() * sizeof(FileContext));
  buf.append(reinterpret_cast<const char*>(ngrams.data()), ngrams.size() * sizeof(FileNgram));
  uint64_t sum = fnv1a(buf.data(), buf.size());
  buf.append(reinterpret_cast<const char*>(&sum), sizeof(sum));
  return buf;
}

void EntropyModel::save(const std::string& path) const {
  const std::string buf = to_bytes();
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) throw std::runtime_error("cannot open '" + path + "' for writing");
  f.write(buf.data(), static_cast<std::streamsize>(buf.size()));
  if (!f) throw std::runtime_error("writing entropy model to '" + path + "' failed");
}

EntropyModel EntropyModel::load(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open entropy model file '" + path + "'");
  std::stringstream ss;
  ss << f.rdbuf();
  return from_bytes(ss.str(), "'" + path + "'");
}

EntropyModel EntropyModel::from_bytes(std::string_view buf, const std::string& what) {
  auto bad = [&](const std::string& why) {
    return std::invalid_argument(what + " is not a valid entropy model file: " + why);
  };
  if (buf.size() < sizeof(FileHeader) + 8) throw bad("too short");
  FileHeader h;
  std::memcpy(&h, buf.data(), sizeof(h));
  if (std::memcmp(h.magic, kMagic, 8) != 0) throw bad("wrong magic bytes");
  if (h.version != kFormatVersion)
    throw bad("format version " + std::to_string(h.version) + ", this build reads version " +
              std::to_string(kFormatVersion));
  if (h.smoothing != kSmoothingWittenBell) throw bad("unknown smoothing");
  if (h.order < 1 || h.order > static_cast<uint32_t>(kMaxOrder)) throw bad("bad order");
  const uint64_t body = sizeof(FileHeader) + h.n_contexts * sizeof(FileContext) +
                        h.n_ngrams * sizeof(FileNgram);
  if (h.n_contexts > buf.size() || h.n_ngrams > buf.size() || body + 8 != buf.size())
    throw bad("truncated or wrong size");
  uint64_t stored;
  std::memcpy(&stored, buf.data() + body, 8);
  if (fnv1a(buf.data(), body) != stored) throw bad("checksum mismatch (corrupt file)");
  EntropyModel m;
  m.set_order(static_cast<int>(h.order));
  m.contexts_.reserve(h.n_contexts);
  m.ngrams_.reserve(h.n_ngrams);
  const char* p = buf.data() + sizeof(FileHeader);
  for (uint64_t i = 0; i < h.n_contexts; ++i, p += sizeof(FileContext)) {
    FileContext c;
    std::memcpy(&c, p, sizeof(c));
    m.contexts_[c.key] = ContextStats{c.entropy, c.types};
  }
  for (uint64_t i = 0; i < h.n_ngrams; ++i, p += sizeof(FileNgram)) {
    FileNgram g;
    std::memcpy(&g, p, sizeof(g));
    m.ngrams_[g.key] = g.count;
  }
  if (!m.contexts_.find(0)) throw bad("no order-0 context");
  m.build_lookup();
  return m;
}

// ---------------------------------------------------------------------------------------------

NgramCounter::NgramCounter(int order) : order_(order) {
  EntropyModel probe;
  probe.set_order(order);  // validates the order
}

void NgramCounter::add(std::span<const ByteSpan> documents, int threads) {
  EntropyModel shape;
  shape.set_order(order_);
  const auto masks = shape.masks_;
  const uint64_t keep = masks[order_ - 1];
  const int n_ctx = order_ - 1;
  // Work items: ranges of target positions of one document. A document of L bytes has targets
  // 1..L+1 (position 0 is BOS, target L+1 the end of the document).
  struct Range {
    size_t doc;
    size_t a, b;
  };
  constexpr size_t kRange = size_t(1) << 20;
  std::vector<Range> ranges;
  for (size_t d = 0; d < documents.size(); ++d) {
    size_t last = documents[d].size() + 2;
    for (size_t a = 1; a < last; a += kRange) ranges.push_back({d, a, std::min(last, a + kRange)});
    bytes_ += documents[d].size();
  }
  std::vector<LinearProbeTable<uint64_t>> locals(static_cast<size_t>(resolve_threads(threads)));
  parallel_for(threads, ranges.size(), 1, [&](size_t first, size_t last, int slot) {
    auto& table = locals[static_cast<size_t>(slot)];
    for (size_t r = first; r != last; ++r) {
      const Range& rg = ranges[r];
      const ByteSpan doc = documents[rg.doc];
      const size_t len = doc.size();
      auto code = [&](size_t j) -> uint64_t { return j == 0 ? kBoundaryCode : uint64_t(doc[j - 1]) + 1; };
      uint64_t ctx = 0;
      size_t from = rg.a > static_cast<size_t>(n_ctx) ? rg.a - n_ctx : 0;
      for (size_t j = from; j < rg.a; ++j) ctx = ((ctx >> kSlotBits) | (code(j) << kNewestShift)) & keep;
      for (size_t i = rg.a; i < rg.b; ++i) {
        const uint64_t w = i <= len ? doc[i - 1] : kEndOutcome;
        const int lmax = static_cast<int>(std::min<size_t>(n_ctx, i));
        for (int l = 0; l <= lmax; ++l) table[((ctx & masks[l]) << kSlotBits) | w] += 1;
        if (i <= len) ctx = ((ctx >> kSlotBits) | ((w + 1) << kNewestShift)) & keep;
      }
    }
  });
  for (auto& t : locals)
    for (const auto& s : t.slots())
      if (s.key != kEmptyKey) counts_[s.key] += s.value;
}

EntropyModel NgramCounter::build(int threads) const {
  if (counts_.size() == 0) throw std::invalid_argument("no training data for the entropy model");
  EntropyModel m;
  m.set_order(order_);
  std::vector<std::pair<uint64_t, uint64_t>> entries;
  entries.reserve(counts_.size());
  for (const auto& s : counts_.slots())
    if (s.key != kEmptyKey) entries.emplace_back(s.key, s.value);

  struct Group {
    uint64_t ctx;
    size_t begin, end;
    uint64_t total;
    float entropy;
  };
  std::vector<Group> groups;
  parallel_sort(threads, entries);
  for (size_t i = 0; i < entries.size();) {
    uint64_t ctx = entries[i].first >> kSlotBits;
    size_t j = i;
    uint64_t total = 0;
    while (j < entries.size() && (entries[j].first >> kSlotBits) == ctx) total += entries[j++].second;
    groups.push_back({ctx, i, j, total, 0.0f});
    i = j;
  }
  // Sorted keys put each context right after its parent (the context without its oldest
  // symbol) and before the parent's next sibling: a depth-first walk, so a stack of one
  // distribution per depth holds every parent when its children come.
  using Dist = std::array<double, kOutcomes>;
  auto fill = [&](const Group& g, const Dist& parent, Dist& dist) {
    const double t = static_cast<double>(g.end - g.begin);
    const double denom = static_cast<double>(g.total) + t;
    for (uint32_t w = 0; w < kOutcomes; ++w) dist[w] = t * parent[w] / denom;
    for (size_t e = g.begin; e < g.end; ++e)
      dist[entries[e].first & 511u] += static_cast<double>(entries[e].second) / denom;
    double h = 0;
    for (double p : dist)
      if (p > 0) h -= p * std::log(p);
    return static_cast<float>(h);
  };
  if (groups[0].ctx != 0) throw std::logic_error("entropy model: order-0 counts missing");
  Dist uniform;
  uniform.fill(1.0 / kOutcomes);
  Dist dist0;
  groups[0].entropy = fill(groups[0], uniform, dist0);
  // Subtrees by newest context symbol are independent given the order-0 distribution.
  std::vector<size_t> subtree_starts;
  for (size_t g = 1; g < groups.size(); ++g)
    if (g == 1 || (groups[g].ctx >> kNewestShift) != (groups[g - 1].ctx >> kNewestShift))
      subtree_starts.push_back(g);
  subtree_starts.push_back(groups.size());
  parallel_for(threads, subtree_starts.size() - 1, 1, [&](size_t first, size_t last, int) {
    std::vector<Dist> stack(kSlots + 1);
    stack[0] = dist0;
    for (size_t s = first; s != last; ++s)
      for (size_t g = subtree_starts[s]; g < subtree_starts[s + 1]; ++g) {
        int depth = context_depth(groups[g].ctx);
        groups[g].entropy = fill(groups[g], stack[depth - 1], stack[depth]);
      }
  });
  m.contexts_.reserve(groups.size());
  m.ngrams_.reserve(entries.size() + groups.size());
  for (const Group& g : groups) {
    m.contexts_[g.ctx] = ContextStats{g.entropy, static_cast<uint32_t>(g.end - g.begin)};
    m.ngrams_[(g.ctx << kSlotBits) | kTotalPseudoOutcome] = g.total;
  }
  for (const auto& [k, c] : entries) m.ngrams_[k] = c;
  m.build_lookup();
  return m;
}

}  // namespace blt::patch
