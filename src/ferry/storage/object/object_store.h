// ObjectStore: a flat key-value object store (an S3 bucket, later an Azure
// Blob container), as the operations S3 offers, one method per request, so
// that an adapter over an S3 client is a thin translation. ObjectBackend
// (object_backend.h) builds ferry's file model on top of it.
//
// Keys are byte strings (S3: UTF-8, at most 1024 bytes). User metadata names
// are lower case without the "x-amz-meta-" prefix. Everything a store returns
// is untrusted: callers bound and validate keys, counts and metadata.
// Implementations are thread-safe: every method may be called concurrently.
//
// Errors: a missing key or upload is NotFound; a read whose If-Match ETag no
// longer matches is kSourceChanged (the object changed); limits broken by the
// caller are InvalidArgument; transient failures are retryable Unavailable.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ferry/base/status.h"
#include "ferry/storage/backend.h"
#include "ferry/storage/entry.h"

namespace ferry {

// User metadata (name -> value). Object tags are ObjectTags (backend.h).
using ObjectMetadata = std::map<std::string, std::string>;

// What a store accepts. The defaults are Amazon S3's.
struct ObjectStoreLimits {
  uint64_t part_size_min = uint64_t{5} << 20;  // all parts but the last
  uint64_t part_size_max = uint64_t{5} << 30;
  uint32_t max_parts = 10000;
  uint64_t max_put_size = uint64_t{5} << 30;   // one PutObject
  uint64_t max_copy_size = uint64_t{5} << 30;  // one CopyObject / part copy
  size_t max_metadata_bytes = 2048;            // names + values
  size_t max_key_bytes = 1024;
  bool utf8_keys = true;  // keys must be valid UTF-8
  // Names must pass AzureNameProblem (Capabilities::azure_names).
  bool azure_names = false;
  int max_list_keys = 1000;  // per ListObjects / ListMultipartUploads
  // A listing carries each object's metadata when asked
  // (ListObjectsRequest::with_metadata; Azure's include=metadata), in pages
  // of at most max_list_keys_with_metadata.
  bool list_metadata = false;
  int max_list_keys_with_metadata = 1000;
  int max_delete_keys = 1000;  // per DeleteObjects
  // Object tags: how many per object (0: the store keeps none), and the
  // longest key and value, in Unicode characters.
  size_t max_tags = 10;
  size_t max_tag_key_chars = 128;
  size_t max_tag_value_chars = 256;
  // OpenStream reads a range in one request, as it arrives.
  bool streamed_reads = false;
};

struct ObjectSummary {
  std::string key;
  uint64_t size = 0;
  std::string etag;
  FileTime last_modified;
  // The object's metadata, when the listing carried it (see
  // ObjectStoreLimits::list_metadata).
  std::optional<ObjectMetadata> metadata;
};

// ListObjectsV2. Keys come in UTF-8 binary (byte) order; with a delimiter,
// keys with it after the prefix roll up into common prefixes (each ending in
// the delimiter), which sort among the keys.
struct ListObjectsRequest {
  std::string prefix;
  std::string delimiter;           // "" or "/"
  std::string continuation_token;  // "" for the first page
  int max_keys = 1000;             // capped at limits().max_list_keys
  // Each object's metadata too, where the store lists it
  // (ObjectStoreLimits::list_metadata); ignored elsewhere.
  bool with_metadata = false;
};

struct ListObjectsPage {
  std::vector<ObjectSummary> objects;
  std::vector<std::string> common_prefixes;
  std::string next_continuation_token;  // empty on the last page
};

// HeadObject.
struct ObjectHead {
  uint64_t size = 0;
  std::string etag;
  FileTime last_modified;
  ObjectMetadata metadata;
  std::string storage_class;  // "" = STANDARD
};

// PutObject (and CreateMultipartUpload, without data).
struct PutObjectRequest {
  std::string key;
  std::span<const std::byte> data;
  ObjectMetadata metadata;
  std::string storage_class;
  ObjectTags tags;
};

struct CompletedPart {
  uint32_t number = 0;  // 1-based
  std::string etag;
};

struct MultipartUpload {
  std::string key;
  std::string upload_id;
  FileTime initiated;
};

// ListMultipartUploads: uploads in (key, upload id) order after the markers.
struct ListUploadsRequest {
  std::string prefix;
  std::string key_marker;
  std::string upload_id_marker;
  int max_uploads = 1000;
};

struct ListUploadsPage {
  std::vector<MultipartUpload> uploads;
  bool truncated = false;
  std::string next_key_marker;
  std::string next_upload_id_marker;
};

struct DeleteError {
  std::string key;
  Status status;
};

// Bytes of an object read in order as they arrive (ObjectStore::OpenStream).
// One thread at a time.
class ObjectStream {
 public:
  virtual ~ObjectStream() = default;
  // Reads up to out.size() bytes: fewer only at the end of the range (0
  // there; also when the object ends first) or when a failure follows.
  // Failures as GetObjectRange's; after one, every Read fails.
  virtual Result<size_t> Read(std::span<std::byte> out) = 0;
};

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;

  // Where the store reports the retries it makes itself (not owned;
  // nullptr: nowhere). Stores that do not retry ignore it. Thread-safe.
  virtual void SetObserver(StorageObserver* observer) { (void)observer; }

  // "s3://bucket", "memory-objects:name": for messages.
  virtual std::string Describe() const = 0;
  virtual const ObjectStoreLimits& limits() const = 0;

  virtual Result<ListObjectsPage> ListObjects(const ListObjectsRequest& r) = 0;
  virtual Result<ObjectHead> HeadObject(const std::string& key) = 0;
  // GetObject with a Range: reads up to out.size() bytes at `offset` and
  // returns how many (0 at or past the end). With `if_match` set, an object
  // whose ETag differs fails with kSourceChanged.
  virtual Result<size_t> GetObjectRange(const std::string& key, uint64_t offset,
                                        std::span<std::byte> out,
                                        const std::string& if_match) = 0;
  // GetObjectRange from `offset` that also tells what HeadObject would, in
  // one request where the store can (the default makes two).
  virtual Result<size_t> GetObjectRangeWithHead(const std::string& key,
                                                uint64_t offset,
                                                std::span<std::byte> out,
                                                ObjectHead* head) {
    FERRY_ASSIGN_OR_RETURN(*head, HeadObject(key));
    return GetObjectRange(key, offset, out, head->etag);
  }
  // Bytes [offset, offset + length) of `key` (if its ETag is `if_match`,
  // when given), read in order: in one request where the store can
  // (limits().streamed_reads), else one GetObjectRange per Read.
  virtual Result<std::unique_ptr<ObjectStream>> OpenStream(
      const std::string& key, uint64_t offset, uint64_t length,
      const std::string& if_match);
  // How far the clock that stamps last_modified runs ahead of this
  // machine's (Backend::ClockOffset); nullopt when unknown.
  virtual std::optional<std::chrono::nanoseconds> ClockOffset() const {
    return std::nullopt;
  }
  // Returns the new object's ETag. At most limits().max_put_size bytes.
  virtual Result<std::string> PutObject(const PutObjectRequest& r) = 0;

  // Multipart upload: nothing is visible under the key until Complete.
  // Returns the upload id; `r.data` is ignored.
  virtual Result<std::string> CreateMultipartUpload(
      const PutObjectRequest& r) = 0;
  // Parts are numbered from 1; uploading a number again replaces that part.
  // Every part but the last must hold at least limits().part_size_min
  // bytes (checked at Complete). Returns the part's ETag.
  virtual Result<std::string> UploadPart(const std::string& key,
                                         const std::string& upload_id,
                                         uint32_t part_number,
                                         std::span<const std::byte> data) = 0;
  // UploadPartCopy: the part is bytes [offset, offset + length) of
  // `source_key` (if its ETag is `if_match`, when given).
  virtual Result<std::string> UploadPartCopy(const std::string& key,
                                             const std::string& upload_id,
                                             uint32_t part_number,
                                             const std::string& source_key,
                                             uint64_t offset, uint64_t length,
                                             const std::string& if_match) = 0;
  // `parts` in ascending number order. Returns the object's ETag.
  virtual Result<std::string> CompleteMultipartUpload(
      const std::string& key, const std::string& upload_id,
      const std::vector<CompletedPart>& parts) = 0;
  virtual Status AbortMultipartUpload(const std::string& key,
                                      const std::string& upload_id) = 0;
  virtual Result<ListUploadsPage> ListMultipartUploads(
      const ListUploadsRequest& r) = 0;

  // CopyObject of `key` onto itself with MetadataDirective REPLACE: the same
  // content with these metadata and storage class (if its ETag is
  // `if_match`, when given). Like S3, fails with InvalidArgument when
  // nothing would change. At most limits().max_copy_size bytes. Returns the
  // new ETag. Tags: S3 copies them with the object (TaggingDirective COPY),
  // radosgw 16 drops them; a caller that needs them puts them again.
  virtual Result<std::string> ReplaceMetadata(const std::string& key,
                                              const ObjectMetadata& metadata,
                                              const std::string& storage_class,
                                              const std::string& if_match) = 0;

  // DeleteObject: OK when the key is missing (as S3).
  virtual Status DeleteObject(const std::string& key) = 0;
  // DeleteObjects: at most limits().max_delete_keys keys; missing keys are
  // not errors. Returns the keys that could not be deleted.
  virtual Result<std::vector<DeleteError>> DeleteObjects(
      const std::vector<std::string>& keys) = 0;

  // GetObjectTagging, PutObjectTagging (the object's tags become exactly
  // `tags`; none: DeleteObjectTagging's effect). NotFound for a missing key.
  // Tags given at PutObject are stored with the object; tags given at
  // CreateMultipartUpload are not relied on (radosgw 16 stores them so that
  // GetObjectTagging answers an empty document): ObjectBackend puts a
  // multipart object's tags once it is complete.
  virtual Result<ObjectTags> GetObjectTags(const std::string& key) = 0;
  virtual Status PutObjectTags(const std::string& key,
                               const ObjectTags& tags) = 0;
};

}  // namespace ferry
