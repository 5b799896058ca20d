// S3ObjectStore: an ObjectStore (storage/object/object_store.h) that is one
// bucket of an S3 or S3-compatible server, through S3Client; and the "s3"
// location type of the backend registry: OpenS3Backend turns a LocationSpec
// (bucket, prefix, endpoint, keys) into an ObjectBackend over it.
// Thread-safe, as S3Client is.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "ferry/base/status.h"
#include "ferry/s3/s3_client.h"
#include "ferry/storage/object/object_store.h"
#include "ferry/storage/registry.h"

namespace ferry {

class S3ObjectStore : public ObjectStore {
 public:
  // `client` may be set later (SetClient), so that its on_retry can be
  // RetryReporter() of this store.
  explicit S3ObjectStore(std::string bucket);
  void SetClient(std::shared_ptr<S3Client> client) {
    client_ = std::move(client);
  }

  void SetObserver(StorageObserver* observer) override;
  // The S3ClientOptions::on_retry that reports to the observer.
  std::function<void(const S3RetryEvent&)> RetryReporter();

  std::string Describe() const override;
  const ObjectStoreLimits& limits() const override { return limits_; }

  Result<ListObjectsPage> ListObjects(const ListObjectsRequest& r) override;
  Result<ObjectHead> HeadObject(const std::string& key) override;
  Result<size_t> GetObjectRange(const std::string& key, uint64_t offset,
                                std::span<std::byte> out,
                                const std::string& if_match) override;
  Result<size_t> GetObjectRangeWithHead(const std::string& key, uint64_t offset,
                                        std::span<std::byte> out,
                                        ObjectHead* head) override;
  Result<std::unique_ptr<ObjectStream>> OpenStream(
      const std::string& key, uint64_t offset, uint64_t length,
      const std::string& if_match) override;
  std::optional<std::chrono::nanoseconds> ClockOffset() const override;
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
  Result<ObjectTags> GetObjectTags(const std::string& key) override;
  Status PutObjectTags(const std::string& key, const ObjectTags& tags) override;

 private:
  std::shared_ptr<S3Client> client_;
  const std::string bucket_;
  // Shared with the client's on_retry, which may outlive a moment's setting.
  std::shared_ptr<std::atomic<StorageObserver*>> observer_ =
      std::make_shared<std::atomic<StorageObserver*>>(nullptr);
  ObjectStoreLimits limits_;
};

// Opens an "s3" location: the credentials, region, endpoint and CA of
// spec.endpoint, filled in as the aws CLI would (ferry/aws/config.h); then
// a one-key listing, so that bad keys, a missing bucket, an unreachable
// endpoint or a certificate that does not verify fail here, with a message
// naming the location and the cause.
Result<std::unique_ptr<Backend>> OpenS3Backend(const LocationSpec& spec);

// Registers the "s3" location type (idempotent).
void RegisterS3Backend();

}  // namespace ferry
