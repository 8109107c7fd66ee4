#include "blt_core/io/byte_sink.hpp"

#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <system_error>

namespace blt {

FdSink::FdSink(int fd, std::string name) : fd_(fd), name_(std::move(name)) {
  struct stat st{};
  if (::fstat(fd, &st) != 0)
    throw std::system_error(errno, std::generic_category(), "cannot write '" + name_ + "'");
  pipe_ = S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode);
  if (S_ISREG(st.st_mode)) {
    off_t here = ::lseek(fd, 0, SEEK_CUR);
    if (here >= 0) {
      seekable_ = true;
      start_ = here;
    }
  }
}

void FdSink::write(const uint8_t* p, size_t n, const std::atomic<bool>& stop) {
  while (n) {
    size_t piece = n;
    if (pipe_) {
      pollfd pfd{fd_, POLLOUT, 0};
      int r = ::poll(&pfd, 1, 50);
      if (stop.load(std::memory_order_relaxed)) return;
      if (r == 0 || (r < 0 && errno == EINTR)) continue;
      // POLLERR/POLLHUP (reader gone) fall through: write() reports EPIPE.
      piece = std::min<size_t>(n, PIPE_BUF);
    }
    // Linux caps one write() at ~2 GiB; larger blocks simply loop.
    ssize_t k = ::write(fd_, p, piece);
    if (k < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      throw std::system_error(errno, std::generic_category(), "cannot write '" + name_ + "'");
    }
    p += k;
    n -= static_cast<size_t>(k);
  }
}

void pwrite_all(int fd, const void* p, size_t n, uint64_t offset, const std::string& name) {
  const auto* b = static_cast<const uint8_t*>(p);
  size_t done = 0;
  while (done < n) {
    ssize_t k = ::pwrite(fd, b + done, n - done, static_cast<off_t>(offset + done));
    if (k < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "cannot write '" + name + "'");
    }
    done += static_cast<size_t>(k);
  }
}

void FdSink::rewrite_head(const uint8_t* p, size_t n) {
  if (!seekable_) throw std::logic_error("rewrite_head on a non-seekable output");
  pwrite_all(fd_, p, n, static_cast<uint64_t>(start_), name_);
}

void VectorSink::rewrite_head(const uint8_t* p, size_t n) {
  if (n > bytes.size()) throw std::logic_error("rewrite_head past the end");
  std::memcpy(bytes.data(), p, n);
}

}  // namespace blt
