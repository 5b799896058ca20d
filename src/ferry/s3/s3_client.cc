#include "ferry/s3/s3_client.h"

#include <openssl/evp.h>

#include <algorithm>
#include <atomic>
#include <cctype>

#include "ferry/aws/sigv4_canonical.h"
#include "ferry/s3/http.h"
#include "ferry/s3/s3_error.h"
#include "ferry/s3/s3_xml.h"

namespace ferry {
namespace {

using Params = std::vector<std::pair<std::string, std::string>>;

constexpr size_t kMaxErrorBody = 64 << 10;
constexpr size_t kMaxUserMetadataBytes = 2048;  // S3's limit
constexpr size_t kMaxEtagHeader = 256;

std::span<const std::byte> Bytes(std::string_view s) {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

std::string_view Chars(std::span<const std::byte> b) {
  return std::string_view(reinterpret_cast<const char*>(b.data()), b.size());
}

std::string Md5Base64(std::span<const std::byte> data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), digest, &size, EVP_md5(), nullptr);
  unsigned char out[64];
  int n = EVP_EncodeBlock(out, digest, static_cast<int>(size));
  return std::string(reinterpret_cast<const char*>(out),
                     static_cast<size_t>(n));
}

// A header value S3 stores as given: printable US-ASCII.
bool IsHeaderSafe(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return c >= 0x20 && c < 0x7f; });
}

bool IsMetadataName(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
  });
}

// One S3 request, before signing.
struct Call {
  std::string_view method;
  std::string_view bucket;
  std::string_view key;
  Params query;
  Params headers;
  std::span<const std::byte> body;
  std::span<std::byte> out;  // a 2xx body goes here if not empty
  size_t max_body = kMaxErrorBody;
  // S3 may answer 200 with an <Error> body (CompleteMultipartUpload,
  // CopyObject).
  bool ok_may_be_error = false;
  // A non-2xx status returned as a response rather than an error.
  int also_ok_status = 0;
};

}  // namespace

struct S3Client::Impl {
  S3ClientOptions options;
  S3Endpoint endpoint;
  std::string origin;  // "http://127.0.0.1:17480", for messages
  std::unique_ptr<HttpClient> http;
  Clock* clock;
  ServerClock server_clock;

  std::string Context(const Call& call) const {
    return std::string(call.method) + " " + S3Uri(call.bucket, call.key) +
           " at " + origin;
  }

  Status Attributes(const S3ObjectAttributes& a, Params* headers) const {
    if (!a.content_type.empty()) {
      if (!IsHeaderSafe(a.content_type)) {
        return Status::InvalidArgument("content type is not printable ASCII");
      }
      headers->emplace_back("Content-Type", a.content_type);
    }
    if (!a.storage_class.empty()) {
      if (!IsHeaderSafe(a.storage_class)) {
        return Status::InvalidArgument("storage class is not printable ASCII");
      }
      headers->emplace_back("x-amz-storage-class", a.storage_class);
    }
    size_t metadata_bytes = 0;
    for (const auto& [name, value] : a.metadata) {
      if (!IsMetadataName(name) || !IsHeaderSafe(value)) {
        return Status::InvalidArgument(
            "user metadata '" + name.substr(0, 64) +
            "': names are lower-case letters, digits, '-', '_', '.'; values "
            "printable US-ASCII");
      }
      metadata_bytes += name.size() + value.size();
      headers->emplace_back("x-amz-meta-" + name, value);
    }
    if (metadata_bytes > kMaxUserMetadataBytes) {
      return Status::InvalidArgument(
          "user metadata is " + std::to_string(metadata_bytes) +
          " bytes; S3 allows " + std::to_string(kMaxUserMetadataBytes));
    }
    if (a.tags.size() > kS3MaxTags) {
      return Status::InvalidArgument("more than " + std::to_string(kS3MaxTags) +
                                     " tags");
    }
    if (!a.tags.empty()) {
      std::string tagging;
      for (const auto& [key, value] : a.tags) {
        if (!tagging.empty()) tagging += '&';
        tagging +=
            sigv4::UriEncode(key, false) + "=" + sigv4::UriEncode(value, false);
      }
      headers->emplace_back("x-amz-tagging", tagging);
    }
    return Status::Ok();
  }

  // Runs send(request) -> Result<HttpResponse> for `call`, signed anew for
  // each attempt, retrying transient failures; the final 2xx response.
  template <typename Send>
  Result<HttpResponse> Retried(const Call& call, Send&& send) {
    const std::string context = Context(call);
    if (!call.bucket.empty()) {
      FERRY_RETURN_IF_ERROR(
          ValidateBucketName(call.bucket).WithContext(context));
    }
    const S3Target target =
        BuildS3Target(endpoint, call.bucket, call.key, call.query);
    const std::string payload_hash = Sha256Hex(Chars(call.body));
    auto attempt = [&]() -> Result<HttpResponse> {
      SignableRequest signable;
      signable.method = std::string(call.method);
      signable.path = target.path;
      signable.query = target.query;
      signable.headers = call.headers;
      signable.headers.emplace_back("Host", target.host_header);
      SignS3Request(&signable, options.credentials, options.region,
                    payload_hash, std::chrono::system_clock::now());
      HttpRequest request{std::string(call.method), target.url,
                          std::move(signable.headers), call.body};
      Result<HttpResponse> sent = send(request);
      if (!sent.ok()) return sent.status().WithContext(context);
      HttpResponse response = std::move(sent).value();
      server_clock.Note(response);
      if (call.also_ok_status != 0 && response.status == call.also_ok_status) {
        return response;
      }
      if (response.status >= 200 && response.status < 300) {
        if (call.ok_may_be_error &&
            response.body.find("<Error") != std::string::npos) {
          if (std::optional<S3ErrorDocument> error =
                  ParseS3Error(response.body)) {
            return S3ErrorStatus(context, response.status, error);
          }
        }
        return response;
      }
      return S3ErrorStatus(context, response.status,
                           ParseS3Error(response.body),
                           response.Header("location").value_or(""));
    };
    auto on_retry = [&](const Status& failure, int n, Clock::duration delay) {
      if (options.on_retry) {
        options.on_retry(S3RetryEvent{context, failure, n, delay});
      }
    };
    return RetryRequest(options.retry, clock, options.stop, context, attempt,
                        on_retry);
  }

  // Sends `call` (retrying transient failures) and returns the final 2xx
  // response.
  Result<HttpResponse> Execute(const Call& call) {
    return Retried(call, [&](const HttpRequest& request) {
      return http->Fetch(request, BodySink{call.out, call.max_body},
                         options.stop);
    });
  }

  // Sends `call` (a GET) and, once a 2xx answer's headers are in, leaves
  // its body of at most `max_body` bytes in `*stream`; retried as Execute
  // until then. No stream for call.also_ok_status.
  Result<HttpResponse> Stream(const Call& call, uint64_t max_body,
                              std::unique_ptr<HttpStream>* stream) {
    return Retried(call, [&](const HttpRequest& request) {
      return http->FetchStream(request, max_body, call.max_body, stream,
                               options.stop);
    });
  }
};

S3Client::S3Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
S3Client::~S3Client() = default;

Result<std::unique_ptr<S3Client>> S3Client::Create(S3ClientOptions options) {
  if (options.credentials.access_key_id.empty() ||
      options.credentials.secret_access_key.empty()) {
    return Status::InvalidArgument(
        "S3 client: no credentials (an access key id and a secret access "
        "key)");
  }
  if (options.region.empty()) options.region = "us-east-1";
  auto impl = std::make_unique<Impl>();
  FERRY_ASSIGN_OR_RETURN(impl->endpoint,
                         ParseS3Endpoint(options.endpoint_url, options.region,
                                         options.addressing));
  impl->origin = impl->endpoint.url.scheme + "://" +
                 impl->endpoint.url.address.ToString() +
                 impl->endpoint.url.path;
  HttpClientOptions http;
  http.ca_file = options.ca_file;
  http.ca_pem = options.ca_pem;
  http.connect_timeout = options.connect_timeout;
  http.low_speed_time = options.stall_timeout;
  FERRY_ASSIGN_OR_RETURN(impl->http, HttpClient::Create(std::move(http)));
  impl->clock = options.clock != nullptr ? options.clock : Clock::Real();
  impl->options = std::move(options);
  return std::unique_ptr<S3Client>(new S3Client(std::move(impl)));
}

const std::string& S3Client::endpoint() const { return impl_->origin; }

Status S3Client::HeadBucket(std::string_view bucket) {
  Status st = impl_->Execute(Call{.method = "HEAD", .bucket = bucket}).status();
  // A HEAD answer has no body to name the code, but a 404 to HeadBucket can
  // only be NoSuchBucket: said as the other calls say it (not kNotFound,
  // which callers read as "nothing there yet").
  if (st.IsNotFound()) {
    return Status(StatusCode::kFailedPrecondition,
                  std::string(st.message()) + " (the bucket does not exist)");
  }
  return st;
}

Status S3Client::CreateBucket(std::string_view bucket) {
  const std::string body = CreateBucketXml(impl_->options.region);
  return impl_
      ->Execute(Call{.method = "PUT", .bucket = bucket, .body = Bytes(body)})
      .status();
}

Result<S3ListObjectsPage> S3Client::ListObjectsV2(
    std::string_view bucket, const S3ListObjectsRequest& request) {
  Params query = {{"list-type", "2"}, {"encoding-type", "url"}};
  auto add = [&](const char* name, const std::string& value) {
    if (!value.empty()) query.emplace_back(name, value);
  };
  add("prefix", request.prefix);
  add("delimiter", request.delimiter);
  add("continuation-token", request.continuation_token);
  add("start-after", request.start_after);
  query.emplace_back("max-keys", std::to_string(std::clamp(request.max_keys, 1,
                                                           kS3MaxListKeys)));
  Call call{.method = "GET",
            .bucket = bucket,
            .query = std::move(query),
            .max_body = kS3MaxXmlBytes};
  FERRY_ASSIGN_OR_RETURN(HttpResponse response, impl_->Execute(call));
  Result<S3ListObjectsPage> page = ParseListObjectsV2(response.body);
  if (!page.ok()) return page.status().WithContext(impl_->Context(call));
  return page;
}

namespace {

// What a HEAD (or a GET) answer's headers tell of the object, but its size.
Status InfoFromHeaders(const HttpResponse& response, const std::string& context,
                       S3ObjectInfo* info) {
  FERRY_RETURN_IF_ERROR(ReadEtagAndLastModified(response, context, &info->etag,
                                                &info->last_modified_ns));
  info->content_type = response.Header("content-type").value_or("");
  info->storage_class = response.Header("x-amz-storage-class").value_or("");
  info->version_id = response.Header("x-amz-version-id").value_or("");
  info->metadata.clear();
  for (const auto& [name, value] : response.headers) {
    if (name.starts_with("x-amz-meta-")) {
      info->metadata[name.substr(11)] = value;
    }
  }
  return Status::Ok();
}

}  // namespace

Result<S3ObjectInfo> S3Client::HeadObject(std::string_view bucket,
                                          std::string_view key) {
  FERRY_RETURN_IF_ERROR(ValidateObjectKey(key));
  Call call{.method = "HEAD", .bucket = bucket, .key = key};
  FERRY_ASSIGN_OR_RETURN(HttpResponse response, impl_->Execute(call));
  const std::string context = impl_->Context(call);
  S3ObjectInfo info;
  Result<uint64_t> size =
      ParseDecimal(response.Header("content-length").value_or(""),
                   kS3MaxSizeValue, "Content-Length");
  if (!size.ok()) return size.status().WithContext(context);
  info.size = *size;
  FERRY_RETURN_IF_ERROR(InfoFromHeaders(response, context, &info));
  return info;
}

std::optional<std::chrono::nanoseconds> S3Client::ClockOffset() const {
  return impl_->server_clock.Offset();
}

Result<std::unique_ptr<HttpStream>> S3Client::GetObjectStream(
    std::string_view bucket, std::string_view key, uint64_t offset,
    uint64_t length, std::string_view if_match) {
  FERRY_RETURN_IF_ERROR(ValidateObjectKey(key));
  if (length == 0) return std::unique_ptr<HttpStream>();
  if (length > UINT64_MAX - offset) {
    return Status::InvalidArgument("an object range beyond 2^64 bytes");
  }
  // 416: the range starts at or past the end of the object.
  Call call{
      .method = "GET", .bucket = bucket, .key = key, .also_ok_status = 416};
  call.headers.emplace_back("Range", "bytes=" + std::to_string(offset) + "-" +
                                         std::to_string(offset + length - 1));
  if (!if_match.empty()) {
    if (!IsHeaderSafe(if_match)) {
      return Status::InvalidArgument("If-Match ETag is not printable ASCII");
    }
    call.headers.emplace_back("If-Match", std::string(if_match));
  }
  std::unique_ptr<HttpStream> stream;
  FERRY_ASSIGN_OR_RETURN(HttpResponse response,
                         impl_->Stream(call, length, &stream));
  if (response.status == 416) return std::unique_ptr<HttpStream>();
  FERRY_RETURN_IF_ERROR(
      CheckRangeStart(response, offset, impl_->Context(call)));
  return stream;
}

Result<size_t> S3Client::GetObject(std::string_view bucket,
                                   std::string_view key, uint64_t offset,
                                   std::span<std::byte> out,
                                   std::string_view if_match,
                                   S3ObjectInfo* info) {
  FERRY_RETURN_IF_ERROR(ValidateObjectKey(key));
  if (out.empty()) return size_t{0};
  // 416: the range starts at or past the end of the object.
  Call call{.method = "GET",
            .bucket = bucket,
            .key = key,
            .out = out,
            .also_ok_status = 416};
  call.headers.emplace_back("Range",
                            "bytes=" + std::to_string(offset) + "-" +
                                std::to_string(offset + out.size() - 1));
  if (!if_match.empty()) {
    if (!IsHeaderSafe(if_match)) {
      return Status::InvalidArgument("If-Match ETag is not printable ASCII");
    }
    call.headers.emplace_back("If-Match", std::string(if_match));
  }
  FERRY_ASSIGN_OR_RETURN(HttpResponse response, impl_->Execute(call));
  if (response.status == 416) {
    if (info != nullptr) {  // an empty object, or a read past the end
      FERRY_ASSIGN_OR_RETURN(*info, HeadObject(bucket, key));
      if (!if_match.empty() && info->etag != if_match) {
        return Status(StatusCode::kSourceChanged,
                      impl_->Context(call) + ": the object changed");
      }
    }
    return size_t{0};
  }
  const std::string context = impl_->Context(call);
  if (response.status == 200 && offset != 0) {
    return Status::IoError(context + ": the server ignored the Range header");
  }
  if (info != nullptr) {
    FERRY_RETURN_IF_ERROR(InfoFromHeaders(response, context, info));
    if (response.status == 200) {  // the whole object, no longer than `out`
      info->size = response.span_bytes;
    } else {
      // "bytes START-END/TOTAL"
      const std::string range = response.Header("content-range").value_or("");
      const size_t slash = range.rfind('/');
      Result<uint64_t> total =
          slash == std::string::npos
              ? Result<uint64_t>(Status::IoError("no total size"))
              : ParseDecimal(std::string_view(range).substr(slash + 1),
                             kS3MaxSizeValue, "Content-Range size");
      if (!total.ok()) {
        return Status::IoError(context + ": Content-Range '" +
                               range.substr(0, 80) + "' gives no object size");
      }
      info->size = *total;
    }
  }
  if (response.status == 206) {
    // "bytes START-END/TOTAL" must be what was asked for and what came.
    std::string range = response.Header("content-range").value_or("");
    const uint64_t got = response.span_bytes;
    const std::string expected = "bytes " + std::to_string(offset) + "-" +
                                 std::to_string(offset + got - 1) + "/";
    if (got == 0 || !range.starts_with(expected)) {
      return Status::IoError(context + ": Content-Range '" +
                             range.substr(0, 80) + "' does not match the " +
                             std::to_string(got) + " bytes received from " +
                             std::to_string(offset));
    }
  }
  return response.span_bytes;
}

Result<S3WriteResult> S3Client::PutObject(
    std::string_view bucket, std::string_view key,
    std::span<const std::byte> body, const S3ObjectAttributes& attributes) {
  FERRY_RETURN_IF_ERROR(ValidateObjectKey(key));
  if (body.size() > kS3MaxPartSize) {
    return Status::InvalidArgument(
        "PutObject takes at most 5 GiB; use a multipart upload");
  }
  Call call{.method = "PUT", .bucket = bucket, .key = key, .body = body};
  FERRY_RETURN_IF_ERROR(impl_->Attributes(attributes, &call.headers));
  FERRY_ASSIGN_OR_RETURN(HttpResponse response, impl_->Execute(call));
  return S3WriteResult{response.Header("etag").value_or(""),
                       response.Header("x-amz-version-id").value_or("")};
}

Result<std::string> S3Client::CreateMultipartUpload(
    std::string_view bucket, std::string_view key,
    const S3ObjectAttributes& attributes) {
  FERRY_RETURN_IF_ERROR(ValidateObjectKey(key));
  Call call{.method = "POST",
            .bucket = bucket,
            .key = key,
            .query = {{"uploads", ""}}};
  FERRY_RETURN_IF_ERROR(impl_->Attributes(attributes, &call.headers));
  FERRY_ASSIGN_OR_RETURN(HttpResponse response, impl_->Execute(call));
  Result<std::string> id = ParseInitiateMultipartUpload(response.body);
  if (!id.ok()) return id.status().WithContext(impl_->Context(call));
  return id;
}

Result<std::string> S3Client::UploadPart(std::string_view bucket,
                                         std::string_view key,
                                         std::string_view upload_id,
                                         int part_number,
                                         std::span<const std::byte> body) {
  FERRY_RETURN_IF_ERROR(ValidateObjectKey(key));
  if (part_number < kS3MinPartNumber || part_number > kS3MaxPartNumber ||
      body.size() > kS3MaxPartSize || upload_id.empty()) {
    return Status::InvalidArgument(
        "UploadPart: part number " + std::to_string(part_number) +
        " (1 to 10000) of " + std::to_string(body.size()) +
        " bytes (at most 5 GiB) of upload '" +
        std::string(upload_id.substr(0, 64)) + "'");
  }
  Call call{.method = "PUT",
            .bucket = bucket,
            .key = key,
            .query = {{"partNumber", std::to_string(part_number)},
                      {"uploadId", std::string(upload_id)}},
            .body = body};
  FERRY_ASSIGN_OR_RETURN(HttpResponse response, impl_->Execute(call));
  std::string etag = response.Header("etag").value_or("");
  if (etag.empty() || etag.size() > kMaxEtagHeader) {
    return Status::IoError(impl_->Context(call) +
                           ": UploadPart answered without a valid ETag");
  }
  return etag;
}

Result<S3WriteResult> S3Client::CompleteMultipartUpload(
    std::string_view bucket, std::string_view key, std::string_view upload_id,
    const std::vector<S3CompletedPart>& parts) {
  FERRY_RETURN_IF_ERROR(ValidateObjectKey(key));
  if (parts.empty() || parts.size() > static_cast<size_t>(kS3MaxPartNumber)) {
    return Status::InvalidArgument(
        "CompleteMultipartUpload needs 1 to 10000 parts, not " +
        std::to_string(parts.size()));
  }
  for (size_t i = 0; i < parts.size(); ++i) {
    if (parts[i].part_number < kS3MinPartNumber ||
        parts[i].part_number > kS3MaxPartNumber ||
        (i > 0 && parts[i].part_number <= parts[i - 1].part_number)) {
      return Status::InvalidArgument(
          "CompleteMultipartUpload: part numbers must ascend from 1 to "
          "10000");
    }
  }
  const std::string body = CompleteMultipartUploadXml(parts);
  Call call{.method = "POST",
            .bucket = bucket,
            .key = key,
            .query = {{"uploadId", std::string(upload_id)}},
            .headers = {{"Content-Type", "application/xml"}},
            .body = Bytes(body),
            .max_body = kS3MaxXmlBytes,
            .ok_may_be_error = true};
  FERRY_ASSIGN_OR_RETURN(HttpResponse response, impl_->Execute(call));
  Result<std::string> etag =
      ParseWriteResultEtag(response.body, "CompleteMultipartUploadResult");
  if (!etag.ok()) return etag.status().WithContext(impl_->Context(call));
  S3WriteResult result{std::move(*etag),
                       response.Header("x-amz-version-id").value_or("")};
  if (result.etag.empty()) {
    // radosgw 16 answers "<ETag></ETag>": read it back.
    FERRY_ASSIGN_OR_RETURN(S3ObjectInfo info, HeadObject(bucket, key));
    result.etag = std::move(info.etag);
  }
  return result;
}

Status S3Client::AbortMultipartUpload(std::string_view bucket,
                                      std::string_view key,
                                      std::string_view upload_id) {
  FERRY_RETURN_IF_ERROR(ValidateObjectKey(key));
  return impl_
      ->Execute(Call{.method = "DELETE",
                     .bucket = bucket,
                     .key = key,
                     .query = {{"uploadId", std::string(upload_id)}}})
      .status();
}

Result<S3ListUploadsPage> S3Client::ListMultipartUploads(
    std::string_view bucket, const S3ListUploadsRequest& request) {
  Params query = {{"uploads", ""}, {"encoding-type", "url"}};
  auto add = [&](const char* name, const std::string& value) {
    if (!value.empty()) query.emplace_back(name, value);
  };
  add("prefix", request.prefix);
  add("key-marker", request.key_marker);
  add("upload-id-marker", request.upload_id_marker);
  query.emplace_back("max-uploads",
                     std::to_string(std::clamp(request.max_uploads, 1, 1000)));
  Call call{.method = "GET",
            .bucket = bucket,
            .query = std::move(query),
            .max_body = kS3MaxXmlBytes};
  FERRY_ASSIGN_OR_RETURN(HttpResponse response, impl_->Execute(call));
  Result<S3ListUploadsPage> page = ParseListMultipartUploads(response.body);
  if (!page.ok()) return page.status().WithContext(impl_->Context(call));
  return page;
}

Result<S3WriteResult> S3Client::CopyObject(std::string_view bucket,
                                           std::string_view source_key,
                                           std::string_view dest_key,
                                           const S3ObjectAttributes& attributes,
                                           bool replace_tags,
                                           std::string_view if_match) {
  FERRY_RETURN_IF_ERROR(ValidateObjectKey(source_key));
  FERRY_RETURN_IF_ERROR(ValidateObjectKey(dest_key));
  if (!if_match.empty() && !IsHeaderSafe(if_match)) {
    return Status::InvalidArgument("CopyObject: the ETag is not printable");
  }
  Call call{.method = "PUT",
            .bucket = bucket,
            .key = dest_key,
            .max_body = kS3MaxXmlBytes,
            .ok_may_be_error = true};
  call.headers.emplace_back("x-amz-copy-source",
                            "/" + sigv4::UriEncode(bucket, false) + "/" +
                                sigv4::UriEncode(source_key, true));
  if (!if_match.empty()) {
    call.headers.emplace_back("x-amz-copy-source-if-match",
                              std::string(if_match));
  }
  call.headers.emplace_back("x-amz-metadata-directive", "REPLACE");
  S3ObjectAttributes a = attributes;
  if (replace_tags) {
    call.headers.emplace_back("x-amz-tagging-directive", "REPLACE");
  } else {
    a.tags.clear();
  }
  FERRY_RETURN_IF_ERROR(impl_->Attributes(a, &call.headers));
  FERRY_ASSIGN_OR_RETURN(HttpResponse response, impl_->Execute(call));
  Result<std::string> etag =
      ParseWriteResultEtag(response.body, "CopyObjectResult");
  if (etag.ok() && etag->empty()) {
    etag = Status::IoError("malformed CopyObjectResult response: no <ETag>");
  }
  if (!etag.ok()) return etag.status().WithContext(impl_->Context(call));
  return S3WriteResult{std::move(*etag),
                       response.Header("x-amz-version-id").value_or("")};
}

Result<std::string> S3Client::UploadPartCopy(
    std::string_view bucket, std::string_view key, std::string_view upload_id,
    int part_number, std::string_view source_key, uint64_t offset,
    uint64_t length, std::string_view if_match) {
  FERRY_RETURN_IF_ERROR(ValidateObjectKey(key));
  FERRY_RETURN_IF_ERROR(ValidateObjectKey(source_key));
  if (part_number < kS3MinPartNumber || part_number > kS3MaxPartNumber ||
      length == 0 || length > kS3MaxPartSize || upload_id.empty() ||
      offset > kS3MaxObjectSize ||
      (!if_match.empty() && !IsHeaderSafe(if_match))) {
    return Status::InvalidArgument(
        "UploadPartCopy: part number " + std::to_string(part_number) +
        " (1 to 10000) of " + std::to_string(length) +
        " bytes (1 byte to 5 GiB) at " + std::to_string(offset) +
        " of upload '" + std::string(upload_id.substr(0, 64)) + "'");
  }
  Call call{.method = "PUT",
            .bucket = bucket,
            .key = key,
            .query = {{"partNumber", std::to_string(part_number)},
                      {"uploadId", std::string(upload_id)}},
            .max_body = kS3MaxXmlBytes,
            .ok_may_be_error = true};
  call.headers.emplace_back("x-amz-copy-source",
                            "/" + sigv4::UriEncode(bucket, false) + "/" +
                                sigv4::UriEncode(source_key, true));
  call.headers.emplace_back("x-amz-copy-source-range",
                            "bytes=" + std::to_string(offset) + "-" +
                                std::to_string(offset + length - 1));
  if (!if_match.empty()) {
    call.headers.emplace_back("x-amz-copy-source-if-match",
                              std::string(if_match));
  }
  FERRY_ASSIGN_OR_RETURN(HttpResponse response, impl_->Execute(call));
  Result<std::string> etag =
      ParseWriteResultEtag(response.body, "CopyPartResult");
  if (etag.ok() && etag->empty()) {
    etag = Status::IoError("malformed CopyPartResult response: no <ETag>");
  }
  if (!etag.ok()) return etag.status().WithContext(impl_->Context(call));
  return std::move(*etag);
}

Status S3Client::DeleteObject(std::string_view bucket, std::string_view key) {
  FERRY_RETURN_IF_ERROR(ValidateObjectKey(key));
  Status st =
      impl_->Execute(Call{.method = "DELETE", .bucket = bucket, .key = key})
          .status();
  return st.IsNotFound() ? Status::Ok() : st;
}

Result<std::vector<S3DeleteError>> S3Client::DeleteObjects(
    std::string_view bucket, const std::vector<std::string>& all_keys) {
  std::vector<S3DeleteError> errors;
  // A key with a control character cannot travel in the request's XML
  // (XML 1.0 forbids most of them, and parsers rewrite \r): such keys go
  // one DeleteObject each.
  std::vector<std::string> keys;
  keys.reserve(all_keys.size());
  for (const std::string& key : all_keys) {
    const bool xml_safe = std::none_of(key.begin(), key.end(), [](char c) {
      return static_cast<unsigned char>(c) < 0x20;
    });
    if (xml_safe) {
      keys.push_back(key);
      continue;
    }
    Status st = DeleteObject(bucket, key);
    if (!st.ok()) {
      errors.push_back(
          S3DeleteError{key, "DeleteObject failed", std::string(st.message())});
    }
  }
  for (size_t start = 0; start < keys.size(); start += kS3MaxDeleteBatch) {
    std::vector<std::string> batch(
        keys.begin() + static_cast<std::ptrdiff_t>(start),
        keys.begin() + static_cast<std::ptrdiff_t>(
                           std::min(keys.size(), start + kS3MaxDeleteBatch)));
    for (const std::string& key : batch) {
      FERRY_RETURN_IF_ERROR(ValidateObjectKey(key));
    }
    const std::string body = DeleteObjectsXml(batch);
    Call call{.method = "POST",
              .bucket = bucket,
              .query = {{"delete", ""}},
              .headers = {{"Content-MD5", Md5Base64(Bytes(body))},
                          {"Content-Type", "application/xml"}},
              .body = Bytes(body),
              .max_body = kS3MaxXmlBytes};
    FERRY_ASSIGN_OR_RETURN(HttpResponse response, impl_->Execute(call));
    Result<std::vector<S3DeleteError>> failed =
        ParseDeleteResult(response.body);
    if (!failed.ok()) return failed.status().WithContext(impl_->Context(call));
    for (S3DeleteError& e : *failed) errors.push_back(std::move(e));
  }
  return errors;
}

Result<std::vector<std::pair<std::string, std::string>>>
S3Client::GetObjectTagging(std::string_view bucket, std::string_view key) {
  FERRY_RETURN_IF_ERROR(ValidateObjectKey(key));
  Call call{.method = "GET",
            .bucket = bucket,
            .key = key,
            .query = {{"tagging", ""}},
            .max_body = kS3MaxXmlBytes};
  FERRY_ASSIGN_OR_RETURN(HttpResponse response, impl_->Execute(call));
  auto tags = ParseTagging(response.body);
  if (!tags.ok()) return tags.status().WithContext(impl_->Context(call));
  return tags;
}

Status S3Client::PutObjectTagging(
    std::string_view bucket, std::string_view key,
    const std::vector<std::pair<std::string, std::string>>& tags) {
  FERRY_RETURN_IF_ERROR(ValidateObjectKey(key));
  if (tags.size() > kS3MaxTags) {
    return Status::InvalidArgument("more than " + std::to_string(kS3MaxTags) +
                                   " tags");
  }
  const std::string body = TaggingXml(tags);
  return impl_
      ->Execute(Call{.method = "PUT",
                     .bucket = bucket,
                     .key = key,
                     .query = {{"tagging", ""}},
                     .headers = {{"Content-MD5", Md5Base64(Bytes(body))},
                                 {"Content-Type", "application/xml"}},
                     .body = Bytes(body)})
      .status();
}

}  // namespace ferry
