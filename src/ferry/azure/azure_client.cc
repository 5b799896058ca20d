#include "ferry/azure/azure_client.h"

#include <algorithm>
#include <atomic>
#include <cctype>

#include "ferry/azure/azure_auth.h"
#include "ferry/s3/http.h"
#include "ferry/s3/s3_xml.h"

namespace ferry {
namespace {

constexpr size_t kMaxErrorBody = 64 << 10;
constexpr uint64_t kMaxSize = uint64_t{1} << 53;

std::span<const std::byte> Bytes(std::string_view s) {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

// A header value Azure stores as given: printable US-ASCII.
bool IsHeaderSafe(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return c >= 0x20 && c < 0x7f; });
}

bool IsTier(std::string_view tier) {
  return tier.empty() || tier == "Hot" || tier == "Cool" || tier == "Archive";
}

// One request, before it is authorized.
struct Call {
  std::string_view method;
  std::string_view container;
  std::optional<std::string_view> name;  // none: the container itself
  AzureParams query;
  AzureParams headers;
  std::span<const std::byte> body;
  std::span<std::byte> out;  // a 2xx body goes here if not empty
  size_t max_body = kMaxErrorBody;
  // A non-2xx status returned as an answer rather than an error.
  int also_ok_status = 0;
};

// The Status of a non-2xx answer: "CONTEXT: STATUS CODE: message".
Status ErrorStatus(const std::string& context, int status,
                   const std::string& code, const std::string& message) {
  std::string msg = context + ": " + std::to_string(status);
  if (!code.empty()) msg += " " + code;
  if (!message.empty()) msg += ": " + message;
  if (status == 404 && code == "ContainerNotFound") {
    return Status(StatusCode::kFailedPrecondition,
                  msg + " (the container does not exist)");
  }
  if (status == 404) return Status::NotFound(msg);
  if (status == 403) {
    if (code == "AuthenticationFailed") {
      msg +=
          " (a wrong account key, or a SAS token that is expired, not "
          "yet valid or not for this container)";
    } else if (code.starts_with("AuthorizationPermissionMismatch")) {
      msg +=
          " (the SAS token does not allow this: a read-only token "
          "cannot write)";
    } else if (code == "AuthorizationFailure") {
      msg +=
          " (the SAS token is not for this container, or does not allow "
          "this request)";
    }
    return Status(StatusCode::kPermissionDenied, msg);
  }
  if (status == 412) {
    return Status(StatusCode::kSourceChanged, msg + " (changed since listed)");
  }
  if (status == 409 &&
      (code == "ContainerAlreadyExists" || code == "BlobAlreadyExists")) {
    return Status::AlreadyExists(msg);
  }
  if (status == 408 || status == 429 || status >= 500 || code == "ServerBusy" ||
      code == "OperationTimedOut") {
    return Status(StatusCode::kUnavailable, msg, 0, true);
  }
  if (status >= 300 && status < 400) {
    return Status(StatusCode::kFailedPrecondition,
                  msg +
                      " (redirects are not followed: is the endpoint "
                      "right?)");
  }
  return Status::InvalidArgument(msg);
}

Status MetadataHeaders(const std::map<std::string, std::string>& metadata,
                       AzureParams* headers) {
  size_t bytes = 0;
  for (const auto& [name, value] : metadata) {
    if (!IsAzureMetadataName(name) || !IsHeaderSafe(value)) {
      return Status::InvalidArgument(
          "metadata '" + name.substr(0, 64) +
          "': Azure takes names that are C# identifiers and values of "
          "printable US-ASCII");
    }
    bytes += name.size() + value.size();
    headers->emplace_back("x-ms-meta-" + name, value);
  }
  if (bytes > kAzureMaxMetadataBytes) {
    return Status::InvalidArgument("metadata of " + std::to_string(bytes) +
                                   " bytes; Azure allows " +
                                   std::to_string(kAzureMaxMetadataBytes));
  }
  return Status::Ok();
}

}  // namespace

bool IsAzureMetadataName(std::string_view name) {
  if (name.empty() || name.size() > 256) return false;
  auto letter = [](unsigned char c) { return std::isalpha(c) || c == '_'; };
  if (!letter(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(), [&](char c) {
    return letter(static_cast<unsigned char>(c)) ||
           std::isdigit(static_cast<unsigned char>(c));
  });
}

struct AzureClient::Impl {
  AzureClientOptions options;
  std::string origin;     // "http://127.0.0.1:10000"
  std::string base_path;  // "/devstoreaccount1" or ""
  std::string display;    // origin + base_path
  std::unique_ptr<HttpClient> http;
  Clock* clock = nullptr;
  ServerClock server_clock;

  std::string Path(const Call& call) const {
    std::string path = base_path + "/" + std::string(call.container);
    if (call.name) path += "/" + AzureEncodePath(*call.name);
    return path;
  }

  std::string Context(const Call& call) const {
    return std::string(call.method) + " " + display + "/" +
           std::string(call.container) +
           (call.name ? "/" + std::string(*call.name) : "");
  }

  std::string Url(const Call& call) const {
    std::string url = origin + Path(call);
    std::string query;
    for (const auto& [name, value] : call.query) {
      query +=
          (query.empty() ? "" : "&") + name + "=" + AzureEncodeQuery(value);
    }
    if (!options.sas.empty()) {
      query += (query.empty() ? "" : "&") + options.sas;
    }
    if (!query.empty()) url += "?" + query;
    return url;
  }

  // `call` as a request to send now: dated, and signed with Shared Key.
  Result<HttpRequest> Request(const Call& call, const std::string& url) const {
    AzureParams headers = call.headers;
    headers.emplace_back("x-ms-date",
                         AzureDate(std::chrono::system_clock::now()));
    headers.emplace_back("x-ms-version", std::string(kAzureApiVersion));
    if (options.sas.empty()) {
      AzureSignable signable{std::string(call.method), Path(call), call.query,
                             headers};
      if (call.method == "PUT" || call.method == "POST") {
        signable.headers.emplace_back("Content-Length",
                                      std::to_string(call.body.size()));
      }
      FERRY_ASSIGN_OR_RETURN(
          std::string authorization,
          SharedKeyAuthorization(options.account, options.key, signable));
      headers.emplace_back("Authorization", std::move(authorization));
    }
    return HttpRequest{std::string(call.method), url, std::move(headers),
                       call.body};
  }

  // The answer if it is 2xx (or call.also_ok_status), else its error.
  Result<HttpResponse> Check(const Call& call, const std::string& context,
                             HttpResponse response) {
    server_clock.Note(response);
    if ((response.status >= 200 && response.status < 300) ||
        (call.also_ok_status != 0 && response.status == call.also_ok_status)) {
      return response;
    }
    std::string code = response.Header("x-ms-error-code").value_or("");
    std::string message;
    if (std::optional<AzureErrorDocument> doc =
            ParseAzureError(response.body)) {
      if (code.empty()) code = doc->code;
      message = doc->message;
      // Azure's messages run on with a RequestId and Time: the first line
      // says it.
      if (size_t nl = message.find('\n'); nl != std::string::npos) {
        message.resize(nl);
      }
    }
    if (code.size() > 128 || !IsHeaderSafe(code)) code.clear();
    return ErrorStatus(context, response.status, code, message);
  }

  // Runs attempt(request) -> Result<HttpResponse> for `call`, retrying
  // transient failures; the final 2xx answer.
  template <typename Attempt>
  Result<HttpResponse> Retried(const Call& call, Attempt&& attempt) {
    const std::string context = Context(call);
    const std::string url = Url(call);
    auto once = [&]() -> Result<HttpResponse> {
      FERRY_ASSIGN_OR_RETURN(HttpRequest request, Request(call, url));
      Result<HttpResponse> response = attempt(request);
      if (!response.ok()) return response.status().WithContext(context);
      return Check(call, context, std::move(response).value());
    };
    auto on_retry = [&](const Status& failure, int n, Clock::duration delay) {
      if (options.on_retry) options.on_retry(context, failure, n, delay);
    };
    return RetryRequest(options.retry, clock, options.stop, context, once,
                        on_retry);
  }

  // Sends `call`, retrying transient failures; the final 2xx answer.
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

AzureClient::AzureClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AzureClient::~AzureClient() = default;

Result<std::unique_ptr<AzureClient>> AzureClient::Create(
    AzureClientOptions options) {
  std::string_view e = options.endpoint;
  while (e.ends_with("/")) e.remove_suffix(1);
  size_t scheme_end = e.find("://");
  if (scheme_end == std::string_view::npos ||
      (e.substr(0, scheme_end) != "http" &&
       e.substr(0, scheme_end) != "https")) {
    return Status::InvalidArgument("Azure endpoint '" + std::string(e) +
                                   "' is not http(s)://HOST[:PORT][/ACCOUNT]");
  }
  const size_t host_start = scheme_end + 3;
  const size_t path_start = e.find('/', host_start);
  auto impl = std::make_unique<Impl>();
  impl->origin = std::string(e.substr(0, path_start));
  impl->base_path = path_start == std::string_view::npos
                        ? ""
                        : std::string(e.substr(path_start));
  if (impl->origin.size() == host_start ||
      impl->base_path.find_first_of("?#") != std::string::npos ||
      impl->base_path.find('/', 1) != std::string::npos) {
    return Status::InvalidArgument("Azure endpoint '" + std::string(e) +
                                   "' is not http(s)://HOST[:PORT][/ACCOUNT]");
  }
  impl->display = impl->origin + impl->base_path;
  if (options.account.empty()) {
    return Status::InvalidArgument("Azure client: no storage account");
  }
  if (options.key.empty() == options.sas.empty()) {
    return Status::InvalidArgument(
        "Azure client: give either an account key or a SAS token");
  }
  if (!options.sas.empty()) {
    FERRY_ASSIGN_OR_RETURN(options.sas, NormalizeSasToken(options.sas));
  } else {
    // Checked now, not at the first request.
    FERRY_RETURN_IF_ERROR(
        SharedKeyAuthorization(options.account, options.key, AzureSignable{})
            .status());
  }
  HttpClientOptions http;
  http.ca_file = options.ca_file;
  http.connect_timeout = options.connect_timeout;
  http.low_speed_time = options.stall_timeout;
  FERRY_ASSIGN_OR_RETURN(impl->http, HttpClient::Create(std::move(http)));
  impl->clock = options.clock != nullptr ? options.clock : Clock::Real();
  impl->options = std::move(options);
  return std::unique_ptr<AzureClient>(new AzureClient(std::move(impl)));
}

const std::string& AzureClient::endpoint() const { return impl_->display; }

std::optional<std::chrono::nanoseconds> AzureClient::ClockOffset() const {
  return impl_->server_clock.Offset();
}

Status AzureClient::CreateContainer(std::string_view container) {
  return impl_
      ->Execute(Call{.method = "PUT",
                     .container = container,
                     .query = {{"restype", "container"}}})
      .status();
}

Result<AzureListPage> AzureClient::ListBlobs(std::string_view container,
                                             const AzureListRequest& request) {
  AzureParams query = {{"restype", "container"}, {"comp", "list"}};
  if (!request.prefix.empty()) query.emplace_back("prefix", request.prefix);
  if (!request.delimiter.empty()) {
    query.emplace_back("delimiter", request.delimiter);
  }
  if (request.include_metadata) query.emplace_back("include", "metadata");
  if (!request.marker.empty()) query.emplace_back("marker", request.marker);
  query.emplace_back("maxresults", std::to_string(std::clamp(
                                       request.max_results, 1,
                                       request.include_metadata
                                           ? kAzureMaxListResultsWithMetadata
                                           : kAzureMaxListResults)));
  Call call{.method = "GET",
            .container = container,
            .query = std::move(query),
            .max_body = request.include_metadata
                            ? kAzureMaxListXmlBytesWithMetadata
                            : kAzureMaxXmlBytes};
  FERRY_ASSIGN_OR_RETURN(HttpResponse response, impl_->Execute(call));
  Result<AzureListPage> page = ParseListBlobs(response.body);
  if (!page.ok()) return page.status().WithContext(impl_->Context(call));
  return page;
}

namespace {

Status PropertiesFromHeaders(const HttpResponse& response,
                             const std::string& context,
                             AzureBlobProperties* p) {
  FERRY_RETURN_IF_ERROR(ReadEtagAndLastModified(response, context, &p->etag,
                                                &p->last_modified_ns));
  p->access_tier = response.Header("x-ms-access-tier").value_or("");
  p->metadata.clear();
  size_t bytes = 0;
  for (const auto& [name, value] : response.headers) {
    if (!name.starts_with("x-ms-meta-")) continue;
    bytes += name.size() + value.size();
    if (bytes > 2 * kAzureMaxMetadataBytes) {
      return Status::IoError(context + ": metadata beyond Azure's limit");
    }
    p->metadata[name.substr(10)] = value;
  }
  return Status::Ok();
}

}  // namespace

Result<AzureBlobProperties> AzureClient::GetBlobProperties(
    std::string_view container, std::string_view name) {
  Call call{.method = "HEAD", .container = container, .name = name};
  FERRY_ASSIGN_OR_RETURN(HttpResponse response, impl_->Execute(call));
  const std::string context = impl_->Context(call);
  AzureBlobProperties p;
  FERRY_RETURN_IF_ERROR(PropertiesFromHeaders(response, context, &p));
  FERRY_ASSIGN_OR_RETURN(
      p.size, ParseDecimal(response.Header("content-length").value_or(""),
                           kMaxSize, context + ": Content-Length"));
  return p;
}

Result<size_t> AzureClient::GetBlob(std::string_view container,
                                    std::string_view name, uint64_t offset,
                                    std::span<std::byte> out,
                                    const std::string& if_match,
                                    AzureBlobProperties* properties) {
  if (out.empty()) return size_t{0};
  // 416: a range that starts at or past the end, nothing to read.
  Call call{.method = "GET",
            .container = container,
            .name = name,
            .out = out,
            .also_ok_status = 416};
  call.headers.emplace_back("x-ms-range",
                            "bytes=" + std::to_string(offset) + "-" +
                                std::to_string(offset + out.size() - 1));
  if (!if_match.empty()) call.headers.emplace_back("If-Match", if_match);
  FERRY_ASSIGN_OR_RETURN(HttpResponse response, impl_->Execute(call));
  const std::string context = impl_->Context(call);
  if (response.status == 416) {
    if (properties != nullptr) {
      FERRY_ASSIGN_OR_RETURN(*properties, GetBlobProperties(container, name));
    }
    return size_t{0};
  }
  if (properties != nullptr) {
    FERRY_RETURN_IF_ERROR(PropertiesFromHeaders(response, context, properties));
    // "bytes START-END/TOTAL"
    const std::string range = response.Header("content-range").value_or("");
    const size_t slash = range.rfind('/');
    if (slash == std::string::npos) {
      return Status::IoError(context + ": no Content-Range in the answer");
    }
    FERRY_ASSIGN_OR_RETURN(properties->size,
                           ParseDecimal(range.substr(slash + 1), kMaxSize,
                                        context + ": Content-Range total"));
  }
  return response.span_bytes;
}

Result<std::unique_ptr<HttpStream>> AzureClient::GetBlobStream(
    std::string_view container, std::string_view name, uint64_t offset,
    uint64_t length, const std::string& if_match) {
  if (length == 0) return std::unique_ptr<HttpStream>();
  if (offset > kMaxSize || length > kMaxSize - offset) {
    return Status::InvalidArgument("a blob range beyond " +
                                   std::to_string(kMaxSize) + " bytes");
  }
  Call call{.method = "GET",
            .container = container,
            .name = name,
            .also_ok_status = 416};
  call.headers.emplace_back("x-ms-range",
                            "bytes=" + std::to_string(offset) + "-" +
                                std::to_string(offset + length - 1));
  if (!if_match.empty()) call.headers.emplace_back("If-Match", if_match);
  std::unique_ptr<HttpStream> stream;
  FERRY_ASSIGN_OR_RETURN(HttpResponse response,
                         impl_->Stream(call, length, &stream));
  if (response.status == 416) return std::unique_ptr<HttpStream>();
  FERRY_RETURN_IF_ERROR(
      CheckRangeStart(response, offset, impl_->Context(call)));
  return stream;
}

Result<std::string> AzureClient::PutBlob(
    std::string_view container, std::string_view name,
    std::span<const std::byte> data,
    const std::map<std::string, std::string>& metadata, std::string_view tier) {
  if (data.size() > kAzureMaxPutBlobBytes) {
    return Status::InvalidArgument("a blob of one Put Blob holds at most " +
                                   std::to_string(kAzureMaxPutBlobBytes) +
                                   " bytes");
  }
  if (!IsTier(tier)) {
    return Status::InvalidArgument("access tier '" + std::string(tier) +
                                   "' is not Hot, Cool or Archive");
  }
  Call call{
      .method = "PUT", .container = container, .name = name, .body = data};
  call.headers.emplace_back("x-ms-blob-type", "BlockBlob");
  call.headers.emplace_back("Content-Type", "application/octet-stream");
  if (!tier.empty()) call.headers.emplace_back("x-ms-access-tier", tier);
  FERRY_RETURN_IF_ERROR(MetadataHeaders(metadata, &call.headers));
  FERRY_ASSIGN_OR_RETURN(HttpResponse response, impl_->Execute(call));
  return response.Header("etag").value_or("");
}

Status AzureClient::PutBlock(std::string_view container, std::string_view name,
                             std::string_view block_id,
                             std::span<const std::byte> data) {
  if (data.size() > kAzureMaxBlockBytes) {
    return Status::InvalidArgument("a block holds at most " +
                                   std::to_string(kAzureMaxBlockBytes) +
                                   " bytes");
  }
  Call call{.method = "PUT",
            .container = container,
            .name = name,
            .query = {{"comp", "block"}, {"blockid", std::string(block_id)}},
            .body = data};
  return impl_->Execute(call).status();
}

Result<std::string> AzureClient::PutBlockList(
    std::string_view container, std::string_view name,
    const std::vector<std::string>& block_ids,
    const std::map<std::string, std::string>& metadata, std::string_view tier) {
  if (block_ids.size() > kAzureMaxBlocks) {
    return Status::InvalidArgument("a blob holds at most " +
                                   std::to_string(kAzureMaxBlocks) + " blocks");
  }
  if (!IsTier(tier)) {
    return Status::InvalidArgument("access tier '" + std::string(tier) +
                                   "' is not Hot, Cool or Archive");
  }
  const std::string body = BlockListXml(block_ids);
  Call call{.method = "PUT",
            .container = container,
            .name = name,
            .query = {{"comp", "blocklist"}},
            .body = Bytes(body)};
  call.headers.emplace_back("Content-Type", "application/xml");
  call.headers.emplace_back("x-ms-blob-content-type",
                            "application/octet-stream");
  if (!tier.empty()) call.headers.emplace_back("x-ms-access-tier", tier);
  FERRY_RETURN_IF_ERROR(MetadataHeaders(metadata, &call.headers));
  FERRY_ASSIGN_OR_RETURN(HttpResponse response, impl_->Execute(call));
  return response.Header("etag").value_or("");
}

Result<std::string> AzureClient::SetBlobMetadata(
    std::string_view container, std::string_view name,
    const std::map<std::string, std::string>& metadata,
    const std::string& if_match) {
  Call call{.method = "PUT",
            .container = container,
            .name = name,
            .query = {{"comp", "metadata"}}};
  FERRY_RETURN_IF_ERROR(MetadataHeaders(metadata, &call.headers));
  if (!if_match.empty()) call.headers.emplace_back("If-Match", if_match);
  FERRY_ASSIGN_OR_RETURN(HttpResponse response, impl_->Execute(call));
  return response.Header("etag").value_or("");
}

Status AzureClient::SetBlobTier(std::string_view container,
                                std::string_view name, std::string_view tier) {
  if (tier.empty() || !IsTier(tier)) {
    return Status::InvalidArgument("access tier '" + std::string(tier) +
                                   "' is not Hot, Cool or Archive");
  }
  Call call{.method = "PUT",
            .container = container,
            .name = name,
            .query = {{"comp", "tier"}}};
  call.headers.emplace_back("x-ms-access-tier", tier);
  return impl_->Execute(call).status();
}

Status AzureClient::DeleteBlob(std::string_view container,
                               std::string_view name) {
  Status st = impl_
                  ->Execute(Call{
                      .method = "DELETE", .container = container, .name = name})
                  .status();
  return st.IsNotFound() ? Status::Ok() : st;
}

}  // namespace ferry
