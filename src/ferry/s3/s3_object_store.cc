#include "ferry/s3/s3_object_store.h"

#include <mutex>
#include <utility>

#include "ferry/aws/config.h"
#include "ferry/s3/http_object_stream.h"
#include "ferry/storage/object/object_backend.h"

namespace ferry {
namespace {

// A large object being copied is cut into ranges of this many bytes (a
// chunk each), each read in one streamed GET as its bytes arrive
// (docs/benchmarks.md).
constexpr uint64_t kS3StreamBytes = uint64_t{64} << 20;

S3ObjectAttributes Attributes(const PutObjectRequest& r) {
  S3ObjectAttributes a;
  a.storage_class = r.storage_class;
  a.metadata = r.metadata;
  a.tags.assign(r.tags.begin(), r.tags.end());
  return a;
}

}  // namespace

S3ObjectStore::S3ObjectStore(std::string bucket) : bucket_(std::move(bucket)) {
  limits_.part_size_min = kS3MinPartSize;
  limits_.part_size_max = kS3MaxPartSize;
  limits_.max_parts = kS3MaxPartNumber;
  limits_.max_put_size = kS3MaxPartSize;
  limits_.max_copy_size = kS3MaxPartSize;
  limits_.max_key_bytes = kS3MaxKeyBytes;
  limits_.max_list_keys = kS3MaxListKeys;
  limits_.max_delete_keys = static_cast<int>(kS3MaxDeleteBatch);
  limits_.streamed_reads = true;
}

void S3ObjectStore::SetObserver(StorageObserver* observer) {
  observer_->store(observer);
}

std::function<void(const S3RetryEvent&)> S3ObjectStore::RetryReporter() {
  return [observer = observer_](const S3RetryEvent& e) {
    if (StorageObserver* o = observer->load()) {
      o->OnStorageRetry(
          e.operation, e.failure, e.attempt,
          std::chrono::duration_cast<std::chrono::nanoseconds>(e.delay));
    }
  };
}

std::string S3ObjectStore::Describe() const {
  return "s3://" + bucket_ + " at " + client_->endpoint();
}

Result<ListObjectsPage> S3ObjectStore::ListObjects(
    const ListObjectsRequest& r) {
  S3ListObjectsRequest req;
  req.prefix = r.prefix;
  req.delimiter = r.delimiter;
  req.continuation_token = r.continuation_token;
  req.max_keys = std::clamp(r.max_keys, 1, kS3MaxListKeys);
  FERRY_ASSIGN_OR_RETURN(S3ListObjectsPage page,
                         client_->ListObjectsV2(bucket_, req));
  ListObjectsPage out;
  out.objects.reserve(page.objects.size());
  for (S3ObjectSummary& o : page.objects) {
    out.objects.push_back(
        ObjectSummary{std::move(o.key), o.size, std::move(o.etag),
                      FileTime::FromNanos(o.last_modified_ns)});
  }
  out.common_prefixes = std::move(page.common_prefixes);
  // ParseListObjectsV2 refuses a truncated page without a token.
  if (page.is_truncated) {
    out.next_continuation_token = std::move(page.next_continuation_token);
  }
  return out;
}

namespace {

ObjectHead HeadFromInfo(S3ObjectInfo info) {
  ObjectHead head;
  head.size = info.size;
  head.etag = std::move(info.etag);
  head.last_modified = FileTime::FromNanos(info.last_modified_ns);
  head.metadata = std::move(info.metadata);
  head.storage_class = std::move(info.storage_class);
  return head;
}

}  // namespace

Result<ObjectHead> S3ObjectStore::HeadObject(const std::string& key) {
  FERRY_ASSIGN_OR_RETURN(S3ObjectInfo info, client_->HeadObject(bucket_, key));
  return HeadFromInfo(std::move(info));
}

Result<size_t> S3ObjectStore::GetObjectRangeWithHead(const std::string& key,
                                                     uint64_t offset,
                                                     std::span<std::byte> out,
                                                     ObjectHead* head) {
  S3ObjectInfo info;
  FERRY_ASSIGN_OR_RETURN(
      size_t n, client_->GetObject(bucket_, key, offset, out, {}, &info));
  *head = HeadFromInfo(std::move(info));
  return n;
}

std::optional<std::chrono::nanoseconds> S3ObjectStore::ClockOffset() const {
  return client_ ? client_->ClockOffset() : std::nullopt;
}

Result<size_t> S3ObjectStore::GetObjectRange(const std::string& key,
                                             uint64_t offset,
                                             std::span<std::byte> out,
                                             const std::string& if_match) {
  return client_->GetObject(bucket_, key, offset, out, if_match);
}

Result<std::unique_ptr<ObjectStream>> S3ObjectStore::OpenStream(
    const std::string& key, uint64_t offset, uint64_t length,
    const std::string& if_match) {
  return HttpObjectStream::Of(
      client_->GetObjectStream(bucket_, key, offset, length, if_match),
      "GET " + client_->endpoint() + "/" + bucket_ + "/" + key);
}

Result<std::string> S3ObjectStore::PutObject(const PutObjectRequest& r) {
  FERRY_ASSIGN_OR_RETURN(
      S3WriteResult w,
      client_->PutObject(bucket_, r.key, r.data, Attributes(r)));
  return std::move(w.etag);
}

Result<std::string> S3ObjectStore::CreateMultipartUpload(
    const PutObjectRequest& r) {
  return client_->CreateMultipartUpload(bucket_, r.key, Attributes(r));
}

Result<std::string> S3ObjectStore::UploadPart(const std::string& key,
                                              const std::string& upload_id,
                                              uint32_t part_number,
                                              std::span<const std::byte> data) {
  return client_->UploadPart(bucket_, key, upload_id,
                             static_cast<int>(part_number), data);
}

Result<std::string> S3ObjectStore::UploadPartCopy(
    const std::string& key, const std::string& upload_id, uint32_t part_number,
    const std::string& source_key, uint64_t offset, uint64_t length,
    const std::string& if_match) {
  return client_->UploadPartCopy(bucket_, key, upload_id,
                                 static_cast<int>(part_number), source_key,
                                 offset, length, if_match);
}

Result<std::string> S3ObjectStore::CompleteMultipartUpload(
    const std::string& key, const std::string& upload_id,
    const std::vector<CompletedPart>& parts) {
  std::vector<S3CompletedPart> s3_parts;
  s3_parts.reserve(parts.size());
  for (const CompletedPart& p : parts) {
    s3_parts.push_back(S3CompletedPart{static_cast<int>(p.number), p.etag});
  }
  FERRY_ASSIGN_OR_RETURN(
      S3WriteResult w,
      client_->CompleteMultipartUpload(bucket_, key, upload_id, s3_parts));
  return std::move(w.etag);
}

Status S3ObjectStore::AbortMultipartUpload(const std::string& key,
                                           const std::string& upload_id) {
  return client_->AbortMultipartUpload(bucket_, key, upload_id);
}

Result<ListUploadsPage> S3ObjectStore::ListMultipartUploads(
    const ListUploadsRequest& r) {
  S3ListUploadsRequest req;
  req.prefix = r.prefix;
  req.key_marker = r.key_marker;
  req.upload_id_marker = r.upload_id_marker;
  req.max_uploads = std::clamp(r.max_uploads, 1, 1000);
  FERRY_ASSIGN_OR_RETURN(S3ListUploadsPage page,
                         client_->ListMultipartUploads(bucket_, req));
  ListUploadsPage out;
  for (S3MultipartUpload& u : page.uploads) {
    out.uploads.push_back(MultipartUpload{std::move(u.key),
                                          std::move(u.upload_id),
                                          FileTime::FromNanos(u.initiated_ns)});
  }
  out.truncated = page.is_truncated;
  out.next_key_marker = std::move(page.next_key_marker);
  out.next_upload_id_marker = std::move(page.next_upload_id_marker);
  return out;
}

Result<std::string> S3ObjectStore::ReplaceMetadata(
    const std::string& key, const ObjectMetadata& metadata,
    const std::string& storage_class, const std::string& if_match) {
  S3ObjectAttributes a;
  a.metadata = metadata;
  a.storage_class = storage_class;
  FERRY_ASSIGN_OR_RETURN(S3WriteResult w,
                         client_->CopyObject(bucket_, key, key, a,
                                             /*replace_tags=*/false, if_match));
  return std::move(w.etag);
}

Status S3ObjectStore::DeleteObject(const std::string& key) {
  return client_->DeleteObject(bucket_, key);
}

Result<std::vector<DeleteError>> S3ObjectStore::DeleteObjects(
    const std::vector<std::string>& keys) {
  FERRY_ASSIGN_OR_RETURN(std::vector<S3DeleteError> errors,
                         client_->DeleteObjects(bucket_, keys));
  std::vector<DeleteError> out;
  out.reserve(errors.size());
  for (S3DeleteError& e : errors) {
    const StatusCode code = e.code == "AccessDenied"
                                ? StatusCode::kPermissionDenied
                                : StatusCode::kIoError;
    out.push_back(DeleteError{
        e.key, Status(code, "DeleteObjects " + Describe() + " key '" + e.key +
                                "': " + e.code + ": " + e.message)});
  }
  return out;
}

Result<ObjectTags> S3ObjectStore::GetObjectTags(const std::string& key) {
  FERRY_ASSIGN_OR_RETURN(auto tags, client_->GetObjectTagging(bucket_, key));
  return ObjectTags(tags.begin(), tags.end());
}

Status S3ObjectStore::PutObjectTags(const std::string& key,
                                    const ObjectTags& tags) {
  return client_->PutObjectTagging(
      bucket_, key,
      std::vector<std::pair<std::string, std::string>>(tags.begin(),
                                                       tags.end()));
}

Result<std::unique_ptr<Backend>> OpenS3Backend(const LocationSpec& spec) {
  const std::string where = spec.Describe();
  auto fail = [&](const Status& st) {
    return Status(st.code(), where + ": " + std::string(st.message()));
  };
  AwsConfigOverrides overrides;
  overrides.profile = spec.endpoint.profile;
  if (!spec.endpoint.access_key.empty() || !spec.endpoint.secret_key.empty()) {
    overrides.credentials =
        AwsCredentials{spec.endpoint.access_key, spec.endpoint.secret_key,
                       spec.endpoint.session_token};
  }
  overrides.region = spec.endpoint.region;
  overrides.ca_bundle = spec.endpoint.ca_file;
  overrides.endpoint_url = spec.endpoint.url;
  auto config = ResolveAwsConfig(overrides, ProcessAwsEnv());
  if (!config.ok()) return fail(config.status());

  S3ClientOptions options;
  options.endpoint_url = config->endpoint_url;
  options.region = config->region;
  options.credentials = config->credentials;
  options.ca_pem = spec.endpoint.ca_pem;
  // DataSync's ServerCertificate replaces the system's trust store; so
  // does a CA bundle.
  if (options.ca_pem.empty()) options.ca_file = config->ca_bundle;
  const std::string style = spec.endpoint.addressing.empty()
                                ? config->addressing_style
                                : spec.endpoint.addressing;
  options.addressing = style == "path"      ? S3Addressing::kPath
                       : style == "virtual" ? S3Addressing::kVirtualHosted
                                            : S3Addressing::kAuto;
  auto store = std::make_shared<S3ObjectStore>(spec.bucket);
  options.on_retry = store->RetryReporter();
  auto client = S3Client::Create(std::move(options));
  if (!client.ok()) return fail(client.status());
  std::shared_ptr<S3Client> shared = std::move(client).value();
  store->SetClient(shared);
  // Bad keys, a missing bucket, an unreachable endpoint or an unverified
  // certificate: said now, once, not per file. A one-key listing rather
  // than HeadBucket, whose answers have no body to name the cause
  // (NoSuchBucket, SignatureDoesNotMatch, AccessDenied).
  S3ListObjectsRequest probe;
  probe.prefix = spec.path.empty() ? "" : spec.path + "/";
  probe.delimiter = "/";
  probe.max_keys = 1;
  if (auto page = shared->ListObjectsV2(spec.bucket, probe); !page.ok()) {
    return fail(page.status());
  }

  ObjectBackendOptions backend;
  backend.prefix = spec.path;
  backend.storage_class = spec.storage_class;
  backend.read_stream_size = kS3StreamBytes;
  return OpenObjectBackend(std::move(store), std::move(backend));
}

void RegisterS3Backend() {
  static std::once_flag once;
  std::call_once(once, [] { RegisterBackend("s3", OpenS3Backend); });
}

}  // namespace ferry
