#include "ferry/s3/http.h"

#include <curl/curl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <fstream>
#include <mutex>

#include "ferry/s3/s3_xml.h"

namespace ferry {
namespace {

// Idle easy handles kept for reuse (each holds its open connections).
constexpr size_t kMaxIdleHandles = 64;

Status GlobalInit() {
  static std::once_flag once;
  static CURLcode code = CURLE_OK;
  std::call_once(once, [] { code = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (code != CURLE_OK) {
    return Status::Internal(std::string("curl_global_init failed: ") +
                            curl_easy_strerror(code));
  }
  return Status::Ok();
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

std::string_view TrimLine(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' ||
                        s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  return s;
}

// The state of one transfer, seen by libcurl's callbacks.
// An easy handle and the socket of the connection it keeps open (libcurl
// tells it only when the socket is made: see AckNow).
struct EasyHandle {
  CURL* easy = nullptr;
  curl_socket_t fd = CURL_SOCKET_BAD;

  ~EasyHandle() {
    if (easy != nullptr) curl_easy_cleanup(easy);
  }
};

int OnSocketOpen(void* user, curl_socket_t fd, curlsocktype purpose) {
  if (purpose == CURLSOCKTYPE_IPCXN) static_cast<EasyHandle*>(user)->fd = fd;
  return CURL_SOCKOPT_OK;
}

int OnSocketClose(void* user, curl_socket_t fd) {
  auto* h = static_cast<EasyHandle*>(user);
  if (h->fd == fd) h->fd = CURL_SOCKET_BAD;
  return close(fd);
}

struct Transfer {
  const BodySink* sink;
  HttpResponse* response;
  std::span<const std::byte> body;
  size_t body_offset = 0;
  size_t header_bytes = 0;
  const std::stop_token* stop;
  std::string overflow;  // why a callback ended the transfer
  EasyHandle* handle = nullptr;

  bool to_span() const {
    return !sink->span.empty() && response->status >= 200 &&
           response->status < 300;
  }
};

// Acknowledges at once what the connection has received. A server that
// writes a response's headers and its (small) body in two writes with
// Nagle's algorithm on (radosgw's beast frontend does) holds the body until
// the headers are acknowledged, and Linux delays that acknowledgement by up
// to 40 ms on a connection it sees as request-response: every small GET
// would take 40 ms more. Setting TCP_QUICKACK sends a pending ACK now.
void AckNow(curl_socket_t fd) {
  if (fd == CURL_SOCKET_BAD) return;
  int on = 1;
  (void)setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &on, sizeof on);
}

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * count;
  t->header_bytes += n;
  if (t->header_bytes > kMaxResponseHeaderBytes) {
    t->overflow = "response headers longer than " +
                  std::to_string(kMaxResponseHeaderBytes) + " bytes";
    return 0;
  }
  std::string_view line = TrimLine(std::string_view(data, n));
  if (line.starts_with("HTTP/")) {
    AckNow(t->handle->fd);
    // A new response (after a 100 Continue, say): start over.
    t->response->headers.clear();
    t->response->status = 0;
    size_t space = line.find(' ');
    if (space != std::string_view::npos && line.size() >= space + 4) {
      int status = 0;
      for (size_t i = space + 1; i < space + 4; ++i) {
        char c = line[i];
        if (c < '0' || c > '9') return 0;
        status = status * 10 + (c - '0');
      }
      t->response->status = status;
    }
    return n;
  }
  if (line.empty()) return n;
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return n;
  if (t->response->headers.size() >= kMaxResponseHeaders) {
    t->overflow = "more than " + std::to_string(kMaxResponseHeaders) +
                  " response headers";
    return 0;
  }
  t->response->headers.emplace_back(Lower(TrimLine(line.substr(0, colon))),
                                    TrimLine(line.substr(colon + 1)));
  return n;
}

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * count;
  if (t->to_span()) {
    std::span<std::byte> span = t->sink->span;
    size_t& used = t->response->span_bytes;
    if (n > span.size() - used) {
      t->overflow = "response body longer than the " +
                    std::to_string(span.size()) + " bytes expected";
      return 0;
    }
    std::memcpy(span.data() + used, data, n);
    used += n;
    return n;
  }
  std::string& body = t->response->body;
  if (n > t->sink->max_string - std::min(body.size(), t->sink->max_string)) {
    t->overflow = "response body longer than " +
                  std::to_string(t->sink->max_string) + " bytes";
    return 0;
  }
  body.append(data, n);
  return n;
}

size_t OnRead(char* buffer, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = std::min(size * count, t->body.size() - t->body_offset);
  std::memcpy(buffer, t->body.data() + t->body_offset, n);
  t->body_offset += n;
  return n;
}

int OnSeek(void* user, curl_off_t offset, int origin) {
  auto* t = static_cast<Transfer*>(user);
  if (origin != SEEK_SET || offset < 0 ||
      static_cast<uint64_t>(offset) > t->body.size()) {
    return CURL_SEEKFUNC_FAIL;
  }
  t->body_offset = static_cast<size_t>(offset);
  return CURL_SEEKFUNC_OK;
}

int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  return t->stop->stop_requested() ? 1 : 0;
}

Status TransportError(CURLcode code, const char* detail,
                      const Transfer& transfer) {
  std::string what = detail[0] != '\0' ? detail : curl_easy_strerror(code);
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return Status(StatusCode::kUnavailable, what, 0, /*retryable=*/true);
    case CURLE_PEER_FAILED_VERIFICATION:
      return Status(StatusCode::kPermissionDenied,
                    "the server's TLS certificate did not verify against the "
                    "trusted CA: " +
                        what);
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
      return Status::InvalidArgument("the CA certificates cannot be used: " +
                                     what);
    case CURLE_ABORTED_BY_CALLBACK:
      return Status::Cancelled("request cancelled");
    case CURLE_WRITE_ERROR:
      if (!transfer.overflow.empty()) {
        return Status(StatusCode::kResourceExhausted, transfer.overflow);
      }
      return Status::IoError(what);
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return Status::InvalidArgument(what);
    default:
      if (!transfer.overflow.empty()) {
        return Status(StatusCode::kResourceExhausted, transfer.overflow);
      }
      return Status::IoError(what);
  }
}

}  // namespace

std::optional<std::string> HttpResponse::Header(
    std::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return value;
  }
  return std::nullopt;
}

struct HttpClient::Shared {
  HttpClientOptions options;
  CURLSH* share = nullptr;
  std::array<std::mutex, CURL_LOCK_DATA_LAST> locks;
  std::mutex pool_mu;
  std::vector<std::unique_ptr<EasyHandle>> idle;  // GUARDED_BY(pool_mu)

  ~Shared() {
    idle.clear();
    if (share != nullptr) curl_share_cleanup(share);
  }

  static void Lock(CURL*, curl_lock_data data, curl_lock_access, void* user) {
    static_cast<Shared*>(user)->locks[data].lock();
  }
  static void Unlock(CURL*, curl_lock_data data, void* user) {
    static_cast<Shared*>(user)->locks[data].unlock();
  }

  std::unique_ptr<EasyHandle> Take() {
    {
      std::lock_guard lock(pool_mu);
      if (!idle.empty()) {
        std::unique_ptr<EasyHandle> h = std::move(idle.back());
        idle.pop_back();
        curl_easy_reset(h->easy);
        return h;
      }
    }
    auto h = std::make_unique<EasyHandle>();
    h->easy = curl_easy_init();
    if (h->easy == nullptr) return nullptr;
    return h;
  }

  void Give(std::unique_ptr<EasyHandle> h) {
    std::lock_guard lock(pool_mu);
    if (idle.size() < kMaxIdleHandles) idle.push_back(std::move(h));
  }
};

HttpClient::HttpClient(std::unique_ptr<Shared> shared)
    : shared_(std::move(shared)) {}

HttpClient::~HttpClient() = default;

Result<std::unique_ptr<HttpClient>> HttpClient::Create(
    HttpClientOptions options) {
  FERRY_RETURN_IF_ERROR(GlobalInit());
  if (!options.ca_file.empty() && !std::ifstream(options.ca_file)) {
    return Status::InvalidArgument("cannot read the CA file " +
                                   options.ca_file);
  }
  auto shared = std::make_unique<Shared>();
  shared->options = std::move(options);
  shared->share = curl_share_init();
  if (shared->share == nullptr) return Status::Internal("curl_share_init");
  // DNS answers and TLS sessions are shared; connections stay with the
  // pooled easy handles (libcurl does not support sharing its connection
  // cache between threads that transfer at once).
  curl_share_setopt(shared->share, CURLSHOPT_LOCKFUNC, &Shared::Lock);
  curl_share_setopt(shared->share, CURLSHOPT_UNLOCKFUNC, &Shared::Unlock);
  curl_share_setopt(shared->share, CURLSHOPT_USERDATA, shared.get());
  curl_share_setopt(shared->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  curl_share_setopt(shared->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  return std::unique_ptr<HttpClient>(new HttpClient(std::move(shared)));
}

Status HttpClient::Send(const HttpRequest& request, const BodySink& sink,
                        HttpResponse* response, const std::stop_token& stop) {
  *response = HttpResponse();
  std::unique_ptr<EasyHandle> handle = shared_->Take();
  if (handle == nullptr) return Status::Internal("curl_easy_init failed");
  CURL* easy = handle->easy;
  const HttpClientOptions& o = shared_->options;
  Transfer transfer{&sink, response, request.body, 0,
                    0,     &stop,    {},           handle.get()};
  char error[CURL_ERROR_SIZE] = {0};

  curl_easy_setopt(easy, CURLOPT_SHARE, shared_->share);
  curl_easy_setopt(easy, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_PATH_AS_IS, 1L);  // keys may hold "/../"
  curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(easy, CURLOPT_SOCKOPTFUNCTION, &OnSocketOpen);
  curl_easy_setopt(easy, CURLOPT_SOCKOPTDATA, handle.get());
  curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, &OnSocketClose);
  curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, handle.get());
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(o.connect_timeout.count()));
  curl_easy_setopt(easy, CURLOPT_LOW_SPEED_LIMIT,
                   static_cast<long>(o.low_speed_limit));
  curl_easy_setopt(easy, CURLOPT_LOW_SPEED_TIME,
                   static_cast<long>(o.low_speed_time.count()));
  if (!o.ca_file.empty()) {
    curl_easy_setopt(easy, CURLOPT_CAINFO, o.ca_file.c_str());
  }
  if (!o.ca_pem.empty()) {
    curl_blob blob{const_cast<char*>(o.ca_pem.data()), o.ca_pem.size(),
                   CURL_BLOB_NOCOPY};
    curl_easy_setopt(easy, CURLOPT_CAINFO_BLOB, &blob);
  }
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, &transfer);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(easy, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(easy, CURLOPT_XFERINFOFUNCTION, &OnProgress);
  curl_easy_setopt(easy, CURLOPT_XFERINFODATA, &transfer);

  bool has_content_type = false;
  curl_slist* headers = nullptr;
  for (const auto& [name, value] : request.headers) {
    has_content_type |= Lower(name) == "content-type";
    headers = curl_slist_append(headers, (name + ": " + value).c_str());
  }
  // No "Expect: 100-continue" round trip; no form content type on POST.
  headers = curl_slist_append(headers, "Expect:");
  if (!has_content_type) headers = curl_slist_append(headers, "Content-Type:");
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);

  const auto size = static_cast<curl_off_t>(request.body.size());
  if (request.method == "HEAD") {
    curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
  } else if (request.method == "PUT") {
    curl_easy_setopt(easy, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(easy, CURLOPT_INFILESIZE_LARGE, size);
  } else if (request.method == "POST") {
    curl_easy_setopt(easy, CURLOPT_POST, 1L);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, size);
  } else {
    curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
    if (request.method != "GET") {
      curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    }
  }
  if (request.method == "PUT" || request.method == "POST") {
    curl_easy_setopt(easy, CURLOPT_READFUNCTION, &OnRead);
    curl_easy_setopt(easy, CURLOPT_READDATA, &transfer);
    curl_easy_setopt(easy, CURLOPT_SEEKFUNCTION, &OnSeek);
    curl_easy_setopt(easy, CURLOPT_SEEKDATA, &transfer);
  }

  CURLcode code = curl_easy_perform(easy);
  curl_slist_free_all(headers);
  // The handle must not keep pointers into this call's stack.
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, nullptr);
  shared_->Give(std::move(handle));
  if (code != CURLE_OK) return TransportError(code, error, transfer);
  if (response->status < 100 || response->status > 599) {
    return Status(StatusCode::kUnavailable,
                  "no valid HTTP status line in the response", 0, true);
  }
  return Status::Ok();
}

void ServerClock::Note(const HttpResponse& response) {
  std::optional<std::string> date = response.Header("date");
  if (!date) return;
  std::optional<int64_t> server = ParseHttpDate(*date);
  if (!server) return;
  const int64_t local = std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  // Date is truncated to the second: its middle is the best guess.
  offset_ns_.store(*server + 500000000 - local);
  known_.store(true);
}

std::optional<std::chrono::nanoseconds> ServerClock::Offset() const {
  if (!known_.load()) return std::nullopt;
  return std::chrono::nanoseconds(offset_ns_.load());
}

Status ReadEtagAndLastModified(const HttpResponse& response,
                               const std::string& context, std::string* etag,
                               int64_t* last_modified_ns) {
  constexpr size_t kMaxEtag = 256;
  *etag = response.Header("etag").value_or("");
  if (etag->size() > kMaxEtag) {
    return Status::IoError(context + ": ETag longer than " +
                           std::to_string(kMaxEtag) + " bytes");
  }
  if (std::optional<std::string> modified = response.Header("last-modified")) {
    std::optional<int64_t> t = ParseHttpDate(*modified);
    if (!t) {
      return Status::IoError(context + ": malformed Last-Modified '" +
                             modified->substr(0, 64) + "'");
    }
    *last_modified_ns = *t;
  }
  return Status::Ok();
}

Result<uint64_t> ParseDecimal(std::string_view text, uint64_t max,
                              std::string_view what) {
  uint64_t value = 0;
  if (text.empty() || text.size() > 20) {
    return Status::IoError("malformed " + std::string(what) + " '" +
                           std::string(text.substr(0, 40)) + "'");
  }
  for (char c : text) {
    if (c < '0' || c > '9' ||
        value > (max - static_cast<uint64_t>(c - '0')) / 10) {
      return Status::IoError("malformed " + std::string(what) + " '" +
                             std::string(text.substr(0, 40)) + "'");
    }
    value = value * 10 + static_cast<uint64_t>(c - '0');
  }
  return value;
}

}  // namespace ferry
