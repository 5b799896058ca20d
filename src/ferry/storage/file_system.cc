#include "ferry/storage/file_system.h"

#include <sys/stat.h>

namespace ferry {

EntryKind KindOfMode(uint64_t mode) {
  switch (mode & S_IFMT) {
    case S_IFDIR:
      return EntryKind::kDirectory;
    case S_IFLNK:
      return EntryKind::kSymlink;
    case S_IFBLK:
      return EntryKind::kBlockDevice;
    case S_IFCHR:
      return EntryKind::kCharDevice;
    case S_IFIFO:
      return EntryKind::kFifo;
    case S_IFSOCK:
      return EntryKind::kSocket;
    default:
      return EntryKind::kFile;
  }
}

std::optional<mode_t> SpecialFileType(EntryKind kind) {
  switch (kind) {
    case EntryKind::kFifo:
      return S_IFIFO;
    case EntryKind::kSocket:
      return S_IFSOCK;
    case EntryKind::kBlockDevice:
      return S_IFBLK;
    case EntryKind::kCharDevice:
      return S_IFCHR;
    default:
      return std::nullopt;
  }
}

mode_t ProcessUmask() {
  static const mode_t mask = [] {
    mode_t m = ::umask(022);
    ::umask(m);
    return m;
  }();
  return mask;
}

Status MakeDirectories(Backend& backend, const RelPath& path) {
  if (path.IsRoot()) return Status::Ok();
  FERRY_RETURN_IF_ERROR(MakeDirectories(backend, path.Parent()));
  return backend.MakeDirectory(path);
}

}  // namespace ferry
