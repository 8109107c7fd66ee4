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
// A member is either streamed (appended at the end of the archive; one at a time) or given a
// reserved region of known maximum size, so several members can be filled at once.
class NpzWriter {
 public:
  using Member = size_t;

  // fd: a regular file open for writing at offset 0 (positioned writes are used).
  NpzWriter(int fd, std::string name);

  // Opens member `member`.npy holding items of NumPy type `descr` ("<u2", "<i4", "<i8"), with
  // `cols` columns (0: a 1-D array). reserve_bytes > 0: its data fill a region of that many
  // bytes placed now (a shorter member leaves a gap, which ZIP readers skip); 0: streamed.
  Member begin(std::string_view member, std::string_view descr, uint64_t cols,
               uint64_t reserve_bytes = 0);
  void append(Member m, const void* p, size_t n, uint32_t crc);
  void append(Member m, const void* p, size_t n);
  void append_spool(Member m, const SpoolFile& spool);  // its whole content (streamed member)
  // Closes the member with `rows` rows (its data must hold rows * max(cols, 1) items).
  void end(Member m, uint64_t rows);
  // Writes the central directory: the archive is complete.
  void finish();

  uint64_t bytes_written() const { return offset_; }

 private:
  struct Entry {
    std::string fname;
    uint64_t header_offset = 0;
    uint64_t size = 0;
    uint32_t crc = 0;
    std::string descr;
    uint64_t cols = 0;
    uint64_t data_start = 0;
    uint64_t data_bytes = 0;
    uint32_t data_crc = 0;
    uint64_t reserved = 0;  // 0: streamed
    bool open = false;
  };
  void write_at(uint64_t offset, const void* p, size_t n);
  std::string local_header(const Entry& m) const;
  std::string npy_header(const Entry& m, uint64_t rows) const;

  int fd_;
  std::string name_;
  uint64_t offset_ = 0;
  uint16_t dos_time_ = 0, dos_date_ = 0;
  std::vector<Entry> members_;
  bool streaming_ = false;  // a streamed member is open
};

}  // namespace blt
