#include "ferry/storage/posix/posix_backend.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "ferry/storage/posix/posix_internal.h"
#include "ferry/storage/staging.h"

namespace ferry {
namespace {

using posix::Fd;
using posix::Root;
using posix::SharedFd;

constexpr size_t kListBatch = 1024;

class PosixLister : public Lister {
 public:
  PosixLister(RelPath dir, DIR* stream, bool keep_link_atimes,
              bool flag_staging)
      : dir_(std::move(dir)),
        stream_(stream),
        keep_link_atimes_(keep_link_atimes),
        flag_staging_(flag_staging) {}
  ~PosixLister() override {
    if (stream_) ::closedir(stream_);
  }

  Result<bool> NextBatch(std::vector<Entry>* out) override {
    if (!stream_) return false;
    int dfd = ::dirfd(stream_);
    size_t added = 0;
    while (added < kListBatch) {
      errno = 0;
      struct dirent* de = ::readdir(stream_);
      if (de == nullptr) {
        if (errno != 0) return PosixError("list", dir_, errno);
        ::closedir(stream_);
        stream_ = nullptr;
        break;
      }
      const char* name = de->d_name;
      if (name[0] == '.' &&
          (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'))) {
        continue;
      }
      struct stat st;
      if (::fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) continue;  // removed since readdir
        return PosixError("stat", dir_.Child(name), errno);
      }
      Entry e;
      e.path = dir_.Child(name);
      posix::FillEntryFromStat(st, &e);
      if (flag_staging_ && IsFerryTempName(name)) e.flags |= Entry::kStaging;
      if (e.kind == EntryKind::kSymlink) {
        Status s =
            posix::ReadLinkTarget(dfd, name, e.path, &e, keep_link_atimes_);
        if (!s.ok()) {
          if (s.IsNotFound()) continue;
          return s;
        }
      }
      out->push_back(std::move(e));
      ++added;
    }
    return added > 0 || stream_ != nullptr;
  }

 private:
  RelPath dir_;
  DIR* stream_;
  bool keep_link_atimes_;
  bool flag_staging_;
};

class PosixReader : public Reader {
 public:
  PosixReader(Fd fd, Entry entry)
      : fd_(std::move(fd)), entry_(std::move(entry)) {}

  const Entry& entry() const override { return entry_; }

  Result<size_t> ReadAt(uint64_t offset, std::span<std::byte> out) override {
    size_t done = 0;
    while (done < out.size()) {
      ssize_t n = ::pread(fd_.get(), out.data() + done, out.size() - done,
                          static_cast<off_t>(offset + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return PosixError("read", entry_.path, errno);
      }
      if (n == 0) break;
      done += static_cast<size_t>(n);
    }
    return done;
  }

  Result<Extent> NextData(uint64_t offset) override {
    off_t data = ::lseek(fd_.get(), static_cast<off_t>(offset), SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) return Extent{offset, 0};
      if (errno == EINVAL || errno == ENOTSUP) return Reader::NextData(offset);
      return PosixError("seek data in", entry_.path, errno);
    }
    off_t hole = ::lseek(fd_.get(), data, SEEK_HOLE);
    if (hole < 0) return PosixError("seek hole in", entry_.path, errno);
    return Extent{static_cast<uint64_t>(data),
                  static_cast<uint64_t>(hole - data)};
  }

  Result<XattrList> Xattrs() override {
    return posix::ReadXattrs(fd_.get(), entry_.path);
  }

  Result<Entry> Restat() override {
    struct stat st;
    if (::fstat(fd_.get(), &st) != 0)
      return PosixError("stat", entry_.path, errno);
    Entry e;
    e.path = entry_.path;
    posix::FillEntryFromStat(st, &e);
    return e;
  }

 private:
  Fd fd_;
  Entry entry_;
};

// Writes a file invisibly and publishes it whole. Where the file system has
// O_TMPFILE the data goes to an unnamed inode that linkat() names only when
// complete (nothing to clean up after a crash); otherwise to a temporary name
// (kTempPrefix...) in the same directory, renamed into place.
class PosixWriter : public StagedWriter {
 public:
  PosixWriter(std::shared_ptr<Root> root, SharedFd dir, RelPath path,
              std::string temp_name, Fd fd, WriteHints hints, Entry created)
      : root_(std::move(root)),
        dir_(std::move(dir)),
        path_(std::move(path)),
        temp_name_(std::move(temp_name)),
        fd_(std::move(fd)),
        hints_(std::move(hints)),
        created_(std::move(created)) {
    if (!temp_name_.empty()) temp_dir_ = dir_;
  }
  ~PosixWriter() override { Abort(); }

  Status WriteAt(uint64_t offset, std::span<const std::byte> data) override {
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::pwrite(fd_.get(), data.data() + done, data.size() - done,
                           static_cast<off_t>(offset + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return PosixError("write", path_, errno);
      }
      done += static_cast<size_t>(n);
    }
    return Status::Ok();
  }

  // The kernel copies the range (copy_file_range: the bytes do not pass
  // through this process, and a file system that can shares the blocks);
  // where it cannot between these two files, a read and a write per MiB.
  Status CopyFromBasis(uint64_t target_offset, const RelPath& basis,
                       uint64_t basis_offset, uint64_t length) override {
    // O_NONBLOCK: a FIFO put where the basis was must not hold the open.
    FERRY_ASSIGN_OR_RETURN(Fd in,
                           root_->OpenBeneath(basis, O_RDONLY | O_NONBLOCK));
    struct stat st;
    if (::fstat(in.get(), &st) != 0) return PosixError("stat", basis, errno);
    if (!S_ISREG(st.st_mode)) {
      return Status::FailedPrecondition(basis.Display() +
                                        " is no longer a regular file");
    }
    auto shrank = [&](uint64_t at) {
      return Status(StatusCode::kSourceChanged,
                    basis.Display() + " ends at " + std::to_string(at) +
                        ", before the bytes to copy from it");
    };
    loff_t from = static_cast<loff_t>(basis_offset);
    loff_t to = static_cast<loff_t>(target_offset);
    uint64_t left = length;
    while (left > 0) {
      const ssize_t n =
          ::copy_file_range(in.get(), &from, fd_.get(), &to, left, 0);
      if (n > 0) {
        left -= static_cast<uint64_t>(n);
        continue;
      }
      if (n == 0) return shrank(static_cast<uint64_t>(from));
      if (errno == EINTR) continue;
      if (errno != EXDEV && errno != EINVAL && errno != EOPNOTSUPP &&
          errno != ENOSYS) {
        return PosixError("copy from " + basis.Display() + " into", path_,
                          errno);
      }
      break;  // not between these files: by hand
    }
    std::vector<std::byte> buf(std::min<uint64_t>(left, kBlockSize));
    while (left > 0) {
      const size_t want = std::min<uint64_t>(buf.size(), left);
      const ssize_t n = ::pread(in.get(), buf.data(), want, from);
      if (n < 0) {
        if (errno == EINTR) continue;
        return PosixError("read", basis, errno);
      }
      if (n == 0) return shrank(static_cast<uint64_t>(from));
      FERRY_RETURN_IF_ERROR(
          WriteAt(static_cast<uint64_t>(to),
                  std::span(buf).first(static_cast<size_t>(n))));
      from += n;
      to += n;
      left -= static_cast<uint64_t>(n);
    }
    return Status::Ok();
  }

  Status Commit(const Entry& metadata, const MetadataPolicy& policy) override {
    if (finished_) return Status::Internal("writer already finished");
    if (hints_.sparse || metadata.size != hints_.size) {
      if (::ftruncate(fd_.get(), static_cast<off_t>(metadata.size)) != 0) {
        return Fail(PosixError("truncate", path_, errno));
      }
    }
    if (hints_.fsync && ::fdatasync(fd_.get()) != 0) {
      return Fail(PosixError("fsync", path_, errno));
    }
    Status st = root_->ApplyMetadata(fd_.get(), -1, nullptr, path_,
                                     EntryKind::kFile, metadata, policy,
                                     created_known_ ? &created_ : nullptr);
    if (!st.ok()) return Fail(std::move(st));
    // Publish into the folder as it is now beneath the root (not through a
    // descriptor opened earlier, which would follow the folder if it were
    // moved meanwhile).
    auto target = root_->FreshParentDir(path_);
    if (!target.ok()) return Fail(target.status());
    std::string name(path_.name());
    if (temp_name_.empty()) {
      st = LinkTmpfile((*target)->get(), name);
      if (!st.ok()) return Fail(std::move(st));
    }
    int fd = fd_.Release();
    if (::close(fd) != 0) return Fail(PosixError("close", path_, errno));
    if (!temp_name_.empty() &&
        ::renameat(temp_dir_->get(), temp_name_.c_str(), (*target)->get(),
                   name.c_str()) != 0) {
      return Fail(PosixError("rename into place", path_, errno));
    }
    finished_ = true;
    return Status::Ok();
  }

  void Abort() override {
    if (finished_) return;
    finished_ = true;
    fd_.Reset();
    if (!temp_name_.empty())
      ::unlinkat(temp_dir_->get(), temp_name_.c_str(), 0);
  }

  void set_created_known(bool known) { created_known_ = known; }

  Status SetXattrs(const XattrList& xattrs, bool xattr_scope,
                   bool acl_scope) override {
    // A new file starts with no attributes, unless its folder hands down a
    // default ACL: only then is there anything to remove.
    if (xattrs.empty() && !dir_->default_acl) return Status::Ok();
    return posix::WriteXattrs(fd_.get(), path_, xattrs, xattr_scope, acl_scope,
                              dir_->default_acl);
  }

 private:
  Status Fail(Status st) {
    Abort();
    return st;
  }

  // Gives the unnamed O_TMPFILE inode its final name in `dirfd`. If
  // something is there already, links it under a temporary name instead, for
  // rename() to swap.
  Status LinkTmpfile(int dirfd, const std::string& name) {
    if (!hints_.may_exist) {
      if (LinkAt(dirfd, name) == 0) return Status::Ok();
      if (errno != EEXIST) return PosixError("link into place", path_, errno);
    }
    std::string temp = root_->TempName();
    if (LinkAt(dirfd, temp) != 0) return PosixError("link", path_, errno);
    temp_name_ = std::move(temp);
    temp_dir_ = *root_->FreshParentDir(path_);
    return Status::Ok();
  }

  int LinkAt(int dirfd, const std::string& name) {
    char proc[64];
    std::snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd_.get());
    if (root_->empty_path_link_ok()) {
      if (::linkat(fd_.get(), "", dirfd, name.c_str(), AT_EMPTY_PATH) == 0)
        return 0;
      if (errno != ENOENT && errno != EPERM) return -1;
      // AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; /proc does the same without.
      int saved = errno;
      if (::linkat(AT_FDCWD, proc, dirfd, name.c_str(), AT_SYMLINK_FOLLOW) !=
          0) {
        if (errno == ENOENT) errno = saved;
        return -1;
      }
      root_->set_empty_path_link_ok(false);
      return 0;
    }
    return ::linkat(AT_FDCWD, proc, dirfd, name.c_str(), AT_SYMLINK_FOLLOW);
  }

  std::shared_ptr<Root> root_;
  SharedFd dir_;  // where the file was created (its owner and ACL come from it)
  RelPath path_;
  std::string temp_name_;  // empty while the file is an unnamed O_TMPFILE inode
  SharedFd temp_dir_;      // the folder holding temp_name_
  Fd fd_;
  WriteHints hints_;
  Entry created_;  // owner and mode the file was created with
  bool created_known_ = true;
  bool finished_ = false;
};

Status RemoveTreeAt(int parent_fd, const std::string& name,
                    const RelPath& path);

Status RemoveDirContents(int dir_fd, const RelPath& path) {
  int dup = ::fcntl(dir_fd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return PosixError("list", path, errno);
  DIR* stream = ::fdopendir(dup);
  if (!stream) {
    ::close(dup);
    return PosixError("list", path, errno);
  }
  std::vector<std::string> names;
  while (true) {
    errno = 0;
    struct dirent* de = ::readdir(stream);
    if (!de) break;
    const char* n = de->d_name;
    if (n[0] == '.' && (n[1] == '\0' || (n[1] == '.' && n[2] == '\0')))
      continue;
    names.emplace_back(n);
  }
  int err = errno;
  ::closedir(stream);
  if (err != 0) return PosixError("list", path, err);
  for (const std::string& n : names) {
    FERRY_RETURN_IF_ERROR(RemoveTreeAt(dir_fd, n, path.Child(n)));
  }
  return Status::Ok();
}

Status RemoveTreeAt(int parent_fd, const std::string& name,
                    const RelPath& path) {
  if (::unlinkat(parent_fd, name.c_str(), 0) == 0) return Status::Ok();
  if (errno == ENOENT) return Status::Ok();
  if (errno != EISDIR && errno != EPERM)
    return PosixError("remove", path, errno);
  int fd = ::openat(parent_fd, name.c_str(),
                    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return PosixError("open", path, errno);
  Fd dir(fd);
  FERRY_RETURN_IF_ERROR(RemoveDirContents(dir.get(), path));
  if (::unlinkat(parent_fd, name.c_str(), AT_REMOVEDIR) != 0 &&
      errno != ENOENT) {
    return PosixError("remove directory", path, errno);
  }
  return Status::Ok();
}

class PosixBackend : public Backend {
 public:
  PosixBackend(std::shared_ptr<Root> root, bool flag_staging)
      : root_(std::move(root)), flag_staging_(flag_staging) {
    caps_.symlinks = true;
    caps_.hard_links = true;
    caps_.special_files = true;
    caps_.devices = true;
    caps_.posix_mode = true;
    caps_.posix_owner = true;
    caps_.atime = true;
    caps_.mtime_granularity_ns = 1;
    caps_.sparse_files = true;
    caps_.xattrs = true;
    caps_.acls = true;
    caps_.sorted_listing = false;
    caps_.change_time = true;
    caps_.caller_uid = ::geteuid();
  }

  const Capabilities& capabilities() const override { return caps_; }
  std::string Describe() const override { return root_->path(); }

  Result<std::optional<Entry>> Stat(const RelPath& path) override {
    struct stat st;
    Entry e;
    e.path = path;
    if (path.IsRoot()) {
      if (::fstat(root_->fd(), &st) != 0)
        return PosixError("stat", path, errno);
      posix::FillEntryFromStat(st, &e);
      return std::optional<Entry>(std::move(e));
    }
    auto dir = root_->ParentDir(path);
    if (!dir.ok()) {
      if (dir.status().IsNotFound()) return std::optional<Entry>();
      return dir.status();
    }
    std::string name(path.name());
    if (::fstatat((*dir)->get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT || errno == ENOTDIR) return std::optional<Entry>();
      return PosixError("stat", path, errno);
    }
    posix::FillEntryFromStat(st, &e);
    if (e.kind == EntryKind::kSymlink) {
      FERRY_RETURN_IF_ERROR(posix::ReadLinkTarget(
          (*dir)->get(), name.c_str(), path, &e, root_->keep_link_atimes()));
    }
    return std::optional<Entry>(std::move(e));
  }

  Result<std::unique_ptr<Lister>> List(const RelPath& dir) override {
    // O_NOATIME: listing a folder should not change its access time.
    auto opened = root_->OpenBeneath(dir, O_RDONLY | O_DIRECTORY | O_NOATIME);
    if (!opened.ok() && opened.status().sys_errno() == EPERM) {
      opened = root_->OpenBeneath(dir, O_RDONLY | O_DIRECTORY);
    }
    if (!opened.ok()) return opened.status();
    Fd fd = std::move(opened).value();
    DIR* stream = ::fdopendir(fd.get());
    if (!stream) return PosixError("list", dir, errno);
    fd.Release();
    return std::unique_ptr<Lister>(
        new PosixLister(dir, stream, root_->keep_link_atimes(), flag_staging_));
  }

  Result<std::unique_ptr<Reader>> OpenRead(const RelPath& path) override {
    auto fd = root_->OpenBeneath(path, O_RDONLY | O_NONBLOCK | O_NOATIME);
    if (!fd.ok() && fd.status().sys_errno() == EPERM) {
      // O_NOATIME is only allowed on files we own.
      fd = root_->OpenBeneath(path, O_RDONLY | O_NONBLOCK);
    }
    if (!fd.ok()) return fd.status();
    struct stat st;
    if (::fstat(fd->get(), &st) != 0) return PosixError("stat", path, errno);
    if (!S_ISREG(st.st_mode)) {
      return Status::FailedPrecondition(path.Display() +
                                        " is no longer a regular file");
    }
    Entry e;
    e.path = path;
    posix::FillEntryFromStat(st, &e);
    return std::unique_ptr<Reader>(
        new PosixReader(std::move(fd).value(), std::move(e)));
  }

  Result<std::unique_ptr<StagedWriter>> OpenWrite(
      const RelPath& path, const WriteHints& hints) override {
    if (path.IsRoot())
      return Status::InvalidArgument("cannot write a file at the root");
    FERRY_ASSIGN_OR_RETURN(SharedFd dir, root_->ParentDir(path));
    posix::NewFileState state = posix::NewFileIn(*dir);
    mode_t create_mode = hints.mode ? (*hints.mode & 0777) : 0600;
    Entry created;
    created.uid = state.uid;
    created.gid = state.gid;
    created.mode = create_mode & ~posix::ProcessUmask();
    std::string temp;
    int fd = -1;
    if (root_->tmpfile_ok()) {
      fd = ::openat(dir->get(), ".", O_TMPFILE | O_WRONLY | O_CLOEXEC,
                    create_mode);
      if (fd < 0) {
        if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
          return PosixError("create", path, errno);
        }
        root_->set_tmpfile_ok(false);
      }
    }
    if (fd < 0) {
      // A named temporary file: created in the folder as it is now.
      FERRY_ASSIGN_OR_RETURN(SharedFd fresh, root_->FreshParentDir(path));
      temp = root_->TempName();
      fd = ::openat(fresh->get(), temp.c_str(),
                    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                    create_mode);
      if (fd < 0) return PosixError("create", path, errno);
      auto handle = std::make_shared<posix::DirHandle>();
      handle->fd = Fd(::fcntl(fresh->get(), F_DUPFD_CLOEXEC, 0));
      handle->gid = dir->gid;
      handle->setgid = dir->setgid;
      handle->default_acl = dir->default_acl;
      dir = std::move(handle);
    }
    auto writer = std::make_unique<PosixWriter>(root_, std::move(dir), path,
                                                std::move(temp), Fd(fd), hints,
                                                std::move(created));
    writer->set_created_known(state.mode_exact);
    return std::unique_ptr<StagedWriter>(std::move(writer));
  }

  Status MakeDirectory(const RelPath& path) override {
    if (path.IsRoot()) return Status::Ok();
    FERRY_ASSIGN_OR_RETURN(SharedFd dir, root_->FreshParentDir(path));
    std::string name(path.name());
    if (::mkdirat(dir->get(), name.c_str(), 0777) == 0) return Status::Ok();
    int err = errno;
    if (err == EEXIST) {
      struct stat st;
      if (::fstatat(dir->get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
          S_ISDIR(st.st_mode)) {
        return Status::Ok();
      }
    }
    return PosixError("create directory", path, err);
  }

  Status CreateSymlink(const RelPath& path, const Entry& src,
                       const MetadataPolicy& policy) override {
    return CreateAndRename(path, src, policy, [&](int dirfd, const char* tmp) {
      return ::symlinkat(src.link_target.c_str(), dirfd, tmp);
    });
  }

  Status CreateSpecial(const RelPath& path, const Entry& src,
                       const MetadataPolicy& policy) override {
    const std::optional<mode_t> special = SpecialFileType(src.kind);
    if (!special) return Backend::CreateSpecial(path, src, policy);
    const mode_t type = *special;
    return CreateAndRename(path, src, policy, [&](int dirfd, const char* tmp) {
      return ::mknodat(dirfd, tmp, type | 0600, static_cast<dev_t>(src.rdev));
    });
  }

  Status CreateHardLink(const RelPath& existing, const RelPath& link) override {
    FERRY_ASSIGN_OR_RETURN(SharedFd from_dir, root_->FreshParentDir(existing));
    FERRY_ASSIGN_OR_RETURN(SharedFd to_dir, root_->FreshParentDir(link));
    std::string from_name(existing.name());
    std::string to_name(link.name());
    std::string tmp = root_->TempName();
    if (::linkat(from_dir->get(), from_name.c_str(), to_dir->get(), tmp.c_str(),
                 0) != 0) {
      return PosixError("hard link", link, errno);
    }
    int rc =
        ::renameat(to_dir->get(), tmp.c_str(), to_dir->get(), to_name.c_str());
    int err = errno;
    // rename() between two names of one inode does nothing: drop the temp.
    ::unlinkat(to_dir->get(), tmp.c_str(), 0);
    if (rc != 0) return PosixError("rename into place", link, err);
    return Status::Ok();
  }

  Status SetMetadata(const RelPath& path, const Entry& src,
                     const MetadataPolicy& policy) override {
    if (path.IsRoot()) {
      return root_->ApplyMetadata(root_->fd(), -1, nullptr, path, src.kind, src,
                                  policy);
    }
    FERRY_ASSIGN_OR_RETURN(SharedFd dir, root_->FreshParentDir(path));
    std::string name(path.name());
    return root_->ApplyMetadata(-1, dir->get(), name.c_str(), path, src.kind,
                                src, policy);
  }

  Result<XattrList> GetXattrs(const RelPath& path) override {
    if (path.IsRoot()) return posix::ReadXattrs(root_->fd(), path);
    FERRY_ASSIGN_OR_RETURN(SharedFd dir, root_->ParentDir(path));
    std::string name(path.name());
    return posix::ReadXattrsAt(dir->get(), name.c_str(), path);
  }

  Status SetXattrs(const RelPath& path, const XattrList& xattrs,
                   bool xattr_scope, bool acl_scope) override {
    if (path.IsRoot()) {
      return posix::WriteXattrs(root_->fd(), path, xattrs, xattr_scope,
                                acl_scope, true);
    }
    FERRY_ASSIGN_OR_RETURN(SharedFd dir, root_->FreshParentDir(path));
    std::string name(path.name());
    return posix::WriteXattrsAt(dir->get(), name.c_str(), path, xattrs,
                                xattr_scope, acl_scope);
  }

  Status Remove(const RelPath& path) override {
    if (path.IsRoot())
      return Status::InvalidArgument("cannot remove the location root");
    FERRY_ASSIGN_OR_RETURN(SharedFd dir, root_->FreshParentDir(path));
    std::string name(path.name());
    if (::unlinkat(dir->get(), name.c_str(), 0) == 0) return Status::Ok();
    if (errno == EISDIR || errno == EPERM) {
      root_->InvalidateTree(path);
      if (::unlinkat(dir->get(), name.c_str(), AT_REMOVEDIR) == 0)
        return Status::Ok();
    }
    return PosixError("remove", path, errno);
  }

  Status RemoveTree(const RelPath& path) override {
    if (path.IsRoot())
      return Status::InvalidArgument("cannot remove the location root");
    auto dir = root_->FreshParentDir(path);
    if (!dir.ok())
      return dir.status().IsNotFound() ? Status::Ok() : dir.status();
    root_->InvalidateTree(path);
    return RemoveTreeAt((*dir)->get(), std::string(path.name()), path);
  }

  Status Sync() override {
    if (::syncfs(root_->fd()) != 0) return PosixError("sync", RelPath(), errno);
    return Status::Ok();
  }

 private:
  template <typename CreateFn>
  Status CreateAndRename(const RelPath& path, const Entry& src,
                         const MetadataPolicy& policy, CreateFn create) {
    if (path.IsRoot())
      return Status::InvalidArgument("cannot replace the location root");
    FERRY_ASSIGN_OR_RETURN(SharedFd dir, root_->FreshParentDir(path));
    std::string tmp = root_->TempName();
    if (create(dir->get(), tmp.c_str()) != 0) {
      return PosixError("create", path, errno);
    }
    Status st = root_->ApplyMetadata(-1, dir->get(), tmp.c_str(), path,
                                     src.kind, src, policy);
    if (st.ok()) {
      std::string name(path.name());
      if (::renameat(dir->get(), tmp.c_str(), dir->get(), name.c_str()) != 0) {
        st = PosixError("rename into place", path, errno);
      }
    }
    if (!st.ok()) ::unlinkat(dir->get(), tmp.c_str(), 0);
    return st;
  }

  Status CleanupStagingEntry(const Entry& staging,
                             const StagingCleanup& cleanup) override {
    return CleanupTempFile(*this, staging, cleanup);
  }

  std::shared_ptr<Root> root_;
  const bool flag_staging_;
  Capabilities caps_;
};

Status MakeDirs(const std::string& path) {
  if (path.empty()) return Status::Ok();
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return Status::Ok();
    return Status::FailedPrecondition("'" + path +
                                      "' exists and is not a directory");
  }
  size_t slash = path.find_last_of('/');
  if (slash != std::string::npos && slash > 0) {
    FERRY_RETURN_IF_ERROR(MakeDirs(path.substr(0, slash)));
  }
  if (::mkdir(path.c_str(), 0777) != 0 && errno != EEXIST) {
    return Status(
        StatusCode::kIoError,
        "cannot create directory '" + path + "': " + std::strerror(errno),
        errno);
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<Backend>> OpenPosixBackend(
    const std::string& root, const PosixBackendOptions& options) {
  std::string path = root;
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  if (path.empty()) return Status::InvalidArgument("empty location path");
  if (options.create_root) FERRY_RETURN_IF_ERROR(MakeDirs(path));
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    std::string why = err == ENOENT    ? "does not exist"
                      : err == ENOTDIR ? "is not a directory"
                                       : std::strerror(err);
    StatusCode code = err == ENOENT ? StatusCode::kNotFound
                      : (err == EACCES || err == EPERM)
                          ? StatusCode::kPermissionDenied
                          : StatusCode::kInvalidArgument;
    return Status(code, "location '" + path + "' " + why, err);
  }
  auto r = std::make_shared<posix::Root>(path, Fd(fd), options.component_walk,
                                         options.keep_link_atimes);
  return std::unique_ptr<Backend>(
      new PosixBackend(std::move(r), options.flag_staging));
}

}  // namespace ferry
