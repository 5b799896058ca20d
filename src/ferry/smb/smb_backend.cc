#include "ferry/smb/smb_backend.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <libsmbclient.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "ferry/base/clock.h"
#include "ferry/base/percent.h"
#include "ferry/base/retry.h"
#include "ferry/base/utf8.h"
#include "ferry/smb/security_descriptor.h"
#include "ferry/storage/file_errors.h"
#include "ferry/storage/file_system.h"
#include "ferry/storage/server_calls.h"
#include "ferry/storage/staging.h"

namespace ferry {
namespace {

// Connections (libsmbclient contexts) per location: calls in flight.
constexpr int kConnections = 8;
// Entries one folder may hold: a listing is buffered whole (libsmbclient
// reads a folder's listing whole at opendir).
constexpr size_t kMaxFolderEntries = 10'000'000;
constexpr int kTimeoutMs = 30'000;
// The same for making a connection (Session::Connect).
constexpr int kConnectMs = 5'000;

// libsmbclient is thread-safe with one context per thread only once it
// has been given thread functions: without them its talloc stack frames
// and "once" guards are process-wide. Samba's own setter
// (smbc_thread_posix) is not exported by Debian's libsmbclient, but the
// function under it, smb_thread_set_functions of libsamba-util (loaded
// with libsmbclient), is: it is looked up at run time and given pthread
// mutexes and keys, as Samba's SMB_THREADS_DEF_PTHREAD_IMPLEMENTATION does.
// Should it be missing, every call into the library is serialized instead.
// The layout of Samba's struct smb_thread_functions (lib/util/smb_threads.h).
struct SmbThreadFunctions {
  int (*create_mutex)(const char* name, void** lock, const char* location);
  void (*destroy_mutex)(void* lock, const char* location);
  int (*lock_mutex)(void* lock, int lock_type, const char* location);
  int (*create_tls)(const char* name, void** key, const char* location);
  void (*destroy_tls)(void** key, const char* location);
  int (*set_tls)(void* key, const void* value, const char* location);
  void* (*get_tls)(void* key, const char* location);
};
constexpr int kSmbThreadLock = 1;  // SMB_THREAD_LOCK; 2 unlocks

int CreateMutex(const char*, void** lock, const char*) {
  auto* mu = new (std::nothrow) pthread_mutex_t;
  if (mu == nullptr) return ENOMEM;
  const int rc = pthread_mutex_init(mu, nullptr);
  if (rc != 0) {
    delete mu;
    return rc;
  }
  *lock = mu;
  return 0;
}
void DestroyMutex(void* lock, const char*) {
  auto* mu = static_cast<pthread_mutex_t*>(lock);
  if (mu == nullptr) return;
  pthread_mutex_destroy(mu);
  delete mu;
}
int LockMutex(void* lock, int lock_type, const char*) {
  auto* mu = static_cast<pthread_mutex_t*>(lock);
  return lock_type == kSmbThreadLock ? pthread_mutex_lock(mu)
                                     : pthread_mutex_unlock(mu);
}
int CreateTls(const char*, void** key, const char*) {
  auto* k = new (std::nothrow) pthread_key_t;
  if (k == nullptr) return ENOMEM;
  const int rc = pthread_key_create(k, nullptr);
  if (rc != 0) {
    delete k;
    return rc;
  }
  *key = k;
  return 0;
}
void DestroyTls(void** key, const char*) {
  auto* k = static_cast<pthread_key_t*>(*key);
  if (k == nullptr) return;
  pthread_key_delete(*k);
  delete k;
  *key = nullptr;
}
int SetTls(void* key, const void* value, const char*) {
  if (key == nullptr) return EINVAL;
  return pthread_setspecific(*static_cast<pthread_key_t*>(key), value);
}
// Samba reads a key before it first creates it (talloc_stackframe asks for
// the thread's frame, then creates the key once): nothing is stored yet.
void* GetTls(void* key, const char*) {
  if (key == nullptr) return nullptr;
  return pthread_getspecific(*static_cast<pthread_key_t*>(key));
}

// True once libsmbclient runs with thread functions (first call sets them,
// before any context exists).
bool LibraryThreadSafe() {
  static const bool safe = [] {
    using Setter = int (*)(const SmbThreadFunctions*);
    auto set = reinterpret_cast<Setter>(
        dlsym(RTLD_DEFAULT, "smb_thread_set_functions"));
    if (set == nullptr) return false;
    static const SmbThreadFunctions functions = {
        CreateMutex, DestroyMutex, LockMutex, CreateTls,
        DestroyTls,  SetTls,       GetTls};
    return set(&functions) == 0;
  }();
  return safe;
}

// DOS attributes are set with smbc_chmod, the one libsmbclient call that
// sets them and leaves the times alone (utimes clears them; the
// system.dos_attr.* attributes set every time in whole seconds). It maps
// write bits to read-only and the execute bits to archive, system and
// hidden, the last two only with the "map system" and "map hidden"
// options, which the library reads from its loaded configuration: they are
// set there, through Samba's lp_set_cmdline (libsmbconf, loaded with
// libsmbclient), after each context's set-up. nullptr when it is missing:
// then DOS attributes are not kept.
using SetParameter = bool (*)(const char* name, const char* value);
SetParameter LibraryParameterSetter() {
  static const SetParameter set =
      reinterpret_cast<SetParameter>(dlsym(RTLD_DEFAULT, "lp_set_cmdline"));
  return set;
}

// The mode smbc_chmod turns into `attributes` (see LibraryParameterSetter).
mode_t ModeOfDosAttributes(uint32_t attributes) {
  mode_t mode = 0444;
  if ((attributes & kDosReadOnly) == 0) mode |= S_IWUSR;
  if (attributes & kDosArchive) mode |= S_IXUSR;
  if (attributes & kDosSystem) mode |= S_IXGRP;
  if (attributes & kDosHidden) mode |= S_IXOTH;
  return mode;
}

// The lock of libsmbclient's process-wide state. A call on a context
// shares it; making or freeing a context holds it alone, for those write
// the library's global configuration (debug level, protocols), which every
// call reads, and the last free releases it. Without thread functions (see
// LibraryThreadSafe) every call holds it alone. Writers go first (a pool
// busy with calls still gets its next connection).
class LibraryLock {
 public:
  enum Mode { kCall, kGlobal };
  explicit LibraryLock(Mode mode) {
    // First: the thread functions go in before the library's first use.
    const bool thread_safe = LibraryThreadSafe();
    if (mode == kCall && thread_safe) {
      pthread_rwlock_rdlock(Mutex());
    } else {
      pthread_rwlock_wrlock(Mutex());
    }
  }
  ~LibraryLock() { Unlock(); }
  // Moved with the Lease that holds it (no allocation per call).
  LibraryLock(LibraryLock&& o) noexcept
      : held_(std::exchange(o.held_, false)) {}
  LibraryLock& operator=(LibraryLock&&) = delete;
  LibraryLock(const LibraryLock&) = delete;
  LibraryLock& operator=(const LibraryLock&) = delete;

  void Unlock() {
    if (std::exchange(held_, false)) pthread_rwlock_unlock(Mutex());
  }

 private:
  bool held_ = true;

  static pthread_rwlock_t* Mutex() {
    static pthread_rwlock_t* mu = [] {
      pthread_rwlockattr_t attr;
      pthread_rwlockattr_init(&attr);
      pthread_rwlockattr_setkind_np(
          &attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
      auto* m = new pthread_rwlock_t;
      pthread_rwlock_init(m, &attr);
      pthread_rwlockattr_destroy(&attr);
      return m;
    }();
    return mu;
  }
};

struct Account {
  std::string user;
  std::string password;
  std::string domain;
};

void CopyOut(const std::string& s, char* out, int len) {
  if (out == nullptr || len <= 0) return;
  const size_t n = std::min(s.size(), static_cast<size_t>(len) - 1);
  std::memcpy(out, s.data(), n);
  out[n] = '\0';
}

void Authenticate(SMBCCTX* c, const char* /*server*/, const char* /*share*/,
                  char* workgroup, int workgroup_len, char* user, int user_len,
                  char* password, int password_len) {
  const auto* account = static_cast<const Account*>(smbc_getOptionUserData(c));
  if (account == nullptr) return;
  if (!account->domain.empty()) {
    CopyOut(account->domain, workgroup, workgroup_len);
  }
  CopyOut(account->user, user, user_len);
  CopyOut(account->password, password, password_len);
}

// A path as the tail of an smb:// URL: every byte but the unreserved ones
// and '/' percent-encoded (libsmbclient decodes the URL before use).
std::string EncodeUrlPath(std::string_view s) { return PercentEncode(s, true); }

// The protocol range of DataSync's MountOptions.Version, as libsmbclient
// names the protocols; empty for AUTOMATIC (the library's own range).
Result<std::pair<std::string, std::string>> ProtocolRange(
    const std::string& version) {
  if (version.empty() || version == "AUTOMATIC") {
    return std::pair<std::string, std::string>{};
  }
  if (version == "SMB1")
    return std::pair<std::string, std::string>{"NT1", "NT1"};
  if (version == "SMB2_0") {
    return std::pair<std::string, std::string>{"SMB2_02", "SMB2_02"};
  }
  if (version == "SMB2") {
    return std::pair<std::string, std::string>{"SMB2_10", "SMB2_10"};
  }
  if (version == "SMB3") {
    return std::pair<std::string, std::string>{"SMB3_02", "SMB3_02"};
  }
  return Status::InvalidArgument("SMB version '" + version +
                                 "' is not one of AUTOMATIC, SMB1, SMB2_0, "
                                 "SMB2, SMB3");
}

// libsmbclient keeps the protocol range for the whole process: two live
// locations may not ask for different ones.
struct ProtocolClaims {
  std::mutex mu;
  std::map<std::string, int> live;  // range -> sessions holding it
};
ProtocolClaims& Claims() {
  static ProtocolClaims* c = new ProtocolClaims();
  return *c;
}

Entry EntryFromStat(const RelPath& path, const struct stat& st) {
  Entry e;
  e.path = path;
  e.kind = S_ISDIR(st.st_mode) ? EntryKind::kDirectory : EntryKind::kFile;
  e.mode = st.st_mode & 07777;
  e.size = e.is_dir() ? 0 : static_cast<uint64_t>(st.st_size);
  e.allocated = e.size;  // SMB tells no holes
  e.mtime =
      FileTime{st.st_mtim.tv_sec, static_cast<uint32_t>(st.st_mtim.tv_nsec)};
  e.atime =
      FileTime{st.st_atim.tv_sec, static_cast<uint32_t>(st.st_atim.tv_nsec)};
  // No ctime (Capabilities::change_time): Samba's "change time" is the
  // mtime, which neither attributes nor security descriptors move.
  // libsmbclient folds a file's DOS attributes into the mode it reports:
  // no owner write bit for read-only, owner/group/other execute bits for
  // archive, system and hidden (a folder's execute bits are always set).
  if (!e.is_file()) return e;
  if ((st.st_mode & S_IWUSR) == 0) e.dos_attributes |= kDosReadOnly;
  if (st.st_mode & S_IXUSR) e.dos_attributes |= kDosArchive;
  if (st.st_mode & S_IXGRP) e.dos_attributes |= kDosSystem;
  if (st.st_mode & S_IXOTH) e.dos_attributes |= kDosHidden;
  return e;
}

// What every reader, writer and lister of one location shares: the
// connections and how to name things.
class Session {
 public:
  Session(std::string display, std::string url_base, Account account,
          std::pair<std::string, std::string> protocols)
      : display_(std::move(display)),
        url_base_(std::move(url_base)),
        account_(std::move(account)),
        protocols_(std::move(protocols)) {}

  ~Session() {
    LibraryLock library(LibraryLock::kGlobal);
    for (Slot& s : slots_) {
      if (s.ctx != nullptr) smbc_free_context(s.ctx, 1);
    }
    if (claimed_) {
      std::lock_guard l(Claims().mu);
      const std::string key = protocols_.first + "-" + protocols_.second;
      if (--Claims().live[key] == 0) Claims().live.erase(key);
    }
  }

  // Claims the protocol range for the process (see ProtocolClaims).
  Status ClaimProtocols() {
    if (protocols_.first.empty()) return Status::Ok();
    std::lock_guard l(Claims().mu);
    const std::string key = protocols_.first + "-" + protocols_.second;
    for (const auto& [other, count] : Claims().live) {
      if (other != key && count > 0) {
        return Status::FailedPrecondition(
            display_ +
            ": another SMB location of this process asks for "
            "protocols " +
            other +
            ", and libsmbclient keeps one protocol range per process; give "
            "both locations the same MountOptions.Version");
      }
    }
    ++Claims().live[key];
    claimed_ = true;
    return Status::Ok();
  }

  const std::string& display() const { return display_; }
  std::string Url(const RelPath& p) const {
    return p.IsRoot() ? url_base_ : url_base_ + "/" + EncodeUrlPath(p.str());
  }
  std::string Where(const RelPath& p) const {
    return p.IsRoot() ? display_ : display_ + p.Display();
  }

  Status Error(std::string_view op, const RelPath& path, int err) const {
    std::string msg = std::string(op) + " " + Where(path) + ": ";
    ErrnoMeaning m = MeaningOfErrno(err);
    switch (err) {
      case EBUSY:  // a sharing violation
      case ETXTBSY:
        return Status(StatusCode::kPermissionDenied,
                      msg +
                          "in use by another client that denies sharing "
                          "it (" +
                          std::strerror(err) + ")",
                      err, false);
      case EINVAL:
      case ENAMETOOLONG:
        m = {StatusCode::kInvalidArgument, false};
        break;
      case EIO:  // what libsmbclient says of many a lost connection
        m = {StatusCode::kUnavailable, true};
        break;
      default:
        break;
    }
    msg += err == 0 ? "failed" : std::strerror(err);
    // A network fault: connections are made again before their next use
    // (see Connect).
    if (m.retryable) faults_.fetch_add(1);
    return Status(m.code, msg, err, m.retryable);
  }

  void SetObserver(StorageObserver* observer) { calls_.SetObserver(observer); }

  // `op` with retries (see ServerCalls).
  template <typename Op>
  auto Call(std::string_view what, const RelPath& path, Op&& op)
      -> std::invoke_result_t<Op&> {
    return calls_.Call(what, Where(path), std::forward<Op>(op));
  }

  // One connection, lent to one caller at a time, with the library's lock
  // (see LibraryLock).
  class Lease {
   public:
    Lease(Session* s, int index, SMBCCTX* ctx)
        : s_(s), index_(index), ctx_(ctx), library_(LibraryLock::kCall) {}
    Lease(Lease&& o) noexcept
        : s_(o.s_),
          index_(o.index_),
          ctx_(o.ctx_),
          library_(std::move(o.library_)) {
      o.s_ = nullptr;
    }
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (s_ != nullptr) {
        library_.Unlock();
        s_->Release(index_);
      }
    }
    int index() const { return index_; }
    SMBCCTX* ctx() const { return ctx_; }

   private:
    Session* s_;
    int index_;
    SMBCCTX* ctx_;
    LibraryLock library_;
  };

  // A free connection, `prefer` if it is free (a file already open there).
  Result<Lease> Acquire(int prefer = -1) {
    FERRY_ASSIGN_OR_RETURN(int i, Reserve(prefer));
    return Lease(this, i, slots_[i].ctx);  // ctx is set once, before use
  }

  // Connection `index` (which exists), once it is free.
  Lease AcquireIndex(int index) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return !slots_[index].busy; });
      slots_[index].busy = true;
    }
    return Lease(this, index, slots_[index].ctx);
  }

 private:
  struct Slot {
    SMBCCTX* ctx = nullptr;
    bool busy = false;
    uint64_t connected_at = 0;  // faults_ when last connected
  };

  // Marks a connection busy (made first if need be) and returns it; the
  // library's mutex is taken by the Lease, outside mu_.
  Result<int> Reserve(int prefer) {
    std::unique_lock lock(mu_);
    while (true) {
      int pick = -1;
      if (prefer >= 0 && slots_[prefer].ctx && !slots_[prefer].busy) {
        pick = prefer;
      }
      for (int i = 0; i < kConnections && pick < 0; ++i) {
        if (slots_[i].ctx && !slots_[i].busy) pick = i;
      }
      if (pick >= 0) {
        Slot& slot = slots_[pick];
        slot.busy = true;
        const uint64_t faults = faults_.load();
        if (slot.connected_at != faults) {
          // A fault since it connected: made again now, one at a time.
          lock.unlock();
          Connect(slot.ctx);
          lock.lock();
          slot.connected_at = faults;
        }
        return pick;
      }
      for (int i = 0; i < kConnections; ++i) {
        if (slots_[i].ctx || slots_[i].busy) continue;
        slots_[i].busy = true;
        const uint64_t faults = faults_.load();
        lock.unlock();
        Result<SMBCCTX*> ctx = NewContext();
        if (ctx.ok()) Connect(*ctx);
        lock.lock();
        if (!ctx.ok()) {
          slots_[i].busy = false;
          cv_.notify_all();
          return ctx.status();
        }
        slots_[i].ctx = *ctx;
        slots_[i].connected_at = faults;
        return i;
      }
      cv_.wait(lock);
    }
  }

  void Release(int index) {
    {
      std::lock_guard lock(mu_);
      slots_[index].busy = false;
    }
    cv_.notify_all();
  }

  // Makes a context's connection now (a stat of the location), one
  // connection at a time in the process: a new context's, and again after a
  // network fault. libsmbclient connects on a context's first call (and
  // reconnects on the first after a lost connection); session set-ups made
  // at once from several threads sometimes go out malformed (Samba answers
  // INVALID_BUFFER_SIZE, and the call fails with EINVAL: seen in about 1 of
  // 30 uploads of 8 large files, each written from several connections).
  // What the stat answers does not matter here: a connection that failed
  // is made again by the next call, which reports its failure. A server
  // that does not answer at all holds the others back for kConnectMs, not
  // the calls' kTimeoutMs.
  void Connect(SMBCCTX* ctx) {
    static std::mutex connecting;
    std::lock_guard one_at_a_time(connecting);
    LibraryLock library(LibraryLock::kCall);
    smbc_setTimeout(ctx, kConnectMs);
    struct stat st;
    (void)smbc_getFunctionStat(ctx)(ctx, url_base_.c_str(), &st);
    smbc_setTimeout(ctx, kTimeoutMs);
  }

  Result<SMBCCTX*> NewContext() {
    LibraryLock library(LibraryLock::kGlobal);
    SMBCCTX* ctx = smbc_new_context();
    if (ctx == nullptr) {
      return Status(StatusCode::kResourceExhausted,
                    display_ + ": cannot create an SMB client context", errno);
    }
    smbc_setDebug(ctx, 0);
    smbc_setTimeout(ctx, kTimeoutMs);
    smbc_setOptionUserData(ctx, &account_);
    smbc_setFunctionAuthDataWithContext(ctx, Authenticate);
    smbc_setOptionUseKerberos(ctx, false);
    smbc_setOptionFallbackAfterKerberos(ctx, true);
    // A wrong password must fail, not log on as a guest.
    smbc_setOptionNoAutoAnonymousLogin(ctx, true);
    // Other clients keep using what ferry reads, and one file being written
    // is open on several connections at once.
    smbc_setOptionOpenShareMode(ctx, SMBC_SHAREMODE_DENY_NONE);
    // system.dos_attr.* with a CREATE_TIME (SetDosAttributes).
    smbc_setOptionFullTimeNames(ctx, 1);
    if (smbc_init_context(ctx) == nullptr) {
      const int err = errno;
      smbc_free_context(ctx, 0);
      return Status(
          StatusCode::kInternal,
          display_ + ": cannot set up libsmbclient: " + std::strerror(err),
          err);
    }
    if (SetParameter set = LibraryParameterSetter();
        set != nullptr &&
        (!set("map hidden", "yes") || !set("map system", "yes"))) {
      smbc_free_context(ctx, 0);
      return Status(StatusCode::kInternal,
                    display_ +
                        ": cannot set up libsmbclient's attribute "
                        "mapping");
    }
    if (!protocols_.first.empty() &&
        !smbc_setOptionProtocols(ctx, protocols_.first.c_str(),
                                 protocols_.second.c_str())) {
      smbc_free_context(ctx, 0);
      return Status::InvalidArgument(
          display_ + ": libsmbclient refuses protocols " + protocols_.first);
    }
    return ctx;
  }

  const std::string display_;   // smb://host/share/path
  const std::string url_base_;  // the same, encoded for libsmbclient
  Account account_;             // read by Authenticate (through a void*)
  const std::pair<std::string, std::string> protocols_;
  bool claimed_ = false;
  ServerCalls calls_{display_};
  // Network faults seen so far (Error).
  mutable std::atomic<uint64_t> faults_{0};

  std::mutex mu_;
  std::condition_variable cv_;
  std::array<Slot, kConnections> slots_;  // GUARDED_BY(mu_)
};

// The open handles of one file, at most one per connection.
class Handles {
 public:
  Handles(std::shared_ptr<Session> session, RelPath path, std::string url,
          int flags)
      : session_(std::move(session)),
        path_(std::move(path)),
        url_(std::move(url)),
        flags_(flags) {}
  ~Handles() { (void)CloseAll(); }

  // Records a handle opened on connection `lease`.
  void Adopt(const Session::Lease& lease, SMBCFILE* file) {
    std::lock_guard lock(mu_);
    open_[lease.index()] = file;
  }

  // fn(ctx, file) on a connection of the pool, the file opened there
  // first if need be. A network fault closes that handle (the next attempt
  // opens the file again, on a new connection).
  template <typename Fn>
  auto With(Fn&& fn) -> std::invoke_result_t<Fn&, SMBCCTX*, SMBCFILE*> {
    int prefer = -1;
    {
      std::lock_guard lock(mu_);
      for (int i = 0; i < kConnections && prefer < 0; ++i) {
        if (open_[i] != nullptr) prefer = i;
      }
    }
    FERRY_ASSIGN_OR_RETURN(Session::Lease lease, session_->Acquire(prefer));
    SMBCCTX* c = lease.ctx();
    SMBCFILE* f;
    {
      std::lock_guard lock(mu_);
      f = open_[lease.index()];
    }
    if (f == nullptr) {
      f = smbc_getFunctionOpen(c)(c, url_.c_str(), flags_, 0666);
      if (f == nullptr) return session_->Error("open", path_, errno);
      std::lock_guard lock(mu_);
      open_[lease.index()] = f;
    }
    auto outcome = fn(c, f);
    const Status& st = retry_internal::StatusOf(outcome);
    if (!st.ok() && st.retryable()) {
      smbc_getFunctionClose(c)(c, f);  // frees it even when the call fails
      std::lock_guard lock(mu_);
      open_[lease.index()] = nullptr;
    }
    return outcome;
  }

  // Closes every handle; the first failure (a write the server reports at
  // close) is returned.
  Status CloseAll() {
    Status first;
    for (int i = 0; i < kConnections; ++i) {
      {
        std::lock_guard lock(mu_);
        if (open_[i] == nullptr) continue;
      }
      Session::Lease lease = session_->AcquireIndex(i);
      SMBCFILE* f;
      {
        std::lock_guard lock(mu_);
        f = std::exchange(open_[i], nullptr);
      }
      if (f == nullptr) continue;
      SMBCCTX* c = lease.ctx();
      if (smbc_getFunctionClose(c)(c, f) != 0 && first.ok()) {
        first = session_->Error("close", path_, errno);
      }
    }
    return first;
  }

 private:
  const std::shared_ptr<Session> session_;
  const RelPath path_;
  const std::string url_;
  const int flags_;
  std::mutex mu_;
  std::array<SMBCFILE*, kConnections> open_{};  // GUARDED_BY(mu_)
};

// Names an SMB server cannot hold (Windows' rules, which Samba enforces
// for its clients): refused before anything is written.
Status CheckName(const Session& s, const RelPath& path) {
  if (!IsValidUtf8(path.str())) {
    return Status::InvalidArgument(
        s.Where(path) + ": the name is not valid UTF-8, which SMB needs");
  }
  if (std::string why = WindowsNameProblem(path.name()); !why.empty()) {
    return Status::InvalidArgument(
        s.Where(path) + ": an SMB share cannot hold a name with " + why);
  }
  return Status::Ok();
}

Result<std::optional<Entry>> StatOn(Session& s, const RelPath& path) {
  return s.Call("stat", path, [&]() -> Result<std::optional<Entry>> {
    FERRY_ASSIGN_OR_RETURN(Session::Lease lease, s.Acquire());
    SMBCCTX* c = lease.ctx();
    struct stat st;
    if (smbc_getFunctionStat(c)(c, s.Url(path).c_str(), &st) != 0) {
      const int err = errno;
      if (err == ENOENT || err == ENOTDIR) return std::optional<Entry>();
      return s.Error("stat", path, err);
    }
    return std::optional<Entry>(EntryFromStat(path, st));
  });
}

// mtime and atime as `policy` selects (an atime not kept becomes now).
Status SetTimes(Session& s, const RelPath& path, const std::string& url,
                const Entry& src, const MetadataPolicy& policy) {
  if (!policy.mtime && !policy.atime) return Status::Ok();
  struct timeval now;
  ::gettimeofday(&now, nullptr);
  auto tv = [](FileTime t) {
    return timeval{static_cast<time_t>(t.sec),
                   static_cast<suseconds_t>(t.nsec / 1000)};
  };
  // [0] access, [1] modification.
  struct timeval times[2] = {policy.atime ? tv(src.atime) : now,
                             policy.mtime ? tv(src.mtime) : now};
  return s.Call("set the times of", path, [&]() -> Status {
    FERRY_ASSIGN_OR_RETURN(Session::Lease lease, s.Acquire());
    SMBCCTX* c = lease.ctx();
    if (smbc_getFunctionUtimes(c)(c, url.c_str(), times) != 0) {
      return s.Error("set the times of", path, errno);
    }
    return Status::Ok();
  });
}

// A creation time, to the second (libsmbclient sets no finer), with the
// DOS attributes left as they are (MODE 0x80). This sets the other times
// too, in whole seconds: SetTimes comes after it.
Status SetCreationTime(Session& s, const RelPath& path, const std::string& url,
                       FileTime created) {
  char value[64];
  std::snprintf(value, sizeof(value), "MODE:0x80,CREATE_TIME:%lld",
                static_cast<long long>(created.sec));
  return s.Call("set the creation time of", path, [&]() -> Status {
    FERRY_ASSIGN_OR_RETURN(Session::Lease lease, s.Acquire());
    SMBCCTX* c = lease.ctx();
    if (smbc_getFunctionSetxattr(c)(c, url.c_str(), "system.dos_attr.*", value,
                                    std::strlen(value), 0) != 0) {
      return s.Error("set the creation time of", path, errno);
    }
    return Status::Ok();
  });
}

// The DOS attributes, after SetTimes (whose utimes clears them).
Status SetDosAttributes(Session& s, const RelPath& path, const std::string& url,
                        uint32_t attributes) {
  return s.Call("set the attributes of", path, [&]() -> Status {
    FERRY_ASSIGN_OR_RETURN(Session::Lease lease, s.Acquire());
    SMBCCTX* c = lease.ctx();
    if (smbc_getFunctionChmod(c)(c, url.c_str(),
                                 ModeOfDosAttributes(attributes)) != 0) {
      return s.Error("set the attributes of", path, errno);
    }
    return Status::Ok();
  });
}

// Whether `policy` applies src's DOS attributes and creation time: only
// what is known for sure (see Entry::btime; a folder's Stat, say, would
// make it hidden and system).
bool AppliesDosAttributes(const Entry& src, const MetadataPolicy& policy) {
  return policy.dos_attributes && src.btime != FileTime{} &&
         (src.is_file() || src.is_dir());
}

// Everything `policy` selects of src's metadata, in the order that keeps
// each: creation time, times, attributes.
Status ApplyMetadata(Session& s, const RelPath& path, const std::string& url,
                     const Entry& src, const MetadataPolicy& policy) {
  const bool dos = AppliesDosAttributes(src, policy);
  if (dos) {
    FERRY_RETURN_IF_ERROR(SetCreationTime(s, path, url, src.btime));
  }
  FERRY_RETURN_IF_ERROR(SetTimes(s, path, url, src, policy));
  if (dos) {
    FERRY_RETURN_IF_ERROR(
        SetDosAttributes(s, path, url, src.dos_attributes & kDosAttributeMask));
  }
  return Status::Ok();
}

// Windows security descriptors (Capabilities::acl_model kWindows), through
// libsmbclient's system.nt_sec_desc.* attribute, which it serves over a
// second connection, to the server's IPC$ share on port 445 (whatever
// port the location names). Owner and DACL only: the group is left as
// the server makes it, and libsmbclient has no SACL.
constexpr size_t kMaxSecurityDescriptorBytes = 64 << 10;
constexpr char kNtSecDescAll[] = "system.nt_sec_desc.*";

// The owner and DACL of what is at `path`, as kNtSecurityDescriptor.
Result<XattrList> ReadSecurityDescriptor(Session& s, const RelPath& path) {
  const std::string url = s.Url(path);
  FERRY_ASSIGN_OR_RETURN(
      std::string text,
      s.Call("read the security descriptor of", path,
             [&]() -> Result<std::string> {
               FERRY_ASSIGN_OR_RETURN(Session::Lease lease, s.Acquire());
               SMBCCTX* c = lease.ctx();
               std::string buf(kMaxSecurityDescriptorBytes + 1, '\0');
               if (smbc_getFunctionGetxattr(c)(
                       c, url.c_str(), kNtSecDescAll, buf.data(),
                       kMaxSecurityDescriptorBytes) < 0) {
                 const int err = errno;
                 if (err == ERANGE) {
                   return Status::IoError(
                       "read the security descriptor of " + s.Where(path) +
                       ": longer than " +
                       std::to_string(kMaxSecurityDescriptorBytes) + " bytes");
                 }
                 if (err == ENODATA) {
                   return Status(StatusCode::kPermissionDenied,
                                 "read the security descriptor of " +
                                     s.Where(path) +
                                     ": the server's IPC$ share cannot be "
                                     "reached on port 445",
                                 err, false);
                 }
                 return s.Error("read the security descriptor of", path, err);
               }
               buf.resize(std::strlen(buf.c_str()));
               return buf;
             }));
  Result<std::string> kept = NormalizeSecurityDescriptor(text);
  if (!kept.ok()) {
    return Status::IoError("read the security descriptor of " + s.Where(path) +
                           ": " + std::string(kept.status().message()));
  }
  if (kept->empty()) return XattrList{};
  return XattrList{{std::string(kNtSecurityDescriptor), std::move(*kept)}};
}

// Refuses the attributes an SMB share cannot store: all but a security
// descriptor (and that one too when `security_descriptors` is false).
Status CheckStorable(Session& s, const RelPath& path, const XattrList& xattrs,
                     bool security_descriptors) {
  for (const Xattr& x : xattrs) {
    if (x.name != kNtSecurityDescriptor || !security_descriptors) {
      return Status::NotSupported(s.Where(path) +
                                  " cannot store the attribute " + x.name);
    }
  }
  return Status::Ok();
}

// Gives what is at `url` the owner and DACL of `xattrs`' security
// descriptor (none there: nothing to do).
Status WriteSecurityDescriptor(Session& s, const RelPath& path,
                               const std::string& url, const XattrList& xattrs,
                               bool acl_scope) {
  if (!acl_scope) return Status::Ok();
  for (const Xattr& x : xattrs) {
    if (x.name != kNtSecurityDescriptor) continue;
    return s.Call("set the security descriptor of", path, [&]() -> Status {
      FERRY_ASSIGN_OR_RETURN(Session::Lease lease, s.Acquire());
      SMBCCTX* c = lease.ctx();
      if (smbc_getFunctionSetxattr(c)(c, url.c_str(), kNtSecDescAll,
                                      x.value.data(), x.value.size(), 0) != 0) {
        return s.Error("set the security descriptor of", path, errno);
      }
      return Status::Ok();
    });
  }
  return Status::Ok();
}

class SmbReader : public Reader {
 public:
  SmbReader(std::shared_ptr<Session> session, Entry entry,
            std::unique_ptr<Handles> handles, bool security_descriptors)
      : session_(std::move(session)),
        entry_(std::move(entry)),
        handles_(std::move(handles)),
        security_descriptors_(security_descriptors) {}

  const Entry& entry() const override { return entry_; }

  Result<size_t> ReadAt(uint64_t offset, std::span<std::byte> out) override {
    if (out.empty()) return size_t{0};
    return session_->Call("read", entry_.path, [&]() -> Result<size_t> {
      return handles_->With([&](SMBCCTX* c, SMBCFILE* f) -> Result<size_t> {
        if (smbc_getFunctionLseek(c)(c, f, static_cast<off_t>(offset),
                                     SEEK_SET) < 0) {
          return session_->Error("seek in", entry_.path, errno);
        }
        size_t done = 0;
        while (done < out.size()) {
          ssize_t n = smbc_getFunctionRead(c)(c, f, out.data() + done,
                                              out.size() - done);
          if (n < 0) return session_->Error("read", entry_.path, errno);
          if (n == 0) break;
          done += static_cast<size_t>(n);
        }
        return done;
      });
    });
  }

  // Through the open handle (one request, where a stat by name takes three).
  Result<Entry> Restat() override {
    return session_->Call("stat", entry_.path, [&]() -> Result<Entry> {
      return handles_->With([&](SMBCCTX* c, SMBCFILE* f) -> Result<Entry> {
        struct stat st;
        if (smbc_getFunctionFstat(c)(c, f, &st) != 0) {
          return session_->Error("stat", entry_.path, errno);
        }
        return EntryFromStat(entry_.path, st);
      });
    });
  }

  Result<XattrList> Xattrs() override {
    if (!security_descriptors_) return XattrList{};
    return ReadSecurityDescriptor(*session_, entry_.path);
  }

 private:
  const std::shared_ptr<Session> session_;
  const Entry entry_;
  std::unique_ptr<Handles> handles_;
  const bool security_descriptors_;
};

class SmbWriter : public StagedWriter {
 public:
  SmbWriter(std::shared_ptr<Session> session, RelPath path, RelPath temp,
            std::unique_ptr<Handles> handles, bool security_descriptors)
      : session_(std::move(session)),
        path_(std::move(path)),
        temp_(std::move(temp)),
        handles_(std::move(handles)),
        security_descriptors_(security_descriptors) {}

  ~SmbWriter() override { Abort(); }

  Status WriteAt(uint64_t offset, std::span<const std::byte> data) override {
    if (done_) return Finished();
    if (data.empty()) return Status::Ok();
    FERRY_RETURN_IF_ERROR(session_->Call("write", path_, [&]() -> Status {
      return handles_->With([&](SMBCCTX* c, SMBCFILE* f) -> Status {
        if (smbc_getFunctionLseek(c)(c, f, static_cast<off_t>(offset),
                                     SEEK_SET) < 0) {
          return session_->Error("seek in", path_, errno);
        }
        size_t done = 0;
        while (done < data.size()) {
          ssize_t n = smbc_getFunctionWrite(c)(c, f, data.data() + done,
                                               data.size() - done);
          if (n <= 0) return session_->Error("write", path_, errno);
          done += static_cast<size_t>(n);
        }
        return Status::Ok();
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

  Status SetXattrs(const XattrList& xattrs, bool /*xattr_scope*/,
                   bool acl_scope) override {
    if (done_) return Finished();
    FERRY_RETURN_IF_ERROR(
        CheckStorable(*session_, path_, xattrs, security_descriptors_));
    xattrs_ = xattrs;
    acl_scope_ = acl_scope;
    return Status::Ok();
  }

  void Abort() override {
    if (done_.exchange(true)) return;
    (void)handles_->CloseAll();
    (void)session_->Call("remove", temp_, [&]() -> Status {
      FERRY_ASSIGN_OR_RETURN(Session::Lease lease, session_->Acquire());
      SMBCCTX* c = lease.ctx();
      if (smbc_getFunctionUnlink(c)(c, session_->Url(temp_).c_str()) != 0 &&
          errno != ENOENT) {
        return session_->Error("remove", temp_, errno);
      }
      return Status::Ok();
    });
  }

 private:
  Status Finished() const {
    return Status::FailedPrecondition("the write of " + session_->Where(path_) +
                                      " was already committed or aborted");
  }

  Status Publish(const Entry& metadata, const MetadataPolicy& policy) {
    // Times set after the last write and close stay as set.
    if (end_.load() != metadata.size) {
      FERRY_RETURN_IF_ERROR(session_->Call("truncate", path_, [&]() -> Status {
        return handles_->With([&](SMBCCTX* c, SMBCFILE* f) -> Status {
          if (smbc_getFunctionFtruncate(c)(
                  c, f, static_cast<off_t>(metadata.size)) != 0) {
            return session_->Error("truncate", path_, errno);
          }
          return Status::Ok();
        });
      }));
    }
    FERRY_RETURN_IF_ERROR(handles_->CloseAll());
    const std::string temp_url = session_->Url(temp_);
    const std::string url = session_->Url(path_);
    FERRY_RETURN_IF_ERROR(
        ApplyMetadata(*session_, path_, temp_url, metadata, policy));
    FERRY_RETURN_IF_ERROR(WriteSecurityDescriptor(*session_, path_, temp_url,
                                                  xattrs_, acl_scope_));
    auto rename = [&] {
      return session_->Call("rename into", path_, [&]() -> Status {
        FERRY_ASSIGN_OR_RETURN(Session::Lease lease, session_->Acquire());
        SMBCCTX* c = lease.ctx();
        if (smbc_getFunctionRename(c)(c, temp_url.c_str(), c, url.c_str()) !=
            0) {
          return session_->Error("rename into", path_, errno);
        }
        return Status::Ok();
      });
    };
    Status st = rename();
    if (st.code() == StatusCode::kAlreadyExists) {
      // A read-only file is not replaced until it is made writable.
      FERRY_ASSIGN_OR_RETURN(std::optional<Entry> there,
                             StatOn(*session_, path_));
      if (there && there->is_file() &&
          (there->dos_attributes & kDosReadOnly) != 0) {
        FERRY_RETURN_IF_ERROR(SetDosAttributes(*session_, path_, url, 0));
        st = rename();
      }
    }
    if (st.ok() && AppliesDosAttributes(metadata, policy) &&
        (metadata.dos_attributes & kDosArchive) == 0) {
      // Samba marks a renamed file for archiving.
      st = SetDosAttributes(*session_, path_, url,
                            metadata.dos_attributes & kDosAttributeMask);
    }
    if (st.ok() || st.retryable()) return st;
    // A folder in the way stays, and says so; so does a file another
    // client (or reader) has open: SMB cannot rename over it.
    FERRY_ASSIGN_OR_RETURN(std::optional<Entry> there,
                           StatOn(*session_, path_));
    if (there && there->is_dir()) {
      return Status::FailedPrecondition(session_->Where(path_) +
                                        " is a folder: cannot replace it with "
                                        "a file");
    }
    if (there && st.code() == StatusCode::kAlreadyExists) {
      return Status(StatusCode::kPermissionDenied,
                    session_->Where(path_) +
                        " is in use (open by another client or reader, "
                        "which SMB does not let a file be replaced under)",
                    st.sys_errno(), false);
    }
    return st;
  }

  const std::shared_ptr<Session> session_;
  const RelPath path_;
  const RelPath temp_;
  std::unique_ptr<Handles> handles_;
  std::atomic<uint64_t> end_{0};   // the end of the furthest write
  std::atomic<bool> done_{false};  // committed or aborted
  const bool security_descriptors_;
  XattrList xattrs_;  // SetXattrs', applied at Commit
  bool acl_scope_ = false;
};

class SmbBackend : public Backend {
 public:
  // security_descriptors: the server is reached on port 445, where
  // libsmbclient finds the IPC$ share it reads and writes them through.
  SmbBackend(std::shared_ptr<Session> session, bool flag_staging,
             bool security_descriptors = false)
      : session_(std::move(session)), flag_staging_(flag_staging) {
    caps_.acls = security_descriptors;
    caps_.acl_model = AclModel::kWindows;
    caps_.atime = true;
    // Set through utimes' timevals; SMB keeps 100 ns.
    caps_.mtime_granularity_ns = 1000;
    caps_.change_time = false;
    caps_.dos_attributes = LibraryParameterSetter() != nullptr;
    caps_.settable_mtime = true;
    caps_.utf8_names_only = true;
    caps_.windows_names = true;
    caps_.replace_while_open = false;
    caps_.caller_uid = -1;
    caps_.io_concurrency = kConnections;
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
          SMBCCTX* c = lease.ctx();
          SMBCFILE* d = smbc_getFunctionOpendir(c)(c, s.Url(dir).c_str());
          if (d == nullptr) return s.Error("list", dir, errno);
          std::vector<Entry> out;
          Status st;
          while (true) {
            struct stat sb;
            errno = 0;
            const struct libsmb_file_info* info =
                smbc_getFunctionReaddirPlus2(c)(c, d, &sb);
            if (info == nullptr) {
              if (errno != 0 && errno != ENOENT) {
                st = s.Error("list", dir, errno);
              }
              break;
            }
            if (info->name == nullptr) continue;
            std::string_view name = info->name;
            if (name == "." || name == "..") continue;
            if (name.empty() || name.size() > 1024 ||
                name.find('/') != std::string_view::npos) {
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
            Entry e = EntryFromStat(dir.Child(name), sb);
            // Only a listing tells the creation time.
            e.dos_attributes = info->attrs & kDosAttributeMask;
            e.btime = FileTime{info->btime_ts.tv_sec,
                               static_cast<uint32_t>(info->btime_ts.tv_nsec)};
            if (flag_staging_ && IsFerryTempName(name)) {
              e.flags |= Entry::kStaging;
            }
            out.push_back(std::move(e));
          }
          smbc_getFunctionClosedir(c)(c, d);
          if (!st.ok()) return st;
          return out;
        }));
    return std::unique_ptr<Lister>(new VectorLister(std::move(entries)));
  }

  Result<std::unique_ptr<Reader>> OpenRead(const RelPath& path) override {
    Session& s = *session_;
    const std::string url = s.Url(path);
    auto handles = std::make_unique<Handles>(session_, path, url, O_RDONLY);
    FERRY_ASSIGN_OR_RETURN(
        Entry entry, s.Call("open", path, [&]() -> Result<Entry> {
          FERRY_ASSIGN_OR_RETURN(Session::Lease lease, s.Acquire());
          SMBCCTX* c = lease.ctx();
          SMBCFILE* f = smbc_getFunctionOpen(c)(c, url.c_str(), O_RDONLY, 0);
          if (f == nullptr) {
            const int err = errno;
            if (err == EISDIR) {
              return Status::FailedPrecondition(s.Where(path) +
                                                " is a folder, not a file");
            }
            return s.Error("open", path, err);
          }
          struct stat st;
          if (smbc_getFunctionFstat(c)(c, f, &st) != 0) {
            Status err = s.Error("stat", path, errno);
            smbc_getFunctionClose(c)(c, f);
            return err;
          }
          if (!S_ISREG(st.st_mode)) {
            smbc_getFunctionClose(c)(c, f);
            return Status::FailedPrecondition(s.Where(path) + " is not a file");
          }
          handles->Adopt(lease, f);
          return EntryFromStat(path, st);
        }));
    return std::unique_ptr<Reader>(new SmbReader(
        session_, std::move(entry), std::move(handles), caps_.acls));
  }

  Result<std::unique_ptr<StagedWriter>> OpenWrite(
      const RelPath& path, const WriteHints& /*hints*/) override {
    Session& s = *session_;
    if (path.IsRoot()) {
      return Status::InvalidArgument(s.Where(path) + " is the location root");
    }
    FERRY_RETURN_IF_ERROR(CheckName(s, path));
    const RelPath temp = path.Parent().Child(NewTempName());
    const std::string url = s.Url(temp);
    auto handles = std::make_unique<Handles>(session_, temp, url, O_WRONLY);
    FERRY_RETURN_IF_ERROR(s.Call("create", path, [&]() -> Status {
      FERRY_ASSIGN_OR_RETURN(Session::Lease lease, s.Acquire());
      SMBCCTX* c = lease.ctx();
      // After a lost answer, the retry finds its own file: take it over.
      SMBCFILE* f = smbc_getFunctionOpen(c)(c, url.c_str(),
                                            O_CREAT | O_WRONLY | O_TRUNC, 0666);
      if (f == nullptr) return s.Error("create", path, errno);
      handles->Adopt(lease, f);
      return Status::Ok();
    }));
    return std::unique_ptr<StagedWriter>(
        new SmbWriter(session_, path, temp, std::move(handles), caps_.acls));
  }

  Status MakeDirectory(const RelPath& path) override {
    Session& s = *session_;
    if (path.IsRoot()) return Status::Ok();
    FERRY_RETURN_IF_ERROR(CheckName(s, path));
    Status st = s.Call("create the folder", path, [&]() -> Status {
      FERRY_ASSIGN_OR_RETURN(Session::Lease lease, s.Acquire());
      SMBCCTX* c = lease.ctx();
      if (smbc_getFunctionMkdir(c)(c, s.Url(path).c_str(), 0777) != 0) {
        return s.Error("create the folder", path, errno);
      }
      return Status::Ok();
    });
    if (st.code() != StatusCode::kAlreadyExists) return st;
    FERRY_ASSIGN_OR_RETURN(std::optional<Entry> there, Stat(path));
    if (there && there->is_dir()) return Status::Ok();
    return Status::AlreadyExists(s.Where(path) + " exists and is not a folder");
  }

  Status SetMetadata(const RelPath& path, const Entry& src,
                     const MetadataPolicy& policy) override {
    return ApplyMetadata(*session_, path, session_->Url(path), src, policy);
  }

  Result<XattrList> GetXattrs(const RelPath& path) override {
    if (!caps_.acls) return XattrList{};
    return ReadSecurityDescriptor(*session_, path);
  }

  Status SetXattrs(const RelPath& path, const XattrList& xattrs,
                   bool /*xattr_scope*/, bool acl_scope) override {
    FERRY_RETURN_IF_ERROR(CheckStorable(*session_, path, xattrs, caps_.acls));
    return WriteSecurityDescriptor(*session_, path, session_->Url(path), xattrs,
                                   acl_scope);
  }

  Status Remove(const RelPath& path) override {
    Session& s = *session_;
    if (path.IsRoot()) {
      return Status::InvalidArgument("cannot remove the location root " +
                                     s.Where(path));
    }
    return s.Call("remove", path, [&]() -> Status {
      FERRY_ASSIGN_OR_RETURN(Session::Lease lease, s.Acquire());
      SMBCCTX* c = lease.ctx();
      const std::string url = s.Url(path);
      // libsmbclient's unlink of a folder reports success and removes
      // nothing, and its rmdir of a file fails: ask first.
      struct stat st;
      if (smbc_getFunctionStat(c)(c, url.c_str(), &st) != 0) {
        return s.Error("remove", path, errno);
      }
      auto remove = [&] {
        return S_ISDIR(st.st_mode) ? smbc_getFunctionRmdir(c)(c, url.c_str())
                                   : smbc_getFunctionUnlink(c)(c, url.c_str());
      };
      if (remove() == 0) return Status::Ok();
      int err = errno;
      // A read-only item is not removed until it is made writable (Samba
      // answers "cannot delete", which libsmbclient makes EINVAL).
      if ((err == EACCES || err == EINVAL) && (st.st_mode & S_IWUSR) == 0) {
        if (smbc_getFunctionChmod(c)(c, url.c_str(), 0666) != 0) {
          return s.Error("remove", path, errno);
        }
        if (remove() == 0) return Status::Ok();
        err = errno;
      }
      return s.Error("remove", path, err);
    });
  }

  Status CleanupStagingEntry(const Entry& staging,
                             const StagingCleanup& cleanup) override {
    return CleanupTempFile(*this, staging, cleanup);
  }

 private:
  const std::shared_ptr<Session> session_;
  const bool flag_staging_;
  Capabilities caps_;
};

}  // namespace

Result<std::unique_ptr<Backend>> OpenSmbBackend(const LocationSpec& spec) {
  const std::string where = spec.Describe();
  if (spec.host.empty() || spec.bucket.empty()) {
    return Status::InvalidArgument(where +
                                   ": an SMB location needs a server and a "
                                   "share");
  }
  if (spec.host.find_first_of("/@\\ ") != std::string::npos ||
      spec.bucket.find_first_of("/\\") != std::string::npos) {
    return Status::InvalidArgument(where + ": bad server or share name");
  }
  FERRY_ASSIGN_OR_RETURN(auto protocols, ProtocolRange(spec.endpoint.version));
  std::string url = "smb://" + spec.host + "/" + EncodeUrlPath(spec.bucket);
  if (!spec.path.empty()) url += "/" + EncodeUrlPath(spec.path);
  Account account{spec.endpoint.user, spec.endpoint.password,
                  spec.endpoint.domain};
  auto session = std::make_shared<Session>(where, std::move(url),
                                           std::move(account), protocols);
  FERRY_RETURN_IF_ERROR(session->ClaimProtocols());
  // "HOST", "HOST:PORT", "[V6]" or "[V6]:PORT".
  const size_t bracket = spec.host.rfind(']');
  const size_t colon = spec.host.rfind(':');
  const bool port_445 = colon == std::string::npos ||
                        (bracket != std::string::npos && colon < bracket) ||
                        spec.host.substr(colon + 1) == "445";
  auto backend =
      std::make_unique<SmbBackend>(session, spec.destination, port_445);

  // The server, the account and the share: said now, once, not per file.
  const std::string who =
      (spec.endpoint.domain.empty() ? "" : spec.endpoint.domain + "\\") +
      (spec.endpoint.user.empty() ? std::string("(no user)")
                                  : spec.endpoint.user);
  // Each cause its own message.
  auto explain = [&](const Status& st) -> Status {
    switch (st.code()) {
      case StatusCode::kPermissionDenied:
        return Status(StatusCode::kPermissionDenied,
                      where + ": " + who +
                          " cannot log on, or may not use the share (wrong "
                          "user name, password or domain?): " +
                          std::string(st.message()));
      case StatusCode::kNotFound:
        return Status::NotFound(where + ": the share '" + spec.bucket +
                                "' does not exist on " + spec.host + ": " +
                                std::string(st.message()));
      case StatusCode::kUnavailable:
        return Status(StatusCode::kUnavailable,
                      where + ": cannot reach the SMB server " + spec.host +
                          ": " + std::string(st.message()),
                      st.sys_errno(), false);
      default:
        return Status(st.code(), where + ": " + std::string(st.message()));
    }
  };
  Result<std::optional<Entry>> root = backend->Stat(RelPath());
  if (!root.ok()) return explain(root.status());
  if (!*root) {
    // The share itself: a missing folder beneath it is not a missing share.
    LocationSpec share = spec;
    share.path.clear();
    SmbBackend top(std::make_shared<Session>(
                       share.Describe(),
                       "smb://" + spec.host + "/" + EncodeUrlPath(spec.bucket),
                       Account{spec.endpoint.user, spec.endpoint.password,
                               spec.endpoint.domain},
                       protocols),
                   false);
    Result<std::optional<Entry>> at_share =
        spec.path.empty() ? std::optional<Entry>() : top.Stat(RelPath());
    if (!at_share.ok()) return explain(at_share.status());
    if (!*at_share) {
      return Status::NotFound(where + ": the share '" + spec.bucket +
                              "' does not exist on " + spec.host);
    }
    if (!spec.create_root) {
      return Status::NotFound(where + ": the folder '" + spec.path +
                              "' does not exist in the share");
    }
    // Created from the share down.
    auto rel = RelPath::Parse(spec.path);
    if (!rel.ok()) {
      return Status::InvalidArgument(
          where + ": bad path: " + std::string(rel.status().message()));
    }
    Status st = MakeDirectories(top, *rel);
    if (!st.ok()) {
      return Status(st.code(), where + ": " + std::string(st.message()));
    }
  } else if (!(*root)->is_dir()) {
    return Status::FailedPrecondition(where + " is a file, not a folder");
  }
  return std::unique_ptr<Backend>(std::move(backend));
}

void RegisterSmbBackend() {
  static std::once_flag once;
  std::call_once(once, [] { RegisterBackend("smb", OpenSmbBackend); });
}

}  // namespace ferry
