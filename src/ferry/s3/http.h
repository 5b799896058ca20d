// HttpClient: one HTTP(S) request at a time per call, on libcurl, for the S3
// client. Connections, DNS answers and TLS sessions are shared between all
// calls of one HttpClient (a CURLSH with locks) and easy handles are pooled,
// so consecutive requests to one endpoint reuse their connection.
//
// Bounded: response headers (count and bytes), and every response body is
// either written into the caller's span (a ranged GET, no copy), kept in a
// string of at most a given size, or read as it arrives (Open: an
// HttpStream, at most a given length); a longer body ends the transfer
// with an error. Redirects are never followed. Thread-safe: any number of
// threads may call Send and Open at once.
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

// That a 2xx answer to a GET of bytes from `offset` on carries those bytes:
// a 206 whose Content-Range starts there, or a 200 (the whole object) when
// `offset` is 0. IoError naming `context` otherwise.
Status CheckRangeStart(const HttpResponse& response, uint64_t offset,
                       const std::string& context);

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

// The body of a 2xx answer to HttpClient::Open, read as it arrives. What
// has not been read waits in the connection's socket (bounded by the
// kernel's buffer), so a slow reader holds the server back rather than
// growing memory, and a reader that works on each piece as it reads the
// next keeps the connection busy. One thread at a time; it must not
// outlive its HttpClient.
class HttpStream {
 public:
  // Unread bytes left: the connection is closed, not reused.
  ~HttpStream();
  HttpStream(const HttpStream&) = delete;
  HttpStream& operator=(const HttpStream&) = delete;

  // Reads up to out.size() bytes: fewer only at the end of the body (0
  // once all of it is read) or when a failure follows; the bytes that
  // arrived before a failure are read first. Failures are as Send's (a
  // connection dropped midway: kUnavailable, retryable); after one, every
  // Read fails.
  Result<size_t> Read(std::span<std::byte> out);
  // Bytes of the body read so far.
  uint64_t position() const;
  // Bytes that arrived and wait in memory for a Read: at most one of
  // libcurl's receive buffers (256 KiB), whatever the body's length (the
  // rest waits in the socket).
  size_t buffered() const;

 private:
  friend class HttpClient;
  struct State;
  explicit HttpStream(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

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

  // Send and Open with the answer as a Result, as retry loops take them.
  Result<HttpResponse> Fetch(const HttpRequest& request, const BodySink& sink,
                             const std::stop_token& stop = {});
  Result<HttpResponse> FetchStream(const HttpRequest& request,
                                   uint64_t max_body, size_t max_error_body,
                                   std::unique_ptr<HttpStream>* stream,
                                   const std::stop_token& stop = {});

  // Sends `request` (a GET) and returns once the final answer's headers are
  // in. A 2xx answer: `*stream` reads its body, of at most `max_body` bytes
  // (a longer one fails the Read that meets it: kResourceExhausted). Any
  // other: its body (at most `max_error_body` bytes) is in response->body
  // and `*stream` is null. Failures as Send's; `stop` also ends the
  // stream's reads.
  Status Open(const HttpRequest& request, uint64_t max_body,
              HttpResponse* response, std::unique_ptr<HttpStream>* stream,
              const std::stop_token& stop = {},
              size_t max_error_body = 1 << 20);

  // What the client's calls and streams share (defined in http.cc).
  struct Shared;

 private:
  explicit HttpClient(std::unique_ptr<Shared> shared);
  std::unique_ptr<Shared> shared_;
};

}  // namespace ferry
