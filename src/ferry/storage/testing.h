// Helpers for ferry's tests: status assertions, temporary directories, byte
// spans, and whole-file and whole-tree access through a Backend. Test-only
// and header-only; nothing in the library includes it.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <functional>
#include <ostream>
#include <random>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/base/clock.h"
#include "ferry/base/digest.h"
#include "ferry/base/outage_watch.h"
#include "ferry/base/rel_path.h"
#include "ferry/base/status.h"
#include "ferry/storage/backend.h"
#include "ferry/storage/entry.h"
#include "ferry/storage/memory/memory_backend.h"

namespace ferry {

// Readable failure messages for the types tests compare most.
inline void PrintTo(const RelPath& p, std::ostream* os) { *os << p.Display(); }
inline void PrintTo(const Entry& e, std::ostream* os) {
  *os << EntryKindName(e.kind) << " " << e.path.Display() << " size=" << e.size
      << " mode=0" << std::oct << e.mode << std::dec << " mtime=" << e.mtime.sec
      << "." << e.mtime.nsec;
}
inline void PrintTo(const Status& s, std::ostream* os) { *os << s.ToString(); }
inline void PrintTo(const Digest& d, std::ostream* os) {
  *os << DigestAlgorithmName(d.algorithm) << ":"
      << (d.empty() ? "none" : d.Hex());
}

}  // namespace ferry

namespace ferry::testing {

// A backend that hands every call to `inner` (not owned): tests derive from
// it and override only what they observe or change.
class ForwardingBackend : public Backend {
 public:
  explicit ForwardingBackend(Backend* inner) : inner_(inner) {}

  void SetObserver(StorageObserver* o) override { inner_->SetObserver(o); }
  const Capabilities& capabilities() const override {
    return inner_->capabilities();
  }
  std::string Describe() const override { return inner_->Describe(); }
  std::optional<std::chrono::nanoseconds> ClockOffset() const override {
    return inner_->ClockOffset();
  }
  Result<std::optional<Entry>> Stat(const RelPath& path) override {
    return inner_->Stat(path);
  }
  Result<std::unique_ptr<Lister>> List(const RelPath& dir) override {
    return inner_->List(dir);
  }
  Result<std::unique_ptr<Reader>> OpenRead(const RelPath& path) override {
    return inner_->OpenRead(path);
  }
  Result<std::unique_ptr<StagedWriter>> OpenWrite(
      const RelPath& path, const WriteHints& hints) override {
    return inner_->OpenWrite(path, hints);
  }
  Status MakeDirectory(const RelPath& path) override {
    return inner_->MakeDirectory(path);
  }
  Status CreateSymlink(const RelPath& path, const Entry& src,
                       const MetadataPolicy& policy) override {
    return inner_->CreateSymlink(path, src, policy);
  }
  Status CreateSpecial(const RelPath& path, const Entry& src,
                       const MetadataPolicy& policy) override {
    return inner_->CreateSpecial(path, src, policy);
  }
  Status CreateHardLink(const RelPath& existing, const RelPath& link) override {
    return inner_->CreateHardLink(existing, link);
  }
  Status SetMetadata(const RelPath& path, const Entry& src,
                     const MetadataPolicy& policy) override {
    return inner_->SetMetadata(path, src, policy);
  }
  Result<XattrList> GetXattrs(const RelPath& path) override {
    return inner_->GetXattrs(path);
  }
  Status SetXattrs(const RelPath& path, const XattrList& xattrs,
                   bool xattr_scope, bool acl_scope) override {
    return inner_->SetXattrs(path, xattrs, xattr_scope, acl_scope);
  }
  Result<ObjectTags> GetTags(const RelPath& path) override {
    return inner_->GetTags(path);
  }
  Status SetTags(const RelPath& path, const ObjectTags& tags) override {
    return inner_->SetTags(path, tags);
  }
  Status Remove(const RelPath& path) override { return inner_->Remove(path); }
  std::vector<Status> RemoveFiles(std::span<const RelPath> paths,
                                  std::stop_token stop) override {
    return inner_->RemoveFiles(paths, stop);
  }
  Status RemoveTree(const RelPath& path) override {
    return inner_->RemoveTree(path);
  }
  Status Sync() override { return inner_->Sync(); }
  Status CleanupStaging(const StagingCleanup& cleanup) override {
    return inner_->CleanupStaging(cleanup);
  }
  Status CleanupStagingEntry(const Entry& staging,
                             const StagingCleanup& cleanup) override {
    return inner_->CleanupStagingEntry(staging, cleanup);
  }

 protected:
  Backend* inner() const { return inner_; }

 private:
  Backend* const inner_;
};

inline const Status& StatusOf(const Status& s) { return s; }
template <typename T>
const Status& StatusOf(const Result<T>& r) {
  return r.status();
}

}  // namespace ferry::testing

// Both accept a Status or a Result<T>, and a streamed message:
// EXPECT_OK(backend->Remove(p)) << "while removing " << p.Display();
#define EXPECT_OK(expr)                                      \
  switch (0)                                                 \
  case 0:                                                    \
  default:                                                   \
    if (const auto& ferry_expect_ok_ = (expr);               \
        ::ferry::testing::StatusOf(ferry_expect_ok_).ok()) { \
    } else                                                   \
      ADD_FAILURE() << #expr << ": "                         \
                    << ::ferry::testing::StatusOf(ferry_expect_ok_).ToString()

#define ASSERT_OK(expr)                                      \
  switch (0)                                                 \
  case 0:                                                    \
  default:                                                   \
    if (const auto& ferry_assert_ok_ = (expr);               \
        ::ferry::testing::StatusOf(ferry_assert_ok_).ok()) { \
    } else                                                   \
      FAIL() << #expr << ": "                                \
             << ::ferry::testing::StatusOf(ferry_assert_ok_).ToString()

#define FERRY_ASSERT_OK_AND_ASSIGN_IMPL_(tmp, lhs, expr)             \
  auto tmp = (expr);                                                 \
  ASSERT_TRUE(tmp.ok()) << #expr << ": " << tmp.status().ToString(); \
  lhs = std::move(tmp).value()

// `lhs` may declare a variable: ASSERT_OK_AND_ASSIGN(auto r, backend->Stat(p)).
#define ASSERT_OK_AND_ASSIGN(lhs, expr)                                    \
  FERRY_ASSERT_OK_AND_ASSIGN_IMPL_(FERRY_CONCAT_(ferry_assign_, __LINE__), \
                                   lhs, expr)

namespace ferry::testing {

inline std::span<const std::byte> AsBytes(std::string_view s) {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

// `n` deterministic pseudo-random bytes.
inline std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v = rng();
    std::memcpy(out.data() + i, &v, std::min<size_t>(8, n - i));
  }
  return out;
}

// REQUIRES: `text` is a valid path.
inline RelPath P(std::string_view text) { return RelPath::Parse(text).value(); }

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl =
        std::string(base && *base ? base : "/tmp") + "/ferry-test-XXXXXX";
    char* made = ::mkdtemp(tmpl.data());
    if (made == nullptr) {
      ADD_FAILURE() << "mkdtemp " << tmpl << ": " << std::strerror(errno);
    }
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    // Directories made read-only by a test would stop the removal.
    for (auto it = std::filesystem::recursive_directory_iterator(path_, ec);
         !ec && it != std::filesystem::recursive_directory_iterator();
         it.increment(ec)) {
      if (it->is_directory(ec) && !it->is_symlink(ec)) {
        std::filesystem::permissions(it->path(),
                                     std::filesystem::perms::owner_all,
                                     std::filesystem::perm_options::add, ec);
      }
    }
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string Sub(std::string_view rel) const {
    return path_ + "/" + std::string(rel);
  }

 private:
  std::string path_;
};

// Writes `content` to `path` through a StagedWriter and commits it with
// `meta` (its size is set from `content`) as `policy` selects.
inline Status WriteFile(Backend* backend, const RelPath& path,
                        std::string_view content, Entry meta = Entry(),
                        const MetadataPolicy& policy = MetadataPolicy{
                            false, false, false, false, false}) {
  WriteHints hints;
  hints.size = content.size();
  FERRY_ASSIGN_OR_RETURN(std::unique_ptr<StagedWriter> writer,
                         backend->OpenWrite(path, hints));
  if (!content.empty()) {
    FERRY_RETURN_IF_ERROR(writer->WriteAt(0, AsBytes(content)));
  }
  meta.path = path;
  meta.kind = EntryKind::kFile;
  meta.size = content.size();
  return writer->Commit(meta, policy);
}

// The whole content of the file at `path`.
inline Result<std::string> ReadFile(Backend* backend, const RelPath& path) {
  FERRY_ASSIGN_OR_RETURN(std::unique_ptr<Reader> reader,
                         backend->OpenRead(path));
  std::string out(reader->entry().size, '\0');
  size_t done = 0;
  while (done < out.size()) {
    FERRY_ASSIGN_OR_RETURN(
        size_t n,
        reader->ReadAt(done, std::as_writable_bytes(std::span<char>(
                                 out.data() + done, out.size() - done))));
    if (n == 0) break;
    done += n;
  }
  out.resize(done);
  return out;
}

// Every entry of one directory, sorted by ComparePaths.
inline Result<std::vector<Entry>> ListDir(Backend* backend,
                                          const RelPath& dir) {
  FERRY_ASSIGN_OR_RETURN(std::unique_ptr<Lister> lister, backend->List(dir));
  std::vector<Entry> out;
  while (true) {
    FERRY_ASSIGN_OR_RETURN(bool more, lister->NextBatch(&out));
    if (!more) break;
  }
  std::sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) {
    return ComparePaths(a.path, b.path) < 0;
  });
  return out;
}

// The names in one directory, sorted by ComparePaths.
inline Result<std::vector<std::string>> ListNames(Backend* backend,
                                                  const RelPath& dir) {
  FERRY_ASSIGN_OR_RETURN(std::vector<Entry> entries, ListDir(backend, dir));
  std::vector<std::string> names;
  for (const Entry& e : entries) names.emplace_back(e.path.name());
  return names;
}

// Every entry beneath `dir`, depth first in ComparePaths order.
inline Status WalkTree(Backend* backend, const RelPath& dir,
                       std::vector<Entry>* out) {
  FERRY_ASSIGN_OR_RETURN(std::vector<Entry> entries, ListDir(backend, dir));
  for (Entry& e : entries) {
    bool is_dir = e.is_dir();
    RelPath path = e.path;
    out->push_back(std::move(e));
    if (is_dir) FERRY_RETURN_IF_ERROR(WalkTree(backend, path, out));
  }
  return Status::Ok();
}

inline Result<std::vector<Entry>> WalkTree(Backend* backend) {
  std::vector<Entry> out;
  FERRY_RETURN_IF_ERROR(WalkTree(backend, RelPath(), &out));
  return out;
}

// Everything a tree holds (kind, path, mode, owner, mtime, size, content
// digest, link target), one line per entry, for comparing two trees.
inline std::string TreeSignature(Backend* backend, bool with_owner = true) {
  auto tree = WalkTree(backend);
  if (!tree.ok()) return "cannot walk: " + tree.status().ToString();
  std::string out;
  for (const Entry& e : *tree) {
    out += std::string(EntryKindName(e.kind)) + " " + e.path.str() +
           " mode=" + std::to_string(e.mode) +
           " mtime=" + std::to_string(e.mtime.sec) + "." +
           std::to_string(e.mtime.nsec);
    if (with_owner) {
      out += " uid=" + std::to_string(e.uid) + " gid=" + std::to_string(e.gid);
    }
    if (e.is_file()) {
      auto content = ReadFile(backend, e.path);
      out += " size=" + std::to_string(e.size) + " content=" +
             (content.ok()
                  ? DigestOfBuffer(DigestAlgorithm::kSha256, AsBytes(*content))
                        .Hex()
                  : content.status().ToString());
    }
    if (e.kind == EntryKind::kSymlink) out += " -> " + e.link_target;
    out += "\n";
  }
  return out;
}

// A memory location for engine tests. Every entry gets metadata derived from
// its path when it is added (times, owner), so two trees built alike compare
// equal while different entries differ; Edit() changes an entry afterwards.
class MemoryTree {
 public:
  MemoryTree()
      : store_(std::make_shared<MemoryStore>()),
        backend_(OpenMemoryBackend(store_)) {
    Stamp();
  }

  MemoryTree& File(const std::string& path, std::string_view content,
                   uint32_t mode = 0644) {
    store_->PutFile(path, content, mode);
    return Stamp();
  }
  MemoryTree& Dir(const std::string& path, uint32_t mode = 0755) {
    store_->PutDirectory(path, mode);
    return Stamp();
  }
  MemoryTree& Link(const std::string& path, const std::string& target) {
    Entry e;
    e.kind = EntryKind::kSymlink;
    e.link_target = target;
    EXPECT_TRUE(backend_->CreateSymlink(P(path), e, MetadataPolicy{}).ok());
    return Stamp();
  }
  // A FIFO, socket or device.
  MemoryTree& Special(const std::string& path, EntryKind kind,
                      uint64_t rdev = 0, uint32_t mode = 0600) {
    Entry e;
    e.kind = kind;
    e.mode = mode;
    e.rdev = rdev;
    EXPECT_TRUE(backend_->CreateSpecial(P(path), e, MetadataPolicy{}).ok());
    return Stamp();
  }
  MemoryTree& Edit(const std::string& path,
                   const std::function<void(Entry&)>& fn) {
    store_->Locked([&](MemoryStore::Tree& t) {
      auto it = t.nodes.find(path);
      if (it == t.nodes.end()) {
        ADD_FAILURE() << "no " << path;
        return;
      }
      fn(it->second.meta);
    });
    return *this;
  }

  Backend* backend() { return backend_.get(); }
  const std::shared_ptr<MemoryStore>& store() { return store_; }
  // Another backend on the same tree, for code that takes ownership.
  std::unique_ptr<Backend> Open() { return OpenMemoryBackend(store_); }
  std::optional<std::string> Content(const std::string& path) {
    return store_->GetFile(path);
  }

 private:
  MemoryTree& Stamp() {
    store_->Locked([this](MemoryStore::Tree& t) {
      for (auto& [key, node] : t.nodes) {
        if (!stamped_.insert(key).second) continue;
        uint64_t h = 0;
        for (unsigned char c : key) h = h * 131 + c;
        h %= 1000003;
        Entry& e = node.meta;
        e.mtime = FileTime{1600000000 + static_cast<int64_t>(h),
                           static_cast<uint32_t>(h * 997 % 1000000000)};
        e.atime = FileTime{1500000000 + static_cast<int64_t>(h), 0};
        e.ctime = e.mtime;
        e.uid = 1000 + static_cast<uint32_t>(h % 97);
        e.gid = 2000 + static_cast<uint32_t>(h % 89);
      }
    });
    return *this;
  }

  std::shared_ptr<MemoryStore> store_;
  std::unique_ptr<Backend> backend_;
  std::set<std::string> stamped_;
};

// An outage a test scripts: while out() is true a FaultRule made active()
// fails; the watch's probe fails `failing_probes` times, then ends the
// outage and answers. Its clock runs ahead to each sleep's end.
class ScriptedOutage {
 public:
  explicit ScriptedOutage(int failing_probes)
      : watch_(
            &clock_, OutageOptions{},
            [this, failing_probes]() -> Status {
              if (++probes_ <= failing_probes) {
                return Status(StatusCode::kUnavailable, "no answer", 0, true);
              }
              out_ = false;
              return Status::Ok();
            },
            /*on_event=*/nullptr) {
    clock_.set_auto_advance(true);
  }
  OutageWatch* watch() { return &watch_; }
  std::function<bool()> active() {
    return [this] { return out_.load(); };
  }
  void set_out(bool out) { out_ = out; }
  int probes() const { return probes_.load(); }

 private:
  std::atomic<bool> out_{true};
  std::atomic<int> probes_{0};
  ManualClock clock_;
  OutageWatch watch_;
};

}  // namespace ferry::testing
