#include "ferry/nfs/nfs_backend.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/time.h>  // before libnfs.h: struct timeval
#include <unistd.h>

// clang-format off
#include <nfsc/libnfs.h>
#include <nfsc/libnfs-raw-nfs.h>
// clang-format on

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "ferry/base/retry.h"
#include "ferry/storage/file_errors.h"
#include "ferry/storage/file_system.h"
#include "ferry/storage/server_calls.h"
#include "ferry/storage/staging.h"

namespace ferry {
namespace {

// Connections (libnfs contexts, each its own mount) per location.
constexpr int kConnections = 8;
// Entries one folder may hold: libnfs reads a folder's listing whole.
constexpr size_t kMaxFolderEntries = 10'000'000;
constexpr size_t kMaxLinkTarget = 4096;
constexpr size_t kMaxName = 255;
constexpr int kTimeoutMs = 30'000;
// Folders known not to be links, per location (see Session::CheckPath).
constexpr size_t kMaxKnownFolders = 100'000;

// What libnfs's synchronous calls return when the connection fails: EFAULT
// (an RPC error: the connection was lost), EINTR (the call timed out), EIO
// (the socket failed under it), and the socket's own errors. The context
// is then discarded and the call retried on a new connection.
bool IsNetworkFault(int err) {
  switch (err) {
    case EFAULT:
    case EINTR:
    case EIO:
    case EPIPE:
    case ECONNRESET:
    case ECONNREFUSED:
    case ECONNABORTED:
    case ENOTCONN:
    case ETIMEDOUT:
    case EHOSTUNREACH:
    case ENETUNREACH:
    case EAGAIN:
      return true;
    default:
      return false;
  }
}

// Reads and writes of a range as several READs or WRITEs of the server's
// size in flight at once, on one connection.
//
// libnfs's synchronous calls cannot be used for this: a call larger than
// the server's size is split, and when one part fails the call returns
// while the others are still queued, their answers bound for the returned
// call's stack (destroying the broken connection then writes there). Here
// each request's state is on the heap, shared by the caller and the
// requests' callbacks and freed by whichever is last: libnfs calls every
// pending callback, with an error, when a connection is destroyed.
struct Pipeline {
  int outstanding = 0;             // requests whose callback has not run
  bool caller_gone = false;        // `out` may no longer be written
  std::byte* out = nullptr;        // reads: the caller's buffer
  uint64_t base = 0;               // the offset `out` starts at
  int err = 0;                     // the first failure (errno)
  std::string detail;              // libnfs's words for it
  uint64_t done = 0;               // bytes read or written
  uint64_t short_at = UINT64_MAX;  // where a read came back short (EOF)

  void Release() {
    if (--outstanding == 0 && caller_gone) delete this;
  }
};

struct PipelineRequest {
  Pipeline* pipeline;
  uint64_t offset;
  uint64_t count;
};

void OnRequestDone(int status, struct nfs_context*, void* data, void* priv) {
  auto* r = static_cast<PipelineRequest*>(priv);
  Pipeline* p = r->pipeline;
  if (status < 0) {
    if (p->err == 0) {
      p->err = -status;
      if (data != nullptr && !p->caller_gone) {
        p->detail.assign(static_cast<const char*>(data),
                         strnlen(static_cast<const char*>(data), 512));
      }
    }
  } else {
    const uint64_t n =
        std::min<uint64_t>(static_cast<uint64_t>(status), r->count);
    if (p->out != nullptr && !p->caller_gone && data != nullptr) {
      std::memcpy(p->out + (r->offset - p->base), data, n);
    }
    p->done += n;
    if (n < r->count) p->short_at = std::min(p->short_at, r->offset + n);
  }
  delete r;
  p->Release();
}

// Waits for the pipeline's requests on connection `c`. False when the
// connection failed under them (or stayed silent for `timeout_ms`).
bool Drain(struct nfs_context* c, Pipeline* p, int timeout_ms) {
  int silent_ms = 0;
  while (p->outstanding > 0) {
    struct pollfd pfd = {nfs_get_fd(c), static_cast<short>(nfs_which_events(c)),
                         0};
    const int rc = ::poll(&pfd, 1, 100);
    if (rc < 0 && errno != EINTR) return false;
    if (rc == 0) silent_ms += 100;
    // Also with no event: libnfs times requests out here.
    if (nfs_service(c, rc > 0 ? pfd.revents : 0) < 0) return false;
    if (silent_ms > timeout_ms) return false;
  }
  return true;
}

EntryKind KindOfType(uint32_t type) {
  switch (type) {
    case NF3DIR:
      return EntryKind::kDirectory;
    case NF3LNK:
      return EntryKind::kSymlink;
    case NF3BLK:
      return EntryKind::kBlockDevice;
    case NF3CHR:
      return EntryKind::kCharDevice;
    case NF3FIFO:
      return EntryKind::kFifo;
    case NF3SOCK:
      return EntryKind::kSocket;
    default:
      return EntryKind::kFile;
  }
}

Entry EntryFromStat(const RelPath& path, const struct nfs_stat_64& st) {
  Entry e;
  e.path = path;
  e.kind = KindOfMode(st.nfs_mode);
  e.mode = static_cast<uint32_t>(st.nfs_mode & 07777);
  e.uid = static_cast<uint32_t>(st.nfs_uid);
  e.gid = static_cast<uint32_t>(st.nfs_gid);
  e.nlink = static_cast<uint32_t>(st.nfs_nlink);
  e.size = e.is_file() ? st.nfs_size : 0;
  e.allocated = e.size;  // NFSv3 tells no holes
  e.mtime = FileTime{static_cast<int64_t>(st.nfs_mtime),
                     static_cast<uint32_t>(st.nfs_mtime_nsec)};
  e.atime = FileTime{static_cast<int64_t>(st.nfs_atime),
                     static_cast<uint32_t>(st.nfs_atime_nsec)};
  e.ctime = FileTime{static_cast<int64_t>(st.nfs_ctime),
                     static_cast<uint32_t>(st.nfs_ctime_nsec)};
  e.dev = st.nfs_dev;
  e.ino = st.nfs_ino;
  e.rdev = st.nfs_rdev;
  return e;
}

Entry EntryFromDirent(const RelPath& path, const struct nfsdirent& d) {
  Entry e;
  e.path = path;
  e.kind = KindOfType(d.type);
  e.mode = d.mode & 07777;
  e.uid = d.uid;
  e.gid = d.gid;
  e.nlink = d.nlink;
  e.size = e.is_file() ? d.size : 0;
  e.allocated = e.size;
  e.mtime = FileTime{d.mtime.tv_sec, d.mtime_nsec};
  e.atime = FileTime{d.atime.tv_sec, d.atime_nsec};
  e.ctime = FileTime{d.ctime.tv_sec, d.ctime_nsec};
  e.dev = d.dev;
  e.ino = d.inode;
  e.rdev = d.rdev;
  return e;
}

struct Mount {
  std::string server;       // host name or address
  int port = 0;             // of the NFS service; 0: the portmapper's
  std::string export_path;  // "/export"
  int version = 3;
};

// A new libnfs context, mounted. On failure, the errno and libnfs's words.
struct Mounted {
  struct nfs_context* ctx = nullptr;
  int err = 0;
  std::string detail;
};
Mounted MountContext(const Mount& m) {
  Mounted out;
  struct nfs_context* c = nfs_init_context();
  if (c == nullptr) {
    out.err = ENOMEM;
    out.detail = "cannot create an NFS client context";
    return out;
  }
  nfs_set_timeout(c, kTimeoutMs);
  nfs_set_autoreconnect(c, 0);  // ferry retries, on a new connection
  nfs_set_dircache(c, 0);       // other connections change the folders
  nfs_set_uid(c, static_cast<int>(::geteuid()));
  nfs_set_gid(c, static_cast<int>(::getegid()));
  if (nfs_set_version(c, m.version) != 0) {  // NFS_V3 (3) or NFS_V4 (4)
    out.err = EINVAL;
    out.detail = nfs_get_error(c);
    nfs_destroy_context(c);
    return out;
  }
  if (m.version == 4) {
    // Each context is its own NFSv4 client: one name (libnfs's default)
    // for all would make each new one expire the others' open files.
    static std::atomic<uint64_t> clients{0};
    const std::string name = "ferry-" + std::to_string(HostTag()) + "-" +
                             std::to_string(::getpid()) + "-" +
                             std::to_string(++clients);
    nfs4_set_client_name(c, name.c_str());
  }
  if (m.port != 0) {
    // libnfs takes the port only in a URL.
    std::string url = "nfs://" + m.server + m.export_path +
                      "?nfsport=" + std::to_string(m.port);
    struct nfs_url* u = nfs_parse_url_dir(c, url.c_str());
    if (u == nullptr) {
      out.err = EINVAL;
      out.detail = nfs_get_error(c);
      nfs_destroy_context(c);
      return out;
    }
    nfs_destroy_url(u);
  }
  const int rc = nfs_mount(c, m.server.c_str(), m.export_path.c_str());
  if (rc != 0) {
    out.err = -rc;
    const char* e = nfs_get_error(c);
    out.detail = e != nullptr ? e : std::strerror(-rc);
    nfs_destroy_context(c);
    return out;
  }
  out.ctx = c;
  return out;
}

// What every reader, writer and lister of one location shares: the
// connections and how to name things.
class Session {
 public:
  Session(std::string display, Mount mount, std::string base)
      : display_(std::move(display)),
        mount_(std::move(mount)),
        base_(std::move(base)) {}

  ~Session() {
    for (Slot& s : slots_) {
      if (s.ctx != nullptr) nfs_destroy_context(s.ctx);
    }
  }

  const std::string& display() const { return display_; }
  const Mount& mount() const { return mount_; }
  // The path libnfs takes (from the mounted export).
  std::string Path(const RelPath& p) const {
    if (p.IsRoot()) return base_.empty() ? "/" : base_;
    return base_ + "/" + p.str();
  }
  std::string Where(const RelPath& p) const {
    return p.IsRoot() ? display_ : display_ + p.Display();
  }

  Status Error(std::string_view op, const RelPath& path, int err,
               std::string_view detail) const {
    std::string msg = std::string(op) + " " + Where(path) + ": ";
    ErrnoMeaning m = MeaningOfErrno(err);
    if (IsNetworkFault(err)) {
      m = {StatusCode::kUnavailable, true};
    } else if (err == EINVAL || err == ENAMETOOLONG) {
      m = {StatusCode::kInvalidArgument, false};
    }
    msg +=
        detail.empty() ? std::string(std::strerror(err)) : std::string(detail);
    return Status(m.code, msg, err, m.retryable);
  }

  void SetObserver(StorageObserver* observer) { calls_.SetObserver(observer); }

  // `op` with retries (see ServerCalls).
  template <typename Op>
  auto Call(std::string_view what, const RelPath& path, Op&& op)
      -> std::invoke_result_t<Op&> {
    return calls_.Call(what, Where(path), std::forward<Op>(op));
  }

  // One connection, lent to one caller at a time.
  class Lease {
   public:
    Lease(Session* s, int index, struct nfs_context* ctx, uint64_t generation)
        : s_(s), index_(index), ctx_(ctx), generation_(generation) {}
    Lease(Lease&& o) noexcept
        : s_(std::exchange(o.s_, nullptr)),
          index_(o.index_),
          ctx_(o.ctx_),
          generation_(o.generation_),
          broken_(o.broken_) {}
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (s_ != nullptr) s_->Release(index_, broken_);
    }
    int index() const { return index_; }
    uint64_t generation() const { return generation_; }
    struct nfs_context* ctx() const {
      return ctx_;
    }

    // The failure of a call that returned `rc` (-errno), as a Status; a
    // network fault also retires this connection.
    Status Fail(std::string_view op, const RelPath& path, int rc) {
      const char* detail = nfs_get_error(ctx_);
      return Fail(op, path, rc < 0 ? -rc : EIO,
                  detail != nullptr ? detail : "");
    }
    // The same, for an errno and libnfs's words for it.
    Status Fail(std::string_view op, const RelPath& path, int err,
                std::string_view detail) {
      if (IsNetworkFault(err)) broken_ = true;
      return s_->Error(op, path, err, detail);
    }

   private:
    Session* s_;
    int index_;
    struct nfs_context* ctx_;
    uint64_t generation_;
    bool broken_ = false;
  };

  // libnfs follows symbolic links met on the way to a path. So every call
  // first makes sure that the folders above `path` (and `path` itself,
  // with `self`) are folders, not links: asked once per folder per session
  // (a folder replaced by a link later in the run is not noticed: see the
  // header). OK when one does not exist (the call then says so itself).
  Status CheckPath(Lease& lease, const RelPath& path, bool self) {
    std::vector<RelPath> chain;
    if (self && !path.IsRoot()) chain.push_back(path);
    for (RelPath p = path.Parent(); !p.IsRoot(); p = p.Parent()) {
      chain.push_back(p);
    }
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
      {
        std::lock_guard lock(folders_mu_);
        if (folders_.contains(it->str())) continue;
      }
      struct nfs_stat_64 st;
      const int rc = nfs_lstat64(lease.ctx(), Path(*it).c_str(), &st);
      if (rc == -ENOENT || rc == -ENOTDIR) return Status::Ok();
      if (rc != 0) return lease.Fail("stat", *it, rc);
      if (!S_ISDIR(st.nfs_mode)) {
        if (*it == path && self) return Status::Ok();  // said by the call
        return Status(StatusCode::kFailedPrecondition,
                      Where(*it) + " is a " +
                          std::string(EntryKindName(KindOfMode(st.nfs_mode))) +
                          ", not a folder: ferry does not go through it",
                      ENOTDIR, false);
      }
      std::lock_guard lock(folders_mu_);
      if (folders_.size() > kMaxKnownFolders) folders_.clear();
      folders_.insert(it->str());
    }
    return Status::Ok();
  }
  // After a folder is removed: asked again.
  void ForgetFolders() {
    std::lock_guard lock(folders_mu_);
    folders_.clear();
  }

  // A free connection, `prefer` if it is free (a file already open there).
  Result<Lease> Acquire(int prefer = -1) {
    std::unique_lock lock(mu_);
    while (true) {
      if (prefer >= 0 && slots_[prefer].ctx && !slots_[prefer].busy) {
        return Take(prefer);
      }
      for (int i = 0; i < kConnections; ++i) {
        if (slots_[i].ctx && !slots_[i].busy) return Take(i);
      }
      for (int i = 0; i < kConnections; ++i) {
        if (slots_[i].ctx || slots_[i].busy) continue;
        slots_[i].busy = true;
        lock.unlock();
        Mounted m = MountContext(mount_);
        lock.lock();
        if (m.ctx == nullptr) {
          slots_[i].busy = false;
          cv_.notify_all();
          return MountError(m);
        }
        slots_[i].ctx = m.ctx;
        ++slots_[i].generation;
        return Lease(this, i, m.ctx, slots_[i].generation);
      }
      cv_.wait(lock);
    }
  }

  // Connection `index` once it is free, if it still is the one of
  // `generation`; nullopt if it was replaced (or is gone).
  std::optional<Lease> AcquireIndex(int index, uint64_t generation) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !slots_[index].busy; });
    if (slots_[index].ctx == nullptr ||
        slots_[index].generation != generation) {
      return std::nullopt;
    }
    return Take(index);
  }

  // The failure to mount, as the location's (not a file's) error.
  Status MountError(const Mounted& m) const {
    const std::string msg = m.detail;
    if (IsNetworkFault(m.err) || m.err == 0) {
      return Status(StatusCode::kUnavailable,
                    display_ + ": cannot reach the NFS server " +
                        mount_.server + ": " + msg,
                    m.err, true);
    }
    if (m.err == ENOENT || m.err == ENOTDIR) {
      return Status::NotFound(display_ + ": the server " + mount_.server +
                              " has no export " + mount_.export_path + ": " +
                              msg);
    }
    if (m.err == EACCES || m.err == EPERM) {
      return Status(StatusCode::kPermissionDenied,
                    display_ + ": the server " + mount_.server +
                        " does not let this host mount " + mount_.export_path +
                        ": " + msg,
                    m.err, false);
    }
    return Status(MeaningOfErrno(m.err).code,
                  display_ + ": cannot mount " + mount_.export_path + " from " +
                      mount_.server + ": " + msg,
                  m.err, false);
  }

 private:
  struct Slot {
    struct nfs_context* ctx = nullptr;
    bool busy = false;
    uint64_t generation = 0;  // bumped by each new context in the slot
  };

  Lease Take(int i) {  // mu_ held
    slots_[i].busy = true;
    return Lease(this, i, slots_[i].ctx, slots_[i].generation);
  }

  void Release(int index, bool broken) {
    struct nfs_context* dead = nullptr;
    {
      std::lock_guard lock(mu_);
      if (broken) dead = std::exchange(slots_[index].ctx, nullptr);
      slots_[index].busy = false;
    }
    if (dead != nullptr) nfs_destroy_context(dead);
    cv_.notify_all();
  }

  const std::string display_;  // nfs://host/export/dir
  const Mount mount_;
  const std::string base_;  // the folder beneath the export: "" or "/a/b"
  ServerCalls calls_{mount_.server};

  std::mutex mu_;
  std::condition_variable cv_;
  std::array<Slot, kConnections> slots_;  // GUARDED_BY(mu_)

  std::mutex folders_mu_;
  std::unordered_set<std::string> folders_;  // GUARDED_BY(folders_mu_)
};

// The open handles of one file, at most one per connection (a handle
// belongs to the context that opened it).
class Handles {
 public:
  // `path` is opened; failures name `shown` (a temporary file's final name).
  Handles(std::shared_ptr<Session> session, RelPath path, RelPath shown,
          int flags)
      : session_(std::move(session)),
        path_(std::move(path)),
        shown_(std::move(shown)),
        flags_(flags) {}
  ~Handles() { (void)CloseAll(); }

  // A reader's file as it was opened: a handle opened later, on another
  // connection, must find the same version (by name, it may be a new file).
  void SetIdentity(const Entry& opened) { identity_ = opened; }

  // Records a handle opened on connection `lease`.
  void Adopt(const Session::Lease& lease, struct nfsfh* fh) {
    std::lock_guard lock(mu_);
    open_[lease.index()] = {fh, lease.generation()};
  }

  // fn(lease, fh) on a connection of the pool, the file opened there first
  // if need be.
  template <typename Fn>
  auto With(std::string_view what, Fn&& fn)
      -> std::invoke_result_t<Fn&, Session::Lease&, struct nfsfh*> {
    int prefer = -1;
    {
      std::lock_guard lock(mu_);
      for (int i = 0; i < kConnections && prefer < 0; ++i) {
        if (open_[i].fh != nullptr) prefer = i;
      }
    }
    FERRY_ASSIGN_OR_RETURN(Session::Lease lease, session_->Acquire(prefer));
    struct nfs_context* c = lease.ctx();
    Open stale;
    struct nfsfh* fh = nullptr;
    {
      std::lock_guard lock(mu_);
      Open& o = open_[lease.index()];
      if (o.fh != nullptr && o.generation != lease.generation()) {
        stale = std::exchange(o, Open{});
      }
      fh = o.fh;
    }
    // A handle of a retired connection: freed (its context is gone).
    if (stale.fh != nullptr) (void)nfs_close(c, stale.fh);
    if (fh == nullptr) {
      const int rc =
          nfs_open(c, session_->Path(path_).c_str(), flags_ | O_NOFOLLOW, &fh);
      if (rc != 0) return lease.Fail(what, shown_, rc);
      if (identity_) {
        struct nfs_stat_64 st;
        const int src = nfs_fstat64(c, fh, &st);
        const Entry now = EntryFromStat(path_, st);
        if (src != 0 || now.ino != identity_->ino ||
            now.size != identity_->size || now.mtime != identity_->mtime ||
            now.ctime != identity_->ctime) {
          (void)nfs_close(c, fh);
          if (src != 0 && src != -ESTALE) return lease.Fail("stat", path_, src);
          return Status(StatusCode::kSourceChanged,
                        session_->Where(path_) + " changed while being read");
        }
      }
      std::lock_guard lock(mu_);
      open_[lease.index()] = {fh, lease.generation()};
    }
    auto outcome = fn(lease, fh);
    const Status& st = retry_internal::StatusOf(outcome);
    if (!st.ok() && st.retryable()) {
      // The connection is retired with the lease, and its handle with it
      // (libnfs cannot close a handle on a broken connection and then
      // destroy the connection safely; the handle's few bytes are left).
      std::lock_guard lock(mu_);
      open_[lease.index()] = Open{};
    }
    return outcome;
  }

  // Closes every handle; the first failure is returned.
  Status CloseAll() {
    Status first;
    for (int i = 0; i < kConnections; ++i) {
      Open o;
      {
        std::lock_guard lock(mu_);
        o = open_[i];
      }
      if (o.fh == nullptr) continue;
      std::optional<Session::Lease> lease =
          session_->AcquireIndex(i, o.generation);
      {
        std::lock_guard lock(mu_);
        o = std::exchange(open_[i], Open{});
      }
      if (o.fh == nullptr) continue;
      if (!lease) {
        // Its connection was retired: close it on another (an NFSv3 handle
        // is the server's, not the connection's). With none to be had (the
        // server is gone) the handle is left: nothing can be flushed.
        if (auto other = session_->Acquire(); other.ok()) {
          (void)nfs_close(other->ctx(), o.fh);
        }
        continue;
      }
      const int rc = nfs_close(lease->ctx(), o.fh);
      if (rc != 0 && first.ok()) first = lease->Fail("close", shown_, rc);
    }
    return first;
  }

 private:
  struct Open {
    struct nfsfh* fh = nullptr;
    uint64_t generation = 0;
  };
  const std::shared_ptr<Session> session_;
  const RelPath path_;
  const RelPath shown_;
  const int flags_;
  std::optional<Entry> identity_;  // set before any concurrent use
  std::mutex mu_;
  std::array<Open, kConnections> open_{};  // GUARDED_BY(mu_)
};

// Reads `size` bytes at `offset` into `out`, or (out null) writes `in`
// there, as requests of the server's size all in flight at once (see
// Pipeline). Returns the bytes read (fewer at the end of the file).
Result<uint64_t> Pipelined(Session::Lease& lease, struct nfsfh* fh,
                           std::string_view what, const RelPath& path,
                           uint64_t offset, size_t size, std::byte* out,
                           const std::byte* in) {
  struct nfs_context* c = lease.ctx();
  const uint64_t server_max =
      out != nullptr ? nfs_get_readmax(c) : nfs_get_writemax(c);
  const uint64_t step = server_max >= 4096 ? server_max : uint64_t{1} << 20;
  auto* p = new Pipeline;
  p->out = out;
  p->base = offset;
  for (uint64_t at = 0; at < size; at += step) {
    const uint64_t n = std::min<uint64_t>(step, size - at);
    auto* r = new PipelineRequest{p, offset + at, n};
    ++p->outstanding;
    const int rc = out != nullptr ? nfs_pread_async(c, fh, offset + at, n,
                                                    OnRequestDone, r)
                                  : nfs_pwrite_async(c, fh, offset + at, n,
                                                     in + at, OnRequestDone, r);
    if (rc != 0) {  // not queued: its callback will not run
      --p->outstanding;
      delete r;
      if (p->err == 0) {
        p->err = EIO;
        const char* e = nfs_get_error(c);
        p->detail = e != nullptr ? e : "cannot queue the request";
      }
      break;
    }
  }
  if (!Drain(c, p, kTimeoutMs)) {
    // The connection goes with the lease; the callbacks it still owes run
    // then, and the last frees the pipeline.
    p->caller_gone = true;
    if (p->outstanding == 0) delete p;
    return lease.Fail(what, path, EIO, "the connection failed");
  }
  const int err = p->err;
  const std::string detail = std::move(p->detail);
  const uint64_t done = p->done;
  const uint64_t short_at = p->short_at;
  delete p;
  if (err != 0) return lease.Fail(what, path, err, detail);
  if (out != nullptr) {
    return short_at == UINT64_MAX ? done : short_at - offset;
  }
  if (done != size) {
    return lease.Fail(what, path, EIO, "the server wrote less than asked");
  }
  return done;
}

// Why a link cannot be read over NFSv4 (see ReadLink).
Status NoLinksOverV4(const Session& s, const RelPath& path) {
  return Status(StatusCode::kNotSupported,
                s.Where(path) +
                    " is a symbolic link, which ferry does not read over "
                    "NFSv4 (libnfs 4.0.0 returns link targets unterminated): "
                    "read it over version=3",
                0, false);
}

// A link's target. Not over NFSv4: libnfs 4.0.0 hands the target over
// without its terminating NUL, and strdup()s past it.
Result<std::string> ReadLink(Session& s, Session::Lease& lease,
                             const RelPath& path) {
  if (s.mount().version == 4) return NoLinksOverV4(s, path);
  char* buf = nullptr;
  const int rc = nfs_readlink2(lease.ctx(), s.Path(path).c_str(), &buf);
  if (rc != 0) return lease.Fail("read the link", path, rc);
  std::string target = buf != nullptr ? buf : "";
  std::free(buf);
  if (target.empty() || target.size() > kMaxLinkTarget) {
    return Status(StatusCode::kIoError,
                  "read the link " + s.Where(path) +
                      ": the server answered with an invalid target");
  }
  return target;
}

Result<std::optional<Entry>> StatOn(Session& s, const RelPath& path) {
  return s.Call("stat", path, [&]() -> Result<std::optional<Entry>> {
    FERRY_ASSIGN_OR_RETURN(Session::Lease lease, s.Acquire());
    Status through = s.CheckPath(lease, path, false);
    if (through.code() == StatusCode::kFailedPrecondition) {
      return std::optional<Entry>();  // nothing beneath a link
    }
    FERRY_RETURN_IF_ERROR(through);
    struct nfs_stat_64 st;
    const int rc = nfs_lstat64(lease.ctx(), s.Path(path).c_str(), &st);
    if (rc == -ENOENT || rc == -ENOTDIR) return std::optional<Entry>();
    if (rc != 0) return lease.Fail("stat", path, rc);
    Entry e = EntryFromStat(path, st);
    if (e.kind == EntryKind::kSymlink) {
      FERRY_ASSIGN_OR_RETURN(e.link_target, ReadLink(s, lease, path));
    }
    return std::optional<Entry>(std::move(e));
  });
}

// times[0] access, [1] modification, as `policy` selects (a time not kept
// becomes now).
void PolicyTimes(const Entry& src, const MetadataPolicy& policy,
                 struct timeval times[2]) {
  struct timeval now;
  ::gettimeofday(&now, nullptr);
  auto tv = [](FileTime t) {
    return timeval{static_cast<time_t>(t.sec),
                   static_cast<suseconds_t>(t.nsec / 1000)};
  };
  times[0] = policy.atime ? tv(src.atime) : now;
  times[1] = policy.mtime ? tv(src.mtime) : now;
}

Status OwnerError(Session& s, const RelPath& path, const Entry& src,
                  const MetadataPolicy& policy, const Status& st) {
  if (st.code() != StatusCode::kPermissionDenied) return st;
  std::string owner = (policy.uid ? std::to_string(src.uid) : "-") + ":" +
                      (policy.gid ? std::to_string(src.gid) : "-");
  return Status(StatusCode::kPermissionDenied,
                "set the owner of " + s.Where(path) + " to " + owner +
                    ": the server refuses (root squashed on this export? "
                    "Leave owners out with Uid and Gid NONE)",
                st.sys_errno(), false);
}

// Owner, then mode (chown clears set-id bits), then times, of what is at
// `path` (links: owner and times only, never following them).
Status SetMetadataByPath(Session& s, const RelPath& path, const Entry& src,
                         const MetadataPolicy& policy) {
  const bool link = src.kind == EntryKind::kSymlink;
  const std::string p = s.Path(path);
  // chown, chmod and utimes by name follow a link: what is there must be
  // what the caller means.
  FERRY_RETURN_IF_ERROR(s.Call("stat", path, [&]() -> Status {
    FERRY_ASSIGN_OR_RETURN(Session::Lease lease, s.Acquire());
    FERRY_RETURN_IF_ERROR(s.CheckPath(lease, path, false));
    struct nfs_stat_64 st;
    const int rc = nfs_lstat64(lease.ctx(), p.c_str(), &st);
    if (rc != 0) return lease.Fail("stat", path, rc);
    if (S_ISLNK(st.nfs_mode) != link) {
      return Status::FailedPrecondition(
          s.Where(path) + " is a " +
          std::string(EntryKindName(KindOfMode(st.nfs_mode))) + ", not a " +
          std::string(EntryKindName(src.kind)));
    }
    return Status::Ok();
  }));
  if (policy.uid || policy.gid) {
    Status st = s.Call("set the owner of", path, [&]() -> Status {
      FERRY_ASSIGN_OR_RETURN(Session::Lease lease, s.Acquire());
      const int uid = policy.uid ? static_cast<int>(src.uid) : -1;
      const int gid = policy.gid ? static_cast<int>(src.gid) : -1;
      const int rc = link ? nfs_lchown(lease.ctx(), p.c_str(), uid, gid)
                          : nfs_chown(lease.ctx(), p.c_str(), uid, gid);
      if (rc != 0) return lease.Fail("set the owner of", path, rc);
      return Status::Ok();
    });
    if (!st.ok()) return OwnerError(s, path, src, policy, st);
  }
  if (policy.mode && !link) {
    FERRY_RETURN_IF_ERROR(s.Call("set the mode of", path, [&]() -> Status {
      FERRY_ASSIGN_OR_RETURN(Session::Lease lease, s.Acquire());
      const int rc =
          nfs_chmod(lease.ctx(), p.c_str(), static_cast<int>(src.mode & 07777));
      if (rc != 0) return lease.Fail("set the mode of", path, rc);
      return Status::Ok();
    }));
  }
  if ((policy.mtime || policy.atime) && !link) {
    struct timeval times[2];
    PolicyTimes(src, policy, times);
    FERRY_RETURN_IF_ERROR(s.Call("set the times of", path, [&]() -> Status {
      FERRY_ASSIGN_OR_RETURN(Session::Lease lease, s.Acquire());
      const int rc = nfs_utimes(lease.ctx(), p.c_str(), times);
      if (rc != 0) return lease.Fail("set the times of", path, rc);
      return Status::Ok();
    }));
  }
  return Status::Ok();
}

// Renames `temp` over `path` (replacing a file or link there atomically).
Status RenameInto(Session& s, const RelPath& temp, const RelPath& path) {
  return s.Call("rename into", path, [&]() -> Status {
    FERRY_ASSIGN_OR_RETURN(Session::Lease lease, s.Acquire());
    FERRY_RETURN_IF_ERROR(s.CheckPath(lease, path, false));
    const int rc =
        nfs_rename(lease.ctx(), s.Path(temp).c_str(), s.Path(path).c_str());
    if (rc == -EISDIR || rc == -ENOTEMPTY || rc == -EEXIST) {
      return Status(StatusCode::kFailedPrecondition,
                    s.Where(path) + " is a folder: a file cannot replace it",
                    -rc, false);
    }
    if (rc != 0) return lease.Fail("rename into", path, rc);
    return Status::Ok();
  });
}

// Removes `path` if it is there (a temporary name after a failure).
void RemoveQuietly(Session& s, const RelPath& path) {
  (void)s.Call("remove", path, [&]() -> Status {
    FERRY_ASSIGN_OR_RETURN(Session::Lease lease, s.Acquire());
    const int rc = nfs_unlink(lease.ctx(), s.Path(path).c_str());
    if (rc != 0 && rc != -ENOENT) return lease.Fail("remove", path, rc);
    return Status::Ok();
  });
}

Status CheckName(const Session& s, const RelPath& path) {
  if (path.IsRoot()) {
    return Status::InvalidArgument(s.Where(path) + " is the location root");
  }
  if (path.name().size() > kMaxName) {
    return Status::InvalidArgument(s.Where(path) +
                                   ": a name of more than 255 bytes");
  }
  return Status::Ok();
}

class NfsReader : public Reader {
 public:
  NfsReader(std::shared_ptr<Session> session, Entry entry,
            std::unique_ptr<Handles> handles)
      : session_(std::move(session)),
        entry_(std::move(entry)),
        handles_(std::move(handles)) {}

  const Entry& entry() const override { return entry_; }

  Result<size_t> ReadAt(uint64_t offset, std::span<std::byte> out) override {
    if (out.empty()) return size_t{0};
    return session_->Call("read", entry_.path, [&]() -> Result<size_t> {
      return handles_->With(
          "read",
          [&](Session::Lease& lease, struct nfsfh* fh) -> Result<size_t> {
            Result<uint64_t> n =
                Pipelined(lease, fh, "read", entry_.path, offset, out.size(),
                          out.data(), nullptr);
            if (!n.ok() && n.status().sys_errno() == ESTALE) {
              // The version opened is gone (replaced or removed).
              return Status(
                  StatusCode::kSourceChanged,
                  session_->Where(entry_.path) + " changed while being read");
            }
            FERRY_RETURN_IF_ERROR(n.status());
            return static_cast<size_t>(*n);
          });
    });
  }

  // Through the open handle (one GETATTR).
  Result<Entry> Restat() override {
    Result<Entry> now =
        session_->Call("stat", entry_.path, [&]() -> Result<Entry> {
          return handles_->With(
              "stat",
              [&](Session::Lease& lease, struct nfsfh* fh) -> Result<Entry> {
                struct nfs_stat_64 st;
                const int rc = nfs_fstat64(lease.ctx(), fh, &st);
                if (rc == -ESTALE) {
                  return Status(StatusCode::kSourceChanged,
                                session_->Where(entry_.path) + " is gone");
                }
                if (rc != 0) return lease.Fail("stat", entry_.path, rc);
                return EntryFromStat(entry_.path, st);
              });
        });
    if (now.ok() || now.status().code() != StatusCode::kSourceChanged) {
      return now;
    }
    // The version opened is gone: what is there now, by name.
    FERRY_ASSIGN_OR_RETURN(std::optional<Entry> there,
                           StatOn(*session_, entry_.path));
    if (!there || !there->is_file()) {
      return Status(
          StatusCode::kSourceChanged,
          session_->Where(entry_.path) + " was removed while being read");
    }
    return *std::move(there);
  }

 private:
  const std::shared_ptr<Session> session_;
  const Entry entry_;
  std::unique_ptr<Handles> handles_;
};

class NfsWriter : public StagedWriter {
 public:
  NfsWriter(std::shared_ptr<Session> session, RelPath path, RelPath temp,
            std::unique_ptr<Handles> handles, uint32_t created_mode)
      : session_(std::move(session)),
        path_(std::move(path)),
        temp_(std::move(temp)),
        handles_(std::move(handles)),
        created_mode_(created_mode) {}

  ~NfsWriter() override { Abort(); }

  Status WriteAt(uint64_t offset, std::span<const std::byte> data) override {
    if (done_) return Finished();
    if (data.empty()) return Status::Ok();
    FERRY_RETURN_IF_ERROR(session_->Call("write", path_, [&]() -> Status {
      return handles_->With(
          "write", [&](Session::Lease& lease, struct nfsfh* fh) -> Status {
            return Pipelined(lease, fh, "write", path_, offset, data.size(),
                             nullptr, data.data())
                .status();
          });
    }));
    const uint64_t end = offset + data.size();
    uint64_t seen = end_.load();
    while (seen < end && !end_.compare_exchange_weak(seen, end)) {
    }
    return Status::Ok();
  }

  Status Commit(const Entry& metadata, const MetadataPolicy& policy) override {
    if (done_) return Finished();
    Status st = Publish(metadata, policy);
    if (!st.ok()) {
      Abort();
      return st;
    }
    done_ = true;
    return Status::Ok();
  }

  void Abort() override {
    if (done_.exchange(true)) return;
    (void)handles_->CloseAll();
    RemoveQuietly(*session_, temp_);
  }

 private:
  Status Finished() const {
    return Status::FailedPrecondition("the write of " + session_->Where(path_) +
                                      " was already committed or aborted");
  }

  // Size, owner and mode through a handle (no path lookups), times by
  // name after the last write, then the rename.
  Status Publish(const Entry& metadata, const MetadataPolicy& policy) {
    Session& s = *session_;
    auto on_handle = [&](std::string_view what, auto&& fn) -> Status {
      return s.Call(what, path_, [&]() -> Status {
        return handles_->With(
            what, [&](Session::Lease& lease, struct nfsfh* fh) -> Status {
              const int rc = fn(lease.ctx(), fh);
              if (rc != 0) return lease.Fail(what, path_, rc);
              return Status::Ok();
            });
      });
    };
    if (end_.load() != metadata.size) {
      FERRY_RETURN_IF_ERROR(
          on_handle("truncate", [&](struct nfs_context* c, struct nfsfh* fh) {
            return nfs_ftruncate(c, fh, metadata.size);
          }));
    }
    bool chowned = false;
    if (policy.uid || policy.gid) {
      Status st = on_handle(
          "set the owner of", [&](struct nfs_context* c, struct nfsfh* fh) {
            return nfs_fchown(c, fh,
                              policy.uid ? static_cast<int>(metadata.uid) : -1,
                              policy.gid ? static_cast<int>(metadata.gid) : -1);
          });
      if (st.ok()) {
        // A squashed root's chown to root is answered OK and changes
        // nothing: what the file says is what counts.
        st = on_handle(
            "set the owner of", [&](struct nfs_context* c, struct nfsfh* fh) {
              struct nfs_stat_64 now;
              const int rc = nfs_fstat64(c, fh, &now);
              if (rc != 0) return rc;
              const bool kept = (!policy.uid || now.nfs_uid == metadata.uid) &&
                                (!policy.gid || now.nfs_gid == metadata.gid);
              return kept ? 0 : -EPERM;
            });
      }
      if (!st.ok()) return OwnerError(s, path_, metadata, policy, st);
      chowned = true;
    }
    const uint32_t mode =
        policy.mode ? (metadata.mode & 07777) : (0666 & ~ProcessUmask());
    if (mode != created_mode_ || (chowned && (mode & (S_ISUID | S_ISGID)))) {
      FERRY_RETURN_IF_ERROR(on_handle(
          "set the mode of", [&](struct nfs_context* c, struct nfsfh* fh) {
            return nfs_fchmod(c, fh, static_cast<int>(mode));
          }));
    }
    FERRY_RETURN_IF_ERROR(handles_->CloseAll());
    if (policy.mtime || policy.atime) {
      struct timeval times[2];
      PolicyTimes(metadata, policy, times);
      FERRY_RETURN_IF_ERROR(s.Call("set the times of", path_, [&]() -> Status {
        FERRY_ASSIGN_OR_RETURN(Session::Lease lease, s.Acquire());
        const int rc = nfs_utimes(lease.ctx(), s.Path(temp_).c_str(), times);
        if (rc != 0) return lease.Fail("set the times of", path_, rc);
        return Status::Ok();
      }));
    }
    return RenameInto(s, temp_, path_);
  }

  const std::shared_ptr<Session> session_;
  const RelPath path_;
  const RelPath temp_;
  std::unique_ptr<Handles> handles_;
  const uint32_t created_mode_;
  std::atomic<uint64_t> end_{0};
  std::atomic<bool> done_{false};
};

class NfsBackend : public Backend {
 public:
  NfsBackend(std::shared_ptr<Session> session, bool flag_staging)
      : session_(std::move(session)), flag_staging_(flag_staging) {
    caps_.symlinks = true;
    // libnfs 4.0.0's lutimes answers success and the link keeps the time
    // the server gave it (with NFS-Ganesha's VFS): not set, not compared.
    caps_.symlink_times = false;
    caps_.hard_links = true;
    caps_.special_files = true;
    caps_.devices = true;
    caps_.posix_mode = true;
    caps_.posix_owner = true;
    caps_.atime = true;
    caps_.mtime_granularity_ns = 1000;  // set as timevals
    caps_.change_time = true;
    caps_.settable_mtime = true;
    // The server checks permissions against the uid ferry sends: its own.
    caps_.caller_uid = static_cast<int64_t>(::geteuid());
    caps_.io_concurrency = kConnections;
    // Four of the server's usual 1 MiB READs in flight per call.
    caps_.read_size_preferred = 4 << 20;
  }

  void SetObserver(StorageObserver* observer) override {
    session_->SetObserver(observer);
  }
  const Capabilities& capabilities() const override { return caps_; }
  std::string Describe() const override { return session_->display(); }
  // The server's clock is not known.
  std::optional<std::chrono::nanoseconds> ClockOffset() const override {
    return std::nullopt;
  }

  Result<std::optional<Entry>> Stat(const RelPath& path) override {
    return StatOn(*session_, path);
  }

  Result<std::unique_ptr<Lister>> List(const RelPath& dir) override {
    Session& s = *session_;
    FERRY_ASSIGN_OR_RETURN(
        std::vector<Entry> entries,
        s.Call("list", dir, [&]() -> Result<std::vector<Entry>> {
          FERRY_ASSIGN_OR_RETURN(Session::Lease lease, s.Acquire());
          FERRY_RETURN_IF_ERROR(s.CheckPath(lease, dir, false));
          if (!dir.IsRoot()) {
            // opendir follows a link: a link is not a folder here.
            struct nfs_stat_64 st;
            const int rc = nfs_lstat64(lease.ctx(), s.Path(dir).c_str(), &st);
            if (rc != 0) return lease.Fail("list", dir, rc);
            if (!S_ISDIR(st.nfs_mode)) {
              return s.Error("list", dir, ENOTDIR, "");
            }
          }
          struct nfsdir* d = nullptr;
          const int rc = nfs_opendir(lease.ctx(), s.Path(dir).c_str(), &d);
          if (rc != 0) return lease.Fail("list", dir, rc);
          std::vector<Entry> out;
          Status st;
          while (struct nfsdirent* de = nfs_readdir(lease.ctx(), d)) {
            if (de->name == nullptr) continue;
            std::string_view name = de->name;
            if (name == "." || name == "..") continue;
            if (name.empty() || name.size() > kMaxName ||
                name.find('/') != std::string_view::npos ||
                name.find('\0') != std::string_view::npos) {
              st = Status(StatusCode::kIoError,
                          "list " + s.Where(dir) +
                              ": the server answered with an invalid name");
              break;
            }
            if (out.size() >= kMaxFolderEntries) {
              st = Status(StatusCode::kResourceExhausted,
                          "list " + s.Where(dir) + ": more than " +
                              std::to_string(kMaxFolderEntries) + " entries");
              break;
            }
            Entry e = EntryFromDirent(dir.Child(name), *de);
            if (e.kind == EntryKind::kSymlink && s.mount().version == 4) {
              // Unreadable here (see ReadLink): listed as what a listing
              // cannot tell apart from a file, which fails alone, saying
              // why, when it is opened.
              e.kind = EntryKind::kFile;
              e.flags |= Entry::kPartial;
              e.size = de->size;
            }
            if (flag_staging_ && IsFerryTempName(name)) {
              e.flags |= Entry::kStaging;
            }
            out.push_back(std::move(e));
          }
          nfs_closedir(lease.ctx(), d);
          if (!st.ok()) return st;
          for (Entry& e : out) {
            if (e.kind != EntryKind::kSymlink) continue;  // v3 only
            FERRY_ASSIGN_OR_RETURN(e.link_target, ReadLink(s, lease, e.path));
          }
          return out;
        }));
    return std::unique_ptr<Lister>(new VectorLister(std::move(entries)));
  }

  Result<std::unique_ptr<Reader>> OpenRead(const RelPath& path) override {
    Session& s = *session_;
    auto handles = std::make_unique<Handles>(session_, path, path, O_RDONLY);
    FERRY_ASSIGN_OR_RETURN(
        Entry entry, s.Call("open", path, [&]() -> Result<Entry> {
          FERRY_ASSIGN_OR_RETURN(Session::Lease lease, s.Acquire());
          FERRY_RETURN_IF_ERROR(s.CheckPath(lease, path, false));
          struct nfsfh* fh = nullptr;
          const int rc = nfs_open(lease.ctx(), s.Path(path).c_str(),
                                  O_RDONLY | O_NOFOLLOW, &fh);
          if (rc == -ELOOP || rc == -EMLINK) {
            if (s.mount().version == 4) return NoLinksOverV4(s, path);
            return Status::FailedPrecondition(s.Where(path) +
                                              " is a link, not a file");
          }
          if (rc != 0) return lease.Fail("open", path, rc);
          struct nfs_stat_64 st;
          const int src = nfs_fstat64(lease.ctx(), fh, &st);
          if (src != 0) {
            Status err = lease.Fail("stat", path, src);
            (void)nfs_close(lease.ctx(), fh);
            return err;
          }
          if (!S_ISREG(st.nfs_mode)) {
            (void)nfs_close(lease.ctx(), fh);
            return Status::FailedPrecondition(
                s.Where(path) + " is a " +
                std::string(EntryKindName(KindOfMode(st.nfs_mode))) +
                ", not a file");
          }
          handles->Adopt(lease, fh);
          return EntryFromStat(path, st);
        }));
    handles->SetIdentity(entry);
    return std::unique_ptr<Reader>(
        new NfsReader(session_, std::move(entry), std::move(handles)));
  }

  Result<std::unique_ptr<StagedWriter>> OpenWrite(
      const RelPath& path, const WriteHints& hints) override {
    Session& s = *session_;
    FERRY_RETURN_IF_ERROR(CheckName(s, path));
    const RelPath temp = path.Parent().Child(NewTempName());
    // Created owner-only, or with the mode Commit will give it.
    const uint32_t mode = hints.mode ? (*hints.mode & 0777) : 0600;
    auto handles = std::make_unique<Handles>(session_, temp, path, O_WRONLY);
    FERRY_RETURN_IF_ERROR(s.Call("create", path, [&]() -> Status {
      FERRY_ASSIGN_OR_RETURN(Session::Lease lease, s.Acquire());
      FERRY_RETURN_IF_ERROR(s.CheckPath(lease, temp, false));
      struct nfsfh* fh = nullptr;
      // After a lost answer, the retry finds its own file: take it over.
      const int rc =
          nfs_open2(lease.ctx(), s.Path(temp).c_str(),
                    O_CREAT | O_WRONLY | O_TRUNC, static_cast<int>(mode), &fh);
      if (rc != 0) return lease.Fail("create", path, rc);
      handles->Adopt(lease, fh);
      return Status::Ok();
    }));
    return std::unique_ptr<StagedWriter>(
        new NfsWriter(session_, path, temp, std::move(handles), mode));
  }

  Status MakeDirectory(const RelPath& path) override {
    Session& s = *session_;
    if (path.IsRoot()) return Status::Ok();
    FERRY_RETURN_IF_ERROR(CheckName(s, path));
    Status st = s.Call("create the folder", path, [&]() -> Status {
      FERRY_ASSIGN_OR_RETURN(Session::Lease lease, s.Acquire());
      FERRY_RETURN_IF_ERROR(s.CheckPath(lease, path, false));
      const int rc = nfs_mkdir2(lease.ctx(), s.Path(path).c_str(),
                                static_cast<int>(0777 & ~ProcessUmask()));
      if (rc != 0) return lease.Fail("create the folder", path, rc);
      return Status::Ok();
    });
    if (st.code() != StatusCode::kAlreadyExists) return st;
    FERRY_ASSIGN_OR_RETURN(std::optional<Entry> there, Stat(path));
    if (there && there->is_dir()) return Status::Ok();
    return Status::AlreadyExists(s.Where(path) + " exists and is not a folder");
  }

  Status CreateSymlink(const RelPath& path, const Entry& src,
                       const MetadataPolicy& policy) override {
    Session& s = *session_;
    FERRY_RETURN_IF_ERROR(CheckName(s, path));
    if (src.link_target.empty() || src.link_target.size() > kMaxLinkTarget) {
      return Status::InvalidArgument(s.Where(path) +
                                     ": a link target of 1 to 4096 bytes");
    }
    return ViaTemp(path, src, policy,
                   [&](Session::Lease& lease, const RelPath& temp) -> Status {
                     const int rc =
                         nfs_symlink(lease.ctx(), src.link_target.c_str(),
                                     s.Path(temp).c_str());
                     if (rc != 0)
                       return lease.Fail("create the link", path, rc);
                     return Status::Ok();
                   });
  }

  Status CreateSpecial(const RelPath& path, const Entry& src,
                       const MetadataPolicy& policy) override {
    Session& s = *session_;
    FERRY_RETURN_IF_ERROR(CheckName(s, path));
    const std::optional<mode_t> type = SpecialFileType(src.kind);
    if (!type) {
      return Status::InvalidArgument(s.Where(path) +
                                     ": not a FIFO, socket or device");
    }
    return ViaTemp(path, src, policy,
                   [&](Session::Lease& lease, const RelPath& temp) -> Status {
                     const int rc =
                         nfs_mknod(lease.ctx(), s.Path(temp).c_str(),
                                   static_cast<int>(*type | (src.mode & 07777)),
                                   static_cast<int>(src.rdev));
                     if (rc != 0) return lease.Fail("create", path, rc);
                     return Status::Ok();
                   });
  }

  Status CreateHardLink(const RelPath& existing, const RelPath& link) override {
    Session& s = *session_;
    FERRY_RETURN_IF_ERROR(CheckName(s, link));
    const RelPath temp = link.Parent().Child(NewTempName());
    Status st = s.Call("link", link, [&]() -> Status {
      FERRY_ASSIGN_OR_RETURN(Session::Lease lease, s.Acquire());
      FERRY_RETURN_IF_ERROR(s.CheckPath(lease, existing, false));
      FERRY_RETURN_IF_ERROR(s.CheckPath(lease, temp, false));
      const int rc =
          nfs_link(lease.ctx(), s.Path(existing).c_str(), s.Path(temp).c_str());
      if (rc == -EEXIST) return Status::Ok();  // a retry after a lost answer
      if (rc != 0) return lease.Fail("link", link, rc);
      return Status::Ok();
    });
    if (st.ok()) st = RenameInto(s, temp, link);
    if (!st.ok()) RemoveQuietly(s, temp);
    return st;
  }

  Status SetMetadata(const RelPath& path, const Entry& src,
                     const MetadataPolicy& policy) override {
    return SetMetadataByPath(*session_, path, src, policy);
  }

  Status Remove(const RelPath& path) override {
    Session& s = *session_;
    if (path.IsRoot()) {
      return Status::InvalidArgument("cannot remove the location root " +
                                     s.Where(path));
    }
    return s.Call("remove", path, [&]() -> Status {
      FERRY_ASSIGN_OR_RETURN(Session::Lease lease, s.Acquire());
      FERRY_RETURN_IF_ERROR(s.CheckPath(lease, path, false));
      const std::string p = s.Path(path);
      struct nfs_stat_64 st;
      int rc = nfs_lstat64(lease.ctx(), p.c_str(), &st);
      if (rc != 0) return lease.Fail("remove", path, rc);
      if (S_ISDIR(st.nfs_mode)) {
        rc = nfs_rmdir(lease.ctx(), p.c_str());
        s.ForgetFolders();
      } else {
        rc = nfs_unlink(lease.ctx(), p.c_str());
      }
      if (rc != 0) return lease.Fail("remove", path, rc);
      return Status::Ok();
    });
  }

  Status CleanupStagingEntry(const Entry& staging,
                             const StagingCleanup& cleanup) override {
    return CleanupTempFile(*this, staging, cleanup);
  }

 private:
  // make(lease, temp) creates the item under a temporary name; it gets its
  // metadata there and is renamed over `path`.
  template <typename Make>
  Status ViaTemp(const RelPath& path, const Entry& src,
                 const MetadataPolicy& policy, Make&& make) {
    Session& s = *session_;
    const RelPath temp = path.Parent().Child(NewTempName());
    Status st = s.Call("create", path, [&]() -> Status {
      FERRY_ASSIGN_OR_RETURN(Session::Lease lease, s.Acquire());
      FERRY_RETURN_IF_ERROR(s.CheckPath(lease, temp, false));
      Status made = make(lease, temp);
      if (made.sys_errno() == EEXIST) return Status::Ok();  // a lost answer
      return made;
    });
    if (st.ok()) {
      st = SetMetadataByPath(s, temp, src, policy);
      if (!st.ok()) {
        // Named after the item, not its temporary name.
        st = Status(st.code(),
                    "give " + s.Where(path) +
                        " its metadata: " + std::string(st.message()),
                    st.sys_errno(), false);
      }
    }
    if (st.ok()) st = RenameInto(s, temp, path);
    if (!st.ok()) RemoveQuietly(s, temp);
    return st;
  }

  const std::shared_ptr<Session> session_;
  const bool flag_staging_;
  Capabilities caps_;
};

// Splits "host[:port]"; a bracketed IPv6 literal keeps its brackets off.
Result<std::pair<std::string, int>> HostAndPort(const std::string& host) {
  std::string h = host;
  int port = 0;
  size_t colon = h.rfind(':');
  const size_t bracket = h.rfind(']');
  if (colon != std::string::npos &&
      (bracket == std::string::npos || colon > bracket)) {
    const std::string digits = h.substr(colon + 1);
    if (digits.empty() || digits.size() > 5 ||
        digits.find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(digits) == 0 || std::stoi(digits) > 65535) {
      return Status::InvalidArgument("bad port '" + digits + "'");
    }
    port = std::stoi(digits);
    h = h.substr(0, colon);
  }
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') {
    h = h.substr(1, h.size() - 2);
  }
  if (h.empty() || h.find_first_of("/@\\ ?&") != std::string::npos) {
    return Status::InvalidArgument("bad server name '" + host + "'");
  }
  return std::pair<std::string, int>{h, port};
}

}  // namespace

Result<int> NfsVersion(const std::string& version) {
  if (version.empty() || version == "AUTOMATIC" || version == "NFS3" ||
      version == "3") {
    return 3;
  }
  if (version == "NFS4_0" || version == "NFS4_1" || version == "4") return 4;
  return Status::InvalidArgument(
      "NFS version '" + version +
      "' is not one of AUTOMATIC, NFS3, NFS4_0, NFS4_1 (or 3, 4)");
}

Result<std::unique_ptr<Backend>> OpenNfsBackend(const LocationSpec& spec) {
  const std::string where = spec.Describe();
  auto hp = HostAndPort(spec.host);
  if (!hp.ok()) {
    return Status::InvalidArgument(where + ": " +
                                   std::string(hp.status().message()));
  }
  if (spec.path.empty()) {
    return Status::InvalidArgument(where +
                                   ": an NFS location needs an "
                                   "export: nfs://HOST/EXPORT[/PATH]");
  }
  auto rel = RelPath::Parse(spec.path);
  if (!rel.ok() || rel->str() != spec.path) {
    return Status::InvalidArgument(
        where + ": bad path" +
        (rel.ok() ? std::string()
                  : ": " + std::string(rel.status().message())));
  }
  auto version = NfsVersion(spec.endpoint.version);
  if (!version.ok()) {
    return Status::InvalidArgument(where + ": " +
                                   std::string(version.status().message()));
  }
  if (*version == 4 && spec.destination) {
    return Status(StatusCode::kNotSupported,
                  where +
                      ": ferry writes over NFSv3 only (libnfs 4.0.0 fails "
                      "NFSv4 writes of more than about 4 KB): use version=3 "
                      "(MountOptions.Version NFS3) for a destination",
                  0, false);
  }

  // The export: the longest leading part of the path the server mounts.
  std::vector<std::string> parts;
  for (RelPath p = *rel; !p.IsRoot(); p = p.Parent()) {
    parts.insert(parts.begin(), std::string(p.name()));
  }
  Mount mount{hp->first, hp->second, "", *version};
  Status last;
  size_t taken = 0;
  for (size_t n = parts.size(); n >= 1; --n) {
    std::string exp;
    for (size_t i = 0; i < n; ++i) exp += "/" + parts[i];
    mount.export_path = exp;
    Mounted m = MountContext(mount);
    if (m.ctx != nullptr) {
      nfs_destroy_context(m.ctx);
      taken = n;
      break;
    }
    Session probe(where, mount, "");
    last = probe.MountError(m);
    // A server that does not answer answers no shorter path either.
    // Ganesha refuses a path that is not an export with MNT3ERR_ACCES,
    // others with NOENT: both go on to the folder above.
    if (last.code() != StatusCode::kNotFound &&
        last.code() != StatusCode::kPermissionDenied) {
      return last;
    }
  }
  if (taken == 0) {
    // Ganesha answers a path it does not export as it answers a host it
    // does not serve: both are said.
    return Status(last.code() == StatusCode::kPermissionDenied
                      ? StatusCode::kPermissionDenied
                      : StatusCode::kNotFound,
                  where + ": the server " + mount.server +
                      " has no export that holds /" + spec.path +
                      ", or does not let this host mount it (" +
                      std::string(last.message()) + ")",
                  last.sys_errno(), false);
  }
  std::string base;
  for (size_t i = taken; i < parts.size(); ++i) base += "/" + parts[i];
  auto session = std::make_shared<Session>(where, mount, base);
  auto backend = std::make_unique<NfsBackend>(session, spec.destination);

  Result<std::optional<Entry>> root = backend->Stat(RelPath());
  if (!root.ok()) {
    return Status(root.status().code(),
                  where + ": " + std::string(root.status().message()));
  }
  if (!*root) {
    if (!spec.create_root) {
      return Status::NotFound(where + ": the folder '" + base.substr(1) +
                              "' does not exist in the export " +
                              mount.export_path);
    }
    // Created from the export down.
    NfsBackend top(std::make_shared<Session>(where, mount, ""), false);
    std::string sub = base.substr(1);
    auto rel_base = RelPath::Parse(sub);
    if (!rel_base.ok()) {
      return Status::InvalidArgument(where + ": bad path");
    }
    Status st = MakeDirectories(top, *rel_base);
    if (!st.ok()) {
      return Status(st.code(), where + ": " + std::string(st.message()));
    }
  } else if (!(*root)->is_dir()) {
    return Status::FailedPrecondition(
        where + " is a " + std::string(EntryKindName((*root)->kind)) +
        ", not a folder");
  }
  return std::unique_ptr<Backend>(std::move(backend));
}

void RegisterNfsBackend() {
  static std::once_flag once;
  std::call_once(once, [] { RegisterBackend("nfs", OpenNfsBackend); });
}

}  // namespace ferry
