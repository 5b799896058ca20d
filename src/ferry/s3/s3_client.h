// S3Client: the S3 REST API over HTTP(S) (libcurl), signed with SigV4, for
// AWS S3 and S3-compatible stores (Ceph radosgw, MinIO, ...). The value
// types it takes and returns, and S3's limits, are in s3_types.h.
//
// Thread-safety: one S3Client serves any number of threads at once; its
// connections are pooled and reused between calls.
//
// Retries: every call is retried on a transient failure (connection refused
// or reset, a timeout, a transfer cut short, HTTP 5xx or 429, SlowDown,
// RequestTimeout, InternalError, a 200 CompleteMultipartUpload or CopyObject
// whose body is an <Error>) by options.retry (exponential backoff, full
// jitter, bounded attempts) on options.clock; each retry is reported to
// options.on_retry first. Other failures are returned at once.
//
// Errors name the operation, the s3:// URI, the endpoint and the cause
// ("PUT s3://b/k at http://127.0.0.1:17480: 403 SignatureDoesNotMatch:
// ..."). Codes (see s3_error.h):
//   kNotFound           404: no such key / upload
//   kFailedPrecondition NoSuchBucket (the bucket does not exist), redirects
//   kSourceChanged      412: an If-Match ETag no longer matches (the object
//                       changed since it was listed)
//   kPermissionDenied   403; or the TLS certificate did not verify
//   kAlreadyExists      CreateBucket of an existing bucket
//   kInvalidArgument    other 4xx, bad arguments (checked before sending)
//   kUnavailable        transient, retryable(), after the retries ran out
//   kResourceExhausted  a response over its bound (see s3_types.h)
//   kIoError            a malformed response
//   kCancelled          options.stop was requested
//
// Every response is treated as hostile: bodies, headers, counts, keys and
// numbers are bounded and checked before use.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ferry/aws/sigv4.h"
#include "ferry/base/clock.h"
#include "ferry/base/retry.h"
#include "ferry/base/status.h"
#include "ferry/s3/http.h"
#include "ferry/s3/s3_address.h"
#include "ferry/s3/s3_types.h"

namespace ferry {

// One retry about to happen.
struct S3RetryEvent {
  std::string_view operation;  // "PUT s3://b/k at http://host:port"
  const Status& failure;
  int attempt;  // the attempt that failed, 1-based
  Clock::duration delay;
};

struct S3ClientOptions {
  // "http(s)://host[:port]"; "" = AWS (https://s3.REGION.amazonaws.com).
  std::string endpoint_url;
  std::string region = "us-east-1";
  AwsCredentials credentials;  // see ferry/aws/config.h to resolve them
  S3Addressing addressing = S3Addressing::kAuto;
  // Trust anchors for https: a PEM file and/or PEM text (DataSync's
  // ServerCertificate); neither: the system's trust store.
  std::string ca_file;
  std::string ca_pem;
  std::chrono::milliseconds connect_timeout{10000};
  // A transfer under 1 byte/s for this long is a (retryable) timeout.
  std::chrono::seconds stall_timeout{30};
  RetryPolicy retry;
  Clock* clock = nullptr;  // null = Clock::Real()
  // Called before each retry's backoff, on the thread of the call that
  // failed (so possibly from several threads at once).
  std::function<void(const S3RetryEvent&)> on_retry;
  // Requested: calls in flight end with kCancelled (backoffs too).
  std::stop_token stop;
};

class S3Client {
 public:
  // Fails (kInvalidArgument) for a bad endpoint URL, missing credentials or
  // an unreadable CA file. Sends nothing.
  static Result<std::unique_ptr<S3Client>> Create(S3ClientOptions options);
  ~S3Client();
  S3Client(const S3Client&) = delete;
  S3Client& operator=(const S3Client&) = delete;

  // "http://127.0.0.1:17480" (for messages).
  const std::string& endpoint() const;

  // Buckets. HeadBucket: OK if it exists and the caller may use it;
  // kFailedPrecondition if it does not exist (a 404), as NoSuchBucket.
  Status HeadBucket(std::string_view bucket);
  // In options.region (a LocationConstraint unless us-east-1). A bucket the
  // caller already owns: OK in us-east-1 (AWS and radosgw), kAlreadyExists
  // elsewhere; someone else's: kAlreadyExists.
  Status CreateBucket(std::string_view bucket);

  // One page of keys in key order (encoding-type=url; keys come back
  // decoded). request.max_keys is clamped to 1..1000.
  Result<S3ListObjectsPage> ListObjectsV2(std::string_view bucket,
                                          const S3ListObjectsRequest& request);

  // An object's size, ETag, times, content type, storage class, user
  // metadata and version. kNotFound if there is no such key.
  Result<S3ObjectInfo> HeadObject(std::string_view bucket,
                                  std::string_view key);

  // Reads up to out.size() bytes from `offset` into `out` (one ranged GET;
  // no copy) and returns how many were read: fewer only at the end of the
  // object; 0 at or past its end. If `if_match` is not empty the read only
  // succeeds while the object's ETag is still that one (else
  // kSourceChanged). With `info`, what a HeadObject would tell of the object
  // comes from the same answer (its size from Content-Range): one request
  // instead of two.
  Result<size_t> GetObject(std::string_view bucket, std::string_view key,
                           uint64_t offset, std::span<std::byte> out,
                           std::string_view if_match = {},
                           S3ObjectInfo* info = nullptr);

  // Bytes [offset, offset + length) of the object, read as they arrive (one
  // GET, retried until its answer's headers are in; a failure after that
  // is the reader's, who may ask again from where it got to). `if_match` as
  // GetObject's. Null: the range starts at or past the object's end. The
  // stream must not outlive this client.
  Result<std::unique_ptr<HttpStream>> GetObjectStream(
      std::string_view bucket, std::string_view key, uint64_t offset,
      uint64_t length, std::string_view if_match = {});

  // How far the server's clock runs ahead of this machine's (from the Date
  // of its answers, to within a second); nullopt before the first answer.
  std::optional<std::chrono::nanoseconds> ClockOffset() const;

  // Stores `body` (at most kS3MaxPartSize) as the object. The body's
  // SHA-256 is signed (x-amz-content-sha256), so the server rejects a body
  // damaged in transit.
  Result<S3WriteResult> PutObject(std::string_view bucket, std::string_view key,
                                  std::span<const std::byte> body,
                                  const S3ObjectAttributes& attributes = {});

  // Multipart uploads: Create returns the upload id; parts are numbered 1 to
  // 10000, each (but the last) at least kS3MinPartSize and at most
  // kS3MaxPartSize, uploaded in any order and from any thread, their SHA-256
  // signed like PutObject's; Complete takes the parts in ascending order and
  // returns the object's ETag ("...-N" for N parts; read back with a HEAD if
  // the server's answer lacks it, as radosgw 16's does). Abort frees the parts
  // (kNotFound if the upload is gone).
  Result<std::string> CreateMultipartUpload(
      std::string_view bucket, std::string_view key,
      const S3ObjectAttributes& attributes = {});
  // Returns the part's ETag.
  Result<std::string> UploadPart(std::string_view bucket, std::string_view key,
                                 std::string_view upload_id, int part_number,
                                 std::span<const std::byte> body);
  Result<S3WriteResult> CompleteMultipartUpload(
      std::string_view bucket, std::string_view key, std::string_view upload_id,
      const std::vector<S3CompletedPart>& parts);
  Status AbortMultipartUpload(std::string_view bucket, std::string_view key,
                              std::string_view upload_id);
  // Uploads in progress (started and neither completed nor aborted).
  Result<S3ListUploadsPage> ListMultipartUploads(
      std::string_view bucket, const S3ListUploadsRequest& request);

  // Server-side copy of `source_key` (at most 5 GiB) onto `dest_key` (may be
  // the same key), replacing its metadata, content type and storage class
  // with `attributes` (x-amz-metadata-directive: REPLACE), and its tags too
  // if `replace_tags` (else the tags are copied). radosgw 16 drops the tags
  // of a copy either way: re-apply them with PutObjectTagging if they matter.
  // With `if_match`, only while the source's ETag is still that one (else
  // kSourceChanged).
  Result<S3WriteResult> CopyObject(std::string_view bucket,
                                   std::string_view source_key,
                                   std::string_view dest_key,
                                   const S3ObjectAttributes& attributes,
                                   bool replace_tags = false,
                                   std::string_view if_match = {});
  // UploadPartCopy: part `part_number` of the upload is bytes [offset,
  // offset + length) of `source_key` (at most 5 GiB), copied by the server;
  // with `if_match`, only while the source's ETag is still that one.
  // Returns the part's ETag.
  Result<std::string> UploadPartCopy(
      std::string_view bucket, std::string_view key, std::string_view upload_id,
      int part_number, std::string_view source_key, uint64_t offset,
      uint64_t length, std::string_view if_match = {});

  // OK whether or not the key existed.
  Status DeleteObject(std::string_view bucket, std::string_view key);
  // Deletes `keys` in batches of up to 1000 (Quiet mode) and returns the
  // keys that could not be deleted, with S3's code and message; a failure
  // of a whole batch is the Status. Keys holding control characters, which
  // the request's XML cannot carry, are deleted one request each.
  Result<std::vector<S3DeleteError>> DeleteObjects(
      std::string_view bucket, const std::vector<std::string>& keys);

  Result<std::vector<std::pair<std::string, std::string>>> GetObjectTagging(
      std::string_view bucket, std::string_view key);
  Status PutObjectTagging(
      std::string_view bucket, std::string_view key,
      const std::vector<std::pair<std::string, std::string>>& tags);

 private:
  struct Impl;
  explicit S3Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry
