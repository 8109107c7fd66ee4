// ByteSource: where the file pipeline's input bytes come from (a file or stream descriptor, or
// memory). Sources are read by one thread at a time, incrementally, so any size fits in memcap.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "blt_core/tokenizer.hpp"

namespace blt {

class ByteSource {
 public:
  virtual ~ByteSource() = default;

  // Total bytes the source will deliver, when known up front (regular files, memory).
  virtual std::optional<uint64_t> size() const = 0;

  // The whole input when it is already in memory: the pipeline then cuts chunks as views
  // instead of copying bytes into buffers.
  virtual std::optional<ByteSpan> in_memory() const { return std::nullopt; }

  // Reads up to n bytes into dst; returns 0 only at end of input. Blocking reads give up with
  // 0 bytes read when `stop` becomes true, so cancelling never waits for a silent stream.
  virtual size_t read(uint8_t* dst, size_t n, const std::atomic<bool>& stop) = 0;

  // The caller no longer needs bytes before `offset`: a file source asks the kernel to drop
  // them from the page cache (the pipeline reads each byte once).
  virtual void release_before(uint64_t offset) { (void)offset; }

  // Name used in error messages ("data.txt", "<stdin>").
  virtual const std::string& name() const = 0;
};

// Reads an open descriptor (not owned): a regular file with read() plus page-cache advice, or a
// pipe/FIFO/terminal/socket with poll() so that cancellation is noticed within ~50 ms.
class FdSource final : public ByteSource {
 public:
  // Throws std::system_error if the descriptor cannot be inspected, std::invalid_argument for a
  // directory.
  FdSource(int fd, std::string name);
  std::optional<uint64_t> size() const override { return size_; }
  size_t read(uint8_t* dst, size_t n, const std::atomic<bool>& stop) override;
  void release_before(uint64_t offset) override;
  const std::string& name() const override { return name_; }

 private:
  int fd_;
  std::string name_;
  bool regular_ = false;
  std::optional<uint64_t> size_;
  uint64_t start_ = 0;     // file offset of the first byte read
  uint64_t pos_ = 0;       // bytes read so far
  uint64_t released_ = 0;  // bytes already handed back to the kernel
};

// A caller-owned buffer that outlives the pipeline run.
class MemorySource final : public ByteSource {
 public:
  explicit MemorySource(ByteSpan data, std::string name = "<buffer>")
      : data_(data), name_(std::move(name)) {}
  std::optional<uint64_t> size() const override { return data_.size(); }
  std::optional<ByteSpan> in_memory() const override { return data_; }
  size_t read(uint8_t* dst, size_t n, const std::atomic<bool>& stop) override;
  const std::string& name() const override { return name_; }

 private:
  ByteSpan data_;
  size_t pos_ = 0;
  std::string name_;
};

}  // namespace blt
