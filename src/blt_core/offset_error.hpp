// OffsetError: bad input found at a byte offset of the text being encoded (a disallowed special).
// Code that encodes a slice of a longer input rebases it, so the message names the whole-input offset.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>

namespace blt {

// A std::invalid_argument (ValueError in Python) whose message is head + offset + tail. The offset
// is relative to the span the tokenizer was given; the file pipeline encodes chunks of a stream and
// adds each chunk's start, so users see where the problem is in their file, not in some chunk.
class OffsetError : public std::invalid_argument {
 public:
  OffsetError(std::string head, uint64_t offset, std::string tail)
      : std::invalid_argument(head + std::to_string(offset) + tail),
        head_(std::move(head)),
        tail_(std::move(tail)),
        offset_(offset) {}

  uint64_t offset() const { return offset_; }

  // The same error seen from an input in which the encoded span starts at byte `base`.
  OffsetError rebased(uint64_t base) const { return OffsetError(head_, offset_ + base, tail_); }

 private:
  std::string head_, tail_;
  uint64_t offset_;
};

}  // namespace blt
