// The POSIX backend's root: resolving paths beneath it, caching directory
// descriptors, and applying metadata.
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <string>

#include "ferry/storage/file_errors.h"
#include "ferry/storage/posix/posix_internal.h"
#include "ferry/storage/staging.h"

namespace ferry {

Status PosixError(std::string_view op, const RelPath& path, int err) {
  std::string msg(op);
  msg += " ";
  msg += path.Display();
  msg += ": ";
  ErrnoMeaning m = MeaningOfErrno(err);
  if (err == ELOOP) {
    m.code = StatusCode::kFailedPrecondition;
    msg +=
        "a symbolic link is in the way (links beneath a location root "
        "are never followed): ";
  } else if (err == EXDEV) {
    m.code = StatusCode::kPermissionDenied;
    msg += "the path leads outside the location root: ";
  }
  msg += std::strerror(err);
  return Status(m.code, std::move(msg), err, m.retryable);
}

namespace posix {

void FillEntryFromStat(const struct stat& st, Entry* out) {
  out->kind = KindOfMode(st.st_mode);
  out->mode = st.st_mode & 07777;
  out->uid = st.st_uid;
  out->gid = st.st_gid;
  out->nlink = static_cast<uint32_t>(st.st_nlink);
  out->size =
      out->kind == EntryKind::kFile ? static_cast<uint64_t>(st.st_size) : 0;
  out->allocated = static_cast<uint64_t>(st.st_blocks) * 512;
  out->mtime =
      FileTime{st.st_mtim.tv_sec, static_cast<uint32_t>(st.st_mtim.tv_nsec)};
  out->atime =
      FileTime{st.st_atim.tv_sec, static_cast<uint32_t>(st.st_atim.tv_nsec)};
  out->ctime =
      FileTime{st.st_ctim.tv_sec, static_cast<uint32_t>(st.st_ctim.tv_nsec)};
  out->dev = st.st_dev;
  out->ino = st.st_ino;
  out->rdev = (out->kind == EntryKind::kBlockDevice ||
               out->kind == EntryKind::kCharDevice)
                  ? st.st_rdev
                  : 0;
}

Status ReadLinkTarget(int dirfd, const char* name, const RelPath& path,
                      Entry* out, bool keep_atime) {
  std::string buf(256, '\0');
  while (true) {
    ssize_t n = ::readlinkat(dirfd, name, buf.data(), buf.size());
    if (n < 0) return PosixError("readlink", path, errno);
    if (static_cast<size_t>(n) < buf.size()) {
      buf.resize(static_cast<size_t>(n));
      out->link_target = std::move(buf);
      out->size = 0;
      if (keep_atime) {
        // Reading a link sets its access time (there is no O_NOATIME for
        // readlink): put back the one ferry gave it.
        struct timespec ts[2] = {
            {out->atime.sec, static_cast<long>(out->atime.nsec)},
            {0, UTIME_OMIT}};
        ::utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW);
      }
      return Status::Ok();
    }
    if (buf.size() >= 65536) {
      return Status::IoError("symbolic link target of " + path.Display() +
                             " is too long");
    }
    buf.resize(buf.size() * 2);
  }
}

SharedFd DirCache::Get(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = map_.find(key);
  if (it == map_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second.lru);
  return it->second.fd;
}

void DirCache::Put(const std::string& key, SharedFd fd) {
  std::lock_guard lock(mu_);
  auto it = map_.find(key);
  if (it != map_.end()) {
    it->second.fd = std::move(fd);
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    return;
  }
  lru_.push_front(key);
  map_.emplace(key, Slot{std::move(fd), lru_.begin()});
  while (map_.size() > capacity_) {
    map_.erase(lru_.back());
    lru_.pop_back();
  }
}

void DirCache::InvalidateTree(const std::string& key) {
  std::lock_guard lock(mu_);
  for (auto it = map_.begin(); it != map_.end();) {
    const std::string& k = it->first;
    bool beneath =
        key.empty() ||
        (k.size() >= key.size() && k.compare(0, key.size(), key) == 0 &&
         (k.size() == key.size() || k[key.size()] == '/'));
    if (beneath) {
      lru_.erase(it->second.lru);
      it = map_.erase(it);
    } else {
      ++it;
    }
  }
}

Root::Root(std::string root_path, Fd root_fd, bool component_walk,
           bool keep_link_atimes)
    : root_path_(std::move(root_path)),
      root_fd_(std::move(root_fd)),
      component_walk_(component_walk),
      keep_link_atimes_(keep_link_atimes) {}

std::string Root::TempName() { return NewTempName(); }

Result<Fd> Root::WalkBeneath(const RelPath& path, int flags) {
  int dirfd = root_fd_.get();
  Fd current;
  const std::string& p = path.str();
  size_t pos = 0;
  while (true) {
    size_t slash = p.find('/', pos);
    bool last = slash == std::string::npos;
    std::string comp = p.substr(pos, last ? std::string::npos : slash - pos);
    int f = last ? (flags | O_NOFOLLOW | O_CLOEXEC)
                 : (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int fd = ::openat(dirfd, comp.c_str(), f);
    if (fd < 0) return PosixError("open", path, errno);
    current = Fd(fd);
    dirfd = current.get();
    if (last) return current;
    pos = slash + 1;
  }
}

Result<Fd> Root::OpenBeneath(const RelPath& path, int flags) {
  if (path.IsRoot()) {
    int fd = ::openat(root_fd_.get(), ".", flags | O_CLOEXEC);
    if (fd < 0) return PosixError("open", path, errno);
    return Fd(fd);
  }
  // Paths longer than PATH_MAX cannot go to one call: walk them instead.
  if (!component_walk_ && has_openat2_.load(std::memory_order_relaxed) &&
      path.str().size() < PATH_MAX - 1) {
    struct open_how how;
    std::memset(&how, 0, sizeof(how));
    how.flags = static_cast<uint64_t>(flags | O_CLOEXEC | O_NOFOLLOW);
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    while (true) {
      long fd = ::syscall(SYS_openat2, root_fd_.get(), path.str().c_str(), &how,
                          sizeof(how));
      if (fd >= 0) return Fd(static_cast<int>(fd));
      if (errno == EAGAIN || errno == EINTR) continue;  // rename race; retry
      if (errno == ENOSYS) {
        has_openat2_.store(false);
        break;
      }
      return PosixError("open", path, errno);
    }
  }
  return WalkBeneath(path, flags);
}

Result<SharedFd> Root::Dir(const RelPath& dir) {
  if (SharedFd cached = cache_.Get(dir.str())) return cached;
  FERRY_ASSIGN_OR_RETURN(Fd fd, OpenBeneath(dir, O_RDONLY | O_DIRECTORY));
  auto handle = std::make_shared<DirHandle>();
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return PosixError("stat", dir, errno);
  handle->gid = st.st_gid;
  handle->setgid = (st.st_mode & S_ISGID) != 0;
  ssize_t acl = ::fgetxattr(fd.get(), "system.posix_acl_default", nullptr, 0);
  handle->default_acl = acl > 0;
  handle->fd = std::move(fd);
  SharedFd shared = std::move(handle);
  cache_.Put(dir.str(), shared);
  return shared;
}

NewFileState NewFileIn(const DirHandle& dir) {
  static const uid_t euid = ::geteuid();
  static const gid_t egid = ::getegid();
  return NewFileState{euid, dir.setgid ? dir.gid : egid, !dir.default_acl};
}

Result<SharedFd> Root::ParentDir(const RelPath& path) {
  return Dir(path.Parent());
}

Result<SharedFd> Root::FreshParentDir(const RelPath& path) {
  FERRY_ASSIGN_OR_RETURN(Fd fd,
                         OpenBeneath(path.Parent(), O_PATH | O_DIRECTORY));
  auto handle = std::make_shared<DirHandle>();
  handle->fd = std::move(fd);
  return SharedFd(std::move(handle));
}

Status Root::ApplyMetadata(int fd, int dirfd, const char* name,
                           const RelPath& path, EntryKind kind,
                           const Entry& src, const MetadataPolicy& policy,
                           const Entry* current) {
  bool chowned = false;
  if (policy.uid || policy.gid) {
    uid_t uid = policy.uid ? src.uid : static_cast<uid_t>(-1);
    gid_t gid = policy.gid ? src.gid : static_cast<gid_t>(-1);
    bool needed = current == nullptr ||
                  (policy.uid && current->uid != src.uid) ||
                  (policy.gid && current->gid != src.gid);
    if (needed) {
      int rc = fd >= 0 ? ::fchown(fd, uid, gid)
                       : ::fchownat(dirfd, name, uid, gid, AT_SYMLINK_NOFOLLOW);
      if (rc != 0) return PosixError("set owner of", path, errno);
      chowned = true;
    }
  }
  const bool new_file = kind == EntryKind::kFile && fd >= 0;
  if (kind != EntryKind::kSymlink && (policy.mode || new_file)) {
    // Without PosixPermissions a new file (created owner-only) gets the
    // usual default; existing items keep theirs.
    mode_t mode = policy.mode ? (src.mode & 07777) : (0666 & ~ProcessUmask());
    // chown() clears set-user-ID and set-group-ID bits: set them after it.
    bool needed = current == nullptr || (current->mode & 07777) != mode ||
                  (chowned && (mode & (S_ISUID | S_ISGID)));
    if (needed) {
      int rc = fd >= 0 ? ::fchmod(fd, mode)
                       : ::fchmodat(dirfd, name, mode, AT_SYMLINK_NOFOLLOW);
      if (rc != 0) return PosixError("set permissions of", path, errno);
    }
  }
  if (policy.mtime || policy.atime) {
    struct timespec ts[2];
    ts[0].tv_sec = src.atime.sec;
    ts[0].tv_nsec = policy.atime ? src.atime.nsec : UTIME_OMIT;
    ts[1].tv_sec = src.mtime.sec;
    ts[1].tv_nsec = policy.mtime ? src.mtime.nsec : UTIME_OMIT;
    int rc = fd >= 0 ? ::futimens(fd, ts)
                     : ::utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW);
    if (rc != 0) return PosixError("set times of", path, errno);
  }
  return Status::Ok();
}

}  // namespace posix
}  // namespace ferry
