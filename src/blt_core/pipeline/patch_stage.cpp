#include "blt_core/pipeline/patch_stage.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

#include "blt_core/codec/blt_ids.hpp"
#include "blt_core/patch/ngram_hash.hpp"
#include "blt_core/pipeline/crc32.hpp"

namespace blt {

using patch::PatchRule;
using patch::PatchSeam;
using patch::PatchStream;
using Clock = std::chrono::steady_clock;

namespace {
enum Step { kEntropy, kPatch, kHash, kChecksum, kAssemble };
const char* const kStepNames[] = {"entropy", "patch", "hash", "checksum", "assemble"};

std::string_view npy_descr(DType dt) {
  switch (dt) {
    case DType::u16: return "<u2";
    case DType::u32: return "<u4";
    case DType::i32: return "<i4";
    case DType::i64: return "<i8";
  }
  return "?";
}
}  // namespace

// Row buffers as big as a chunk use PageAllocator (see there), as the chunk's own buffers do.
template <class T>
using RowVector = std::vector<T, PageAllocator<T>>;

struct PatchStage::Scratch final : StageScratch {
  RowVector<uint16_t> ids16;
  const uint16_t* ids = nullptr;
  size_t n = 0;
  RowVector<float> h;
  // The worker's patch stream over the chunk; its starts at local positions >= seam_ are final.
  std::vector<int32_t> lens;
  bool has_start = false;    // a start at a local position >= seam_
  int64_t first_start = 0;   // the first and last such start (chunk-local)
  int64_t last_start = 0;
  const int32_t* inner = nullptr;  // the lengths from first_start to last_start (max_patch_length
  size_t inner_n = 0;              // applied): a part of lens, or of split
  std::vector<int32_t> split;
  uint32_t inner_crc = 0;
  std::vector<int64_t> hash_block;  // int64 rows of one block
  RowVector<uint8_t> hash_out;      // the chunk's hash ids in the output dtype
  uint32_t ids_crc = 0;
  uint32_t hash_rest_crc = 0;  // of the rows after the leading hash_fix_ ones
};

PatchStage::PatchStage(const PatchStageOptions& options, int out_fd, std::string out_name,
                       int lengths_spool_fd, int hash_spool_fd)
    : opt_(options),
      npz_(out_fd, out_name),
      lengths_(lengths_spool_fd, out_name + " (patch length spool)"),
      hashes_(hash_spool_fd, out_name + " (hash id spool)") {
  if (opt_.rule) {
    const PatchRule& r = *opt_.rule;
    r.validate();
    if (r.is_topk())
      throw std::invalid_argument(
          "top-k entropy patching (no threshold) needs the whole sequence at once: use "
          "Patcher.patch in memory, or give a threshold to patch a file");
    entropy_ = r.needs_entropies();
    if (entropy_ && !opt_.model) throw std::invalid_argument("entropy patching needs an entropy model");
    free_rule_ = r;
    free_rule_.max_patch_length = 0;
    free_rule_.include_next_token = false;
    if (r.kind == PatchRule::Kind::static_size) static_stream_ = std::make_unique<PatchStream>(r);
    if (entropy_) {
      ent_fix_ = static_cast<size_t>(opt_.model->order() - 1);
      // A start at p looks at H[p-1] and H[p-2], which are exact from position ent_fix_ on.
      seam_ = std::max<size_t>(seam_, ent_fix_ + 2);
    }
  }
  const NgramHashOptions& h = opt_.hash;
  if (!h.sizes.empty()) {
    if (h.funcs.empty()) throw std::invalid_argument("hash ids need at least one hash function");
    if (h.dtype != DType::i32 && h.dtype != DType::i64)
      throw std::invalid_argument("hash ids are int32 or int64, not " + std::string(dtype_name(h.dtype)));
    if (h.dtype == DType::i32 && h.max_hash > (int64_t(1) << 31))
      throw std::invalid_argument("max_hash " + std::to_string(h.max_hash) +
                                  " does not fit int32 hash ids (at most 2**31)");
    // Validates sizes, functions and max_hash with the kernel's own messages.
    int64_t probe[1 * 64 * 11];
    const uint16_t one = kBosId;
    if (h.sizes.size() * h.funcs.size() <= 64 * 11)
      patch::hash_ngrams(&one, 1, h.sizes, h.funcs, h.max_hash, probe, 1);
    else
      throw std::invalid_argument("too many hash columns");
    cols_ = h.sizes.size() * h.funcs.size();
    hash_item_ = h.dtype == DType::i32 ? 4 : 8;
    hash_fix_ = static_cast<size_t>(*std::max_element(h.sizes.begin(), h.sizes.end()) - 1);
  }
  tail_keep_ = std::max({size_t(2), ent_fix_, hash_fix_});
}

double PatchStage::bytes_per_id() const {
  double b = 2 + 4;  // u16 copy, lengths
  if (entropy_) b += 4;
  if (cols_) b += static_cast<double>(cols_ * hash_item_);
  return b;
}

void PatchStage::add_time(int step, Clock::time_point since) const {
  busy_ns_[step].fetch_add(static_cast<uint64_t>(
                               std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - since).count()),
                           std::memory_order_relaxed);
}

std::vector<StageTime> PatchStage::times() const {
  std::vector<StageTime> t;
  for (int i = 0; i < kSteps; ++i) {
    if (i == kEntropy && !entropy_) continue;
    if (i == kPatch && !opt_.rule) continue;
    if (i == kHash && !cols_) continue;
    t.push_back({kStepNames[i], static_cast<double>(busy_ns_[i].load()) * 1e-9});
  }
  return t;
}

PatchStage::Scratch& PatchStage::scratch(Chunk& c) {
  if (!c.scratch) c.scratch = std::make_unique<Scratch>();
  return static_cast<Scratch&>(*c.scratch);
}

void PatchStage::process(Chunk& c, DType dt) {
  Scratch& s = scratch(c);
  const size_t n = c.n_ids;
  s.n = n;
  auto t = Clock::now();
  if (dt == DType::u16) {
    s.ids = reinterpret_cast<const uint16_t*>(c.out_ptr);
  } else {
    s.ids16.resize(n);
    for (size_t i = 0; i < n; ++i) {
      uint64_t v = 0;
      const uint8_t* p = c.out_ptr + i * dtype_size(dt);
      std::memcpy(&v, p, dtype_size(dt));  // little-endian, ids are never negative
      if (v > kMaxBltId)
        throw std::invalid_argument("patching needs BLT byte ids (0.." + std::to_string(kMaxBltId) +
                                    "), got id " + std::to_string(v));
      s.ids16[i] = static_cast<uint16_t>(v);
    }
    s.ids = s.ids16.data();
  }
  s.ids_crc = crc32_update(0, c.out_ptr, c.out_len);
  add_time(kChecksum, t);
  if (entropy_) {
    t = Clock::now();
    s.h.resize(n);
    patch::EntropyCursor cur;
    opt_.model->entropies(cur, opt_.reset, s.ids, n, s.h.data());
    add_time(kEntropy, t);
  }
  s.has_start = false;
  s.inner_n = 0;
  s.inner_crc = 0;
  if (opt_.rule && !static_stream_ && n > seam_) {
    t = Clock::now();
    // Positions decided here are those at local p >= seam_, which look back only into this
    // chunk; the stream is resumed at a made-up position past the rules' special first ones.
    constexpr int64_t kOrigin = 4;
    PatchSeam seam;
    seam.position = kOrigin;
    seam.last_start = 0;
    seam.have_ids = false;
    PatchStream ps(free_rule_, seam);
    s.lens.clear();
    ps.feed(s.ids, entropy_ ? s.h.data() : nullptr, n, s.lens);
    // lens[j] ends at local position (lens[0] + ... + lens[j]) - kOrigin. The lengths after the
    // first start past the seam need nothing from earlier chunks: they are final here, so the
    // ordered assembly only adds the few before it.
    const size_t m = s.lens.size();
    size_t j = 0;
    int64_t p = -kOrigin;
    while (j < m && (p += s.lens[j]) < static_cast<int64_t>(seam_)) ++j;
    if (j < m) {
      s.has_start = true;
      s.first_start = p;
      const int32_t* rest = s.lens.data() + j + 1;
      const size_t r = m - j - 1;
      int64_t sum = 0;
      for (size_t i = 0; i < r; ++i) sum += rest[i];
      s.last_start = p + sum;
      const int32_t max_len = opt_.rule->max_patch_length;
      if (max_len <= 0) {
        s.inner = rest;
        s.inner_n = r;
      } else {
        s.split.clear();
        for (size_t i = 0; i < r; ++i) patch::append_split(rest[i], max_len, s.split);
        s.inner = s.split.data();
        s.inner_n = s.split.size();
      }
    }
    add_time(kPatch, t);
    t = Clock::now();
    s.inner_crc = crc32_update(0, reinterpret_cast<const uint8_t*>(s.inner), s.inner_n * sizeof(int32_t));
    add_time(kChecksum, t);
  }
  if (cols_) {
    // Blocks of rows through a small int64 buffer: hashed, narrowed and checksummed while in
    // cache. A block's windows start hash_fix_ ids before it (hash_ngrams pads before its input).
    t = Clock::now();
    const NgramHashOptions& h = opt_.hash;
    s.hash_out.resize(n * cols_ * hash_item_);
    constexpr size_t kRows = 2048;
    s.hash_block.resize((kRows + hash_fix_) * cols_);
    const size_t fix = std::min(hash_fix_, n);
    uint32_t crc = 0;
    uint64_t crc_ns = 0;
    for (size_t a = fix; a < n; a += kRows) {
      const size_t b = std::min(n, a + kRows), w = a - hash_fix_;
      patch::hash_ngrams(s.ids + w, b - w, h.sizes, h.funcs, h.max_hash, s.hash_block.data(), 1);
      const int64_t* rows = s.hash_block.data() + hash_fix_ * cols_;
      uint8_t* dst = s.hash_out.data() + a * cols_ * hash_item_;
      const size_t items = (b - a) * cols_;
      if (hash_item_ == 4) {
        auto* d = reinterpret_cast<int32_t*>(dst);
        for (size_t i = 0; i < items; ++i) d[i] = static_cast<int32_t>(rows[i]);
      } else {
        std::memcpy(dst, rows, items * 8);
      }
      const auto tc = Clock::now();
      crc = crc32_combine(crc, crc32_update(0, dst, items * hash_item_), items * hash_item_);
      crc_ns += static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - tc).count());
    }
    s.hash_rest_crc = crc;
    add_time(kHash, t);
    busy_ns_[kHash].fetch_sub(crc_ns, std::memory_order_relaxed);
    busy_ns_[kChecksum].fetch_add(crc_ns, std::memory_order_relaxed);
  }
}

void PatchStage::assemble(Chunk& c, DType dt) {
  const auto t = Clock::now();
  if (!started_) throw std::logic_error("PatchStage::prefix must come first");
  Scratch& s = scratch(c);
  const size_t n = s.n;
  const uint16_t* ids = s.ids;
  const size_t tail = tail_ids_.size();
  // Entropies of the first positions, in the context of the previous chunk's tail.
  if (entropy_ && n) {
    const size_t e = std::min(ent_fix_, n);
    const size_t k = std::min(ent_fix_, tail);
    patch::EntropyCursor cur;
    float skip[64];
    if (k) opt_.model->entropies(cur, opt_.reset, tail_ids_.data() + tail - k, k, skip);
    if (e) opt_.model->entropies(cur, opt_.reset, ids, e, s.h.data());
  }
  // Hash rows whose windows reach back into the previous chunk.
  if (cols_ && n) {
    const size_t f = std::min(hash_fix_, n);
    const size_t k = std::min(hash_fix_, tail);
    const NgramHashOptions& h = opt_.hash;
    uint8_t* out = s.hash_out.data();
    if (f) {
      uint16_t window[2 * patch::kMaxNgramSize];
      std::copy(tail_ids_.end() - static_cast<ptrdiff_t>(k), tail_ids_.end(), window);
      std::copy(ids, ids + f, window + k);
      std::vector<int64_t> rows((k + f) * cols_);
      patch::hash_ngrams(window, k + f, h.sizes, h.funcs, h.max_hash, rows.data(), 1);
      for (size_t i = 0; i < f * cols_; ++i) {
        const int64_t v = rows[k * cols_ + i];
        if (hash_item_ == 4) {
          const int32_t v32 = static_cast<int32_t>(v);
          std::memcpy(out + i * 4, &v32, 4);
        } else {
          std::memcpy(out + i * 8, &v, 8);
        }
      }
    }
    const uint32_t head_crc = crc32_update(0, out, f * cols_ * hash_item_);
    const uint64_t rest_bytes = (n - f) * cols_ * hash_item_;
    const uint32_t crc = crc32_combine(head_crc, s.hash_rest_crc, rest_bytes);
    if (direct_)
      npz_.append(hash_m_, out, n * cols_ * hash_item_, crc);
    else
      hashes_.append(out, n * cols_ * hash_item_, crc);
  }
  // Patch lengths: the first positions from the seam state, then the workers' starts.
  if (opt_.rule && n) {
    const int32_t max_len = opt_.rule->max_patch_length;
    if (static_stream_) {
      static_stream_->feed(ids, nullptr, n, out_lengths_);
    } else {
      PatchStream ps(free_rule_, stream_seam());
      head_lens_.clear();
      const size_t head = std::min(seam_, n);
      ps.feed(ids, entropy_ ? s.h.data() : nullptr, head, head_lens_);
      int64_t q = last_start_;
      for (int32_t len : head_lens_) {
        q += len;
        patch::append_split(q - last_start_, max_len, out_lengths_);
        last_start_ = q;
      }
      if (s.has_start) {
        q = static_cast<int64_t>(pos_) + s.first_start;
        patch::append_split(q - last_start_, max_len, out_lengths_);
        last_start_ = static_cast<int64_t>(pos_) + s.last_start;
      }
    }
    append_lengths(out_lengths_.data(), out_lengths_.size(), std::nullopt);
    out_lengths_.clear();
    append_lengths(s.inner, s.inner_n, s.inner_crc);
  }
  // The tail the next chunk's seam needs.
  if (n) {
    if (n >= tail_keep_) {
      tail_ids_.assign(ids + n - tail_keep_, ids + n);
    } else {
      tail_ids_.insert(tail_ids_.end(), ids, ids + n);
      if (tail_ids_.size() > tail_keep_)
        tail_ids_.erase(tail_ids_.begin(), tail_ids_.end() - static_cast<ptrdiff_t>(tail_keep_));
    }
    if (entropy_) {
      tail_h_[0] = n >= 2 ? s.h[n - 2] : tail_h_[1];
      tail_h_[1] = s.h[n - 1];
    }
  }
  pos_ += n;
  npz_.append(ids_m_, c.out_ptr, c.out_len, s.ids_crc);
  (void)dt;
  add_time(kAssemble, t);
}

void PatchStage::append_lengths(const int32_t* p, size_t n, std::optional<uint32_t> crc) {
  if (!n) return;
  const size_t bytes = n * sizeof(int32_t);
  const uint32_t c = crc ? *crc : crc32_update(0, reinterpret_cast<const uint8_t*>(p), bytes);
  if (direct_)
    npz_.append(lengths_m_, p, bytes, c);
  else
    lengths_.append(p, bytes, c);
  patches_ += n;
}

void PatchStage::sequential(const std::vector<uint32_t>& ids, DType dt) {
  Chunk c;
  std::vector<uint8_t> bytes(ids.size() * dtype_size(dt));
  if (!ids.empty()) convert_ids(ids.data(), ids.size(), dt, bytes.data());
  c.out_ptr = bytes.data();
  c.out_len = bytes.size();
  c.n_ids = ids.size();
  process(c, dt);
  assemble(c, dt);
}

void PatchStage::prefix(const std::vector<uint32_t>& ids, DType dt) {
  direct_ = expected_ && *expected_ > 0;
  if (direct_) {
    ids_m_ = npz_.begin("ids", npy_descr(dt), 0, *expected_ * dtype_size(dt));
    if (cols_) hash_m_ = npz_.begin("hash_ids", npy_descr(opt_.hash.dtype), cols_, *expected_ * cols_ * hash_item_);
    if (opt_.rule) lengths_m_ = npz_.begin("patch_lengths", "<i4", 0);
  } else {
    ids_m_ = npz_.begin("ids", npy_descr(dt), 0);
  }
  started_ = true;
  sequential(ids, dt);
}

patch::PatchSeam PatchStage::stream_seam() const {
  PatchSeam seam;
  const size_t tail = tail_ids_.size();
  seam.position = static_cast<int64_t>(pos_);
  seam.last_start = last_start_;
  seam.have_ids = pos_ > 0;
  seam.ids[0] = tail >= 2 ? tail_ids_[tail - 2] : 0;
  seam.ids[1] = tail >= 1 ? tail_ids_[tail - 1] : 0;
  seam.entropies[0] = tail_h_[0];
  seam.entropies[1] = tail_h_[1];
  return seam;
}

void PatchStage::finish(const std::vector<uint32_t>& suffix, DType dt) {
  sequential(suffix, dt);
  if (opt_.rule) {
    std::vector<int32_t> out;
    if (static_stream_) {
      static_stream_->finish(out);
    } else {
      PatchStream ps(*opt_.rule, stream_seam());
      ps.finish(out);
    }
    append_lengths(out.data(), out.size(), std::nullopt);
  }
  npz_.end(ids_m_, pos_);
  if (direct_) {
    if (cols_) npz_.end(hash_m_, pos_);
    if (opt_.rule) npz_.end(lengths_m_, patches_);
  } else {
    if (opt_.rule) {
      const auto m = npz_.begin("patch_lengths", "<i4", 0);
      npz_.append_spool(m, lengths_);
      npz_.end(m, patches_);
    }
    if (cols_) {
      const auto m = npz_.begin("hash_ids", npy_descr(opt_.hash.dtype), cols_);
      npz_.append_spool(m, hashes_);
      npz_.end(m, pos_);
    }
  }
  npz_.finish();
}

}  // namespace blt
