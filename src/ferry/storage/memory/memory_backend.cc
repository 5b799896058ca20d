#include "ferry/storage/memory/memory_backend.h"

#include <algorithm>
#include <cstring>

#include "ferry/base/clock.h"

namespace ferry {
namespace {

using Tree = MemoryStore::Tree;
using Node = MemoryStore::Node;

FileTime Now() {
  int64_t ns = WallNanos();
  return FileTime::FromNanos(ns);
}

Node* Find(Tree& t, const std::string& key) {
  auto it = t.nodes.find(key);
  return it == t.nodes.end() ? nullptr : &it->second;
}

Status CheckParent(Tree& t, const RelPath& path) {
  Node* parent = Find(t, path.Parent().str());
  if (!parent)
    return Status::NotFound("no directory " + path.Parent().Display());
  if (!parent->meta.is_dir()) {
    return Status::NotFound(path.Parent().Display() + " is not a directory");
  }
  return Status::Ok();
}

bool HasChildren(Tree& t, const std::string& key) {
  auto it = t.nodes.upper_bound(key);
  return it != t.nodes.end() &&
         (key.empty() || (it->first.size() > key.size() &&
                          it->first.compare(0, key.size(), key) == 0 &&
                          it->first[key.size()] == '/'));
}

void Apply(Entry* meta, const Entry& src, const MetadataPolicy& policy) {
  if (policy.mode && meta->kind != EntryKind::kSymlink)
    meta->mode = src.mode & 07777;
  if (policy.uid) meta->uid = src.uid;
  if (policy.gid) meta->gid = src.gid;
  if (policy.mtime) meta->mtime = src.mtime;
  if (policy.atime) meta->atime = src.atime;
  if (policy.dos_attributes &&
      (meta->kind == EntryKind::kFile || meta->kind == EntryKind::kDirectory)) {
    meta->dos_attributes = src.dos_attributes & kDosAttributeMask;
    if (src.btime != FileTime{}) meta->btime = src.btime;
  }
  meta->ctime = Now();
}

Entry NewEntry(Tree& t, const RelPath& path, EntryKind kind, uint32_t mode) {
  Entry e;
  e.path = path;
  e.kind = kind;
  e.mode = mode;
  e.mtime = e.atime = e.ctime = Now();
  e.ino = ++t.last_ino;
  e.dev = 1;
  return e;
}

// Replaces whatever is at `path` (unless a directory is in the way) with
// `node`.
Status Install(Tree& t, const RelPath& path, Node node) {
  FERRY_RETURN_IF_ERROR(CheckParent(t, path));
  Node* existing = Find(t, path.str());
  if (existing && existing->meta.is_dir()) {
    return Status::FailedPrecondition(path.Display() + " is a directory");
  }
  t.nodes[path.str()] = std::move(node);
  return Status::Ok();
}

class MemoryLister : public Lister {
 public:
  explicit MemoryLister(std::vector<Entry> entries)
      : entries_(std::move(entries)) {}
  Result<bool> NextBatch(std::vector<Entry>* out) override {
    if (done_) return false;
    done_ = true;
    if (entries_.empty()) return false;
    for (Entry& e : entries_) out->push_back(std::move(e));
    return true;
  }

 private:
  std::vector<Entry> entries_;
  bool done_ = false;
};

class MemoryReader : public Reader {
 public:
  MemoryReader(std::shared_ptr<MemoryStore> store, Entry entry,
               std::shared_ptr<const std::vector<std::byte>> data)
      : store_(std::move(store)),
        entry_(std::move(entry)),
        data_(std::move(data)) {}

  const Entry& entry() const override { return entry_; }

  Result<size_t> ReadAt(uint64_t offset, std::span<std::byte> out) override {
    if (offset >= data_->size()) return size_t{0};
    size_t n = std::min<uint64_t>(out.size(), data_->size() - offset);
    if (n > 0) std::memcpy(out.data(), data_->data() + offset, n);
    return n;
  }

  Result<Entry> Restat() override {
    return store_->Locked([&](Tree& t) -> Result<Entry> {
      Node* n = Find(t, entry_.path.str());
      if (!n || n->meta.ino != entry_.ino) {
        // Replaced or removed: what we hold is a stale version.
        Entry e = entry_;
        e.ctime.nsec += 1;
        return e;
      }
      return n->meta;
    });
  }

 private:
  std::shared_ptr<MemoryStore> store_;
  Entry entry_;
  std::shared_ptr<const std::vector<std::byte>> data_;
};

class MemoryWriter : public StagedWriter {
 public:
  MemoryWriter(std::shared_ptr<MemoryStore> store, RelPath path, uint64_t size)
      : store_(std::move(store)), path_(std::move(path)) {
    data_.resize(size);
  }

  Status WriteAt(uint64_t offset, std::span<const std::byte> data) override {
    std::lock_guard lock(mu_);
    if (done_) return Status::Internal("writer already finished");
    if (offset + data.size() > data_.size()) data_.resize(offset + data.size());
    if (!data.empty())
      std::memcpy(data_.data() + offset, data.data(), data.size());
    return Status::Ok();
  }

  Status Commit(const Entry& metadata, const MetadataPolicy& policy) override {
    std::lock_guard lock(mu_);
    if (done_) return Status::Internal("writer already finished");
    data_.resize(metadata.size);
    auto data =
        std::make_shared<const std::vector<std::byte>>(std::move(data_));
    Status st = store_->Locked([&](Tree& t) {
      Node node;
      node.meta = NewEntry(t, path_, EntryKind::kFile, 0644);
      node.meta.size = data->size();
      node.meta.allocated = data->size();
      Apply(&node.meta, metadata, policy);
      node.data = data;
      return Install(t, path_, std::move(node));
    });
    done_ = true;
    return st;
  }

  void Abort() override {
    std::lock_guard lock(mu_);
    done_ = true;
    data_.clear();
  }

 private:
  std::shared_ptr<MemoryStore> store_;
  RelPath path_;
  std::mutex mu_;
  std::vector<std::byte> data_;  // GUARDED_BY(mu_)
  bool done_ = false;            // GUARDED_BY(mu_)
};

class MemoryBackend : public Backend {
 public:
  MemoryBackend(std::shared_ptr<MemoryStore> store, std::string name)
      : store_(std::move(store)), name_(std::move(name)) {
    caps_.symlinks = true;
    caps_.special_files = true;
    caps_.devices = true;
    caps_.posix_mode = true;
    caps_.posix_owner = true;
    caps_.atime = true;
    caps_.dos_attributes = true;
    caps_.sorted_listing = true;
  }

  const Capabilities& capabilities() const override { return caps_; }
  std::string Describe() const override { return name_; }

  Result<std::optional<Entry>> Stat(const RelPath& path) override {
    return store_->Locked([&](Tree& t) -> Result<std::optional<Entry>> {
      Node* n = Find(t, path.str());
      if (!n) return std::optional<Entry>();
      return std::optional<Entry>(n->meta);
    });
  }

  Result<std::unique_ptr<Lister>> List(const RelPath& dir) override {
    return store_->Locked([&](Tree& t) -> Result<std::unique_ptr<Lister>> {
      Node* d = Find(t, dir.str());
      if (!d)
        return Status::NotFound("list " + dir.Display() +
                                ": no such directory");
      if (!d->meta.is_dir()) {
        return Status::NotFound("list " + dir.Display() + ": not a directory");
      }
      std::vector<Entry> out;
      const std::string& key = dir.str();
      for (auto it = t.nodes.upper_bound(key); it != t.nodes.end(); ++it) {
        const std::string& k = it->first;
        size_t start = 0;
        if (!key.empty()) {
          if (k.size() <= key.size() || k.compare(0, key.size(), key) != 0 ||
              k[key.size()] != '/') {
            break;
          }
          start = key.size() + 1;
        }
        if (k.find('/', start) != std::string::npos) continue;  // deeper
        out.push_back(it->second.meta);
      }
      return std::unique_ptr<Lister>(new MemoryLister(std::move(out)));
    });
  }

  Result<std::unique_ptr<Reader>> OpenRead(const RelPath& path) override {
    return store_->Locked([&](Tree& t) -> Result<std::unique_ptr<Reader>> {
      Node* n = Find(t, path.str());
      if (!n)
        return Status::NotFound("open " + path.Display() + ": no such file");
      if (!n->meta.is_file()) {
        return Status::FailedPrecondition(path.Display() +
                                          " is not a regular file");
      }
      return std::unique_ptr<Reader>(
          new MemoryReader(store_, n->meta, n->data));
    });
  }

  Result<std::unique_ptr<StagedWriter>> OpenWrite(
      const RelPath& path, const WriteHints& hints) override {
    if (path.IsRoot())
      return Status::InvalidArgument("cannot write a file at the root");
    FERRY_RETURN_IF_ERROR(
        store_->Locked([&](Tree& t) { return CheckParent(t, path); }));
    return std::unique_ptr<StagedWriter>(
        new MemoryWriter(store_, path, hints.size));
  }

  Status MakeDirectory(const RelPath& path) override {
    return store_->Locked([&](Tree& t) {
      Node* n = Find(t, path.str());
      if (n) {
        if (n->meta.is_dir()) return Status::Ok();
        return Status::AlreadyExists("create directory " + path.Display() +
                                     ": something else exists there");
      }
      FERRY_RETURN_IF_ERROR(CheckParent(t, path));
      Node node;
      node.meta = NewEntry(t, path, EntryKind::kDirectory, 0755);
      t.nodes[path.str()] = std::move(node);
      return Status::Ok();
    });
  }

  Status CreateSymlink(const RelPath& path, const Entry& src,
                       const MetadataPolicy& policy) override {
    return store_->Locked([&](Tree& t) {
      Node node;
      node.meta = NewEntry(t, path, EntryKind::kSymlink, 0777);
      node.meta.link_target = src.link_target;
      Apply(&node.meta, src, policy);
      return Install(t, path, std::move(node));
    });
  }

  Status CreateSpecial(const RelPath& path, const Entry& src,
                       const MetadataPolicy& policy) override {
    if (src.kind == EntryKind::kFile || src.kind == EntryKind::kDirectory ||
        src.kind == EntryKind::kSymlink) {
      return Backend::CreateSpecial(path, src, policy);
    }
    return store_->Locked([&](Tree& t) {
      Node node;
      node.meta = NewEntry(t, path, src.kind, 0600);
      node.meta.rdev = src.rdev;
      Apply(&node.meta, src, policy);
      return Install(t, path, std::move(node));
    });
  }

  Status SetMetadata(const RelPath& path, const Entry& src,
                     const MetadataPolicy& policy) override {
    return store_->Locked([&](Tree& t) {
      Node* n = Find(t, path.str());
      if (!n)
        return Status::NotFound("set metadata of " + path.Display() +
                                ": not found");
      Apply(&n->meta, src, policy);
      return Status::Ok();
    });
  }

  Status Remove(const RelPath& path) override {
    if (path.IsRoot())
      return Status::InvalidArgument("cannot remove the location root");
    return store_->Locked([&](Tree& t) {
      auto it = t.nodes.find(path.str());
      if (it == t.nodes.end())
        return Status::NotFound("remove " + path.Display() + ": not found");
      if (it->second.meta.is_dir() && HasChildren(t, path.str())) {
        return Status::AlreadyExists("remove " + path.Display() +
                                     ": directory not empty");
      }
      t.nodes.erase(it);
      return Status::Ok();
    });
  }

 private:
  std::shared_ptr<MemoryStore> store_;
  std::string name_;
  Capabilities caps_;
};

}  // namespace

MemoryStore::MemoryStore() {
  Node root;
  root.meta = NewEntry(tree_, RelPath(), EntryKind::kDirectory, 0755);
  tree_.nodes.emplace("", std::move(root));
}

void MemoryStore::PutDirectory(const std::string& path, uint32_t mode) {
  RelPath p = RelPath::Parse(path).value();
  Locked([&](Tree& t) {
    std::vector<RelPath> chain;
    for (RelPath q = p; !q.IsRoot(); q = q.Parent()) chain.push_back(q);
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
      if (Find(t, it->str())) continue;
      Node node;
      node.meta = NewEntry(t, *it, EntryKind::kDirectory, 0755);
      t.nodes[it->str()] = std::move(node);
    }
    if (Node* n = Find(t, p.str())) n->meta.mode = mode;
  });
}

void MemoryStore::PutFile(const std::string& path, std::string_view content,
                          uint32_t mode) {
  RelPath p = RelPath::Parse(path).value();
  if (!p.Parent().IsRoot()) PutDirectory(p.Parent().str());
  auto data = std::make_shared<std::vector<std::byte>>(content.size());
  if (!content.empty())
    std::memcpy(data->data(), content.data(), content.size());
  Locked([&](Tree& t) {
    Node node;
    node.meta = NewEntry(t, p, EntryKind::kFile, mode);
    node.meta.size = content.size();
    node.meta.allocated = content.size();
    node.data = std::move(data);
    t.nodes[p.str()] = std::move(node);
  });
}

std::optional<std::string> MemoryStore::GetFile(const std::string& path) {
  return Locked([&](Tree& t) -> std::optional<std::string> {
    Node* n = Find(t, path);
    if (!n || !n->meta.is_file()) return std::nullopt;
    return std::string(reinterpret_cast<const char*>(n->data->data()),
                       n->data->size());
  });
}

std::unique_ptr<Backend> OpenMemoryBackend(std::shared_ptr<MemoryStore> store,
                                           std::string name) {
  return std::make_unique<MemoryBackend>(std::move(store), std::move(name));
}

std::shared_ptr<MemoryStore> NamedMemoryStore(const std::string& name) {
  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<MemoryStore>>* stores =
      new std::map<std::string, std::shared_ptr<MemoryStore>>();
  std::lock_guard lock(mu);
  auto& s = (*stores)[name];
  if (!s) s = std::make_shared<MemoryStore>();
  return s;
}

}  // namespace ferry
