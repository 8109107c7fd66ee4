#include "blt_core/pipeline/npz_writer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <stdexcept>
#include <system_error>

#include "blt_core/io/byte_sink.hpp"
#include "blt_core/pipeline/crc32.hpp"

namespace blt {
namespace {

constexpr uint16_t kZipVersion = 45;  // ZIP64 needs 4.5
constexpr uint32_t kFull32 = 0xFFFFFFFFu;
constexpr size_t kNpyHeaderBytes = 128;  // magic + length + dict, padded: fits any 2-D shape

void put16(std::string& s, uint16_t v) {
  s.push_back(static_cast<char>(v & 0xFF));
  s.push_back(static_cast<char>(v >> 8));
}
void put32(std::string& s, uint32_t v) {
  for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
void put64(std::string& s, uint64_t v) {
  for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

[[noreturn]] void write_error(const std::string& name) {
  throw std::system_error(errno, std::generic_category(), "cannot write '" + name + "'");
}

}  // namespace

void SpoolFile::append(const void* p, size_t n, uint32_t crc) {
  pwrite_all(fd_, p, n, size_, name_);
  crc_ = crc32_combine(crc_, crc, n);
  size_ += n;
}

void SpoolFile::append(const void* p, size_t n) {
  append(p, n, crc32_update(0, static_cast<const uint8_t*>(p), n));
}

NpzWriter::NpzWriter(int fd, std::string name) : fd_(fd), name_(std::move(name)) {
  std::time_t now = std::time(nullptr);
  std::tm t{};
  localtime_r(&now, &t);
  const int year = std::min(std::max(t.tm_year + 1900, 1980), 2107);
  dos_time_ = static_cast<uint16_t>((t.tm_hour << 11) | (t.tm_min << 5) | (t.tm_sec / 2));
  dos_date_ = static_cast<uint16_t>(((year - 1980) << 9) | ((t.tm_mon + 1) << 5) | t.tm_mday);
}

void NpzWriter::write_at(uint64_t offset, const void* p, size_t n) { pwrite_all(fd_, p, n, offset, name_); }

std::string NpzWriter::local_header(const Entry& m) const {
  std::string s;
  put32(s, 0x04034B50);
  put16(s, kZipVersion);
  put16(s, 0);  // flags
  put16(s, 0);  // stored
  put16(s, dos_time_);
  put16(s, dos_date_);
  put32(s, m.crc);
  put32(s, kFull32);
  put32(s, kFull32);
  put16(s, static_cast<uint16_t>(m.fname.size()));
  put16(s, 20);  // ZIP64 extra: sizes
  s += m.fname;
  put16(s, 1);
  put16(s, 16);
  put64(s, m.size);
  put64(s, m.size);
  return s;
}

std::string NpzWriter::npy_header(const Entry& m, uint64_t rows) const {
  std::string shape = m.cols ? "(" + std::to_string(rows) + ", " + std::to_string(m.cols) + ")"
                             : "(" + std::to_string(rows) + ",)";
  std::string dict = "{'descr': '" + m.descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  const size_t room = kNpyHeaderBytes - 10;
  if (dict.size() + 1 > room) throw std::logic_error("npy header too long");
  dict.append(room - 1 - dict.size(), ' ');
  dict.push_back('\n');
  std::string s("\x93NUMPY\x01\x00", 8);
  put16(s, static_cast<uint16_t>(room));
  return s + dict;
}

NpzWriter::Member NpzWriter::begin(std::string_view member, std::string_view descr, uint64_t cols,
                                   uint64_t reserve_bytes) {
  if (!reserve_bytes) {
    if (streaming_) throw std::logic_error("a streamed npz member is already open");
    streaming_ = true;
  }
  Entry e;
  e.fname = std::string(member) + ".npy";
  e.header_offset = offset_;
  e.descr = std::string(descr);
  e.cols = cols;
  e.reserved = reserve_bytes;
  e.open = true;
  const std::string lh = local_header(e);
  write_at(offset_, lh.data(), lh.size());
  e.data_start = offset_ + lh.size() + kNpyHeaderBytes;  // the npy header is written by end()
  offset_ = e.data_start + reserve_bytes;
  members_.push_back(std::move(e));
  return members_.size() - 1;
}

void NpzWriter::append(Member m, const void* p, size_t n, uint32_t crc) {
  Entry& e = members_.at(m);
  if (!e.open) throw std::logic_error("npz member is closed");
  if (!n) return;
  if (e.reserved) {
    if (e.data_bytes + n > e.reserved)
      throw std::logic_error("npz member '" + e.fname + "' outgrew its reserved region");
    write_at(e.data_start + e.data_bytes, p, n);
  } else {
    write_at(offset_, p, n);
    offset_ += n;
  }
  e.data_crc = crc32_combine(e.data_crc, crc, n);
  e.data_bytes += n;
}

void NpzWriter::append(Member m, const void* p, size_t n) {
  append(m, p, n, crc32_update(0, static_cast<const uint8_t*>(p), n));
}

void NpzWriter::append_spool(Member m, const SpoolFile& spool) {
  Entry& e = members_.at(m);
  if (!e.open || e.reserved) throw std::logic_error("append_spool needs an open streamed member");
  uint64_t left = spool.size();
  loff_t in = 0;
  while (left) {
    loff_t out = static_cast<loff_t>(offset_);
    ssize_t k = ::copy_file_range(spool.fd(), &in, fd_, &out, left, 0);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) {
      if (k < 0 && errno != EXDEV && errno != ENOSYS && errno != EOPNOTSUPP && errno != EINVAL)
        write_error(name_);
      // Other file systems: plain reads and writes.
      std::vector<uint8_t> buf(1u << 20);
      while (left) {
        ssize_t r = ::pread(spool.fd(), buf.data(), std::min<uint64_t>(left, buf.size()), in);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) throw std::system_error(r < 0 ? errno : EIO, std::generic_category(),
                                            "cannot read back a spool file of '" + name_ + "'");
        write_at(offset_, buf.data(), static_cast<size_t>(r));
        offset_ += static_cast<uint64_t>(r);
        in += r;
        left -= static_cast<uint64_t>(r);
      }
      break;
    }
    offset_ += static_cast<uint64_t>(k);
    left -= static_cast<uint64_t>(k);
  }
  e.data_crc = crc32_combine(e.data_crc, spool.crc(), spool.size());
  e.data_bytes += spool.size();
}

void NpzWriter::end(Member m, uint64_t rows) {
  Entry& e = members_.at(m);
  if (!e.open) throw std::logic_error("npz member already closed");
  const std::string head = npy_header(e, rows);
  const uint32_t head_crc = crc32_update(0, reinterpret_cast<const uint8_t*>(head.data()), head.size());
  e.crc = crc32_combine(head_crc, e.data_crc, e.data_bytes);
  e.size = head.size() + e.data_bytes;
  const std::string lh = local_header(e);
  write_at(e.header_offset, lh.data(), lh.size());
  write_at(e.header_offset + lh.size(), head.data(), head.size());
  e.open = false;
  if (!e.reserved) streaming_ = false;
}

void NpzWriter::finish() {
  for (const Entry& e : members_)
    if (e.open) throw std::logic_error("npz member '" + e.fname + "' still open");
  std::string s;
  const uint64_t start = offset_;
  for (const Entry& m : members_) {
    put32(s, 0x02014B50);
    put16(s, kZipVersion | (3 << 8));  // made by: Unix
    put16(s, kZipVersion);
    put16(s, 0);
    put16(s, 0);
    put16(s, dos_time_);
    put16(s, dos_date_);
    put32(s, m.crc);
    put32(s, kFull32);
    put32(s, kFull32);
    put16(s, static_cast<uint16_t>(m.fname.size()));
    put16(s, 28);  // ZIP64 extra: sizes and offset
    put16(s, 0);   // comment
    put16(s, 0);   // disk
    put16(s, 0);   // internal attributes
    put32(s, 0100600u << 16);
    put32(s, kFull32);
    s += m.fname;
    put16(s, 1);
    put16(s, 24);
    put64(s, m.size);
    put64(s, m.size);
    put64(s, m.header_offset);
  }
  const uint64_t end = start + s.size();
  const uint64_t count = members_.size();
  put32(s, 0x06064B50);  // ZIP64 end of central directory
  put64(s, 44);
  put16(s, kZipVersion);
  put16(s, kZipVersion);
  put32(s, 0);
  put32(s, 0);
  put64(s, count);
  put64(s, count);
  put64(s, end - start);
  put64(s, start);
  put32(s, 0x07064B50);  // its locator
  put32(s, 0);
  put64(s, end);
  put32(s, 1);
  put32(s, 0x06054B50);  // end of central directory
  put16(s, 0);
  put16(s, 0);
  put16(s, static_cast<uint16_t>(std::min<uint64_t>(count, 0xFFFF)));
  put16(s, static_cast<uint16_t>(std::min<uint64_t>(count, 0xFFFF)));
  put32(s, static_cast<uint32_t>(std::min<uint64_t>(end - start, kFull32)));
  put32(s, kFull32);
  put16(s, 0);
  write_at(offset_, s.data(), s.size());
  offset_ += s.size();
}

}  // namespace blt
