// ByteSource: where the file pipeline's input bytes come from (a mapped file, a stream descriptor,
// or memory). One reader at a time, incrementally, so inputs of any size fit in memcap.
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

  // The whole input when it is addressable (a buffer, a mapped file): the pipeline then cuts
  // chunks as views instead of copying bytes into buffers.
  virtual std::optional<ByteSpan> in_memory() const { return std::nullopt; }

  // Whether in_memory() bytes already belong to the caller (a buffer), so reading them adds
  // nothing to this process's memory; false for a mapped file, whose touched pages count.
  virtual bool caller_owned() const { return false; }

  // Reads up to n bytes into dst; returns 0 only at end of input. Blocking reads give up with
  // 0 bytes read when `stop` becomes true, so cancelling never waits for a silent stream.
  virtual size_t read(uint8_t* dst, size_t n, const std::atomic<bool>& stop) = 0;

  // The pipeline no longer needs bytes before `offset` (called in order, from any one thread at
  // a time, concurrently with read): a file source lets the kernel drop them.
  virtual void release_before(uint64_t offset) { (void)offset; }

  // Name used in error messages ("data.txt", "<stdin>").
  virtual const std::string& name() const = 0;
};

// Reads an open descriptor (not owned). A regular file is mapped read-only (zero copy: chunks
// are views of the mapping; consumed pages are unmapped so RSS stays bounded, and for files too
// big to stay cached they are also dropped from the page cache); it is tokenized up to the size
// it had when opened, and must not be truncated meanwhile (a mapped read past the end would
// fault). If mapping fails, or for pipes/FIFOs/terminals/sockets, it uses read(), with poll()
// so that cancellation is noticed within ~50 ms.
class FdSource final : public ByteSource {
 public:
  // Throws std::system_error if the descriptor cannot be inspected or is a directory (EISDIR).
  FdSource(int fd, std::string name);
  ~FdSource() override;
  FdSource(const FdSource&) = delete;
  FdSource& operator=(const FdSource&) = delete;
  std::optional<uint64_t> size() const override { return size_; }
  std::optional<ByteSpan> in_memory() const override;
  size_t read(uint8_t* dst, size_t n, const std::atomic<bool>& stop) override;
  void release_before(uint64_t offset) override;
  const std::string& name() const override { return name_; }

 private:
  int fd_;
  std::string name_;
  bool regular_ = false;
  std::optional<uint64_t> size_;
  uint64_t start_ = 0;     // file offset of the first byte read
  uint8_t* map_ = nullptr;  // whole-file mapping (map_len_ bytes) when mapped
  size_t map_len_ = 0;
  bool drop_cache_ = false;  // file larger than the page cache can sensibly keep
  uint64_t released_ = 0;    // bytes (from start_) already handed back to the kernel
};

// A caller-owned buffer that outlives the pipeline run.
class MemorySource final : public ByteSource {
 public:
  explicit MemorySource(ByteSpan data, std::string name = "<buffer>")
      : data_(data), name_(std::move(name)) {}
  std::optional<uint64_t> size() const override { return data_.size(); }
  std::optional<ByteSpan> in_memory() const override { return data_; }
  bool caller_owned() const override { return true; }
  size_t read(uint8_t* dst, size_t n, const std::atomic<bool>& stop) override;
  const std::string& name() const override { return name_; }

 private:
  ByteSpan data_;
  size_t pos_ = 0;
  std::string name_;
};

}  // namespace blt
