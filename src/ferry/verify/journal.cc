#include "ferry/verify/journal.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

namespace ferry {
namespace {

void PutU64(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i)
    out->push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

void PutBytes(std::string* out, std::string_view s) {
  PutU64(out, s.size());
  out->append(s);
}

bool ReadU64(std::FILE* f, uint64_t* v) {
  unsigned char b[8];
  if (std::fread(b, 1, 8, f) != 8) return false;
  *v = 0;
  for (int i = 7; i >= 0; --i) *v = (*v << 8) | b[i];
  return true;
}

bool ReadBytes(std::FILE* f, std::string* s) {
  uint64_t n;
  if (!ReadU64(f, &n) || n > (1u << 20)) return false;
  s->resize(n);
  return n == 0 || std::fread(s->data(), 1, n, f) == n;
}

}  // namespace

Journal::Journal() {
  file_ = std::tmpfile();
  if (!file_) {
    open_error_ = Status::IoError(
        std::string("cannot create the verification journal: ") +
        std::strerror(errno));
  }
}

Journal::~Journal() {
  if (file_) std::fclose(file_);
}

uint64_t Journal::size() const {
  std::lock_guard lock(mu_);
  return count_;
}

Status Journal::Append(const JournalRecord& r) {
  if (!file_) return open_error_;
  std::string buf;
  const Entry& e = r.applied;
  PutBytes(&buf, e.path.str());
  PutU64(&buf, static_cast<uint64_t>(e.kind) | (r.metadata_only ? 0x100 : 0));
  PutU64(&buf, e.mode);
  PutU64(&buf, e.uid);
  PutU64(&buf, e.gid);
  PutU64(&buf, e.size);
  PutU64(&buf, static_cast<uint64_t>(e.mtime.sec));
  PutU64(&buf, e.mtime.nsec);
  PutU64(&buf, static_cast<uint64_t>(e.atime.sec));
  PutU64(&buf, e.atime.nsec);
  PutU64(&buf, e.rdev);
  PutU64(&buf, e.xattr_hash);
  PutU64(&buf, e.dos_attributes);
  PutU64(&buf, static_cast<uint64_t>(e.btime.sec));
  PutU64(&buf, e.btime.nsec);
  PutBytes(&buf, e.link_target);
  PutU64(&buf, static_cast<uint64_t>(r.digest.algorithm));
  PutBytes(&buf, std::string_view(
                     reinterpret_cast<const char*>(r.digest.bytes.data()),
                     r.digest.size));
  std::lock_guard lock(mu_);
  if (std::fwrite(buf.data(), 1, buf.size(), file_) != buf.size()) {
    return Status::IoError("cannot write the verification journal");
  }
  ++count_;
  return Status::Ok();
}

Status Journal::Rewind() {
  if (!file_) return open_error_;
  std::lock_guard lock(mu_);
  if (std::fflush(file_) != 0 || std::fseek(file_, 0, SEEK_SET) != 0) {
    return Status::IoError("cannot read back the verification journal");
  }
  return Status::Ok();
}

Result<bool> Journal::Next(JournalRecord* out) {
  std::lock_guard lock(mu_);
  std::string path;
  if (!ReadBytes(file_, &path)) {
    if (std::feof(file_)) return false;
    return Status::IoError("verification journal is corrupt");
  }
  auto bad = [] { return Status::IoError("verification journal is corrupt"); };
  FERRY_ASSIGN_OR_RETURN(RelPath rel, RelPath::Parse(path));
  Entry& e = out->applied;
  e = Entry();
  e.path = std::move(rel);
  uint64_t v[14];
  for (uint64_t& x : v) {
    if (!ReadU64(file_, &x)) return bad();
  }
  e.kind = static_cast<EntryKind>(v[0] & 0xFF);
  out->metadata_only = (v[0] & 0x100) != 0;
  e.mode = static_cast<uint32_t>(v[1]);
  e.uid = static_cast<uint32_t>(v[2]);
  e.gid = static_cast<uint32_t>(v[3]);
  e.size = v[4];
  e.mtime = FileTime{static_cast<int64_t>(v[5]), static_cast<uint32_t>(v[6])};
  e.atime = FileTime{static_cast<int64_t>(v[7]), static_cast<uint32_t>(v[8])};
  e.rdev = v[9];
  e.xattr_hash = v[10];
  e.dos_attributes = static_cast<uint32_t>(v[11]);
  e.btime =
      FileTime{static_cast<int64_t>(v[12]),
               static_cast<uint32_t>(std::min<uint64_t>(v[13], 999999999))};
  if (!ReadBytes(file_, &e.link_target)) return bad();
  std::string digest;
  uint64_t algo;
  if (!ReadU64(file_, &algo) || !ReadBytes(file_, &digest) ||
      digest.size() > 32)
    return bad();
  out->digest = Digest();
  out->digest.algorithm = static_cast<DigestAlgorithm>(algo);
  out->digest.size = static_cast<uint8_t>(digest.size());
  if (!digest.empty()) {
    std::memcpy(out->digest.bytes.data(), digest.data(), digest.size());
  }
  return true;
}

}  // namespace ferry
