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
// A handle that streams (HttpClient::Open) is driven through a multi handle
// of its own, which keeps its connection between streams.
struct EasyHandle {
  CURL* easy = nullptr;
  CURLM* multi = nullptr;
  curl_socket_t fd = CURL_SOCKET_BAD;

  ~EasyHandle() {
    if (multi != nullptr) curl_multi_cleanup(multi);
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

// libcurl's receive buffer for a stream: fewer, larger reads of the socket.
// A streamed body's bytes beyond what the reader asked for are kept until
// its next Read: the rest of one such read at most, as the transfer is
// paused once the reader's buffer is full (the rest waits in the socket).
constexpr long kStreamBufferBytes = 256 << 10;

struct Transfer {
  const BodySink* sink;
  HttpResponse* response;
  std::span<const std::byte> body;
  size_t body_offset = 0;
  size_t header_bytes = 0;
  const std::stop_token* stop;
  std::string overflow;  // why a callback ended the transfer
  EasyHandle* handle = nullptr;

  // Streaming (HttpClient::Open): a 2xx body goes into `into` from
  // `into_used` on, the rest into `stash`.
  bool streaming = false;
  bool headers_done = false;  // the final answer's headers are in
  uint64_t max_body = 0;
  uint64_t body_bytes = 0;
  std::span<std::byte> into;
  size_t into_used = 0;
  std::vector<std::byte> stash;
  size_t stash_used = 0;  // bytes of `stash` already read
  bool paused = false;    // OnBody paused the transfer

  bool ok_status() const {
    return response->status >= 200 && response->status < 300;
  }
  bool to_span() const { return !sink->span.empty() && ok_status(); }
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
  if (line.empty()) {
    // The end of the headers; of the final answer unless it was a 1xx.
    if (t->response->status >= 200) t->headers_done = true;
    return n;
  }
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
  if (t->streaming && t->ok_status()) {
    const size_t direct = std::min(n, t->into.size() - t->into_used);
    if (direct == 0 && t->stash.size() > t->stash_used) {
      // libcurl keeps these bytes and gives them again once resumed.
      t->paused = true;
      return CURL_WRITEFUNC_PAUSE;
    }
    if (n > t->max_body - t->body_bytes) {
      t->overflow = "response body longer than the " +
                    std::to_string(t->max_body) + " bytes expected";
      return 0;
    }
    t->body_bytes += n;
    if (direct > 0) {
      std::memcpy(t->into.data() + t->into_used, data, direct);
      t->into_used += direct;
    }
    if (direct < n) {
      const auto* from = reinterpret_cast<const std::byte*>(data);
      t->stash.insert(t->stash.end(), from + direct, from + n);
    }
    return n;
  }
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
  // Handles for Send, and for streams (which keep their connections in
  // their own multi handles).
  std::vector<std::unique_ptr<EasyHandle>> idle;          // GUARDED_BY(pool_mu)
  std::vector<std::unique_ptr<EasyHandle>> idle_streams;  // GUARDED_BY(pool_mu)

  ~Shared() {
    idle.clear();
    idle_streams.clear();
    if (share != nullptr) curl_share_cleanup(share);
  }

  static void Lock(CURL*, curl_lock_data data, curl_lock_access, void* user) {
    static_cast<Shared*>(user)->locks[data].lock();
  }
  static void Unlock(CURL*, curl_lock_data data, void* user) {
    static_cast<Shared*>(user)->locks[data].unlock();
  }

  std::unique_ptr<EasyHandle> Take(
      std::vector<std::unique_ptr<EasyHandle>>* pool) {
    {
      std::lock_guard lock(pool_mu);
      if (!pool->empty()) {
        std::unique_ptr<EasyHandle> h = std::move(pool->back());
        pool->pop_back();
        curl_easy_reset(h->easy);
        return h;
      }
    }
    auto h = std::make_unique<EasyHandle>();
    h->easy = curl_easy_init();
    if (h->easy == nullptr) return nullptr;
    return h;
  }

  void Give(std::unique_ptr<EasyHandle> h,
            std::vector<std::unique_ptr<EasyHandle>>* pool) {
    std::lock_guard lock(pool_mu);
    if (pool->size() < kMaxIdleHandles) pool->push_back(std::move(h));
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

namespace {

// Sets `handle` up for `request`, its callbacks reporting to `transfer`
// and errors to `error` (both must outlive the transfer). Returns the
// header list, the caller's to free once the transfer is over.
curl_slist* Configure(CURLSH* share, const HttpClientOptions& o,
                      EasyHandle* handle, const HttpRequest& request,
                      Transfer* transfer, char* error) {
  CURL* easy = handle->easy;
  curl_easy_setopt(easy, CURLOPT_SHARE, share);
  curl_easy_setopt(easy, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_PATH_AS_IS, 1L);  // keys may hold "/../"
  curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(easy, CURLOPT_SOCKOPTFUNCTION, &OnSocketOpen);
  curl_easy_setopt(easy, CURLOPT_SOCKOPTDATA, handle);
  curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, &OnSocketClose);
  curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, handle);
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
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, transfer);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, transfer);
  curl_easy_setopt(easy, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(easy, CURLOPT_XFERINFOFUNCTION, &OnProgress);
  curl_easy_setopt(easy, CURLOPT_XFERINFODATA, transfer);

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
    curl_easy_setopt(easy, CURLOPT_READDATA, transfer);
    curl_easy_setopt(easy, CURLOPT_SEEKFUNCTION, &OnSeek);
    curl_easy_setopt(easy, CURLOPT_SEEKDATA, transfer);
  }
  return headers;
}

Status CheckStatusLine(const HttpResponse& response) {
  if (response.status < 100 || response.status > 599) {
    return Status(StatusCode::kUnavailable,
                  "no valid HTTP status line in the response", 0, true);
  }
  return Status::Ok();
}

}  // namespace

Status HttpClient::Send(const HttpRequest& request, const BodySink& sink,
                        HttpResponse* response, const std::stop_token& stop) {
  *response = HttpResponse();
  std::unique_ptr<EasyHandle> handle = shared_->Take(&shared_->idle);
  if (handle == nullptr) return Status::Internal("curl_easy_init failed");
  Transfer transfer{&sink, response, request.body, 0,
                    0,     &stop,    {},           handle.get()};
  char error[CURL_ERROR_SIZE] = {0};
  curl_slist* headers = Configure(shared_->share, shared_->options,
                                  handle.get(), request, &transfer, error);
  CURLcode code = curl_easy_perform(handle->easy);
  curl_slist_free_all(headers);
  // The handle must not keep pointers into this call's stack.
  curl_easy_setopt(handle->easy, CURLOPT_ERRORBUFFER, nullptr);
  shared_->Give(std::move(handle), &shared_->idle);
  if (code != CURLE_OK) return TransportError(code, error, transfer);
  return CheckStatusLine(*response);
}

Result<HttpResponse> HttpClient::Fetch(const HttpRequest& request,
                                       const BodySink& sink,
                                       const std::stop_token& stop) {
  HttpResponse response;
  FERRY_RETURN_IF_ERROR(Send(request, sink, &response, stop));
  return response;
}

Result<HttpResponse> HttpClient::FetchStream(
    const HttpRequest& request, uint64_t max_body, size_t max_error_body,
    std::unique_ptr<HttpStream>* stream, const std::stop_token& stop) {
  HttpResponse response;
  FERRY_RETURN_IF_ERROR(
      Open(request, max_body, &response, stream, stop, max_error_body));
  return response;
}

// One streamed request: its handle, driven through the handle's multi
// handle by whoever waits for its bytes (Open, then Read).
struct HttpStream::State {
  HttpClient::Shared* shared = nullptr;
  std::unique_ptr<EasyHandle> handle;
  curl_slist* headers = nullptr;
  std::stop_token stop;
  BodySink sink;          // for a non-2xx body
  HttpResponse response;  // what the header callback fills
  Transfer transfer{&sink, &response, {}, 0, 0, &stop, {}, nullptr};
  char error[CURL_ERROR_SIZE] = {0};
  bool done = false;  // the transfer is over, with `code`
  CURLcode code = CURLE_OK;
  Status failure;  // of a Read; every later Read returns it

  ~State() {
    if (handle == nullptr) return;
    curl_multi_remove_handle(handle->multi, handle->easy);
    curl_slist_free_all(headers);
    curl_easy_setopt(handle->easy, CURLOPT_ERRORBUFFER, nullptr);
    shared->Give(std::move(handle), &shared->idle_streams);
  }

  // Lets libcurl move the transfer on; with `wait`, first waits up to a
  // second for the connection to have something for it.
  Status Step(bool wait) {
    if (wait) {
      CURLMcode mc = curl_multi_poll(handle->multi, nullptr, 0, 1000, nullptr);
      if (mc != CURLM_OK) {
        return Status::IoError(std::string("curl_multi_poll: ") +
                               curl_multi_strerror(mc));
      }
    }
    int running = 0;
    CURLMcode mc = curl_multi_perform(handle->multi, &running);
    if (mc != CURLM_OK) {
      return Status::IoError(std::string("curl_multi_perform: ") +
                             curl_multi_strerror(mc));
    }
    if (running == 0) {
      int queued = 0;
      while (CURLMsg* msg = curl_multi_info_read(handle->multi, &queued)) {
        if (msg->msg == CURLMSG_DONE) code = msg->data.result;
      }
      done = true;
    }
    return Status::Ok();
  }

  Status Outcome() const {
    if (code != CURLE_OK) return TransportError(code, error, transfer);
    return Status::Ok();
  }
};

HttpStream::HttpStream(std::unique_ptr<State> state)
    : state_(std::move(state)) {}

HttpStream::~HttpStream() = default;

uint64_t HttpStream::position() const {
  return state_->transfer.body_bytes - buffered();
}

size_t HttpStream::buffered() const {
  const Transfer& t = state_->transfer;
  return t.stash.size() - t.stash_used;
}

Result<size_t> HttpStream::Read(std::span<std::byte> out) {
  State& s = *state_;
  Transfer& t = s.transfer;
  if (!s.failure.ok() && t.stash_used == t.stash.size()) return s.failure;
  size_t got = std::min(out.size(), t.stash.size() - t.stash_used);
  if (got > 0) {
    std::memcpy(out.data(), t.stash.data() + t.stash_used, got);
    t.stash_used += got;
    if (t.stash_used == t.stash.size()) {
      t.stash.clear();
      t.stash_used = 0;
    }
  }
  t.into = out;
  t.into_used = got;
  Status st;
  if (t.paused && t.into_used < out.size() && s.failure.ok()) {
    // What libcurl held back may come now, into `out`.
    t.paused = false;
    CURLcode resumed = curl_easy_pause(s.handle->easy, CURLPAUSE_CONT);
    if (resumed != CURLE_OK) st = TransportError(resumed, s.error, t);
  }
  for (bool wait = false;
       st.ok() && t.into_used < out.size() && !s.done && s.failure.ok();
       wait = true) {
    st = s.Step(wait);
    if (!st.ok()) break;
    if (s.stop.stop_requested()) st = Status::Cancelled("request cancelled");
    if (!st.ok()) break;
  }
  got = t.into_used;
  t.into = {};
  t.into_used = 0;
  if (st.ok() && s.failure.ok()) st = s.Outcome();
  if (!st.ok()) s.failure = st;
  // The bytes that came before a failure are read first.
  if (got == 0 && !s.failure.ok()) return s.failure;
  return got;
}

Status HttpClient::Open(const HttpRequest& request, uint64_t max_body,
                        HttpResponse* response,
                        std::unique_ptr<HttpStream>* stream,
                        const std::stop_token& stop, size_t max_error_body) {
  *response = HttpResponse();
  stream->reset();
  auto state = std::make_unique<HttpStream::State>();
  state->shared = shared_.get();
  state->stop = stop;
  state->sink.max_string = max_error_body;
  state->handle = shared_->Take(&shared_->idle_streams);
  if (state->handle == nullptr)
    return Status::Internal("curl_easy_init failed");
  EasyHandle* handle = state->handle.get();
  if (handle->multi == nullptr) {
    handle->multi = curl_multi_init();
    if (handle->multi == nullptr) return Status::Internal("curl_multi_init");
  }
  Transfer& t = state->transfer;
  t.handle = handle;
  t.streaming = true;
  t.max_body = max_body;
  state->headers = Configure(shared_->share, shared_->options, handle, request,
                             &t, state->error);
  curl_easy_setopt(handle->easy, CURLOPT_BUFFERSIZE, kStreamBufferBytes);
  CURLMcode mc = curl_multi_add_handle(handle->multi, handle->easy);
  if (mc != CURLM_OK) {
    curl_slist_free_all(state->headers);
    state->headers = nullptr;
    curl_easy_setopt(handle->easy, CURLOPT_ERRORBUFFER, nullptr);
    state->handle.reset();  // not in the multi: not reused
    return Status::Internal(std::string("curl_multi_add_handle: ") +
                            curl_multi_strerror(mc));
  }
  // Until the final answer's headers are in; a non-2xx answer, to its end.
  // (A failure after a 2xx answer's headers is the stream's first Read's.)
  for (bool wait = false;; wait = true) {
    FERRY_RETURN_IF_ERROR(state->Step(wait));
    if (t.headers_done && t.ok_status()) break;
    if (state->done) break;
    if (stop.stop_requested()) return Status::Cancelled("request cancelled");
  }
  if (!(t.headers_done && t.ok_status())) {
    FERRY_RETURN_IF_ERROR(state->Outcome());
    FERRY_RETURN_IF_ERROR(CheckStatusLine(state->response));
    if (t.ok_status()) {
      return Status(StatusCode::kUnavailable,
                    "the answer ended before its headers did", 0, true);
    }
    *response = std::move(state->response);
    return Status::Ok();
  }
  response->status = state->response.status;
  response->headers = state->response.headers;
  *stream = std::unique_ptr<HttpStream>(new HttpStream(std::move(state)));
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

Status CheckRangeStart(const HttpResponse& response, uint64_t offset,
                       const std::string& context) {
  const std::string range = response.Header("content-range").value_or("");
  if (response.status == 206
          ? !range.starts_with("bytes " + std::to_string(offset) + "-")
          : offset != 0) {
    return Status::IoError(context + ": asked for bytes from " +
                           std::to_string(offset) + ", answered " +
                           std::to_string(response.status) + " '" +
                           range.substr(0, 64) + "'");
  }
  return Status::Ok();
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
