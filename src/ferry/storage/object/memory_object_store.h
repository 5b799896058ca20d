// MemoryObjectStore: an ObjectStore held in memory, with S3's rules, for the
// conformance suite and engine tests (the flat key-value fake that keeps the
// object seam honest) and for trying ferry ("memory-objects:NAME").
//
// A flat map of keys to bytes, user metadata, tags, storage class and ETag
// (an opaque content hash; "<hash of part hashes>-N" for multipart objects).
// It enforces S3's limits (settable, so that tests can use small parts):
// part sizes at Complete (all but the last at least part_size_min), max-keys
// paging with continuation tokens, delimiters and common prefixes, If-Match,
// metadata size, tag limits, and a copy onto itself that must change
// something (and keeps the tags, as S3 does).
// Thread-safe: one mutex guards everything; object bodies are immutable
// once stored, so reads copy outside the lock.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "ferry/storage/object/object_store.h"

namespace ferry {

class MemoryObjectStore : public ObjectStore {
 public:
  explicit MemoryObjectStore(ObjectStoreLimits limits = ObjectStoreLimits(),
                             std::string name = "memory-objects");

  std::string Describe() const override { return name_; }
  const ObjectStoreLimits& limits() const override { return limits_; }

  Result<ListObjectsPage> ListObjects(const ListObjectsRequest& r) override;
  Result<ObjectHead> HeadObject(const std::string& key) override;
  Result<size_t> GetObjectRange(const std::string& key, uint64_t offset,
                                std::span<std::byte> out,
                                const std::string& if_match) override;
  // ObjectStore's (a ranged read per Read), counted.
  Result<std::unique_ptr<ObjectStream>> OpenStream(
      const std::string& key, uint64_t offset, uint64_t length,
      const std::string& if_match) override;
  Result<std::string> PutObject(const PutObjectRequest& r) override;
  Result<std::string> CreateMultipartUpload(const PutObjectRequest& r) override;
  Result<std::string> UploadPart(const std::string& key,
                                 const std::string& upload_id,
                                 uint32_t part_number,
                                 std::span<const std::byte> data) override;
  Result<std::string> UploadPartCopy(const std::string& key,
                                     const std::string& upload_id,
                                     uint32_t part_number,
                                     const std::string& source_key,
                                     uint64_t offset, uint64_t length,
                                     const std::string& if_match) override;
  Result<std::string> CompleteMultipartUpload(
      const std::string& key, const std::string& upload_id,
      const std::vector<CompletedPart>& parts) override;
  Status AbortMultipartUpload(const std::string& key,
                              const std::string& upload_id) override;
  Result<ListUploadsPage> ListMultipartUploads(
      const ListUploadsRequest& r) override;
  Result<std::string> ReplaceMetadata(const std::string& key,
                                      const ObjectMetadata& metadata,
                                      const std::string& storage_class,
                                      const std::string& if_match) override;
  Status DeleteObject(const std::string& key) override;
  Result<std::vector<DeleteError>> DeleteObjects(
      const std::vector<std::string>& keys) override;
  // Its clock is this machine's (or the one a test sets).
  std::optional<std::chrono::nanoseconds> ClockOffset() const override {
    return std::chrono::nanoseconds(0);
  }
  Result<ObjectTags> GetObjectTags(const std::string& key) override;
  Status PutObjectTags(const std::string& key, const ObjectTags& tags) override;

  // Test hooks. The time objects and uploads are stamped with (default: the
  // wall clock).
  void SetTime(std::optional<FileTime> now);
  // Stores an object directly, as another tool would (no ferry metadata).
  void PutRaw(const std::string& key, std::string_view content,
              ObjectMetadata metadata = {});
  // Every key, in order; the uploads in progress.
  std::vector<std::string> Keys();
  std::vector<MultipartUpload> Uploads();
  // Requests served so far (HeadObject, ListObjects, OpenStream).
  int64_t heads() const { return heads_.load(); }
  int64_t lists() const { return lists_.load(); }
  int64_t streams() const { return streams_.load(); }

 private:
  struct Object {
    std::shared_ptr<const std::vector<std::byte>> data;
    std::string etag;
    FileTime last_modified;
    ObjectMetadata metadata;
    std::string storage_class;
    ObjectTags tags;
    bool multipart = false;
  };
  struct Part {
    std::shared_ptr<const std::vector<std::byte>> data;
    std::string etag;
  };
  struct Upload {
    std::string key;
    FileTime initiated;
    ObjectMetadata metadata;
    std::string storage_class;
    ObjectTags tags;
    std::map<uint32_t, Part> parts;
  };

  FileTime NowLocked() const;
  Status CheckKey(const std::string& key) const;
  Status CheckMetadata(const ObjectMetadata& m) const;
  Result<Upload*> FindUploadLocked(const std::string& key,
                                   const std::string& upload_id);

  const ObjectStoreLimits limits_;
  const std::string name_;
  std::atomic<int64_t> streams_{0};
  std::atomic<int64_t> heads_{0};
  std::atomic<int64_t> lists_{0};
  mutable std::mutex mu_;
  std::map<std::string, Object> objects_;  // GUARDED_BY(mu_)
  // upload id -> upload; ids sort by creation.
  std::map<std::string, Upload> uploads_;  // GUARDED_BY(mu_)
  uint64_t next_upload_ = 1;               // GUARDED_BY(mu_)
  std::optional<FileTime> now_;            // GUARDED_BY(mu_)
};

// A process-wide store per name, so that "memory-objects:NAME" locations on
// one command line share their objects.
std::shared_ptr<MemoryObjectStore> NamedMemoryObjectStore(
    const std::string& name);

}  // namespace ferry
