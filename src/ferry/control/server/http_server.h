// HttpServer: the HTTP/1.1 listener under `ferry server`, on Boost.Beast and
// Asio. A small fixed pool of I/O threads runs every connection (TLS
// handshake, reading, writing) asynchronously, so an idle or slow peer costs
// a socket and nothing else; the request handlers run on bounded worker
// pools of their own (one per route class: the API's and the agents' never
// wait behind each other), so a handler that waits on the database never
// blocks accepting or reading. Every limit is enforced while reading: the
// header size, the body size of the route (chunked bodies included), the
// bytes of bodies being read at once across all connections, deadlines on
// the handshake, the headers and the body, and a cap on connections, total
// and per client address. Responses go out in one write on a TCP_NODELAY
// socket. Thread-safe; Serve() blocks until Stop().
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ferry/base/net_address.h"
#include "ferry/base/status.h"

namespace ferry::control {

// The client certificate a TLS peer showed, when the server's authority
// verified it ("" members otherwise).
struct PeerCertificate {
  std::string common_name;
  std::string sha256_fingerprint;  // lower-case hex of the DER's SHA-256
  bool verified() const { return !sha256_fingerprint.empty(); }
};

struct HttpRequest {
  std::string method;  // "POST"
  std::string target;  // "/agent/v1/activation?key=..."
  std::vector<std::pair<std::string, std::string>> headers;  // as received
  std::string body;
  std::string remote_address;  // "127.0.0.1"
  PeerCertificate peer;

  // The first header of that name (case-insensitive), or "".
  std::string Header(std::string_view name) const;
  // The path of `target`, without its query.
  std::string_view Path() const;
  // A query parameter of `target`, percent-decoded, or "".
  std::string Query(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// What the server learns of a request from its headers, before it reads the
// body: which pool runs it, how large its body may be, or an answer that
// refuses it at once (an unknown path, an agent route without a verified
// client certificate), sent without reading the body, the connection then
// closed.
struct HttpRoute {
  enum class Pool { kApi, kAgent };
  Pool pool = Pool::kApi;
  size_t max_body = 0;
  std::optional<HttpResponse> refusal;
  // The request must upgrade the connection to a WebSocket (RFC 6455): the
  // server's Upgrader decides, on a worker of `pool`; messages are then
  // bounded by `max_body`.
  bool websocket = false;
};

// A WebSocket the server accepted. Send() and Close() may be called from any
// thread, also after the connection has ended (then they do nothing).
class WebSocketChannel {
 public:
  virtual ~WebSocketChannel() = default;
  // Queues a text message; false when the channel is closed or its peer
  // has not read what was queued before (past HttpLimits::
  // max_channel_backlog bytes: the channel is closed then).
  virtual bool Send(std::string message) = 0;
  // Closes the channel with a WebSocket close code and a reason (at most
  // 123 bytes are sent).
  virtual void Close(uint16_t code, std::string reason) = 0;
};

// What a channel does with what arrives. `on_message` runs on a worker of
// the route's pool, one message of a channel at a time, in order; the next
// message is read only when it returns, so a peer cannot queue work.
// `on_close` runs once when the channel ends, on an I/O thread: it must not
// block.
struct WebSocketHandlers {
  std::function<void(std::string message)> on_message;
  std::function<void()> on_close;
};

// Threads, caps and deadlines; the defaults are `ferry server`'s.
struct HttpLimits {
  int io_threads = 2;
  int api_workers = 4;
  int agent_workers = 2;
  // Requests waiting for a worker, per pool; past it, 503.
  size_t max_queued = 256;

  // At the cap, an address below its fair share (the cap over the number
  // of addresses connected) still gets in: a connection of the address
  // holding the most, between requests, is closed to make room.
  size_t max_connections = 1024;
  size_t max_connections_per_address = 64;
  size_t max_header_bytes = 16 << 10;
  // Bodies being read at once across all connections (each reserves its
  // Content-Length, or its route's limit when chunked); past it, 503.
  size_t max_body_bytes_in_flight = 256 << 20;
  // Of those, the bodies of agent routes (activation requests, syncs
  // POSTed outside a channel): a ferry agent's are small, so the budget
  // holds one sync of the largest size (16 MiB + 64 KiB) beside many
  // activation requests; a chunked body reserves its route's limit.
  size_t max_agent_body_bytes_in_flight = (16 << 20) + (512 << 10);

  std::chrono::milliseconds handshake_timeout{10000};
  // From a new connection's first byte to the end of the request's headers.
  std::chrono::milliseconds header_timeout{10000};
  // A keep-alive connection waiting for (the headers of) its next request.
  std::chrono::milliseconds idle_timeout{30000};
  std::chrono::milliseconds body_timeout{30000};
  std::chrono::milliseconds write_timeout{30000};
  // A WebSocket channel from which nothing arrives for this long is closed
  // (its peer sends at least a heartbeat every 30 s).
  std::chrono::milliseconds channel_idle_timeout{90000};
  // Bytes queued to a channel's peer and not yet written; past it the
  // channel is closed (a peer that does not read).
  size_t max_channel_backlog = 32 << 20;
};

struct HttpServerOptions {
  HostPort listen;
  // TLS: the server's certificate and key and the authority that verifies
  // client certificates (asked for, never required). Empty: plain HTTP.
  std::string cert_pem;
  std::string key_pem;
  std::string client_ca_pem;
  HttpLimits limits;
};

// Counters, for the log and the tests.
struct HttpServerStats {
  uint64_t accepted = 0;
  uint64_t refused = 0;  // over a connection cap
  uint64_t evicted = 0;  // closed between requests to make room
  uint64_t timed_out = 0;
  uint64_t requests = 0;
  uint64_t responses = 0;         // begun
  uint64_t response_writes = 0;   // stream writes that carried them
  uint64_t too_large = 0;         // 413 and 431
  uint64_t channels = 0;          // WebSocket upgrades accepted
  uint64_t channel_messages = 0;  // received on them
};

class HttpServer {
 public:
  // Runs on an I/O thread: must not block (no database).
  using Router =
      std::function<HttpRoute(std::string_view method, std::string_view path,
                              const PeerCertificate& peer)>;
  // Runs on a worker of the route's pool.
  using Handler = std::function<HttpResponse(HttpRequest&)>;
  // The answer to a request the server refuses itself (413 body too large,
  // 431 headers too large, 400 malformed, 503 busy), in the route's shape
  // (Pool::kApi when the headers could not be read).
  using ErrorResponder = std::function<HttpResponse(
      HttpRoute::Pool pool, int status, const std::string& message)>;
  // For a WebSocket route, on a worker of the route's pool: either an
  // answer that refuses the upgrade (sent, then the connection closed), or
  // nullopt with `*handlers` filled in to accept it. `channel` is the
  // channel the handlers will serve.
  using Upgrader = std::function<std::optional<HttpResponse>(
      const HttpRequest& request, std::shared_ptr<WebSocketChannel> channel,
      WebSocketHandlers* handlers)>;

  // Checks the TLS material; binds nothing yet.
  static Result<std::unique_ptr<HttpServer>> Create(HttpServerOptions options,
                                                    Router router,
                                                    Handler handler,
                                                    ErrorResponder errors,
                                                    Upgrader upgrader = {});
  ~HttpServer();

  // Binds (a port in use is an error naming it), then calls `on_listening`
  // and serves until Stop().
  Status Serve(const std::function<void(int port)>& on_listening);
  // Closes the listener and every connection; returns at once. A Stop()
  // before Serve() makes Serve() return right after binding.
  void Stop();
  HttpServerStats stats() const;

  // The state connections share (http_server.cc).
  struct Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry::control
