#include "ferry/storage/object/memory_object_store.h"

#include <xxhash.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "ferry/base/clock.h"
#include "ferry/storage/object/object_metadata.h"

namespace ferry {
namespace {

std::string HashHex(std::span<const std::byte> data) {
  XXH128_hash_t h = XXH3_128bits(data.data(), data.size());
  char buf[40];
  std::snprintf(buf, sizeof buf, "%016llx%016llx",
                static_cast<unsigned long long>(h.high64),
                static_cast<unsigned long long>(h.low64));
  return buf;
}

std::span<const std::byte> AsSpan(const std::string& s) {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

// Continuation tokens are the last key (or common prefix) returned, so a
// page never repeats and a token from elsewhere cannot point backwards.
constexpr std::string_view kTokenPrefix = "after:";

// The smallest string above every string that starts with `prefix` (whose
// last byte is a delimiter, never 0xff).
std::string PastPrefix(std::string prefix) {
  prefix.back() = static_cast<char>(prefix.back() + 1);
  return prefix;
}

}  // namespace

MemoryObjectStore::MemoryObjectStore(ObjectStoreLimits limits, std::string name)
    : limits_(limits), name_(std::move(name)) {}

void MemoryObjectStore::SetTime(std::optional<FileTime> now) {
  std::lock_guard lock(mu_);
  now_ = now;
}

FileTime MemoryObjectStore::NowLocked() const {
  if (now_) return *now_;
  const int64_t ns = WallNanos();
  return FileTime::FromNanos(ns);
}

Status MemoryObjectStore::CheckKey(const std::string& key) const {
  if (key.empty() || key.size() > limits_.max_key_bytes) {
    return Status::InvalidArgument(
        "object key of " + std::to_string(key.size()) +
        " bytes: must be 1 to " + std::to_string(limits_.max_key_bytes));
  }
  return Status::Ok();
}

Status MemoryObjectStore::CheckMetadata(const ObjectMetadata& m) const {
  if (MetadataBytes(m) > limits_.max_metadata_bytes) {
    return Status::InvalidArgument("user metadata of " +
                                   std::to_string(MetadataBytes(m)) +
                                   " bytes exceeds the limit of " +
                                   std::to_string(limits_.max_metadata_bytes));
  }
  return Status::Ok();
}

Result<ListObjectsPage> MemoryObjectStore::ListObjects(
    const ListObjectsRequest& r) {
  lists_.fetch_add(1);
  std::string after;
  if (!r.continuation_token.empty()) {
    if (r.continuation_token.rfind(kTokenPrefix, 0) != 0) {
      return Status::InvalidArgument("bad continuation token");
    }
    after = r.continuation_token.substr(kTokenPrefix.size());
  }
  const bool with_metadata = r.with_metadata && limits_.list_metadata;
  const int max_keys =
      std::clamp(r.max_keys <= 0 ? limits_.max_list_keys : r.max_keys, 1,
                 with_metadata ? limits_.max_list_keys_with_metadata
                               : limits_.max_list_keys);
  ListObjectsPage page;
  std::lock_guard lock(mu_);
  auto it = objects_.lower_bound(r.prefix);
  if (!after.empty()) {
    // After a common prefix, skip everything beneath it too.
    it = !r.delimiter.empty() && after.ends_with(r.delimiter)
             ? objects_.lower_bound(PastPrefix(after))
             : objects_.upper_bound(after);
  }
  int count = 0;
  std::string last;
  for (; it != objects_.end(); ++it) {
    const std::string& key = it->first;
    if (key.compare(0, r.prefix.size(), r.prefix) != 0) break;
    if (count == max_keys) {
      page.next_continuation_token = std::string(kTokenPrefix) + last;
      break;
    }
    if (!r.delimiter.empty()) {
      size_t d = key.find(r.delimiter, r.prefix.size());
      if (d != std::string::npos) {
        std::string common = key.substr(0, d + r.delimiter.size());
        page.common_prefixes.push_back(common);
        ++count;
        // Skip every key under this common prefix: the next candidate is the
        // first key after all that start with it.
        last = common;
        it = objects_.lower_bound(PastPrefix(common));
        --it;  // the loop steps onto it
        continue;
      }
    }
    page.objects.push_back(ObjectSummary{key, it->second.data->size(),
                                         it->second.etag,
                                         it->second.last_modified});
    if (with_metadata) page.objects.back().metadata = it->second.metadata;
    last = key;
    ++count;
  }
  return page;
}

Result<std::unique_ptr<ObjectStream>> MemoryObjectStore::OpenStream(
    const std::string& key, uint64_t offset, uint64_t length,
    const std::string& if_match) {
  streams_.fetch_add(1);
  return ObjectStore::OpenStream(key, offset, length, if_match);
}

Result<ObjectHead> MemoryObjectStore::HeadObject(const std::string& key) {
  heads_.fetch_add(1);
  std::lock_guard lock(mu_);
  auto it = objects_.find(key);
  if (it == objects_.end()) return Status::NotFound("no object " + key);
  const Object& o = it->second;
  return ObjectHead{o.data->size(), o.etag, o.last_modified, o.metadata,
                    o.storage_class};
}

Result<size_t> MemoryObjectStore::GetObjectRange(const std::string& key,
                                                 uint64_t offset,
                                                 std::span<std::byte> out,
                                                 const std::string& if_match) {
  std::shared_ptr<const std::vector<std::byte>> data;
  {
    std::lock_guard lock(mu_);
    auto it = objects_.find(key);
    if (it == objects_.end()) return Status::NotFound("no object " + key);
    if (!if_match.empty() && it->second.etag != if_match) {
      return Status(StatusCode::kSourceChanged,
                    "object " + key + " changed (ETag " + it->second.etag +
                        ", expected " + if_match + ")");
    }
    data = it->second.data;
  }
  if (offset >= data->size()) return size_t{0};
  const size_t n = std::min<uint64_t>(out.size(), data->size() - offset);
  std::memcpy(out.data(), data->data() + offset, n);
  return n;
}

Result<std::string> MemoryObjectStore::PutObject(const PutObjectRequest& r) {
  FERRY_RETURN_IF_ERROR(CheckKey(r.key));
  FERRY_RETURN_IF_ERROR(CheckMetadata(r.metadata));
  FERRY_RETURN_IF_ERROR(CheckObjectTags(r.tags, limits_));
  if (r.data.size() > limits_.max_put_size) {
    return Status::InvalidArgument("object too large for one PUT");
  }
  Object o;
  o.data = std::make_shared<const std::vector<std::byte>>(r.data.begin(),
                                                          r.data.end());
  o.etag = HashHex(r.data);
  o.metadata = r.metadata;
  o.storage_class = r.storage_class;
  o.tags = r.tags;
  std::lock_guard lock(mu_);
  o.last_modified = NowLocked();
  std::string etag = o.etag;
  objects_[r.key] = std::move(o);
  return etag;
}

Result<std::string> MemoryObjectStore::CreateMultipartUpload(
    const PutObjectRequest& r) {
  FERRY_RETURN_IF_ERROR(CheckKey(r.key));
  FERRY_RETURN_IF_ERROR(CheckMetadata(r.metadata));
  FERRY_RETURN_IF_ERROR(CheckObjectTags(r.tags, limits_));
  std::lock_guard lock(mu_);
  char id[32];
  std::snprintf(id, sizeof id, "upload-%012llu",
                static_cast<unsigned long long>(next_upload_++));
  Upload u;
  u.key = r.key;
  u.initiated = NowLocked();
  u.metadata = r.metadata;
  u.storage_class = r.storage_class;
  u.tags = r.tags;
  uploads_[id] = std::move(u);
  return std::string(id);
}

Result<MemoryObjectStore::Upload*> MemoryObjectStore::FindUploadLocked(
    const std::string& key, const std::string& upload_id) {
  auto it = uploads_.find(upload_id);
  if (it == uploads_.end() || it->second.key != key) {
    return Status::NotFound("no multipart upload " + upload_id + " of " + key);
  }
  return &it->second;
}

Result<std::string> MemoryObjectStore::UploadPart(
    const std::string& key, const std::string& upload_id, uint32_t part_number,
    std::span<const std::byte> data) {
  if (part_number < 1 || part_number > limits_.max_parts) {
    return Status::InvalidArgument(
        "part number " + std::to_string(part_number) + " out of range");
  }
  if (data.size() > limits_.part_size_max) {
    return Status::InvalidArgument("part too large");
  }
  Part p;
  p.data =
      std::make_shared<const std::vector<std::byte>>(data.begin(), data.end());
  p.etag = HashHex(data);
  std::lock_guard lock(mu_);
  FERRY_ASSIGN_OR_RETURN(Upload * u, FindUploadLocked(key, upload_id));
  std::string etag = p.etag;
  u->parts[part_number] = std::move(p);
  return etag;
}

Result<std::string> MemoryObjectStore::UploadPartCopy(
    const std::string& key, const std::string& upload_id, uint32_t part_number,
    const std::string& source_key, uint64_t offset, uint64_t length,
    const std::string& if_match) {
  if (length > limits_.max_copy_size) {
    return Status::InvalidArgument("part copy too large");
  }
  std::shared_ptr<const std::vector<std::byte>> src;
  {
    std::lock_guard lock(mu_);
    auto it = objects_.find(source_key);
    if (it == objects_.end()) {
      return Status::NotFound("no object " + source_key);
    }
    if (!if_match.empty() && it->second.etag != if_match) {
      return Status(StatusCode::kSourceChanged,
                    "object " + source_key + " changed");
    }
    src = it->second.data;
  }
  if (offset > src->size() || length > src->size() - offset) {
    return Status::InvalidArgument("copy range beyond the source object");
  }
  return UploadPart(key, upload_id, part_number,
                    std::span<const std::byte>(src->data() + offset, length));
}

Result<std::string> MemoryObjectStore::CompleteMultipartUpload(
    const std::string& key, const std::string& upload_id,
    const std::vector<CompletedPart>& parts) {
  std::lock_guard lock(mu_);
  FERRY_ASSIGN_OR_RETURN(Upload * u, FindUploadLocked(key, upload_id));
  if (parts.empty()) return Status::InvalidArgument("no parts to complete");
  std::vector<std::byte> all;
  std::string etags;
  uint32_t prev = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    const CompletedPart& cp = parts[i];
    if (cp.number <= prev) {
      return Status::InvalidArgument("parts out of order");
    }
    prev = cp.number;
    auto it = u->parts.find(cp.number);
    if (it == u->parts.end() || it->second.etag != cp.etag) {
      return Status::InvalidArgument("part " + std::to_string(cp.number) +
                                     " was not uploaded (or has another ETag)");
    }
    const auto& data = *it->second.data;
    if (i + 1 < parts.size() && data.size() < limits_.part_size_min) {
      return Status::InvalidArgument(
          "part " + std::to_string(cp.number) + " is " +
          std::to_string(data.size()) + " bytes, below the minimum of " +
          std::to_string(limits_.part_size_min) + " (EntityTooSmall)");
    }
    all.insert(all.end(), data.begin(), data.end());
    etags += it->second.etag;
  }
  Object o;
  o.etag = HashHex(AsSpan(etags)) + "-" + std::to_string(parts.size());
  o.data = std::make_shared<const std::vector<std::byte>>(std::move(all));
  o.last_modified = NowLocked();
  o.metadata = std::move(u->metadata);
  o.storage_class = std::move(u->storage_class);
  o.tags = std::move(u->tags);
  o.multipart = true;
  std::string etag = o.etag;
  objects_[key] = std::move(o);
  uploads_.erase(upload_id);
  return etag;
}

Status MemoryObjectStore::AbortMultipartUpload(const std::string& key,
                                               const std::string& upload_id) {
  std::lock_guard lock(mu_);
  FERRY_ASSIGN_OR_RETURN(Upload * u, FindUploadLocked(key, upload_id));
  (void)u;
  uploads_.erase(upload_id);
  return Status::Ok();
}

Result<ListUploadsPage> MemoryObjectStore::ListMultipartUploads(
    const ListUploadsRequest& r) {
  const int max =
      std::clamp(r.max_uploads <= 0 ? limits_.max_list_keys : r.max_uploads, 1,
                 limits_.max_list_keys);
  std::vector<MultipartUpload> all;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, u] : uploads_) {
      if (u.key.compare(0, r.prefix.size(), r.prefix) != 0) continue;
      all.push_back(MultipartUpload{u.key, id, u.initiated});
    }
  }
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
    return std::tie(a.key, a.upload_id) < std::tie(b.key, b.upload_id);
  });
  ListUploadsPage page;
  for (MultipartUpload& u : all) {
    if (!r.key_marker.empty() &&
        std::tie(u.key, u.upload_id) <=
            std::tie(r.key_marker, r.upload_id_marker)) {
      continue;
    }
    if (static_cast<int>(page.uploads.size()) == max) {
      page.truncated = true;
      page.next_key_marker = page.uploads.back().key;
      page.next_upload_id_marker = page.uploads.back().upload_id;
      break;
    }
    page.uploads.push_back(std::move(u));
  }
  return page;
}

Result<std::string> MemoryObjectStore::ReplaceMetadata(
    const std::string& key, const ObjectMetadata& metadata,
    const std::string& storage_class, const std::string& if_match) {
  FERRY_RETURN_IF_ERROR(CheckMetadata(metadata));
  std::lock_guard lock(mu_);
  auto it = objects_.find(key);
  if (it == objects_.end()) return Status::NotFound("no object " + key);
  Object& o = it->second;
  if (!if_match.empty() && o.etag != if_match) {
    return Status(StatusCode::kSourceChanged, "object " + key + " changed");
  }
  if (o.data->size() > limits_.max_copy_size) {
    return Status::InvalidArgument("object too large for one copy");
  }
  if (o.metadata == metadata && o.storage_class == storage_class) {
    return Status::InvalidArgument(
        "This copy request is illegal because it is trying to copy an object "
        "to itself without changing the object's metadata");
  }
  o.metadata = metadata;
  o.storage_class = storage_class;
  o.last_modified = NowLocked();
  // A copied multipart object becomes a single-part one with a new ETag.
  if (o.multipart) {
    o.etag = HashHex(std::span<const std::byte>(*o.data));
    o.multipart = false;
  }
  return o.etag;
}

Status MemoryObjectStore::DeleteObject(const std::string& key) {
  std::lock_guard lock(mu_);
  objects_.erase(key);
  return Status::Ok();
}

Result<std::vector<DeleteError>> MemoryObjectStore::DeleteObjects(
    const std::vector<std::string>& keys) {
  if (keys.size() > static_cast<size_t>(limits_.max_delete_keys)) {
    return Status::InvalidArgument("too many keys in one delete");
  }
  std::lock_guard lock(mu_);
  for (const std::string& key : keys) objects_.erase(key);
  return std::vector<DeleteError>{};
}

Result<ObjectTags> MemoryObjectStore::GetObjectTags(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = objects_.find(key);
  if (it == objects_.end()) return Status::NotFound("no object " + key);
  return it->second.tags;
}

Status MemoryObjectStore::PutObjectTags(const std::string& key,
                                        const ObjectTags& tags) {
  FERRY_RETURN_IF_ERROR(CheckObjectTags(tags, limits_));
  std::lock_guard lock(mu_);
  auto it = objects_.find(key);
  if (it == objects_.end()) return Status::NotFound("no object " + key);
  it->second.tags = tags;
  return Status::Ok();
}

void MemoryObjectStore::PutRaw(const std::string& key, std::string_view content,
                               ObjectMetadata metadata) {
  Object o;
  auto bytes =
      std::as_bytes(std::span<const char>(content.data(), content.size()));
  o.data = std::make_shared<const std::vector<std::byte>>(bytes.begin(),
                                                          bytes.end());
  o.etag = HashHex(bytes);
  o.metadata = std::move(metadata);
  std::lock_guard lock(mu_);
  o.last_modified = NowLocked();
  objects_[key] = std::move(o);
}

std::vector<std::string> MemoryObjectStore::Keys() {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& [key, _] : objects_) out.push_back(key);
  return out;
}

std::vector<MultipartUpload> MemoryObjectStore::Uploads() {
  std::lock_guard lock(mu_);
  std::vector<MultipartUpload> out;
  for (const auto& [id, u] : uploads_) {
    out.push_back(MultipartUpload{u.key, id, u.initiated});
  }
  return out;
}

std::shared_ptr<MemoryObjectStore> NamedMemoryObjectStore(
    const std::string& name) {
  static std::mutex* mu = new std::mutex;
  static auto* stores =
      new std::map<std::string, std::shared_ptr<MemoryObjectStore>>;
  std::lock_guard lock(*mu);
  auto& s = (*stores)[name];
  if (!s) {
    s = std::make_shared<MemoryObjectStore>(ObjectStoreLimits(),
                                            "memory-objects:" + name);
  }
  return s;
}

}  // namespace ferry
