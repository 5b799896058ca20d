#include "ferry/storage/entry.h"

namespace ferry {

std::string_view EntryKindName(EntryKind kind) {
  switch (kind) {
    case EntryKind::kFile:
      return "file";
    case EntryKind::kDirectory:
      return "directory";
    case EntryKind::kSymlink:
      return "symlink";
    case EntryKind::kBlockDevice:
      return "block device";
    case EntryKind::kCharDevice:
      return "character device";
    case EntryKind::kFifo:
      return "fifo";
    case EntryKind::kSocket:
      return "socket";
  }
  return "unknown";
}

char EntryKindLetter(EntryKind kind) {
  switch (kind) {
    case EntryKind::kFile:
      return 'R';
    case EntryKind::kDirectory:
      return 'D';
    case EntryKind::kSymlink:
      return 'L';
    case EntryKind::kBlockDevice:
      return 'B';
    case EntryKind::kCharDevice:
      return 'C';
    case EntryKind::kFifo:
      return 'F';
    case EntryKind::kSocket:
      return 'S';
  }
  return '?';
}

bool TimesMatch(FileTime a, FileTime b, int64_t granularity_ns) {
  if (granularity_ns <= 1) return a == b;
  auto trunc = [granularity_ns](FileTime t) {
    if (granularity_ns >= 1000000000) {
      int64_t g = granularity_ns / 1000000000;
      int64_t s = t.sec - ((t.sec % g) + g) % g;
      return FileTime{s, 0};
    }
    return FileTime{t.sec, static_cast<uint32_t>(t.nsec - t.nsec % granularity_ns)};
  };
  return trunc(a) == trunc(b);
}

}  // namespace ferry
