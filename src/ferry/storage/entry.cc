#include "ferry/storage/entry.h"

#include <xxhash.h>

#include <algorithm>

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
    return FileTime{t.sec,
                    static_cast<uint32_t>(t.nsec - t.nsec % granularity_ns)};
  };
  return trunc(a) == trunc(b);
}

std::string_view DosAttributesDifference(const Entry& src, const Entry& dst) {
  if (src.btime == FileTime{} || dst.btime == FileTime{}) return "";
  if ((src.dos_attributes & kDosAttributeMask) !=
      (dst.dos_attributes & kDosAttributeMask)) {
    return "DOS attributes differ";
  }
  if (src.btime.sec != dst.btime.sec) return "creation time differs";
  return "";
}

std::string WindowsNameProblem(std::string_view name) {
  for (unsigned char c : name) {
    if (c < 0x20) return "a control character";
    if (std::string_view("\\:*?\"<>|").find(static_cast<char>(c)) !=
        std::string_view::npos) {
      return std::string("'") + static_cast<char>(c) + "'";
    }
  }
  if (!name.empty() && (name.back() == ' ' || name.back() == '.')) {
    return name.back() == ' ' ? "a trailing space" : "a trailing dot";
  }
  return "";
}

std::string AzureNameProblem(std::string_view name) {
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f) return "a control character";
    if (c == '\\') return "a backslash";
  }
  if (!name.empty() && name.back() == '.') return "a trailing dot";
  return "";
}

bool IsFerryTempName(std::string_view name) {
  if (name.substr(0, kTempPrefix.size()) != kTempPrefix) return false;
  // Two or three dash-separated runs of lower-case hex digits.
  std::string_view rest = name.substr(kTempPrefix.size());
  int parts = 0;
  while (true) {
    size_t dash = rest.find('-');
    std::string_view part = rest.substr(0, dash);
    if (part.empty() || part.size() > 16 ||
        part.find_first_not_of("0123456789abcdef") != std::string_view::npos)
      return false;
    ++parts;
    if (dash == std::string_view::npos) break;
    rest = rest.substr(dash + 1);
  }
  return parts == 2 || parts == 3;
}

bool XattrWanted(std::string_view name, bool xattrs, bool acls) {
  if (name.substr(0, 18) == "system.posix_acl_a" ||
      name.substr(0, 18) == "system.posix_acl_d" ||
      name == kNtSecurityDescriptor) {
    return acls;
  }
  if (!xattrs) return false;
  if (name == "security.selinux") return false;
  return name.substr(0, 5) == "user." || name.substr(0, 8) == "trusted." ||
         name.substr(0, 9) == "security.";
}

XattrList FilterXattrs(XattrList list, bool xattrs, bool acls) {
  XattrList out;
  for (Xattr& x : list) {
    if (XattrWanted(x.name, xattrs, acls)) out.push_back(std::move(x));
  }
  std::sort(out.begin(), out.end(),
            [](const Xattr& a, const Xattr& b) { return a.name < b.name; });
  return out;
}

uint64_t XattrHash(const XattrList& list) {
  if (list.empty()) return 0;
  XXH3_state_t* st = XXH3_createState();
  XXH3_64bits_reset(st);
  for (const Xattr& x : list) {
    uint64_t n = x.name.size();
    uint64_t v = x.value.size();
    XXH3_64bits_update(st, &n, sizeof(n));
    XXH3_64bits_update(st, x.name.data(), x.name.size());
    XXH3_64bits_update(st, &v, sizeof(v));
    XXH3_64bits_update(st, x.value.data(), x.value.size());
  }
  uint64_t h = XXH3_64bits_digest(st);
  XXH3_freeState(st);
  return h == 0 ? 1 : h;
}

}  // namespace ferry
