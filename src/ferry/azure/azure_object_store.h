// AzureObjectStore: an ObjectStore (storage/object/object_store.h) that is
// one container of an Azure Blob Storage account (or Azurite), through
// AzureClient; and the "azure" location type of the backend registry:
// OpenAzureBackend turns a LocationSpec into an ObjectBackend over it.
//
// How S3's model maps onto Azure's:
//   - a multipart upload is a block blob's uncommitted blocks: the upload
//     id is ferry's (random), each part one Put Block (its id made of the
//     upload id and part number), Complete one Put Block List; an upload
//     abandoned leaves only uncommitted blocks, which Azure discards after
//     a week (there is nothing to list or abort);
//   - metadata names must be C# identifiers in Azure: ferry's own names
//     ("file-mtime") are stored with '_' for '-' ("file_mtime") and read
//     back the other way; a name that even so is not an identifier is
//     refused (InvalidArgument, naming it);
//   - a metadata change is Set Blob Metadata (no copy: any size);
//   - the storage class is the access tier: DataSync's HOT, COOL, ARCHIVE;
//   - no object tags (DataSync copies none to Azure).
// Thread-safe, as AzureClient is.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "ferry/azure/azure_client.h"
#include "ferry/storage/object/object_store.h"
#include "ferry/storage/registry.h"

namespace ferry {

class AzureObjectStore : public ObjectStore {
 public:
  explicit AzureObjectStore(std::string container);
  void SetClient(std::shared_ptr<AzureClient> client) {
    client_ = std::move(client);
  }

  void SetObserver(StorageObserver* observer) override;
  // The AzureClientOptions::on_retry that reports to the observer.
  std::function<void(const std::string&, const Status&, int, Clock::duration)>
  RetryReporter();

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
  struct Upload {
    std::string key;
    std::map<std::string, std::string> metadata;  // Azure's names
    std::string tier;
  };

  std::shared_ptr<AzureClient> client_;
  const std::string container_;
  std::shared_ptr<std::atomic<StorageObserver*>> observer_ =
      std::make_shared<std::atomic<StorageObserver*>>(nullptr);
  ObjectStoreLimits limits_;
  std::mutex mu_;
  std::map<std::string, Upload> uploads_;  // GUARDED_BY(mu_), by upload id
};

// ferry's metadata names as Azure stores them, and back.
Result<std::map<std::string, std::string>> ToAzureMetadata(
    const ObjectMetadata& metadata);
ObjectMetadata FromAzureMetadata(const std::map<std::string, std::string>& m);

// DataSync's AccessTier (HOT, COOL, ARCHIVE; "" for the default) as Azure
// names it (Hot, Cool, Archive), and back.
Result<std::string> AzureTier(std::string_view access_tier);
std::string DataSyncAccessTier(std::string_view azure_tier);

// Opens an "azure" location: spec.endpoint.url is the account's blob
// endpoint, spec.endpoint.user the account, spec.bucket the container,
// spec.path the prefix, spec.storage_class the access tier; authorized by
// spec.endpoint.sas_token or spec.endpoint.secret_key (the account key).
// Then a one-blob listing, so that a bad key or token, a missing container
// or an unreachable endpoint fail here, naming the location and the cause.
Result<std::unique_ptr<Backend>> OpenAzureBackend(const LocationSpec& spec);

// Registers the "azure" location type (idempotent).
void RegisterAzureBackend();

}  // namespace ferry
