// Internals shared by the POSIX backend's files: descriptor ownership, the
// beneath-the-root resolver, and the cache of open directory descriptors.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "ferry/storage/file_system.h"
#include "ferry/storage/posix/posix_backend.h"

namespace ferry::posix {

// Owns one file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { Reset(); }
  Fd(Fd&& o) noexcept : fd_(o.Release()) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      Reset();
      fd_ = o.Release();
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// An open directory and what decides the owner and mode of files created
// in it (read once, when it is opened).
struct DirHandle {
  Fd fd;
  gid_t gid = 0;
  bool setgid = false;       // new files inherit gid
  bool default_acl = false;  // new files' modes follow the ACL, not the umask
  int get() const { return fd.get(); }
};
using SharedFd = std::shared_ptr<const DirHandle>;

// What a file this process creates in `dir` starts with.
struct NewFileState {
  uid_t uid;
  gid_t gid;
  bool mode_exact;  // the creation mode (after the umask) is known exactly
};
NewFileState NewFileIn(const DirHandle& dir);
using ::ferry::ProcessUmask;  // storage/file_system.h

// Fills `out` (all but path) from a stat result; reads the link target of a
// symlink through (dirfd, name).
void FillEntryFromStat(const struct stat& st, Entry* out);
// With `keep_atime`, the link's access time (out->atime, read before) is put
// back afterwards.
Status ReadLinkTarget(int dirfd, const char* name, const RelPath& path,
                      Entry* out, bool keep_atime);

// Extended attributes through a descriptor or (dirfd, name), never
// following a symlink (posix_xattr.cc).
Result<XattrList> ReadXattrs(int fd, const RelPath& path);
Result<XattrList> ReadXattrsAt(int dirfd, const char* name,
                               const RelPath& path);
// Sets `want`; with `list_existing`, first removes in-scope attributes not
// in `want`.
Status WriteXattrs(int fd, const RelPath& path, const XattrList& want,
                   bool xattr_scope, bool acl_scope, bool list_existing);
Status WriteXattrsAt(int dirfd, const char* name, const RelPath& path,
                     const XattrList& want, bool xattr_scope, bool acl_scope);

// A small LRU of directory descriptors keyed by relative path, so writing
// many files into one directory opens it once.
class DirCache {
 public:
  explicit DirCache(size_t capacity) : capacity_(capacity) {}
  SharedFd Get(const std::string& key);
  void Put(const std::string& key, SharedFd fd);
  // Drops `key` and everything beneath it.
  void InvalidateTree(const std::string& key);

 private:
  using LruList = std::list<std::string>;
  struct Slot {
    SharedFd fd;
    LruList::iterator lru;
  };
  const size_t capacity_;
  std::mutex mu_;
  LruList lru_;  // most recent first
  std::unordered_map<std::string, Slot> map_;
};

// State shared by the backend and the readers and writers it hands out.
class Root {
 public:
  Root(std::string root_path, Fd root_fd, bool component_walk,
       bool keep_link_atimes);

  // A destination keeps the access times ferry gives its symbolic links,
  // although reading a link's target sets it.
  bool keep_link_atimes() const { return keep_link_atimes_; }

  const std::string& path() const { return root_path_; }
  int fd() const { return root_fd_.get(); }

  // Opens `path` beneath the root without following any symlink. `flags`
  // must not contain O_CREAT.
  Result<Fd> OpenBeneath(const RelPath& path, int flags);
  // The directory containing `path`, from the cache when possible.
  // (Only for reading, and for creating unnamed O_TMPFILE files: a cached
  // descriptor follows its directory if that is renamed or moved meanwhile.)
  Result<SharedFd> ParentDir(const RelPath& path);
  // The directory containing `path`, resolved beneath the root now: for
  // anything that names or changes something in it.
  Result<SharedFd> FreshParentDir(const RelPath& path);
  // The directory `dir` itself, from the cache when possible.
  Result<SharedFd> Dir(const RelPath& dir);
  void InvalidateTree(const RelPath& dir) { cache_.InvalidateTree(dir.str()); }

  // A fresh temporary name for a file in some directory.
  std::string TempName();

  // Metadata application, one place for files, directories, links and
  // special files. `fd` may be -1 to act through (dirfd, name). When the
  // current owner and mode are known (`current`), calls that would change
  // nothing are left out.
  Status ApplyMetadata(int fd, int dirfd, const char* name, const RelPath& path,
                       EntryKind kind, const Entry& src,
                       const MetadataPolicy& policy,
                       const Entry* current = nullptr);

  // Whether O_TMPFILE works on this file system (learned on first use).
  bool tmpfile_ok() const {
    return tmpfile_ok_.load(std::memory_order_relaxed);
  }
  void set_tmpfile_ok(bool ok) { tmpfile_ok_.store(ok); }
  // Whether linkat(AT_EMPTY_PATH) is allowed (needs CAP_DAC_READ_SEARCH).
  bool empty_path_link_ok() const {
    return empty_path_ok_.load(std::memory_order_relaxed);
  }
  void set_empty_path_link_ok(bool ok) { empty_path_ok_.store(ok); }

 private:
  Result<Fd> WalkBeneath(const RelPath& path, int flags);

  const std::string root_path_;
  const Fd root_fd_;
  const bool component_walk_;
  const bool keep_link_atimes_;
  std::atomic<bool> has_openat2_{true};
  std::atomic<bool> tmpfile_ok_{true};
  std::atomic<bool> empty_path_ok_{true};
  DirCache cache_{256};
};

}  // namespace ferry::posix
