// What ObjectBackend's pieces share: the store, the key mapping and the
// live uploads (object_backend.cc: the Backend and its lister;
// object_writer.cc: readers and staged writers). Internal to storage/object.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "ferry/storage/backend.h"
#include "ferry/storage/object/object_backend.h"
#include "ferry/storage/object/object_store.h"

namespace ferry::object_internal {

struct Context {
  std::shared_ptr<ObjectStore> store;
  ObjectBackendOptions options;
  std::string root;  // key prefix of the root: "" or "dir/sub/"
  std::string name;
  Capabilities caps;

  std::mutex mu;
  std::set<std::string> live_uploads;  // GUARDED_BY(mu): upload ids

  std::string Key(const RelPath& p) const { return root + p.str(); }
  // The folder's marker key, which is also the prefix of what lies in it.
  std::string DirKey(const RelPath& p) const {
    return p.IsRoot() ? root : root + p.str() + "/";
  }
  std::string Where(const RelPath& p) const { return name + p.Display(); }

  void AddUpload(const std::string& id) {
    std::lock_guard lock(mu);
    live_uploads.insert(id);
  }
  void RemoveUpload(const std::string& id) {
    std::lock_guard lock(mu);
    live_uploads.erase(id);
  }
  bool IsLive(const std::string& id) {
    std::lock_guard lock(mu);
    return live_uploads.count(id) > 0;
  }
};

// What is at `path`: a file or link object, a folder marker, an implied
// folder, or nothing.
Result<std::optional<Entry>> StatPath(Context& ctx, const RelPath& path);

// FailedPrecondition when anything lies beneath `path` (a folder is there).
Status CheckNoFolder(Context& ctx, const RelPath& path);

// Gives the object `key` (as HEAD described it) these metadata, keeping its
// content: CopyObject onto itself, or a multipart copy when it is larger
// than one copy may be.
Status ReplaceObjectMetadata(Context& ctx, const std::string& key,
                             const ObjectHead& head,
                             const ObjectMetadata& metadata);

Result<std::unique_ptr<Reader>> OpenObjectReader(
    const std::shared_ptr<Context>& ctx, const RelPath& path);
Result<std::unique_ptr<StagedWriter>> OpenObjectWriter(
    const std::shared_ptr<Context>& ctx, const RelPath& path,
    const WriteHints& hints);

}  // namespace ferry::object_internal
