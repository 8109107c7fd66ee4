#include "blt_core/io/byte_source.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include "blt_core/resources.hpp"

namespace blt {

FdSource::FdSource(int fd, std::string name) : fd_(fd), name_(std::move(name)) {
  struct stat st{};
  if (::fstat(fd, &st) != 0)
    throw std::system_error(errno, std::generic_category(), "cannot read '" + name_ + "'");
  if (S_ISDIR(st.st_mode))
    throw std::system_error(EISDIR, std::generic_category(), "cannot read '" + name_ + "'");
  regular_ = S_ISREG(st.st_mode);
  if (!regular_) return;
  off_t here = ::lseek(fd, 0, SEEK_CUR);
  start_ = here > 0 ? static_cast<uint64_t>(here) : 0;
  uint64_t file = static_cast<uint64_t>(st.st_size);
  size_ = file > start_ ? file - start_ : 0;
  // A file bigger than half the available RAM would only push other data out of the cache.
  drop_cache_ = *size_ > available_ram_bytes() / 2;
  if (*size_ > 0 && *size_ <= SIZE_MAX) {
    void* p = ::mmap(nullptr, static_cast<size_t>(file), PROT_READ, MAP_SHARED, fd, 0);
    if (p != MAP_FAILED) {
      map_ = static_cast<uint8_t*>(p);
      map_len_ = static_cast<size_t>(file);
      ::madvise(map_, map_len_, MADV_SEQUENTIAL);  // larger read-ahead, pages freed behind
      return;
    }
  }
  ::posix_fadvise(fd, static_cast<off_t>(start_), 0, POSIX_FADV_SEQUENTIAL);
}

FdSource::~FdSource() {
  if (map_) ::munmap(map_, map_len_);
}

std::optional<ByteSpan> FdSource::in_memory() const {
  if (!map_) return std::nullopt;
  return ByteSpan(map_ + start_, static_cast<size_t>(*size_));
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
    return static_cast<size_t>(got);
  }
}

void FdSource::release_before(uint64_t offset) {
  if (!regular_) return;
  // Whole pages only, in steps of a few MB, so the advice costs nothing measurable.
  uint64_t end = (start_ + offset) & ~uint64_t{4095};
  uint64_t from = start_ + released_;
  from &= ~uint64_t{4095};
  if (end < from + (4u << 20)) return;
  if (map_) ::madvise(map_ + from, static_cast<size_t>(end - from), MADV_DONTNEED);  // leaves RSS
  if (!map_ || drop_cache_)
    ::posix_fadvise(fd_, static_cast<off_t>(from), static_cast<off_t>(end - from), POSIX_FADV_DONTNEED);
  released_ = end - start_;
}

size_t MemorySource::read(uint8_t* dst, size_t n, const std::atomic<bool>& stop) {
  (void)stop;
  size_t k = std::min(n, data_.size() - pos_);
  if (k) std::memcpy(dst, data_.data() + pos_, k);
  pos_ += k;
  return k;
}

}  // namespace blt
