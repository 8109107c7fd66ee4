#include "blt_core/bpe/bpe_encoder.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

#include "blt_core/bpe/byte_pair_merge.hpp"
#include "blt_core/bpe/piece_cache.hpp"
#include "blt_core/offset_error.hpp"
#include "blt_core/piece_memory.hpp"
#include "blt_core/text/whitespace.hpp"

namespace blt::bpe {

namespace {

// Sinks receive (id, start byte offset) and return false once they want no more ids; a special
// token also says where its match ends (HF lstrip/rstrip matches are wider than its text).
template <class Self>
struct SinkBase {
  bool push_special(uint32_t id, size_t start, size_t) { return static_cast<Self*>(this)->push(id, start); }
};

// Writes through a raw cursor (push_back was not inlined on the hot path) into room made a block
// at a time inside the capacity reserved for the expected count, so only blocks written to are
// touched and the vector ends with the capacity reserve() gave it (results are adopted by NumPy
// zero-copy: a small encode must not carry a big buffer). Leaving scope trims `out` to the ids
// written, also when encoding throws.
struct IdSink : SinkBase<IdSink> {
  static constexpr size_t kBlock = 4096;
  std::vector<uint32_t>& out;
  uint32_t* cur;
  uint32_t* end;
  IdSink(std::vector<uint32_t>& o, size_t expected) : out(o) {
    out.reserve(out.size() + expected);
    open_block(out.size());
  }
  IdSink(const IdSink&) = delete;
  IdSink& operator=(const IdSink&) = delete;
  ~IdSink() { out.resize(static_cast<size_t>(cur - out.data())); }  // shrinking: never throws
  bool push(uint32_t id, size_t) {
    if (cur == end) [[unlikely]] open_block(static_cast<size_t>(cur - out.data()));
    *cur++ = id;
    return true;
  }
  // Makes out.size() > n (n ids written); grows past the capacity only when it is full.
  [[gnu::noinline]] void open_block(size_t n) {
    size_t room = out.capacity() - n;
    out.resize(n + (room == 0 ? kBlock : std::min(room, kBlock)));
    cur = out.data() + n;
    end = out.data() + out.size();
  }
};

struct OffsetSink : SinkBase<OffsetSink> {
  std::vector<uint32_t>& ids;
  std::vector<int64_t>& starts;
  bool push(uint32_t id, size_t at) {
    ids.push_back(id);
    starts.push_back(static_cast<int64_t>(at));
    return true;
  }
};

struct CountSink : SinkBase<CountSink> {
  size_t n = 0;
  bool push(uint32_t, size_t) {
    ++n;
    return true;
  }
};

struct LimitSink {
  std::vector<uint32_t>& out;
  size_t limit;
  size_t last_start = 0;
  size_t last_special_end = 0;  // 0 when the last id was not a special
  uint32_t last_id = 0;
  bool push(uint32_t id, size_t at) {
    if (out.size() >= limit) return false;
    out.push_back(id);
    last_start = at;
    last_id = id;
    last_special_end = 0;
    return out.size() < limit;
  }
  bool push_special(uint32_t id, size_t start, size_t end) {
    size_t before = out.size();
    bool more = push(id, start);
    if (out.size() > before) last_special_end = end;
    return more;
  }
};

// Rebased by the file pipeline to the offset in the whole input (hence OffsetError).
OffsetError special_error(const BpeModel& m, const SpecialMatch& hit) {
  const std::string& t = m.specials().tokens()[hit.index].text;
  return OffsetError("Encountered text corresponding to disallowed special token '" + t + "' at byte ",
         hit.start,
         ".\nIf you want this text to be encoded as a special token, pass it to `allowed_special`, "
         "e.g. `allowed_special={'" + t + "', ...}`.\nIf you want this text to be encoded as normal "
         "text, disable the check for this token by passing `disallowed_special=(enc.special_tokens_set - "
         "{'" + t + "'})`.\nTo disable this check for all special tokens, pass `disallowed_special=()`.");
}

// Per-thread state of encode_plain_span. Reached through one non-inlined call per text: in a
// shared library each thread_local access is a __tls_get_addr call, and GCC re-issued it inside
// the piece loop (about one call per piece).
struct ThreadState {
  MergeScratch scratch;
  PieceCache cache;
  LongPieceCache long_cache;
};
[[gnu::noinline]] ThreadState& thread_state() {
  thread_local ThreadState state;
  return state;
}
static_assert(LongPieceCache::kMaxPiece <= kSmallPiece, "cached long pieces merge in the small loop");

// Pieces up to this many bytes leave their merge scratch with the thread for the next piece.
constexpr size_t kKeepScratchUpTo = size_t{1} << 20;

// Refuses a piece whose merge would take more memory than the run's cap leaves for one piece.
void check_piece_memory(size_t n, size_t at) {
  const uint64_t limit = PieceMemoryLimit::current();
  const uint64_t need = uint64_t{n} * kLargeMergeBytesPerByte;
  if (limit == PieceMemoryLimit::kNone || need <= limit) return;
  throw OffsetError("a pre-tokenized piece of " + std::to_string(n) + " bytes (no split point in it) at byte offset ",
                    at, " needs about " + std::to_string(need) + " bytes to merge, more than the memory cap leaves for "
                    "one piece (" + std::to_string(limit) + " bytes); raise memcap");
}

}  // namespace

BpeEncoder::BpeEncoder(std::shared_ptr<const BpeModel> model, SpecialPolicy policy)
    : model_(std::move(model)), policy_(std::move(policy)) {
  policy_.resize(model_->specials().tokens().size(), SpecialUse::text);
  specials_active_ = model_->specials().any_active(policy_);
}

template <class Sink>
bool BpeEncoder::encode_plain_span(ByteSpan text, size_t base, Sink& sink) const {
  const BpeModel& m = *model_;
  const Pretokenizer& pre = m.pretokenizer();
  const Vocab& vocab = m.vocab();
  const PairTable& pairs = m.pairs();
  const uint32_t* byte_ids = m.byte_ids();
  const bool whole = m.whole_piece_lookup();
  const uint32_t model_id = m.cache_id();
  ThreadState& ts = thread_state();
  PieceCache& cache = ts.cache;
  LongPieceCache& long_cache = ts.long_cache;
  const uint8_t* p = text.data();
  // Pieces go in small batches: first cut and hash the batch and prefetch each piece's rank-table
  // slot, then encode them, so the (cache-missing) table reads overlap instead of queueing.
  // Merges a piece that fits the small merge into ids/starts (room for n entries); returns the count.
  auto merge_small = [&](const uint8_t* piece, size_t n, uint32_t* ids, uint8_t* starts) {
    size_t k = 0;
    byte_pair_merge_small(pairs, byte_ids, piece, n, [&](uint32_t t, uint32_t start) {
      ids[k] = t, starts[k] = static_cast<uint8_t>(start), ++k;
    });
    return k;
  };
  constexpr size_t kBatch = 8;
  size_t ends[kBatch];
  uint64_t hashes[kBatch];
  for (size_t pos = 0; pos < text.size();) {
    size_t nb = 0;
    for (size_t q = pos; nb < kBatch && q < text.size(); ++nb) {
      size_t e = pre.next_piece(text, q);
      ends[nb] = e;
      if (whole && e - q >= 2) {
        hashes[nb] = hash_bytes(p + q, e - q);
        vocab.prefetch(hashes[nb]);
      }
      q = e;
    }
    for (size_t b = 0; b < nb; ++b) {
      size_t end = ends[b];
      size_t n = end - pos;
      const uint8_t* piece = p + pos;
      size_t at = base + pos;
      pos = end;
      bool go = true;
      // A piece's ids with their starts in the piece, to the sink until it says stop.
      auto push_all = [&](const uint32_t* ids, const uint8_t* starts, size_t k) {
        for (size_t i = 0; i < k && go; ++i) go = sink.push(ids[i], at + starts[i]);
      };
      if (n == 1) {
        go = sink.push(byte_ids[*piece], at);
      } else if (uint32_t id = whole ? vocab.find_hashed(piece, n, hashes[b]) : kNoId; id != kNoId) {
        go = sink.push(id, at);
      } else if (n <= PieceCache::kMaxPiece) {
        // Not a token: merge, remembering the result for the next time this piece comes up.
        uint64_t k0, k1;
        PieceCache::key(piece, n, k0, k1);
        PieceCache::Entry* slot;
        if (const PieceCache::Entry* e = cache.find(k0, k1, n, model_id, slot)) {
          push_all(e->ids, e->starts, e->n_ids);
        } else {
          uint32_t ids[PieceCache::kMaxPiece];
          uint8_t starts[PieceCache::kMaxPiece];
          const size_t k = merge_small(piece, n, ids, starts);
          push_all(ids, starts, k);
          if (k <= PieceCache::kMaxIds) {
            slot->k0 = k0, slot->k1 = k1, slot->model = model_id;
            slot->len = static_cast<uint8_t>(n), slot->n_ids = static_cast<uint8_t>(k);
            std::memcpy(slot->ids, ids, k * 4);
            std::memcpy(slot->starts, starts, k);
          }
        }
      } else if (n <= LongPieceCache::kMaxPiece) {
        uint64_t h = whole ? hashes[b] : hash_bytes(piece, n);
        LongPieceCache::Entry* slot;
        if (const LongPieceCache::Entry* e = long_cache.find(piece, n, h, model_id, slot)) {
          push_all(e->ids, e->starts, e->n_ids);
        } else {
          uint32_t ids[LongPieceCache::kMaxPiece];
          uint8_t starts[LongPieceCache::kMaxPiece];
          const size_t k = merge_small(piece, n, ids, starts);
          push_all(ids, starts, k);
          if (k <= LongPieceCache::kMaxIds) LongPieceCache::store(slot, piece, n, h, model_id, ids, starts, k);
        }
      } else {
        auto emit = [&](uint32_t t, uint32_t start) {
          if (go) go = sink.push(t, at + start);
        };
        if (n <= kSmallPiece) {
          byte_pair_merge_small(pairs, byte_ids, piece, n, emit);
        } else {
          if (n >= 0xFFFFFFFFull) throw std::invalid_argument("a single pre-tokenized piece exceeds 4 GiB");
          check_piece_memory(n, at);
          byte_pair_merge_large(pairs, byte_ids, piece, n, ts.scratch, emit);
          // Keep scratch for ordinary long pieces; give back what one huge piece made it grow to.
          if (n > kKeepScratchUpTo) ts.scratch = MergeScratch{};
        }
      }
      if (!go) return false;
    }
  }
  return true;
}

template <class Sink>
size_t BpeEncoder::run(ByteSpan in, Sink& sink) const {
  if (!specials_active_) {
    encode_plain_span(in, 0, sink);
    return 0;
  }
  const SpecialMatcher& sm = model_->specials();
  size_t pos = 0;
  SpecialMatch hit{};
  while (pos <= in.size()) {
    bool found = sm.find(in, pos, policy_, hit);
    if (found && hit.disallowed) throw special_error(*model_, hit);
    size_t seg_end = found ? hit.start : in.size();
    if (!encode_plain_span(in.subspan(pos, seg_end - pos), pos, sink)) return seg_end;
    if (!found) break;
    if (!sink.push_special(sm.tokens()[hit.index].id, hit.start, hit.end)) return hit.end;
    pos = hit.end;
  }
  return in.size();
}

void BpeEncoder::check_disallowed(ByteSpan in, size_t from) const {
  if (!specials_active_) return;
  SpecialMatch hit{};
  size_t pos = from;
  while (model_->specials().find(in, pos, policy_, hit)) {
    if (hit.disallowed) throw special_error(*model_, hit);
    pos = hit.end;
  }
}

void BpeEncoder::encode_body(ByteSpan in, std::vector<uint32_t>& out) const {
  IdSink sink(out, in.size() / 3 + 16);
  run(in, sink);
}

size_t BpeEncoder::encode_prefix(ByteSpan in, size_t max_tokens, std::vector<uint32_t>& out) const {
  std::vector<uint32_t> ids;
  if (max_tokens == 0) {
    check_disallowed(in, 0);
    return 0;
  }
  ids.reserve(std::min(max_tokens, in.size() / 3 + 16));
  LimitSink sink{ids, max_tokens};
  run(in, sink);
  size_t consumed = in.size();
  if (ids.size() == max_tokens) {
    consumed = sink.last_special_end ? sink.last_special_end
                                     : sink.last_start + model_->token_bytes(sink.last_id).size();
    check_disallowed(in, consumed);
  }
  out.insert(out.end(), ids.begin(), ids.end());
  return consumed;
}

void BpeEncoder::encode_with_offsets(ByteSpan in, std::vector<uint32_t>& ids,
                                       std::vector<int64_t>& starts) const {
  OffsetSink sink{{}, ids, starts};
  run(in, sink);
}

size_t BpeEncoder::count(ByteSpan in) const {
  CountSink sink;
  run(in, sink);
  return sink.n;
}

size_t BpeEncoder::safe_split(ByteSpan window, size_t target) const {
  const Pretokenizer& pre = model_->pretokenizer();
  if (!specials_active_) return pre.safe_split(window, target);
  // Special matches (allowed or disallowed) end the pretokenizer's text, so a cut at either edge of
  // one is safe and a cut inside one never is: a disallowed special cut in two would no longer be
  // seen by either chunk, and the chunked run would not raise where encode does. Inside the
  // ordinary segment holding the target, the pretokenizer decides.
  const SpecialMatcher& sm = model_->specials();
  size_t best = 0, seg_start = 0, seg_end = window.size(), pos = 0;
  SpecialMatch hit{};
  while (sm.find(window, pos, policy_, hit)) {
    if (hit.start > target) {
      seg_end = hit.start;
      break;
    }
    if (hit.start > 0) best = hit.start;
    if (hit.end > target) return best;  // the target is inside a special
    best = hit.end;
    seg_start = pos = hit.end;
  }
  if (seg_end == window.size()) {
    // A special may begin in the window and end beyond it: do not cut past its start.
    seg_end = std::max(seg_start, sm.partial_tail(window));
    // A special just past the window may swallow the whitespace before it (HF lstrip).
    if (sm.strips())
      while (size_t w = unicode::whitespace_before(window, seg_end)) {
        if (seg_end - w < seg_start) break;
        seg_end -= w;
      }
  }
  size_t t = std::min(target, seg_end);
  if (t > seg_start) {
    size_t p = pre.safe_split(window.subspan(seg_start, seg_end - seg_start), t - seg_start);
    if (p) return seg_start + p;
  }
  return best;
}

void byte_to_char_offsets(ByteSpan text, std::vector<int64_t>& starts) {
  size_t chars = 0, b = 0;
  for (auto& s : starts) {
    size_t target = static_cast<size_t>(s);
    for (; b < target && b < text.size(); ++b) chars += (text[b] & 0xC0) != 0x80;
    // Inside a character: the index of that character, not of the next one.
    size_t c = chars;
    if (target < text.size() && (text[target] & 0xC0) == 0x80 && c > 0) --c;
    s = static_cast<int64_t>(c);
  }
}

}  // namespace blt::bpe
