#include "blt_core/pipeline/chunk_reader.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "blt_core/offset_error.hpp"

namespace blt {

ChunkReader::ChunkReader(const Tokenizer& tok, ByteSource& src, const ChunkPlan& plan,
                         const std::atomic<bool>& stop)
    : tok_(tok), src_(src), plan_(plan), stop_(stop), mem_(src.in_memory()) {}

// Called before a window with no safe cut widens to `target`: refuses past the plan's limit.
static void check_widen(const ChunkPlan& plan, size_t target, uint64_t offset) {
  if (plan.max_window == UINT64_MAX || target + plan.lookahead <= plan.max_window) return;
  throw OffsetError("found no safe place to cut the input in the " + std::to_string(target / 2) +
                        " bytes from byte offset ",
                    offset, ", and the memory cap leaves room for " + std::to_string(plan.max_window) +
                        " bytes in one chunk; raise memcap (a tokenizer whose split pattern is not one "
                        "of the OpenAI ones has no safe cuts: its whole input is one chunk)");
}

static size_t checked_cut(size_t cut, size_t window) {
  if (cut > window) throw std::logic_error("Tokenizer::safe_split returned a cut past the window");
  return cut;
}

bool ChunkReader::next_in_memory(Chunk& c, ByteSpan all) {
  if (!started_) {
    started_ = true;
    offset_ = std::min(tok_.leading_skip(all), all.size());
  }
  ByteSpan rest = all.subspan(offset_);
  if (rest.empty()) return false;
  size_t target = plan_.chunk, cut = 0;
  for (;;) {
    if (rest.size() <= target) {
      cut = rest.size();
      break;
    }
    cut = checked_cut(tok_.safe_split(rest, target), rest.size());
    if (cut) break;
    target *= 2;  // no safe cut yet: widen instead of cutting unsafely
    check_widen(plan_, target, offset_);
  }
  c.body = rest.first(cut);
  c.start_offset = offset_;
  offset_ += cut;
  c.end_offset = offset_;
  c.seq = seq_++;
  return true;
}

// Reads until the chunk holds `want` bytes or the input ends; returns the new length.
size_t ChunkReader::fill(Chunk& c, size_t len, size_t want) {
  uint8_t* buf = c.in.reserve(want, len);
  while (!eof_ && len < want) {
    size_t got = src_.read(buf + len, want - len, stop_);
    if (got == 0) eof_ = true;
    len += got;
  }
  return len;
}

bool ChunkReader::next(Chunk& c) {
  if (mem_) return next_in_memory(c, *mem_);
  if (stop_.load(std::memory_order_relaxed)) return false;
  size_t target = plan_.chunk;
  // Carried bytes go first: they follow the previous cut in the stream.
  size_t len = carry_len_;
  uint8_t* buf = c.in.reserve(std::max(len, target + plan_.lookahead));
  if (len) std::memcpy(buf, carry_.data(), len);
  carry_len_ = 0;
  size_t skip = 0;
  if (!started_) {
    len = fill(c, len, std::max(target + plan_.lookahead, kHeadBytes));
    skip = std::min(tok_.leading_skip(ByteSpan(c.in.data(), len)), len);
    offset_ += skip;
    started_ = true;
  }
  size_t cut = 0;
  for (;;) {
    len = fill(c, len, skip + target + plan_.lookahead);
    if (stop_.load(std::memory_order_relaxed)) return false;
    ByteSpan window(c.in.data() + skip, len - skip);
    if (eof_ && window.size() <= target) {
      cut = window.size();
      break;
    }
    // Not at the end: the window runs lookahead bytes past target.
    cut = checked_cut(tok_.safe_split(window, target), window.size());
    if (cut) break;
    target *= 2;  // no safe cut at or before target: read more and try again
    check_widen(plan_, target, offset_);
  }
  if (cut == 0) return false;  // end of input
  size_t rest = len - skip - cut;
  if (rest) {
    std::memcpy(carry_.reserve(rest), c.in.data() + skip + cut, rest);
    carry_len_ = rest;
  }
  c.body = ByteSpan(c.in.data() + skip, cut);
  c.start_offset = offset_;
  offset_ += cut;
  c.end_offset = offset_;
  c.seq = seq_++;
  return true;
}

}  // namespace blt
