// Extended attributes for the POSIX backend, read and written through a
// descriptor or through (directory descriptor, name) without following a
// symbolic link. The *xattrat() system calls (Linux 6.13) do the latter in one
// call; on older kernels an O_PATH descriptor and its /proc/self/fd path do.
#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include "ferry/storage/posix/posix_internal.h"

#ifndef __NR_setxattrat
#define __NR_setxattrat 463
#endif
#ifndef __NR_getxattrat
#define __NR_getxattrat 464
#endif
#ifndef __NR_listxattrat
#define __NR_listxattrat 465
#endif
#ifndef __NR_removexattrat
#define __NR_removexattrat 466
#endif

namespace ferry::posix {
namespace {

struct XattrArgs {
  uint64_t value;
  uint32_t size;
  uint32_t flags;
};

std::atomic<bool> g_have_xattrat{true};

// One way to reach an inode: a descriptor, or (dirfd, name).
class Target {
 public:
  explicit Target(int fd) : fd_(fd) {}
  Target(int dirfd, const char* name) : dirfd_(dirfd), name_(name) {}

  // Fallback for kernels without *xattrat: an O_PATH descriptor.
  Status Prepare(const RelPath& path) {
    if (fd_ >= 0 || g_have_xattrat.load(std::memory_order_relaxed))
      return Status::Ok();
    int fd = ::openat(dirfd_, name_, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return PosixError("open", path, errno);
    owned_ = Fd(fd);
    std::snprintf(proc_, sizeof(proc_), "/proc/self/fd/%d", fd);
    return Status::Ok();
  }

  ssize_t List(char* buf, size_t size) {
    if (fd_ >= 0) return ::flistxattr(fd_, buf, size);
    if (!owned_.valid()) {
      long r = ::syscall(__NR_listxattrat, dirfd_, name_, AT_SYMLINK_NOFOLLOW,
                         buf, size);
      if (r >= 0 || errno != ENOSYS) return r;
      g_have_xattrat.store(false);
      errno = ENOSYS;
      return -1;
    }
    return ::listxattr(proc_, buf, size);
  }

  ssize_t Get(const char* name, char* buf, size_t size) {
    if (fd_ >= 0) return ::fgetxattr(fd_, name, buf, size);
    if (!owned_.valid()) {
      XattrArgs args{reinterpret_cast<uint64_t>(buf),
                     static_cast<uint32_t>(size), 0};
      return ::syscall(__NR_getxattrat, dirfd_, name_, AT_SYMLINK_NOFOLLOW,
                       name, &args, sizeof(args));
    }
    return ::getxattr(proc_, name, buf, size);
  }

  int Set(const char* name, const std::string& value) {
    if (fd_ >= 0) return ::fsetxattr(fd_, name, value.data(), value.size(), 0);
    if (!owned_.valid()) {
      XattrArgs args{reinterpret_cast<uint64_t>(value.data()),
                     static_cast<uint32_t>(value.size()), 0};
      return static_cast<int>(::syscall(__NR_setxattrat, dirfd_, name_,
                                        AT_SYMLINK_NOFOLLOW, name, &args,
                                        sizeof(args)));
    }
    return ::setxattr(proc_, name, value.data(), value.size(), 0);
  }

  int Remove(const char* name) {
    if (fd_ >= 0) return ::fremovexattr(fd_, name);
    if (!owned_.valid()) {
      return static_cast<int>(::syscall(__NR_removexattrat, dirfd_, name_,
                                        AT_SYMLINK_NOFOLLOW, name));
    }
    return ::removexattr(proc_, name);
  }

 private:
  int fd_ = -1;
  int dirfd_ = -1;
  const char* name_ = nullptr;
  Fd owned_;
  char proc_[64] = {};
};

bool Unsupported(int err) { return err == ENOTSUP || err == EOPNOTSUPP; }

Result<std::vector<std::string>> ListNames(Target& t, const RelPath& path) {
  std::vector<char> buf(1024);
  while (true) {
    ssize_t n = t.List(buf.data(), buf.size());
    if (n < 0 && errno == ENOSYS) {
      FERRY_RETURN_IF_ERROR(t.Prepare(path));
      n = t.List(buf.data(), buf.size());
    }
    if (n < 0) {
      if (Unsupported(errno)) return std::vector<std::string>{};
      if (errno == ERANGE && buf.size() < (1u << 20)) {
        buf.resize(buf.size() * 4);
        continue;
      }
      return PosixError("list attributes of", path, errno);
    }
    std::vector<std::string> names;
    for (ssize_t i = 0; i < n;) {
      size_t len = std::strlen(buf.data() + i);
      if (len > 0) names.emplace_back(buf.data() + i, len);
      i += static_cast<ssize_t>(len) + 1;
    }
    return names;
  }
}

Result<XattrList> ReadAll(Target& t, const RelPath& path) {
  FERRY_ASSIGN_OR_RETURN(std::vector<std::string> names, ListNames(t, path));
  XattrList out;
  std::vector<char> buf(256);
  for (const std::string& name : names) {
    while (true) {
      ssize_t n = t.Get(name.c_str(), buf.data(), buf.size());
      if (n < 0 && errno == ERANGE && buf.size() < (1u << 26)) {
        buf.resize(buf.size() * 8);
        continue;
      }
      if (n < 0) {
        if (errno == ENODATA) break;  // removed meanwhile
        return PosixError("read attribute " + name + " of", path, errno);
      }
      out.push_back(
          Xattr{name, std::string(buf.data(), static_cast<size_t>(n))});
      break;
    }
  }
  std::sort(out.begin(), out.end(),
            [](const Xattr& a, const Xattr& b) { return a.name < b.name; });
  return out;
}

Status WriteAll(Target& t, const RelPath& path, const XattrList& want,
                bool xattr_scope, bool acl_scope, bool list_existing) {
  if (!g_have_xattrat.load(std::memory_order_relaxed))
    FERRY_RETURN_IF_ERROR(t.Prepare(path));
  if (list_existing) {
    FERRY_ASSIGN_OR_RETURN(std::vector<std::string> have, ListNames(t, path));
    for (const std::string& name : have) {
      if (!XattrWanted(name, xattr_scope, acl_scope)) continue;
      bool wanted = std::any_of(want.begin(), want.end(),
                                [&](const Xattr& x) { return x.name == name; });
      if (!wanted && t.Remove(name.c_str()) != 0 && errno != ENODATA) {
        return PosixError("remove attribute " + name + " of", path, errno);
      }
    }
  }
  for (const Xattr& x : want) {
    if (t.Set(x.name.c_str(), x.value) != 0) {
      if (errno == ENOSYS) {
        FERRY_RETURN_IF_ERROR(t.Prepare(path));
        if (t.Set(x.name.c_str(), x.value) == 0) continue;
      }
      return PosixError("set attribute " + x.name + " of", path, errno);
    }
  }
  return Status::Ok();
}

}  // namespace

Result<XattrList> ReadXattrs(int fd, const RelPath& path) {
  Target t(fd);
  return ReadAll(t, path);
}

Result<XattrList> ReadXattrsAt(int dirfd, const char* name,
                               const RelPath& path) {
  Target t(dirfd, name);
  return ReadAll(t, path);
}

Status WriteXattrs(int fd, const RelPath& path, const XattrList& want,
                   bool xattr_scope, bool acl_scope, bool list_existing) {
  Target t(fd);
  return WriteAll(t, path, want, xattr_scope, acl_scope, list_existing);
}

Status WriteXattrsAt(int dirfd, const char* name, const RelPath& path,
                     const XattrList& want, bool xattr_scope, bool acl_scope) {
  Target t(dirfd, name);
  return WriteAll(t, path, want, xattr_scope, acl_scope, true);
}

}  // namespace ferry::posix
