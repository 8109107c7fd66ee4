// ChunkedPool: an append-only array in fixed blocks, indexed by uint32_t. Growing never copies,
// so there is no moment when an old and a new copy are both in memory (as in vector's doubling).
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

namespace blt::train {

template <class T>
class ChunkedPool {
 public:
  static constexpr unsigned kBlockBits = 15;  // 32768 elements per block

  // Appends a value-initialised element; returns its index.
  uint32_t emplace_back() {
    if ((size_ & kMask) == 0) blocks_.push_back(std::make_unique<T[]>(size_t{1} << kBlockBits));
    return size_++;
  }
  T& operator[](uint32_t i) { return blocks_[i >> kBlockBits][i & kMask]; }
  const T& operator[](uint32_t i) const { return blocks_[i >> kBlockBits][i & kMask]; }
  uint32_t size() const { return size_; }

 private:
  static constexpr uint32_t kMask = (uint32_t{1} << kBlockBits) - 1;
  std::vector<std::unique_ptr<T[]>> blocks_;
  uint32_t size_ = 0;
};

}  // namespace blt::train
