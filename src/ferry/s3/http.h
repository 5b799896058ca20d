// HttpClient: one HTTP(S) request at a time per call, on libcurl, for the S3
// client. Connections, DNS answers and TLS sessions are shared between all
// calls of one HttpClient (a CURLSH with locks) and easy handles are pooled,
// so consecutive requests to one endpoint reuse their connection.
//
// Bounded: response headers (count and bytes), and every response body is
// either written into the caller's span (a ranged GET, no copy) or kept in a
// string of at most a given size; a longer body ends the transfer with an
// error. Redirects are never followed. Thread-safe: any number of threads
// may call Send at once.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ferry/base/clock.h"
#include "ferry/base/retry.h"
#include "ferry/base/status.h"

namespace ferry {

inline constexpr size_t kMaxResponseHeaderBytes = 64 << 10;
inline constexpr size_t kMaxResponseHeaders = 256;

struct HttpClientOptions {
  // Trust anchors for https: a PEM file, or PEM text (both may be given);
  // neither: the system's trust store.
  std::string ca_file;
  std::string ca_pem;
  std::chrono::milliseconds connect_timeout{10000};
  // A transfer slower than low_speed_limit bytes/s for low_speed_time is
  // ended (a stalled connection), as a retryable timeout.
  int64_t low_speed_limit = 1;
  std::chrono::seconds low_speed_time{30};
};

struct HttpRequest {
  std::string method;  // GET, HEAD, PUT, POST, DELETE
  std::string url;     // scheme://host[:port]/path?query, already encoded
  std::vector<std::pair<std::string, std::string>> headers;
  std::span<const std::byte> body;  // must outlive Send
};

struct HttpResponse {
  int status = 0;
  // Names lower-cased, in arrival order (of the final response only).
  std::vector<std::pair<std::string, std::string>> headers;
  // The body when no span was given, or a non-2xx body.
  std::string body;
  // Bytes written into the caller's span.
  size_t span_bytes = 0;

  std::optional<std::string> Header(std::string_view lower_name) const;
};

// Where a response body goes.
struct BodySink {
  // A 2xx body goes here when not empty (else into HttpResponse::body);
  // longer than the span: error.
  std::span<std::byte> span;
  // Bodies kept as a string are cut off with an error beyond this.
  size_t max_string = 1 << 20;
};

// The clock of a server less ours, as the Date headers of its answers tell
// it (to within a second). Thread-safe.
class ServerClock {
 public:
  void Note(const HttpResponse& response);
  // nullopt before the first answer with a Date.
  std::optional<std::chrono::nanoseconds> Offset() const;

 private:
  std::atomic<int64_t> offset_ns_{0};
  std::atomic<bool> known_{false};
};

// What an answer says of the object it read or wrote: its ETag (at most 256
// bytes) and Last-Modified (ns since the epoch; left as is when absent).
// IoError naming `context` when either is malformed.
Status ReadEtagAndLastModified(const HttpResponse& response,
                               const std::string& context, std::string* etag,
                               int64_t* last_modified_ns);

// A decimal number of at most `max` (a Content-Length, a Content-Range's
// total); IoError "malformed WHAT '...'" otherwise.
Result<uint64_t> ParseDecimal(std::string_view text, uint64_t max,
                              std::string_view what);

// Retry() of one request (attempt() -> Result<HttpResponse>), a failure
// once `stop` is requested said as "CONTEXT: cancelled".
template <typename Attempt, typename OnRetry>
Result<HttpResponse> RetryRequest(const RetryPolicy& policy, Clock* clock,
                                  const std::stop_token& stop,
                                  const std::string& context, Attempt&& attempt,
                                  OnRetry&& on_retry) {
  Result<HttpResponse> result = Retry(policy, clock, stop, attempt, on_retry);
  if (!result.ok() && stop.stop_requested() && !result.status().IsCancelled()) {
    return Status::Cancelled(context + ": cancelled");
  }
  return result;
}

class HttpClient {
 public:
  // Fails if libcurl cannot be set up or the CA file is unreadable.
  static Result<std::unique_ptr<HttpClient>> Create(HttpClientOptions options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends `request` and fills `response`. A transport failure is a non-OK
  // Status (kUnavailable and retryable for refused/reset connections,
  // timeouts and transfers cut short; kPermissionDenied for a certificate
  // that did not verify against the CA; kResourceExhausted for a body over
  // its bound; kCancelled when `stop` is requested); any HTTP status, 4xx
  // and 5xx included, is OK here and left to the caller.
  Status Send(const HttpRequest& request, const BodySink& sink,
              HttpResponse* response, const std::stop_token& stop = {});

 private:
  struct Shared;
  explicit HttpClient(std::unique_ptr<Shared> shared);
  std::unique_ptr<Shared> shared_;
};

}  // namespace ferry
