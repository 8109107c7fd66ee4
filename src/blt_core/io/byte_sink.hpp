// ByteSink: where the file pipeline's output bytes go (a descriptor or a growing memory buffer).
// Written by one thread at a time, in order; the header may be rewritten once the length is known.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace blt {

// Writes all n bytes of p at `offset` of descriptor fd (retrying EINTR and short writes); throws
// std::system_error "cannot write '<name>'" on failure.
void pwrite_all(int fd, const void* p, size_t n, uint64_t offset, const std::string& name);

class ByteSink {
 public:
  virtual ~ByteSink() = default;
  // Appends n bytes; throws std::system_error on failure (disk full, file too large, closed pipe).
  // A write blocked on a stalled consumer (a pipe nobody reads) gives up, returning early, once
  // `stop` becomes true: the output is being discarded then.
  virtual void write(const uint8_t* p, size_t n, const std::atomic<bool>& stop) = 0;
  // Whether bytes already written at the start can be overwritten (seekable file, memory).
  virtual bool can_rewrite_head() const = 0;
  // Overwrites bytes [0, n) written earlier; only when can_rewrite_head().
  virtual void rewrite_head(const uint8_t* p, size_t n) = 0;
  virtual const std::string& name() const = 0;
  // Hint: about this many bytes will be written in total (lets a memory sink allocate once).
  virtual void expect(uint64_t bytes) { (void)bytes; }
};

// Writes to an open descriptor (not owned). Atomic replacement of a target file (temporary file
// plus rename) is the caller's job: the sink only sees the temporary descriptor. Pipes and
// sockets get poll() plus writes of at most PIPE_BUF bytes, which never block once poll reports
// room, so a cancelled run never waits on a reader that stopped reading.
class FdSink final : public ByteSink {
 public:
  FdSink(int fd, std::string name);
  void write(const uint8_t* p, size_t n, const std::atomic<bool>& stop) override;
  bool can_rewrite_head() const override { return seekable_; }
  void rewrite_head(const uint8_t* p, size_t n) override;
  const std::string& name() const override { return name_; }

 private:
  int fd_;
  std::string name_;
  bool seekable_ = false;
  bool pipe_ = false;
  int64_t start_ = 0;  // file offset of our first byte
};

// Collects the output in memory (tokenize a file straight into an array).
class VectorSink final : public ByteSink {
 public:
  void write(const uint8_t* p, size_t n, const std::atomic<bool>&) override {
    bytes.insert(bytes.end(), p, p + n);
  }
  bool can_rewrite_head() const override { return true; }
  void rewrite_head(const uint8_t* p, size_t n) override;
  const std::string& name() const override { return name_; }
  void expect(uint64_t n) override {
    if (n <= SIZE_MAX) bytes.reserve(static_cast<size_t>(n));
  }
  std::vector<uint8_t> bytes;

 private:
  std::string name_ = "<memory>";
};

}  // namespace blt
