// Entry: what a backend knows of one item under a location root, the unit
// every stage passes along (scan -> diff -> transfer -> verify). A value type;
// nothing in it refers back to the backend it came from.
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/base/digest.h"
#include "ferry/base/rel_path.h"

namespace ferry {

enum class EntryKind : uint8_t {
  kFile,
  kDirectory,
  kSymlink,
  kBlockDevice,
  kCharDevice,
  kFifo,
  kSocket,
};

std::string_view EntryKindName(EntryKind kind);  // "file", "directory", ...
// DataSync's one-letter type used in logs: R, D, L, B, C, F, S.
char EntryKindLetter(EntryKind kind);

struct FileTime {
  int64_t sec = 0;
  uint32_t nsec = 0;

  auto operator<=>(const FileTime&) const = default;
  int64_t Nanos() const { return sec * 1000000000 + nsec; }
  // From nanoseconds since the epoch (before it too: nsec stays 0..1e9-1).
  static FileTime FromNanos(int64_t ns) {
    int64_t sec = ns / 1000000000;
    int64_t rest = ns % 1000000000;
    if (rest < 0) {
      rest += 1000000000;
      sec -= 1;
    }
    return FileTime{sec, static_cast<uint32_t>(rest)};
  }
};

// True if `a` and `b` are equal once both are truncated to `granularity_ns`.
bool TimesMatch(FileTime a, FileTime b, int64_t granularity_ns);

struct Entry {
  enum Flags : uint8_t {
    // A directory whose contents could not be listed: nothing beneath it may
    // be deleted or reported missing.
    kListingFailed = 1,
    // Not data: a staged write (a posix temporary file) that a destination
    // listing shows. Scans hand it to Backend::CleanupStagingEntry and never
    // copy, compare or delete it as data.
    kStaging = 2,
    // Only what a listing tells, for a store that keeps metadata apart from
    // its listings (S3 user metadata): the path, whether it is a folder,
    // size, etag and ctime. A non-folder may turn out to be a link; mode,
    // owner, mtime, atime, link target and digest are unknown until
    // Backend::Stat, or OpenRead (whose Reader::entry() is whole).
    kPartial = 4,
  };

  RelPath path;
  EntryKind kind = EntryKind::kFile;
  uint8_t flags = 0;
  uint32_t mode = 0;  // permission bits only (07777)
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t nlink = 1;
  uint64_t size = 0;       // files: content bytes
  uint64_t allocated = 0;  // bytes allocated on disk; below size means holes
  FileTime mtime;
  FileTime atime;
  // When the item's content or metadata last changed, by the clock of the
  // storage that holds it (posix ctime; an object's Last-Modified, in whole
  // seconds); zero if the backend cannot tell (Capabilities::change_time).
  FileTime ctime;
  uint64_t dev = 0;  // dev and ino identify hard-linked files
  uint64_t ino = 0;
  uint64_t rdev = 0;        // devices
  std::string link_target;  // symlinks, bytes as stored
  // Windows' file attributes (kDosAttributeMask of them: read-only,
  // hidden, system, archive) and creation time, where the backend keeps
  // them (Capabilities::dos_attributes). btime is zero where they are not
  // known for sure (an SMB Stat tells no creation time, nor a folder's
  // attributes; its listings tell both).
  uint32_t dos_attributes = 0;
  FileTime btime;
  // XattrHash() of the extended attributes (and ACLs) ferry copies, when
  // known; 0 when there are none or they were not read (scans do not).
  uint64_t xattr_hash = 0;
  // Object stores: the object's ETag (opaque; a changed ETag is a changed
  // object) and version id, when the store has them.
  std::string etag;
  std::string version;
  // The content digest ferry stored with the file (capabilities().
  // content_digests), or the one to store (given to Commit); empty if none.
  Digest digest;

  bool is_dir() const { return kind == EntryKind::kDirectory; }
  bool is_file() const { return kind == EntryKind::kFile; }
  bool listing_failed() const { return flags & kListingFailed; }
  bool staging() const { return flags & kStaging; }
  bool partial() const { return flags & kPartial; }
  bool MaybeSparse() const {
    return kind == EntryKind::kFile && allocated < size;
  }
};

// One extended attribute. Lists are kept sorted by name.
struct Xattr {
  std::string name;
  std::string value;
  bool operator==(const Xattr&) const = default;
};
using XattrList = std::vector<Xattr>;

// Which attributes a transfer carries: user, trusted and security ones
// (not security.selinux, which the destination's policy decides) with
// `xattrs`; the POSIX ACLs (system.posix_acl_*) and Windows security
// descriptors (kNtSecurityDescriptor) with `acls`.
bool XattrWanted(std::string_view name, bool xattrs, bool acls);
// The attribute that holds a Windows security descriptor's owner and DACL,
// in libsmbclient's text form ("REVISION:1,OWNER:S-1-...,ACL:S-1-...:0/0/
// 0x001f01ff,...").
inline constexpr std::string_view kNtSecurityDescriptor = "system.nt_sec_desc";
// Keeps the wanted attributes, sorted by name.
XattrList FilterXattrs(XattrList list, bool xattrs, bool acls);
// A hash of a sorted list; 0 for an empty one.
uint64_t XattrHash(const XattrList& list);

// Windows' file attributes that ferry copies (FILE_ATTRIBUTE_*).
inline constexpr uint32_t kDosReadOnly = 0x1;
inline constexpr uint32_t kDosHidden = 0x2;
inline constexpr uint32_t kDosSystem = 0x4;
inline constexpr uint32_t kDosArchive = 0x20;
inline constexpr uint32_t kDosAttributeMask =
    kDosReadOnly | kDosHidden | kDosSystem | kDosArchive;

// Why the Windows attributes of `dst` are not those of `src` ("DOS
// attributes differ", "creation time differs"); empty when they are, or
// when either side's are not known (a zero btime). Creation times are
// compared to the second.
std::string_view DosAttributesDifference(const Entry& src, const Entry& dst);

// Names of the temporary files ferry writes before renaming them into place:
// ".ferry-tmp-<host tag>-<pid>-<counter>" in hex (older versions wrote
// ".ferry-tmp-<pid>-<counter>"). Destination scans hide them,
// so they are never copied, compared or deleted as data; a source name that
// merely starts the same way is data like any other.
inline constexpr std::string_view kTempPrefix = ".ferry-tmp-";
bool IsFerryTempName(std::string_view name);

// Why Windows, and so an SMB share, cannot hold a file or folder named
// `name` (a control character, one of \\ : * ? " < > |, a trailing space or
// dot); empty when it can.
std::string WindowsNameProblem(std::string_view name);

// Why Azure Blob Storage cannot keep a file or folder named `name` as given
// (a control character or DEL, which its listings cannot carry; a
// backslash, which Azure and Azurite take for '/'; a trailing dot, which
// URLs drop); empty when it can.
std::string AzureNameProblem(std::string_view name);

// Which parts of an Entry's metadata a write applies.
struct MetadataPolicy {
  bool mode = true;
  bool uid = true;
  bool gid = true;
  bool mtime = true;
  bool atime = true;
  // mtime and atime apply to symbolic links too (false where a side cannot
  // set a link's times: see Capabilities::symlink_times).
  bool link_times = true;
  // Windows' attributes and creation time (Capabilities::dos_attributes).
  bool dos_attributes = true;
};

}  // namespace ferry
