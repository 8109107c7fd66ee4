#include "blt_core/io/byte_source.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

namespace blt {

FdSource::FdSource(int fd, std::string name) : fd_(fd), name_(std::move(name)) {
  struct stat st{};
  if (::fstat(fd, &st) != 0)
    throw std::system_error(errno, std::generic_category(), "cannot read '" + name_ + "'");
  if (S_ISDIR(st.st_mode))
    throw std::system_error(EISDIR, std::generic_category(), "cannot read '" + name_ + "'");
  regular_ = S_ISREG(st.st_mode);
  if (regular_) {
    off_t here = ::lseek(fd, 0, SEEK_CUR);
    start_ = here > 0 ? static_cast<uint64_t>(here) : 0;
    released_ = start_;
    size_ = static_cast<uint64_t>(st.st_size) > start_ ? static_cast<uint64_t>(st.st_size) - start_ : 0;
    // Sequential advice doubles the kernel's read-ahead window.
    ::posix_fadvise(fd, static_cast<off_t>(start_), 0, POSIX_FADV_SEQUENTIAL);
  }
}

size_t FdSource::read(uint8_t* dst, size_t n, const std::atomic<bool>& stop) {
  if (n == 0) return 0;
  for (;;) {
    if (stop.load(std::memory_order_relaxed)) return 0;
    if (!regular_) {
      // A pipe may stay silent forever: wait in short slices so a cancel is seen promptly.
      pollfd p{fd_, POLLIN, 0};
      int r = ::poll(&p, 1, 50);
      if (r == 0) continue;
      if (r < 0) {
        if (errno == EINTR) continue;
        throw std::system_error(errno, std::generic_category(), "cannot read '" + name_ + "'");
      }
    }
    ssize_t got = ::read(fd_, dst, n);
    if (got < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      throw std::system_error(errno, std::generic_category(), "cannot read '" + name_ + "'");
    }
    pos_ += static_cast<uint64_t>(got);
    return static_cast<size_t>(got);
  }
}

void FdSource::release_before(uint64_t offset) {
  if (!regular_) return;
  offset = std::min(offset, pos_);
  // Whole pages only, in steps of a few MB, so the advice costs nothing measurable.
  uint64_t end = (start_ + offset) & ~uint64_t{4095};
  if (end < released_ + (4u << 20)) return;
  ::posix_fadvise(fd_, static_cast<off_t>(released_), static_cast<off_t>(end - released_),
                  POSIX_FADV_DONTNEED);
  released_ = end;
}

size_t MemorySource::read(uint8_t* dst, size_t n, const std::atomic<bool>& stop) {
  (void)stop;
  size_t k = std::min(n, data_.size() - pos_);
  if (k) std::memcpy(dst, data_.data() + pos_, k);
  pos_ += k;
  return k;
}

}  // namespace blt
