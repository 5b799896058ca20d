#include "ferry/storage/object/object_backend.h"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <thread>
#include <vector>

#include "ferry/base/clock.h"
#include "ferry/base/utf8.h"
#include "ferry/storage/object/object_internal.h"
#include "ferry/storage/object/object_metadata.h"

namespace ferry {
namespace object_internal {
namespace {

// A folder nobody keeps metadata for: what an implied folder reads as.
Entry ImpliedFolder(const RelPath& path) {
  Entry e;
  e.path = path;
  e.kind = EntryKind::kDirectory;
  e.mode = 0755;
  return e;
}

Status Untrusted(Context& ctx, std::string_view what, std::string_view key) {
  return Status::DataLoss(ctx.name + ": " + std::string(what) + " (key \"" +
                          EscapeForDisplay(key) + "\")");
}

// Completes an entry from its object: a link's target is its content.
Status FillLinkTarget(Context& ctx, const std::string& key,
                      const ObjectHead& head, Entry* e) {
  if (e->kind != EntryKind::kSymlink) return Status::Ok();
  if (head.size > kMaxLinkTarget) {
    return Untrusted(ctx,
                     "a symbolic link object holds " +
                         std::to_string(head.size) + " bytes, more than " +
                         std::to_string(kMaxLinkTarget),
                     key);
  }
  std::string target(head.size, '\0');
  size_t done = 0;
  while (done < target.size()) {
    FERRY_ASSIGN_OR_RETURN(size_t n,
                           ctx.store->GetObjectRange(
                               key, done,
                               std::as_writable_bytes(std::span<char>(
                                   target.data() + done, target.size() - done)),
                               head.etag));
    if (n == 0) break;
    done += n;
  }
  target.resize(done);
  e->link_target = std::move(target);
  return Status::Ok();
}

// The entry for `path` from HEAD of its object (nullopt if missing).
Result<std::optional<Entry>> HeadEntry(Context& ctx, const RelPath& path,
                                       bool marker) {
  const std::string key = marker ? ctx.DirKey(path) : ctx.Key(path);
  auto head = ctx.store->HeadObject(key);
  if (!head.ok()) {
    if (head.status().IsNotFound()) return std::optional<Entry>();
    return head.status();
  }
  Entry e = EntryFromObject(path, marker, head->size, head->etag,
                            head->last_modified, head->metadata);
  FERRY_RETURN_IF_ERROR(FillLinkTarget(ctx, key, *head, &e));
  return std::optional<Entry>(std::move(e));
}

// Something lies beneath the folder key `prefix` (its marker included).
Result<bool> AnythingBeneath(Context& ctx, const std::string& prefix) {
  ListObjectsRequest r;
  r.prefix = prefix;
  r.max_keys = 1;
  FERRY_ASSIGN_OR_RETURN(ListObjectsPage page, ctx.store->ListObjects(r));
  return !page.objects.empty() || !page.common_prefixes.empty();
}

// Lists one folder page by page (see object_backend.h).
class ObjectLister : public Lister {
 public:
  ObjectLister(std::shared_ptr<Context> ctx, RelPath dir)
      : ctx_(std::move(ctx)),
        dir_(std::move(dir)),
        prefix_(ctx_->DirKey(dir_)) {}

  Result<bool> NextBatch(std::vector<Entry>* out) override {
    while (!done_) {
      std::vector<Item> ready;
      if (exhausted_) {
        while (!held_.empty()) Release(&ready);
        done_ = true;
      } else {
        FERRY_RETURN_IF_ERROR(NextPage(&ready));
      }
      if (ready.empty()) continue;
      const size_t before = out->size();
      FERRY_RETURN_IF_ERROR(Describe(ready, out));
      if (out->size() > before) return true;
    }
    return false;
  }

 private:
  struct Item {
    std::string name;
    bool folder = false;
    ObjectSummary object;
  };

  Status NextPage(std::vector<Item>* ready) {
    ListObjectsRequest r;
    r.prefix = prefix_;
    r.delimiter = "/";
    r.continuation_token = token_;
    r.max_keys = ctx_->options.list_page_keys;
    r.with_metadata = ctx_->store->limits().list_metadata;
    FERRY_ASSIGN_OR_RETURN(ListObjectsPage page, ctx_->store->ListObjects(r));
    const size_t cap = 2 * static_cast<size_t>(std::max(
                               ctx_->store->limits().max_list_keys, 1));
    if (page.objects.size() + page.common_prefixes.size() > cap ||
        page.next_continuation_token.size() > 4096) {
      return Untrusted(*ctx_, "a listing page larger than asked for", prefix_);
    }
    if (page.next_continuation_token.empty()) {
      exhausted_ = true;
    } else if (page.next_continuation_token == token_) {
      return Untrusted(*ctx_, "a listing that does not advance", prefix_);
    }
    token_ = std::move(page.next_continuation_token);
    // Objects and common prefixes each come in key order; merge them.
    size_t i = 0, j = 0;
    while (i < page.objects.size() || j < page.common_prefixes.size()) {
      const bool take_object = j == page.common_prefixes.size() ||
                               (i < page.objects.size() &&
                                page.objects[i].key < page.common_prefixes[j]);
      Item item;
      std::string key;
      if (take_object) {
        item.object = std::move(page.objects[i++]);
        key = item.object.key;
      } else {
        key = std::move(page.common_prefixes[j++]);
        item.folder = true;
      }
      if (key.size() > ctx_->store->limits().max_key_bytes ||
          key.compare(0, prefix_.size(), prefix_) != 0) {
        return Untrusted(*ctx_, "a key outside the listed folder", key);
      }
      std::string_view name = std::string_view(key).substr(prefix_.size());
      if (!item.folder && name.empty()) {  // the folder's marker
        if (item.object.metadata && !dir_.IsRoot()) {
          self_ =
              EntryFromObject(dir_, true, item.object.size, item.object.etag,
                              item.object.last_modified, *item.object.metadata);
        }
        continue;
      }
      if (item.folder) {
        if (name.empty() || name.back() != '/') {
          return Untrusted(*ctx_, "a malformed common prefix", key);
        }
        name.remove_suffix(1);
      }
      if (!RelPath::IsValidName(name)) {
        return Untrusted(*ctx_,
                         "a key that is no valid path beneath the location "
                         "(empty, \".\" or \"..\" component, or NUL)",
                         key);
      }
      if (!last_key_.empty() && key <= last_key_) {
        return Untrusted(*ctx_, "a listing out of key order", key);
      }
      last_key_ = key;
      item.name = std::string(name);
      FERRY_RETURN_IF_ERROR(Hold(std::move(item), ready));
    }
    return Status::Ok();
  }

  // An object "a" and the folder "a/" would be one path twice. Keys between
  // them all start with "a" and a byte below '/', so an object is held
  // until a key shows its folder cannot follow; the held names form a chain
  // of prefixes, no longer than the longest key.
  Status Hold(Item item, std::vector<Item>* ready) {
    const std::string s = item.folder ? item.name + "/" : item.name;
    while (!held_.empty()) {
      const std::string& h = held_.back().name;
      if (s.size() > h.size() && s.compare(0, h.size(), h) == 0) {
        const unsigned char next = static_cast<unsigned char>(s[h.size()]);
        if (next < '/') break;  // "a/" may still come
        if (next == '/') {
          return Untrusted(*ctx_,
                           "a name that is both an object and a folder; "
                           "ferry cannot copy both",
                           prefix_ + s);
        }
      }
      Release(ready);
    }
    if (item.folder) {
      ready->push_back(std::move(item));
    } else {
      held_.push_back(std::move(item));
    }
    return Status::Ok();
  }

  void Release(std::vector<Item>* ready) {
    ready->push_back(std::move(held_.back()));
    held_.pop_back();
  }

  // Turns items into entries: what the listing tells. An object listed
  // with its metadata is complete (a symbolic link but for its target); a
  // folder, and an object listed without, is Entry::kPartial.
  Status Describe(std::vector<Item>& items, std::vector<Entry>* out) {
    for (const Item& it : items) {
      const RelPath path = dir_.Child(it.name);
      if (!it.folder && it.object.metadata) {
        Entry e = EntryFromObject(path, false, it.object.size, it.object.etag,
                                  it.object.last_modified, *it.object.metadata);
        if (e.kind != EntryKind::kSymlink) {
          out->push_back(std::move(e));
          continue;
        }
      }
      Entry e = it.folder ? ImpliedFolder(path)
                          : EntryFromObject(path, false, it.object.size,
                                            it.object.etag,
                                            it.object.last_modified, {});
      e.flags |= Entry::kPartial;
      out->push_back(std::move(e));
    }
    return Status::Ok();
  }

 public:
  // A listing with metadata tells the folder's own entry: its marker's, or
  // a folder implied by what lies beneath when it has none.
  std::optional<Entry> Self() override {
    if (!done_ || dir_.IsRoot() || !ctx_->store->limits().list_metadata) {
      return std::nullopt;
    }
    if (self_) return self_;
    return ImpliedFolder(dir_);
  }

 private:
  const std::shared_ptr<Context> ctx_;
  const RelPath dir_;
  const std::string prefix_;
  std::string token_;
  std::string last_key_;
  std::vector<Item> held_;
  std::optional<Entry> self_;  // from the folder's marker
  bool exhausted_ = false;
  bool done_ = false;
};

std::string FormatUnixNanos(FileTime t) {
  return FormatIso8601(t.sec * 1000000000 + t.nsec);
}

class ObjectBackend : public Backend {
 public:
  explicit ObjectBackend(std::shared_ptr<Context> ctx) : ctx_(std::move(ctx)) {}

  const Capabilities& capabilities() const override { return ctx_->caps; }

  void SetObserver(StorageObserver* observer) override {
    ctx_->store->SetObserver(observer);
  }

  // A name the store can hold as a key: valid UTF-8 where it must be, and
  // short enough (a folder's marker key ends in '/').
  Status CheckName(const RelPath& path, bool folder) const {
    if (ctx_->caps.utf8_names_only && !IsValidUtf8(path.str())) {
      return Status::InvalidArgument(
          ctx_->Where(path) +
          ": the name is not valid UTF-8, and object keys must be");
    }
    if (ctx_->caps.azure_names) {
      for (RelPath p = path; !p.IsRoot(); p = p.Parent()) {
        if (std::string why = AzureNameProblem(p.name()); !why.empty()) {
          return Status::InvalidArgument(
              ctx_->Where(path) +
              ": Azure Blob Storage cannot keep a name with " + why);
        }
      }
    }
    const size_t key = ctx_->Key(path).size() + (folder ? 1 : 0);
    if (key > ctx_->store->limits().max_key_bytes) {
      return Status::InvalidArgument(
          ctx_->Where(path) + ": its key would be " + std::to_string(key) +
          " bytes, more than the " +
          std::to_string(ctx_->store->limits().max_key_bytes) +
          " the store takes");
    }
    return Status::Ok();
  }
  std::string Describe() const override { return ctx_->name; }

  std::optional<std::chrono::nanoseconds> ClockOffset() const override {
    return ctx_->store->ClockOffset();
  }

  Result<std::optional<Entry>> Stat(const RelPath& path) override {
    return StatPath(*ctx_, path);
  }

  Result<std::unique_ptr<Lister>> List(const RelPath& dir) override {
    return std::unique_ptr<Lister>(std::make_unique<ObjectLister>(ctx_, dir));
  }

  Result<std::unique_ptr<Reader>> OpenRead(const RelPath& path) override {
    return OpenObjectReader(ctx_, path);
  }

  Result<std::unique_ptr<StagedWriter>> OpenWrite(
      const RelPath& path, const WriteHints& hints) override {
    FERRY_RETURN_IF_ERROR(CheckName(path, false));
    return OpenObjectWriter(ctx_, path, hints);
  }

  Status MakeDirectory(const RelPath& path) override {
    if (path.IsRoot()) return Status::Ok();
    FERRY_RETURN_IF_ERROR(CheckName(path, true));
    auto head = ctx_->store->HeadObject(ctx_->Key(path));
    if (head.ok()) {
      return Status::AlreadyExists("a file or link is at " + ctx_->Where(path));
    }
    if (!head.status().IsNotFound()) return head.status();
    auto marker = ctx_->store->HeadObject(ctx_->DirKey(path));
    if (marker.ok()) return Status::Ok();
    if (!marker.status().IsNotFound()) return marker.status();
    PutObjectRequest r;
    r.key = ctx_->DirKey(path);
    r.metadata[std::string(kMetaUserAgent)] = std::string(kUserAgent);
    r.storage_class = ctx_->options.storage_class;
    return ctx_->store->PutObject(r).status();
  }

  Status CreateSymlink(const RelPath& path, const Entry& src,
                       const MetadataPolicy& policy) override {
    if (path.IsRoot()) {
      return Status::InvalidArgument("cannot make the root a link");
    }
    if (src.link_target.empty() || src.link_target.size() > kMaxLinkTarget) {
      return Status::InvalidArgument(
          "link target of " + std::to_string(src.link_target.size()) +
          " bytes for " + ctx_->Where(path) + " (1 to " +
          std::to_string(kMaxLinkTarget) + ")");
    }
    FERRY_RETURN_IF_ERROR(CheckName(path, false));
    FERRY_RETURN_IF_ERROR(CheckNoFolder(*ctx_, path));
    PutObjectRequest r;
    r.key = ctx_->Key(path);
    r.data = std::as_bytes(
        std::span<const char>(src.link_target.data(), src.link_target.size()));
    SetPosixMetadata(src, EntryKind::kSymlink, policy, &r.metadata);
    r.storage_class = ctx_->options.storage_class;
    return ctx_->store->PutObject(r).status();
  }

  Status SetMetadata(const RelPath& path, const Entry& src,
                     const MetadataPolicy& policy) override {
    ObjectStore& store = *ctx_->store;
    if (!path.IsRoot()) {
      const std::string key = ctx_->Key(path);
      auto head = store.HeadObject(key);
      if (head.ok()) {
        const Entry now = EntryFromObject(path, false, head->size, head->etag,
                                          head->last_modified, head->metadata);
        ObjectMetadata md = head->metadata;  // keeps the digest and others'
        SetPosixMetadata(src, now.kind, policy, &md);
        if (md == head->metadata) return Status::Ok();
        FERRY_RETURN_IF_ERROR(CheckSize(path, md));
        return ReplaceObjectMetadata(*ctx_, key, *head, md);
      }
      if (!head.status().IsNotFound()) return head.status();
    } else if (ctx_->root.empty()) {
      return Status::Ok();  // a bucket's root has nowhere to keep metadata
    }
    // A folder: its marker carries the metadata.
    const std::string marker = ctx_->DirKey(path);
    auto head = store.HeadObject(marker);
    ObjectMetadata md;
    if (head.ok()) {
      md = head->metadata;
    } else if (!head.status().IsNotFound()) {
      return head.status();
    } else if (!path.IsRoot()) {
      FERRY_ASSIGN_OR_RETURN(bool exists, AnythingBeneath(*ctx_, marker));
      if (!exists) return Status::NotFound("nothing at " + ctx_->Where(path));
    }
    SetPosixMetadata(src, EntryKind::kDirectory, policy, &md);
    if (head.ok() && md == head->metadata) return Status::Ok();
    FERRY_RETURN_IF_ERROR(CheckSize(path, md));
    PutObjectRequest r;
    r.key = marker;
    r.metadata = std::move(md);
    r.storage_class = ctx_->options.storage_class;
    return store.PutObject(r).status();
  }

  Result<ObjectTags> GetTags(const RelPath& path) override {
    if (path.IsRoot()) {
      return Status::InvalidArgument(ctx_->Where(path) + " is a folder");
    }
    auto tags = ctx_->store->GetObjectTags(ctx_->Key(path));
    if (!tags.ok() && tags.status().IsNotFound()) {
      return Status::NotFound("no file " + ctx_->Where(path));
    }
    return tags;
  }

  Status SetTags(const RelPath& path, const ObjectTags& tags) override {
    if (path.IsRoot()) {
      return Status::InvalidArgument(ctx_->Where(path) + " is a folder");
    }
    if (Status st = CheckObjectTags(tags, ctx_->store->limits()); !st.ok()) {
      return st.WithContext(ctx_->Where(path));
    }
    Status st = ctx_->store->PutObjectTags(ctx_->Key(path), tags);
    if (st.IsNotFound())
      return Status::NotFound("no file " + ctx_->Where(path));
    return st;
  }

  std::vector<Status> RemoveFiles(std::span<const RelPath> paths,
                                  std::stop_token stop) override {
    std::vector<Status> out(paths.size());
    ObjectStore& store = *ctx_->store;
    const size_t batch =
        static_cast<size_t>(std::max(1, store.limits().max_delete_keys));
    for (size_t start = 0; start < paths.size(); start += batch) {
      const size_t end = std::min(paths.size(), start + batch);
      if (stop.stop_requested()) {
        for (size_t i = start; i < paths.size(); ++i) {
          out[i] = Status::Cancelled("cancelled");
        }
        break;
      }
      std::vector<std::string> keys;
      std::map<std::string, size_t> index;  // key -> position in `paths`
      for (size_t i = start; i < end; ++i) {
        if (paths[i].IsRoot()) {
          out[i] = Status::InvalidArgument("cannot remove the root of " +
                                           ctx_->name);
          continue;
        }
        keys.push_back(ctx_->Key(paths[i]));
        index[keys.back()] = i;
      }
      auto errors = store.DeleteObjects(keys);
      if (!errors.ok()) {
        for (const std::string& k : keys) out[index[k]] = errors.status();
        continue;
      }
      for (const DeleteError& e : *errors) {
        auto it = index.find(e.key);
        if (it != index.end()) out[it->second] = e.status;
      }
    }
    return out;
  }

  Status Remove(const RelPath& path) override {
    if (path.IsRoot()) {
      return Status::InvalidArgument("cannot remove the root of " + ctx_->name);
    }
    ObjectStore& store = *ctx_->store;
    const std::string key = ctx_->Key(path);
    auto head = store.HeadObject(key);
    if (head.ok()) return store.DeleteObject(key);
    if (!head.status().IsNotFound()) return head.status();
    // A folder: only its marker goes, and only if nothing else is in it.
    const std::string marker = ctx_->DirKey(path);
    ListObjectsRequest r;
    r.prefix = marker;
    r.max_keys = 2;
    FERRY_ASSIGN_OR_RETURN(ListObjectsPage page, store.ListObjects(r));
    bool has_marker = false;
    for (const ObjectSummary& o : page.objects) {
      if (o.key == marker) {
        has_marker = true;
      } else {
        return Status::FailedPrecondition("folder " + ctx_->Where(path) +
                                          " is not empty");
      }
    }
    if (!page.common_prefixes.empty()) {
      return Status::FailedPrecondition("folder " + ctx_->Where(path) +
                                        " is not empty");
    }
    if (!has_marker) return Status::NotFound("nothing at " + ctx_->Where(path));
    return store.DeleteObject(marker);
  }

  Status RemoveTree(const RelPath& path) override {
    if (path.IsRoot()) {
      return Status::InvalidArgument("cannot remove the root of " + ctx_->name);
    }
    ObjectStore& store = *ctx_->store;
    FERRY_RETURN_IF_ERROR(store.DeleteObject(ctx_->Key(path)));
    const std::string prefix = ctx_->DirKey(path);
    const size_t batch = static_cast<size_t>(
        std::clamp(store.limits().max_delete_keys, 1, 1000));
    ListObjectsRequest r;
    r.prefix = prefix;
    r.max_keys = ctx_->options.list_page_keys;
    while (true) {
      FERRY_ASSIGN_OR_RETURN(ListObjectsPage page, store.ListObjects(r));
      std::vector<std::string> keys;
      for (ObjectSummary& o : page.objects) {
        // Never delete what the store says is beneath but is not.
        if (o.key.compare(0, prefix.size(), prefix) != 0) {
          return Untrusted(*ctx_, "a key outside the listed folder", o.key);
        }
        keys.push_back(std::move(o.key));
        if (keys.size() == batch) FERRY_RETURN_IF_ERROR(Delete(&keys));
      }
      FERRY_RETURN_IF_ERROR(Delete(&keys));
      if (page.next_continuation_token.empty() ||
          page.next_continuation_token == r.continuation_token) {
        break;
      }
      r.continuation_token = std::move(page.next_continuation_token);
    }
    return Status::Ok();
  }

  Status CleanupStaging(const StagingCleanup& cleanup) override {
    ObjectStore& store = *ctx_->store;
    const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                            cleanup.now.time_since_epoch())
                            .count();
    const int64_t max_age =
        std::chrono::duration_cast<std::chrono::nanoseconds>(cleanup.max_age)
            .count();
    ListUploadsRequest r;
    r.prefix = ctx_->root;
    std::vector<MultipartUpload> stale;
    for (int pages = 0;; ++pages) {
      FERRY_ASSIGN_OR_RETURN(ListUploadsPage page,
                             store.ListMultipartUploads(r));
      for (MultipartUpload& u : page.uploads) {
        if (u.key.compare(0, ctx_->root.size(), ctx_->root) != 0) continue;
        if (ctx_->IsLive(u.upload_id)) continue;
        if (now - u.initiated.Nanos() < max_age) continue;
        stale.push_back(std::move(u));
      }
      if (!page.truncated ||
          (page.next_key_marker == r.key_marker &&
           page.next_upload_id_marker == r.upload_id_marker)) {
        break;
      }
      r.key_marker = std::move(page.next_key_marker);
      r.upload_id_marker = std::move(page.next_upload_id_marker);
    }
    for (const MultipartUpload& u : stale) {
      Status st = store.AbortMultipartUpload(u.key, u.upload_id);
      if (!st.ok() && !st.IsNotFound()) return st;
      if (cleanup.on_removed) {
        auto path = RelPath::Parse(u.key.substr(ctx_->root.size()));
        cleanup.on_removed(path.ok() ? *path : RelPath(),
                           "multipart upload of \"" + EscapeForDisplay(u.key) +
                               "\" started " + FormatUnixNanos(u.initiated));
      }
    }
    return Status::Ok();
  }

 private:
  Status CheckSize(const RelPath& path, const ObjectMetadata& md) {
    if (MetadataBytes(md) > ctx_->store->limits().max_metadata_bytes) {
      return Status::InvalidArgument(
          "the metadata of " + ctx_->Where(path) + " would be " +
          std::to_string(MetadataBytes(md)) + " bytes, over the store's limit");
    }
    return Status::Ok();
  }

  Status Delete(std::vector<std::string>* keys) {
    if (keys->empty()) return Status::Ok();
    FERRY_ASSIGN_OR_RETURN(std::vector<DeleteError> errors,
                           ctx_->store->DeleteObjects(*keys));
    keys->clear();
    for (const DeleteError& e : errors) {
      if (!e.status.IsNotFound()) {
        return e.status.WithContext("deleting \"" + EscapeForDisplay(e.key) +
                                    "\"");
      }
    }
    return Status::Ok();
  }

  const std::shared_ptr<Context> ctx_;
};

}  // namespace

Result<std::optional<Entry>> StatPath(Context& ctx, const RelPath& path) {
  if (path.IsRoot()) {
    if (!ctx.root.empty()) {
      FERRY_ASSIGN_OR_RETURN(std::optional<Entry> marker,
                             HeadEntry(ctx, path, true));
      if (marker) return marker;
    }
    return std::optional<Entry>(ImpliedFolder(path));
  }
  FERRY_ASSIGN_OR_RETURN(std::optional<Entry> object,
                         HeadEntry(ctx, path, false));
  if (object) return object;
  FERRY_ASSIGN_OR_RETURN(std::optional<Entry> marker,
                         HeadEntry(ctx, path, true));
  if (marker) return marker;
  FERRY_ASSIGN_OR_RETURN(bool implied, AnythingBeneath(ctx, ctx.DirKey(path)));
  if (implied) return std::optional<Entry>(ImpliedFolder(path));
  return std::optional<Entry>();
}

Status CheckNoFolder(Context& ctx, const RelPath& path) {
  FERRY_ASSIGN_OR_RETURN(bool folder, AnythingBeneath(ctx, ctx.DirKey(path)));
  if (folder) {
    return Status::FailedPrecondition("a folder is at " + ctx.Where(path));
  }
  return Status::Ok();
}

}  // namespace object_internal

Result<std::unique_ptr<Backend>> OpenObjectBackend(
    std::shared_ptr<ObjectStore> store, ObjectBackendOptions options) {
  auto ctx = std::make_shared<object_internal::Context>();
  if (!options.prefix.empty()) {
    auto prefix = RelPath::Parse(options.prefix);
    if (!prefix.ok() || prefix->str() != options.prefix) {
      return Status::InvalidArgument(
          "object key prefix \"" + EscapeForDisplay(options.prefix) +
          "\" must be a relative path without empty, \".\" or \"..\" parts");
    }
    ctx->root = options.prefix + "/";
  }
  const ObjectStoreLimits& limits = store->limits();
  ctx->name = !options.name.empty() ? options.name
              : options.prefix.empty()
                  ? store->Describe()
                  : store->Describe() + "/" + options.prefix;
  Capabilities& c = ctx->caps;
  c.symlinks = true;
  c.posix_mode = true;
  c.posix_owner = true;
  c.atime = true;
  c.mtime_granularity_ns = 1;  // file-mtime is in nanoseconds
  c.sorted_listing = false;
  c.change_time = true;  // Last-Modified
  c.settable_mtime = true;
  c.implied_directories = true;
  c.content_digests = true;
  c.caller_uid = -1;
  c.utf8_names_only = limits.utf8_keys;
  c.azure_names = limits.azure_names;
  c.io_concurrency = options.io_concurrency;
  c.read_size_preferred = options.read_size_preferred;
  c.read_stream_size = options.read_stream_size;
  c.object_tags = limits.max_tags > 0;
  c.part_size_min = limits.part_size_min;
  c.part_size_max = limits.part_size_max;
  c.max_parts = limits.max_parts;
  c.part_size_preferred =
      options.part_size_preferred == 0
          ? limits.part_size_min
          : std::clamp(options.part_size_preferred, limits.part_size_min,
                       limits.part_size_max);
  ctx->store = std::move(store);
  ctx->options = std::move(options);
  return std::unique_ptr<Backend>(
      std::make_unique<object_internal::ObjectBackend>(std::move(ctx)));
}

}  // namespace ferry
