#include "ferry/azure/azure_object_store.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstdio>
#include <utility>

#include "ferry/azure/azure_auth.h"
#include "ferry/s3/http_object_stream.h"
#include "ferry/storage/object/object_backend.h"

namespace ferry {
namespace {

// A blob being copied is cut into ranges of this many bytes (a chunk each),
// each read in one streamed GET as its bytes arrive: few GETs, each of which
// costs Azurite more than the bytes it carries, and no more memory than a
// block per worker. Against Azurite, 8 x 256 MiB downloaded at 0.73-0.75 x
// rclone's speed with 8 MiB GETs read whole, 0.85-0.99 x with 16 MiB ones,
// and 0.97-1.10 x streamed in 64 MiB ranges (docs/benchmarks.md).
constexpr uint64_t kAzureStreamBytes = uint64_t{64} << 20;

// Block ids of one upload: base64 of "UPLOADID-NNNNNN", one length for all
// (as Azure requires of a blob's blocks).
std::string BlockId(const std::string& upload_id, uint32_t part) {
  char number[16];
  std::snprintf(number, sizeof(number), "-%06u", part);
  const std::string raw = upload_id + number;
  unsigned char out[128];
  const int n =
      EVP_EncodeBlock(out, reinterpret_cast<const unsigned char*>(raw.data()),
                      static_cast<int>(raw.size()));
  return std::string(reinterpret_cast<const char*>(out),
                     static_cast<size_t>(n));
}

FileTime Time(int64_t ns) { return FileTime::FromNanos(ns); }

}  // namespace

Result<std::map<std::string, std::string>> ToAzureMetadata(
    const ObjectMetadata& metadata) {
  std::map<std::string, std::string> out;
  for (const auto& [name, value] : metadata) {
    std::string azure = name;
    for (char& c : azure) {
      if (c == '-') c = '_';
    }
    if (!IsAzureMetadataName(azure)) {
      return Status::InvalidArgument(
          "metadata name '" + name.substr(0, 64) +
          "' cannot be stored in Azure (names must be C# identifiers)");
    }
    out[azure] = value;
  }
  return out;
}

ObjectMetadata FromAzureMetadata(const std::map<std::string, std::string>& m) {
  ObjectMetadata out;
  for (const auto& [name, value] : m) {
    std::string ours = name;
    for (char& c : ours) {
      if (c == '_') c = '-';
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    out[ours] = value;
  }
  return out;
}

Result<std::string> AzureTier(std::string_view access_tier) {
  if (access_tier.empty()) return std::string();
  if (access_tier == "HOT") return std::string("Hot");
  if (access_tier == "COOL") return std::string("Cool");
  if (access_tier == "ARCHIVE") return std::string("Archive");
  return Status::InvalidArgument("AccessTier '" + std::string(access_tier) +
                                 "' is not HOT, COOL or ARCHIVE");
}

std::string DataSyncAccessTier(std::string_view azure_tier) {
  if (azure_tier == "Hot") return "HOT";
  if (azure_tier == "Cool") return "COOL";
  if (azure_tier == "Archive") return "ARCHIVE";
  return std::string(azure_tier);
}

AzureObjectStore::AzureObjectStore(std::string container)
    : container_(std::move(container)) {
  limits_.part_size_min = uint64_t{1} << 20;
  limits_.part_size_max = kAzureMaxBlockBytes;
  limits_.max_parts = kAzureMaxBlocks;
  limits_.max_put_size = uint64_t{256} << 20;
  // Metadata change without a copy: any size.
  limits_.max_copy_size = UINT64_MAX;
  limits_.max_metadata_bytes = kAzureMaxMetadataBytes;
  limits_.max_key_bytes = kAzureMaxBlobNameBytes;
  limits_.azure_names = true;
  limits_.max_list_keys = kAzureMaxListResults;
  limits_.list_metadata = true;
  limits_.streamed_reads = true;
  limits_.max_list_keys_with_metadata = kAzureMaxListResultsWithMetadata;
  limits_.max_delete_keys = 256;
  limits_.max_tags = 0;
}

void AzureObjectStore::SetObserver(StorageObserver* observer) {
  observer_->store(observer);
}

std::function<void(const std::string&, const Status&, int, Clock::duration)>
AzureObjectStore::RetryReporter() {
  return [observer = observer_](const std::string& operation,
                                const Status& failure, int attempt,
                                Clock::duration delay) {
    if (StorageObserver* o = observer->load()) {
      o->OnStorageRetry(
          operation, failure, attempt,
          std::chrono::duration_cast<std::chrono::nanoseconds>(delay));
    }
  };
}

std::string AzureObjectStore::Describe() const {
  return client_->endpoint() + "/" + container_;
}

Result<ListObjectsPage> AzureObjectStore::ListObjects(
    const ListObjectsRequest& r) {
  AzureListRequest req;
  req.prefix = r.prefix;
  req.delimiter = r.delimiter;
  req.marker = r.continuation_token;
  req.include_metadata = r.with_metadata;
  req.max_results =
      std::clamp(r.max_keys, 1,
                 r.with_metadata ? kAzureMaxListResultsWithMetadata
                                 : kAzureMaxListResults);
  FERRY_ASSIGN_OR_RETURN(AzureListPage page,
                         client_->ListBlobs(container_, req));
  ListObjectsPage out;
  out.objects.reserve(page.blobs.size());
  for (AzureBlobItem& b : page.blobs) {
    // Quoted, as Get Blob Properties gives it (a listing does not quote).
    if (!b.etag.starts_with('"')) b.etag = '"' + b.etag + '"';
    out.objects.push_back(ObjectSummary{std::move(b.name), b.size,
                                        std::move(b.etag),
                                        Time(b.last_modified_ns)});
    if (r.with_metadata) {
      out.objects.back().metadata = FromAzureMetadata(b.metadata);
    }
  }
  out.common_prefixes = std::move(page.prefixes);
  out.next_continuation_token = std::move(page.next_marker);
  return out;
}

namespace {

ObjectHead HeadOf(AzureBlobProperties p) {
  ObjectHead head;
  head.size = p.size;
  head.etag = std::move(p.etag);
  head.last_modified = Time(p.last_modified_ns);
  head.metadata = FromAzureMetadata(p.metadata);
  head.storage_class = DataSyncAccessTier(p.access_tier);
  return head;
}

}  // namespace

Result<ObjectHead> AzureObjectStore::HeadObject(const std::string& key) {
  FERRY_ASSIGN_OR_RETURN(AzureBlobProperties p,
                         client_->GetBlobProperties(container_, key));
  return HeadOf(std::move(p));
}

Result<size_t> AzureObjectStore::GetObjectRange(const std::string& key,
                                                uint64_t offset,
                                                std::span<std::byte> out,
                                                const std::string& if_match) {
  return client_->GetBlob(container_, key, offset, out, if_match);
}

Result<size_t> AzureObjectStore::GetObjectRangeWithHead(
    const std::string& key, uint64_t offset, std::span<std::byte> out,
    ObjectHead* head) {
  AzureBlobProperties p;
  FERRY_ASSIGN_OR_RETURN(
      size_t n, client_->GetBlob(container_, key, offset, out, "", &p));
  *head = HeadOf(std::move(p));
  return n;
}

Result<std::unique_ptr<ObjectStream>> AzureObjectStore::OpenStream(
    const std::string& key, uint64_t offset, uint64_t length,
    const std::string& if_match) {
  return HttpObjectStream::Of(
      client_->GetBlobStream(container_, key, offset, length, if_match),
      "GET " + client_->endpoint() + "/" + container_ + "/" + key);
}

std::optional<std::chrono::nanoseconds> AzureObjectStore::ClockOffset() const {
  return client_ ? client_->ClockOffset() : std::nullopt;
}

Result<std::string> AzureObjectStore::PutObject(const PutObjectRequest& r) {
  FERRY_ASSIGN_OR_RETURN(auto metadata, ToAzureMetadata(r.metadata));
  FERRY_ASSIGN_OR_RETURN(std::string tier, AzureTier(r.storage_class));
  if (!r.tags.empty()) {
    return Status::NotSupported(Describe() + ": Azure locations keep no tags");
  }
  return client_->PutBlob(container_, r.key, r.data, metadata, tier);
}

Result<std::string> AzureObjectStore::CreateMultipartUpload(
    const PutObjectRequest& r) {
  Upload upload;
  upload.key = r.key;
  FERRY_ASSIGN_OR_RETURN(upload.metadata, ToAzureMetadata(r.metadata));
  FERRY_ASSIGN_OR_RETURN(upload.tier, AzureTier(r.storage_class));
  unsigned char random[12];
  if (RAND_bytes(random, sizeof(random)) != 1) {
    return Status::Internal("no random bytes for an upload id");
  }
  std::string id;
  for (unsigned char c : random) {
    static const char kHex[] = "0123456789abcdef";
    id.push_back(kHex[c >> 4]);
    id.push_back(kHex[c & 15]);
  }
  std::lock_guard lock(mu_);
  uploads_[id] = std::move(upload);
  return id;
}

Result<std::string> AzureObjectStore::UploadPart(
    const std::string& key, const std::string& upload_id, uint32_t part_number,
    std::span<const std::byte> data) {
  {
    std::lock_guard lock(mu_);
    auto it = uploads_.find(upload_id);
    if (it == uploads_.end() || it->second.key != key) {
      return Status::NotFound(Describe() + ": no upload " + upload_id + " of " +
                              key);
    }
  }
  if (part_number == 0 || part_number > kAzureMaxBlocks) {
    return Status::InvalidArgument("part number " +
                                   std::to_string(part_number) +
                                   " is not within 1 to 50000");
  }
  const std::string id = BlockId(upload_id, part_number);
  FERRY_RETURN_IF_ERROR(client_->PutBlock(container_, key, id, data));
  return id;  // the part's "ETag": its block id
}

Result<std::string> AzureObjectStore::UploadPartCopy(
    const std::string&, const std::string&, uint32_t, const std::string&,
    uint64_t, uint64_t, const std::string&) {
  // Never needed: metadata change without a copy (max_copy_size).
  return Status::NotSupported(Describe() + ": no part copies");
}

Result<std::string> AzureObjectStore::CompleteMultipartUpload(
    const std::string& key, const std::string& upload_id,
    const std::vector<CompletedPart>& parts) {
  Upload upload;
  {
    std::lock_guard lock(mu_);
    auto it = uploads_.find(upload_id);
    if (it == uploads_.end() || it->second.key != key) {
      return Status::NotFound(Describe() + ": no upload " + upload_id + " of " +
                              key);
    }
    upload = it->second;
  }
  std::vector<std::string> ids;
  ids.reserve(parts.size());
  for (const CompletedPart& p : parts) {
    if (p.etag != BlockId(upload_id, p.number)) {
      return Status::InvalidArgument(Describe() + ": part " +
                                     std::to_string(p.number) + " of " + key +
                                     " is not one of its upload");
    }
    ids.push_back(p.etag);
  }
  FERRY_ASSIGN_OR_RETURN(std::string etag,
                         client_->PutBlockList(container_, key, ids,
                                               upload.metadata, upload.tier));
  std::lock_guard lock(mu_);
  uploads_.erase(upload_id);
  return etag;
}

Status AzureObjectStore::AbortMultipartUpload(const std::string& key,
                                              const std::string& upload_id) {
  (void)key;
  // Its blocks stay uncommitted, and Azure discards them after a week.
  std::lock_guard lock(mu_);
  uploads_.erase(upload_id);
  return Status::Ok();
}

Result<ListUploadsPage> AzureObjectStore::ListMultipartUploads(
    const ListUploadsRequest&) {
  // Azure has no uploads to list: abandoned blocks expire by themselves.
  return ListUploadsPage{};
}

Result<std::string> AzureObjectStore::ReplaceMetadata(
    const std::string& key, const ObjectMetadata& metadata,
    const std::string& storage_class, const std::string& if_match) {
  (void)storage_class;  // the tier stays as it is
  FERRY_ASSIGN_OR_RETURN(auto azure, ToAzureMetadata(metadata));
  return client_->SetBlobMetadata(container_, key, azure, if_match);
}

Status AzureObjectStore::DeleteObject(const std::string& key) {
  return client_->DeleteBlob(container_, key);
}

Result<std::vector<DeleteError>> AzureObjectStore::DeleteObjects(
    const std::vector<std::string>& keys) {
  if (keys.size() > static_cast<size_t>(limits_.max_delete_keys)) {
    return Status::InvalidArgument("more than " +
                                   std::to_string(limits_.max_delete_keys) +
                                   " keys in one delete");
  }
  std::vector<DeleteError> errors;
  for (const std::string& key : keys) {
    Status st = client_->DeleteBlob(container_, key);
    if (!st.ok()) {
      // The whole call fails on what would fail every key.
      if (st.retryable() || st.code() == StatusCode::kFailedPrecondition) {
        return st;
      }
      errors.push_back(DeleteError{key, st});
    }
  }
  return errors;
}

Result<ObjectTags> AzureObjectStore::GetObjectTags(const std::string& key) {
  FERRY_RETURN_IF_ERROR(HeadObject(key).status());
  return ObjectTags{};
}

Status AzureObjectStore::PutObjectTags(const std::string& key,
                                       const ObjectTags& tags) {
  if (tags.empty()) return HeadObject(key).status();
  return Status::NotSupported(Describe() + ": Azure locations keep no tags");
}

Result<std::unique_ptr<Backend>> OpenAzureBackend(const LocationSpec& spec) {
  const std::string where = spec.Describe();
  auto fail = [&](const Status& st) {
    return Status(st.code(), where + ": " + std::string(st.message()));
  };
  AzureClientOptions options;
  options.endpoint = spec.endpoint.url;
  options.account = spec.endpoint.user;
  options.key = spec.endpoint.secret_key;
  options.sas = spec.endpoint.sas_token;
  options.ca_file = spec.endpoint.ca_file;
  if (Status st = AzureTier(spec.storage_class).status(); !st.ok()) {
    return fail(st);
  }
  // What a SAS token allows is in the token: a destination that could not
  // be written is said now, not file by file.
  if (!spec.endpoint.sas_token.empty()) {
    if (std::optional<int64_t> se = SasExpiry(spec.endpoint.sas_token);
        se && *se < std::chrono::duration_cast<std::chrono::seconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count()) {
      return fail(Status(StatusCode::kPermissionDenied,
                         "the SAS token expired at " +
                             AzureDate(std::chrono::system_clock::time_point(
                                 std::chrono::seconds(*se))) +
                             ": give a new one"));
    }
    const std::string sp = SasPermissions(spec.endpoint.sas_token);
    const std::string need = spec.destination ? "rwdl" : "rl";
    for (char c : need) {
      if (sp.find(c) == std::string::npos) {
        return fail(Status(
            StatusCode::kPermissionDenied,
            "the SAS token allows '" + sp + "'; " +
                (spec.destination
                     ? "a destination needs read (r), write (w), delete (d) "
                       "and list (l)"
                     : "a source needs read (r) and list (l)")));
      }
    }
  }
  auto store = std::make_shared<AzureObjectStore>(spec.bucket);
  options.on_retry = store->RetryReporter();
  auto client = AzureClient::Create(std::move(options));
  if (!client.ok()) return fail(client.status());
  std::shared_ptr<AzureClient> shared = std::move(client).value();
  store->SetClient(shared);
  AzureListRequest probe;
  probe.prefix = spec.path.empty() ? "" : spec.path + "/";
  probe.delimiter = "/";
  probe.max_results = 1;
  if (auto page = shared->ListBlobs(spec.bucket, probe); !page.ok()) {
    return fail(page.status());
  }
  ObjectBackendOptions backend;
  backend.prefix = spec.path;
  backend.storage_class = spec.storage_class;
  backend.list_page_keys = kAzureMaxListResults;
  backend.read_stream_size = kAzureStreamBytes;
  return OpenObjectBackend(std::move(store), std::move(backend));
}

void RegisterAzureBackend() {
  static std::once_flag once;
  std::call_once(once, [] { RegisterBackend("azure", OpenAzureBackend); });
}

}  // namespace ferry
