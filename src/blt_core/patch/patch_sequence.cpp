#include "blt_core/patch/patch_sequence.hpp"


#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#if defined(__linux__)
#include <sys/mman.h>
#endif
#include <numeric>
#include <string>

#include "blt_core/parallel/parallel_for.hpp"
#include "blt_core/patch/entropy_model.hpp"
#include "blt_core/patch/patch_stream.hpp"

namespace blt::patch {
namespace {

// Top-k: the k = floor(n / patch_size) - 2 positions p in [2, total) with the largest H[p-1]
// start patches; equal entropies are taken earliest first (deterministic, unlike torch.topk).
void patch_topk(const PatchRule& rule, const uint16_t* ids, const float* entropies, size_t n,
                std::vector<int32_t>& out) {
  const int64_t total = static_cast<int64_t>(n) + (rule.include_next_token ? 1 : 0);
  if (total == 0) return;
  std::vector<char> start(static_cast<size_t>(total), 0);
  start[0] = 1;
  if (total > 1) start[1] = 1;
  std::vector<int64_t> cand;
  for (int64_t p = 2; p < total; ++p) cand.push_back(p);
  int64_t k = static_cast<int64_t>(std::floor(static_cast<double>(n) / rule.topk_patch_size)) - 2;
  k = std::clamp<int64_t>(k, 0, static_cast<int64_t>(cand.size()));
  auto before = [&](int64_t a, int64_t b) {
    float ea = entropies[a - 1], eb = entropies[b - 1];
    return ea > eb || (ea == eb && a < b);
  };
  if (k > 0) {
    std::nth_element(cand.begin(), cand.begin() + (k - 1), cand.end(), before);
    for (int64_t i = 0; i < k; ++i) start[static_cast<size_t>(cand[static_cast<size_t>(i)])] = 1;
  }
  if (rule.force_boundaries && ids) {
    for (int64_t p = 1; p < total; ++p) {
      uint16_t prev = ids[p - 1];
      if (prev == kEosId || prev == kBosId || (p < static_cast<int64_t>(n) && ids[p] == kBosId))
        start[static_cast<size_t>(p)] = 1;
    }
  }
  int64_t last = 0;
  for (int64_t p = 1; p < total; ++p) {
    if (start[static_cast<size_t>(p)]) {
      append_split(p - last, rule.max_patch_length, out);
      last = p;
    }
  }
  append_split(total - last, rule.max_patch_length, out);
}

void check_ids(const uint16_t* ids, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (ids[i] > kMaxBltId)
      throw std::invalid_argument("id " + std::to_string(ids[i]) + " at position " +
                                  std::to_string(i) + " is not a BLT byte id (0.." +
                                  std::to_string(kMaxBltId) + ")");
}

void check_offsets(std::span<const int64_t> offsets) {
  if (offsets.empty()) throw std::invalid_argument("offsets must hold at least one value");
  if (offsets[0] != 0) throw std::invalid_argument("offsets must start at 0");
  for (size_t i = 1; i < offsets.size(); ++i)
    if (offsets[i] < offsets[i - 1])
      throw std::invalid_argument("offsets must be non-decreasing (item " + std::to_string(i - 1) +
                                  ")");
}

// A large fresh result buffer is faulted in page by page as it is written; on Linux, 2 MB
// pages for it make that a few hundred faults instead of thousands (the faults were a fifth
// of batch entropy patching). NumPy advises its own large arrays the same way.
void advise_huge_pages(void* p, size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr uintptr_t kHuge = uintptr_t(2) << 20;
  if (bytes < 4 * kHuge) return;
  const uintptr_t a = (reinterpret_cast<uintptr_t>(p) + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t e = (reinterpret_cast<uintptr_t>(p) + bytes) & ~(kHuge - 1);
  if (e > a) madvise(reinterpret_cast<void*>(a), e - a, MADV_HUGEPAGE);  // advice only
#else
  (void)p;
  (void)bytes;
#endif
}

// Patches the items of a ragged batch in parallel: patch_item(a, b, out) appends the patch
// lengths of positions [a, b) (at most b - a + 1 of them: lengths are >= 1 and sum to at most
// b - a + 1). Item i writes through a reused per-thread vector into its own region of one
// output buffer, starting at offsets[i] + i; the regions are then closed up in place. Only the
// pages written are faulted in, and no allocation is made per item.
template <class PatchItem>
RaggedIds patch_items(const PatchRule& rule, std::span<const int64_t> offsets, int threads,
                      const PatchItem& patch_item) {
  rule.validate();
  check_offsets(offsets);
  const size_t items = offsets.size() - 1;
  RaggedIds r;
  r.ids = IdBuffer::allocate(DType::i32, static_cast<size_t>(offsets.back()) + items);
  int32_t* const dst = r.ids.as<int32_t>();
  advise_huge_pages(dst, r.ids.nbytes());
  std::vector<int64_t> counts(items, 0);
  std::vector<std::vector<int32_t>> scratch(static_cast<size_t>(resolve_threads(threads)));
  parallel_for(threads, items, 1, [&](size_t first, size_t last, int slot) {
    std::vector<int32_t>& out = scratch[static_cast<size_t>(slot)];
    for (size_t i = first; i != last; ++i) {
      out.clear();
      const size_t a = static_cast<size_t>(offsets[i]), b = static_cast<size_t>(offsets[i + 1]);
      patch_item(a, b, out);
      if (out.size() > b - a + 1) throw std::logic_error("patching produced more lengths than positions");
      std::copy(out.begin(), out.end(), dst + a + i);
      counts[i] = static_cast<int64_t>(out.size());
    }
  });
  std::vector<int64_t> offs(items + 1, 0);
  for (size_t i = 0; i < items; ++i) {
    if (counts[i])
      std::memmove(dst + offs[i], dst + offsets[i] + static_cast<int64_t>(i),
                   static_cast<size_t>(counts[i]) * sizeof(int32_t));
    offs[i + 1] = offs[i] + counts[i];
  }
  r.ids.truncate(static_cast<size_t>(offs.back()));
  r.offsets = IdBuffer::adopt(std::move(offs));
  return r;
}

}  // namespace

void patch_sequence(const PatchRule& rule, const uint16_t* ids, const float* entropies, size_t n,
                    std::vector<int32_t>& out) {
  rule.validate();
  if (rule.needs_ids() && !ids && n)
    throw std::invalid_argument("space and bpe patching need the ids of the sequence");
  if (rule.needs_entropies() && !entropies && n)
    throw std::invalid_argument("entropy patching needs one entropy per position");
  if (rule.is_topk()) {
    if (ids) check_ids(ids, n);
    patch_topk(rule, ids, entropies, n, out);
    return;
  }
  PatchStream s(rule);
  s.feed(ids, entropies, n, out);
  s.finish(out);
}

RaggedIds patch_batch(const PatchRule& rule, const uint16_t* ids, const float* entropies,
                      std::span<const int64_t> offsets, int threads) {
  return patch_items(rule, offsets, threads, [&](size_t a, size_t b, std::vector<int32_t>& out) {
    patch_sequence(rule, ids ? ids + a : nullptr, entropies ? entropies + a : nullptr, b - a, out);
  });
}

RaggedIds patch_batch_with_model(const PatchRule& rule, const EntropyModel& model,
                                 const ContextReset& reset, const uint16_t* ids,
                                 std::span<const int64_t> offsets, int threads) {
  return patch_items(rule, offsets, threads, [&](size_t a, size_t b, std::vector<int32_t>& out) {
    const uint16_t* seq = ids + a;
    if (rule.is_topk()) {
      std::vector<float> h(b - a);
      EntropyCursor cur;
      model.entropies(cur, reset, seq, b - a, h.data());
      patch_sequence(rule, seq, h.data(), b - a, out);
      return;
    }
    // Streams through a small entropy buffer: no allocation proportional to the sequence.
    constexpr size_t kBlock = 4096;
    float h[kBlock];
    EntropyCursor cur;
    PatchStream s(rule);
    out.reserve((b - a) / 2 + 16);  // entropy patches are a few ids long
    for (size_t off = 0; off < b - a; off += kBlock) {
      size_t m = std::min(kBlock, b - a - off);
      model.entropies(cur, reset, seq + off, m, h);
      s.feed(seq + off, h, m, out);
    }
    s.finish(out);
  });
}

void entropies_batch(const EntropyModel& model, const ContextReset& reset, const uint16_t* ids,
                     std::span<const int64_t> offsets, float* out, int threads) {
  check_offsets(offsets);
  parallel_for(threads, offsets.size() - 1, 1, [&](size_t first, size_t last, int) {
    for (size_t i = first; i != last; ++i) {
      EntropyCursor cur;
      size_t a = static_cast<size_t>(offsets[i]), b = static_cast<size_t>(offsets[i + 1]);
      model.entropies(cur, reset, ids + a, b - a, out + a);
    }
  });
}

}  // namespace blt::patch
