// The values S3Client's calls take and return (plain structs), and S3's
// limits. Every value decoded from a response has been checked against
// these limits before it is returned.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace ferry {

// S3's limits.
inline constexpr size_t kS3MaxKeyBytes = 1024;
inline constexpr int kS3MaxListKeys = 1000;        // per ListObjectsV2 page
inline constexpr size_t kS3MaxDeleteBatch = 1000;  // keys per DeleteObjects
inline constexpr int kS3MinPartNumber = 1;
inline constexpr int kS3MaxPartNumber = 10000;
// Every part of a multipart upload but the last must be at least this long.
inline constexpr uint64_t kS3MinPartSize = 5ull << 20;
inline constexpr uint64_t kS3MaxPartSize = 5ull << 30;    // and PutObject
inline constexpr uint64_t kS3MaxObjectSize = 5ull << 40;  // 5 TiB
inline constexpr size_t kS3MaxTags = 10;                  // per object
// A tag's key and value, in Unicode characters.
inline constexpr size_t kS3MaxTagKeyChars = 128;
inline constexpr size_t kS3MaxTagValueChars = 256;
// Bounds on what ferry accepts from a server.
inline constexpr size_t kS3MaxXmlBytes = 16 << 20;  // one response document
inline constexpr uint64_t kS3MaxSizeValue = 1ull << 50;  // a decoded size

// What an object is stored with, beyond its bytes (PutObject,
// CreateMultipartUpload, CopyObject with a metadata replace).
struct S3ObjectAttributes {
  std::string content_type;   // "" = the server's default
  std::string storage_class;  // "" = STANDARD (x-amz-storage-class)
  // User metadata (x-amz-meta-NAME: value); names are lower-cased by S3.
  std::map<std::string, std::string> metadata;
  // Object tags (x-amz-tagging); at most kS3MaxTags.
  std::vector<std::pair<std::string, std::string>> tags;
};

struct S3ObjectSummary {  // one ListObjectsV2 entry
  std::string key;
  uint64_t size = 0;
  std::string etag;              // with its quotes, as S3 sends it
  int64_t last_modified_ns = 0;  // since the Unix epoch
  std::string storage_class;
};

struct S3ListObjectsRequest {
  std::string prefix;
  std::string delimiter;           // "" = a flat listing
  std::string continuation_token;  // from the previous page
  std::string start_after;
  int max_keys = kS3MaxListKeys;  // 1..1000
};

struct S3ListObjectsPage {
  std::vector<S3ObjectSummary> objects;  // in key order
  std::vector<std::string> common_prefixes;
  bool is_truncated = false;
  std::string next_continuation_token;  // set when is_truncated
};

struct S3ObjectInfo {  // HeadObject
  uint64_t size = 0;
  std::string etag;
  int64_t last_modified_ns = 0;
  std::string content_type;
  std::string storage_class;                    // "" = STANDARD
  std::map<std::string, std::string> metadata;  // x-amz-meta-*, lower-case
  std::string version_id;                       // "" when unversioned
};

struct S3WriteResult {  // PutObject, CompleteMultipartUpload, CopyObject
  std::string etag;
  std::string version_id;
};

struct S3CompletedPart {
  int part_number = 0;
  std::string etag;  // as UploadPart returned it
};

struct S3MultipartUpload {
  std::string key;
  std::string upload_id;
  int64_t initiated_ns = 0;
};

struct S3ListUploadsRequest {
  std::string prefix;
  std::string key_marker;
  std::string upload_id_marker;
  int max_uploads = 1000;  // 1..1000
};

struct S3ListUploadsPage {
  std::vector<S3MultipartUpload> uploads;
  bool is_truncated = false;
  std::string next_key_marker;
  std::string next_upload_id_marker;
};

struct S3DeleteError {  // one key DeleteObjects could not delete
  std::string key;
  std::string code;
  std::string message;
};

// S3's <Error> document.
struct S3ErrorDocument {
  std::string code;
  std::string message;
  std::string request_id;
  std::string endpoint;  // PermanentRedirect: where the bucket is
};

}  // namespace ferry
