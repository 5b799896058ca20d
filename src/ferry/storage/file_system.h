// What the file-system backends (posix, SMB, NFS) share beyond errno's
// meaning (file_errors.h) and temporary names (staging.h): the kinds of
// st_mode, the process's umask, mkdir -p through the seam, and a listing
// read whole before it is handed out. Thread-safe.
#pragma once

#include <sys/types.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "ferry/base/rel_path.h"
#include "ferry/base/status.h"
#include "ferry/storage/backend.h"
#include "ferry/storage/entry.h"

namespace ferry {

// The kind of an st_mode's type bits (S_IFMT); a regular file for bits
// that name none.
EntryKind KindOfMode(uint64_t mode);

// The type bits (S_IFIFO, S_IFSOCK, S_IFBLK, S_IFCHR) that make an item of
// `kind` with mknod; nullopt for files, folders and links.
std::optional<mode_t> SpecialFileType(EntryKind kind);

// The process's umask, read once.
mode_t ProcessUmask();

// The folder at `path` and the ones above it, as `mkdir -p`.
Status MakeDirectories(Backend& backend, const RelPath& path);

// A Lister over entries already read (a server that answers a folder's
// listing whole), handed out in batches of `batch`.
class VectorLister : public Lister {
 public:
  explicit VectorLister(std::vector<Entry> entries, size_t batch = 1024)
      : entries_(std::move(entries)), batch_(std::max<size_t>(1, batch)) {}

  Result<bool> NextBatch(std::vector<Entry>* out) override {
    if (next_ >= entries_.size()) return false;
    const size_t end = std::min(entries_.size(), next_ + batch_);
    for (; next_ < end; ++next_) out->push_back(std::move(entries_[next_]));
    return true;
  }

 private:
  std::vector<Entry> entries_;
  const size_t batch_;
  size_t next_ = 0;
};

}  // namespace ferry
