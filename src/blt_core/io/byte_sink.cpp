#include "blt_core/io/byte_sink.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

namespace blt {

FdSink::FdSink(int fd, std::string name) : fd_(fd), name_(std::move(name)) {
  struct stat st{};
  if (::fstat(fd, &st) != 0)
    throw std::system_error(errno, std::generic_category(), "cannot write '" + name_ + "'");
  if (S_ISREG(st.st_mode)) {
    off_t here = ::lseek(fd, 0, SEEK_CUR);
    if (here >= 0) {
      seekable_ = true;
      start_ = here;
    }
  }
}

void FdSink::write(const uint8_t* p, size_t n) {
  while (n) {
    // Linux caps one write() at ~2 GiB; larger blocks simply loop.
    ssize_t k = ::write(fd_, p, n);
    if (k < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "cannot write '" + name_ + "'");
    }
    p += k;
    n -= static_cast<size_t>(k);
  }
}

void FdSink::rewrite_head(const uint8_t* p, size_t n) {
  if (!seekable_) throw std::logic_error("rewrite_head on a non-seekable output");
  size_t done = 0;
  while (done < n) {
    ssize_t k = ::pwrite(fd_, p + done, n - done, start_ + static_cast<off_t>(done));
    if (k < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "cannot write '" + name_ + "'");
    }
    done += static_cast<size_t>(k);
  }
}

void VectorSink::rewrite_head(const uint8_t* p, size_t n) {
  if (n > bytes.size()) throw std::logic_error("rewrite_head past the end");
  std::memcpy(bytes.data(), p, n);
}

}  // namespace blt
