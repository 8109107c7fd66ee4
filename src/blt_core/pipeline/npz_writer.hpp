// NpzWriter: an uncompressed ZIP64 `.npz` written to a descriptor member by member, each member's
// data appended in pieces whose CRCs the caller may have computed in parallel (crc32_combine).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace blt {

// Appends bytes to a descriptor (an unnamed spool file) while tracking their size and CRC-32, so
// a member whose length is only known at the end can be copied into the archive afterwards.
class SpoolFile {
 public:
  SpoolFile(int fd, std::string name) : fd_(fd), name_(std::move(name)) {}
  void append(const void* p, size_t n, uint32_t crc);
  void append(const void* p, size_t n);
  int fd() const { return fd_; }
  uint64_t size() const { return size_; }
  uint32_t crc() const { return crc_; }

 private:
  int fd_;
  std::string name_;
  uint64_t size_ = 0;
  uint32_t crc_ = 0;
};

// The layout is the one Python's zipfile writes with force_zip64=True (stored members, ZIP64
// sizes in every header), which np.load and zipfile read back; each member is a 1-D or 2-D
// C-order .npy whose header has a fixed size, so it is rewritten in place once the rows are known.
class NpzWriter {
 public:
  // fd: a regular file open for writing at offset 0 (positioned writes are used).
  NpzWriter(int fd, std::string name);

  // Opens member `member`.npy holding items of NumPy type `descr` ("<u2", "<i4", "<i8"), with
  // `cols` columns (0: a 1-D array).
  void begin(std::string_view member, std::string_view descr, uint64_t cols);
  void append(const void* p, size_t n, uint32_t crc);
  void append(const void* p, size_t n);
  void append_spool(const SpoolFile& spool);  // its whole content
  // Closes the member with `rows` rows (its data must hold rows * max(cols, 1) items).
  void end(uint64_t rows);
  // Writes the central directory: the archive is complete.
  void finish();

  uint64_t bytes_written() const { return offset_; }

 private:
  struct Member {
    std::string fname;
    uint64_t header_offset;
    uint64_t size;
    uint32_t crc;
  };
  void write_at(uint64_t offset, const void* p, size_t n);
  std::string local_header(const Member& m) const;
  std::string npy_header(uint64_t rows) const;

  int fd_;
  std::string name_;
  uint64_t offset_ = 0;
  uint16_t dos_time_ = 0, dos_date_ = 0;
  std::vector<Member> members_;
  // the open member
  bool open_ = false;
  Member cur_{};
  std::string descr_;
  uint64_t cols_ = 0;
  uint64_t data_bytes_ = 0;
  uint32_t data_crc_ = 0;
};

}  // namespace blt
