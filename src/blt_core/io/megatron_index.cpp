#include "blt_core/io/megatron_index.hpp"

#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>

namespace blt {

uint8_t megatron_dtype_code(DType dt) {
  switch (dt) {
    case DType::u16: return 8;
    case DType::i32: return 4;
    case DType::i64: return 5;
    case DType::u32: break;
  }
  throw std::invalid_argument("Megatron indexed datasets have no uint32 dtype; use uint16, int32 or int64");
}

DType megatron_dtype_for_vocab(uint64_t n_vocab) {
  return n_vocab < 65500 ? DType::u16 : DType::i32;
}

MegatronIndex::MegatronIndex(DType dt) : dt_(dt) { (void)megatron_dtype_code(dt); }

void MegatronIndex::add_document(uint64_t n_ids) {
  if (n_ids > static_cast<uint64_t>(std::numeric_limits<int32_t>::max()))
    throw std::length_error("document " + std::to_string(lengths_.size()) + " has " +
                            std::to_string(n_ids) +
                            " ids; Megatron sequence lengths are int32 (at most 2147483647)");
  lengths_.push_back(static_cast<int32_t>(n_ids));
  if (n_ids) ++sequences_;
  ids_ += n_ids;
}

namespace {
// Buffers little writes into blocks so a table of millions of entries is a few sink writes.
class BlockWriter {
 public:
  BlockWriter(ByteSink& sink, const std::atomic<bool>& stop) : sink_(sink), stop_(stop) {
    buf_.reserve(kBlock);
  }
  template <class T>
  void put(T v) {
    uint8_t b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    buf_.insert(buf_.end(), b, b + sizeof(T));
    if (buf_.size() >= kBlock) flush();
  }
  void bytes(const uint8_t* p, size_t n) { buf_.insert(buf_.end(), p, p + n); }
  void flush() {
    if (!buf_.empty()) sink_.write(buf_.data(), buf_.size(), stop_);
    buf_.clear();
  }

 private:
  static constexpr size_t kBlock = 1u << 16;
  ByteSink& sink_;
  const std::atomic<bool>& stop_;
  std::vector<uint8_t> buf_;
};
}  // namespace

void MegatronIndex::write(ByteSink& sink, const std::atomic<bool>& stop) const {
  BlockWriter w(sink, stop);
  w.bytes(kMegatronMagic, sizeof(kMegatronMagic));
  w.put<uint64_t>(kMegatronVersion);
  w.put<uint8_t>(megatron_dtype_code(dt_));
  w.put<uint64_t>(sequences_);
  w.put<uint64_t>(lengths_.size() + 1);
  for (int32_t n : lengths_)
    if (n) w.put<int32_t>(n);
  const int64_t item = static_cast<int64_t>(dtype_size(dt_));
  int64_t pointer = 0;
  for (int32_t n : lengths_) {
    if (!n) continue;
    w.put<int64_t>(pointer);
    pointer += n * item;
  }
  int64_t seq = 0;
  w.put<int64_t>(0);
  for (int32_t n : lengths_) {
    if (n) ++seq;
    w.put<int64_t>(seq);
  }
  w.flush();
}

}  // namespace blt
