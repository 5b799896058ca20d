// HttpServer on Boost.Beast and Asio (see http_server.h). One Session per
// connection, run on a strand of the io_context: handshake, read the
// headers, route, read the body under the route's limit, hand the request to
// a worker pool, write the answer in one piece, and either read the next
// request or close. Beast's parser enforces the header and body limits as
// bytes arrive (chunked bodies included); beast::tcp_stream's expiry gives
// every read and write its deadline.
#include "ferry/control/server/http_server.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <unordered_map>

#include "ferry/base/hex.h"
#include "ferry/base/percent.h"

namespace ferry::control {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using beast::error_code;

namespace {

// After a response that closes the connection (a refused body, a parse
// error), the server stops sending and reads (and drops) at most this much
// for at most this long, so that the peer reads the answer instead of a
// reset; then it closes.
constexpr size_t kMaxDrainBytes = 1 << 20;
constexpr std::chrono::milliseconds kDrainTimeout{1000};

// TLS 1.2 with forward secrecy and AEAD only; TLS 1.3 (all of whose suites
// are AEAD) preferred by the version negotiation itself.
const char kTls12Ciphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

template <typename T, void (*Free)(T*)>
struct OpenSslDeleter {
  void operator()(T* p) const { Free(p); }
};
using X509Ptr = std::unique_ptr<X509, OpenSslDeleter<X509, X509_free>>;
using PkeyPtr =
    std::unique_ptr<EVP_PKEY, OpenSslDeleter<EVP_PKEY, EVP_PKEY_free>>;

X509Ptr ReadCertificate(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* x = bio ? PEM_read_bio_X509(bio, nullptr, nullptr, nullptr) : nullptr;
  BIO_free(bio);
  return X509Ptr(x);
}

PkeyPtr ReadKey(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* k =
      bio ? PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr) : nullptr;
  BIO_free(bio);
  return PkeyPtr(k);
}

// The server's certificate; client certificates asked for, not required,
// and verified against the authority when given.
Status SetUpTls(SSL_CTX* ctx, const HttpServerOptions& o) {
  auto cert = ReadCertificate(o.cert_pem);
  auto key = ReadKey(o.key_pem);
  auto ca = ReadCertificate(o.client_ca_pem);
  if (!cert || !key || !ca) {
    return Status::InvalidArgument(
        "the server certificate, its key or the authority is not PEM");
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE);
  // An idle connection (an agent's channel between heartbeats) gives its
  // read and write buffers back: thousands of them cost little.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  if (SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1 ||
      SSL_CTX_use_certificate(ctx, cert.get()) != 1 ||
      SSL_CTX_use_PrivateKey(ctx, key.get()) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1) {
    ERR_clear_error();
    return Status::InvalidArgument(
        "the server certificate and key do not belong together");
  }
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  if (X509_STORE_add_cert(store, ca.get()) != 1) {
    return Status::InvalidArgument("the authority cannot be used");
  }
  STACK_OF(X509_NAME)* names = sk_X509_NAME_new_null();
  if (names == nullptr) return Status::Internal("out of memory");
  sk_X509_NAME_push(names, X509_NAME_dup(X509_get_subject_name(ca.get())));
  SSL_CTX_set_client_CA_list(ctx, names);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  static const unsigned char kSessionContext[] = "ferry-server";
  SSL_CTX_set_session_id_context(ctx, kSessionContext,
                                 sizeof(kSessionContext) - 1);
  return Status::Ok();
}

// The verified peer certificate of a finished handshake.
PeerCertificate VerifiedPeer(SSL* ssl) {
  PeerCertificate peer;
  if (SSL_get_verify_result(ssl) != X509_V_OK) return peer;
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr) return peer;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (X509_digest(cert, EVP_sha256(), md, &n) != 1) return peer;
  peer.sha256_fingerprint = LowerHex(md, n);
  X509_NAME* name = X509_get_subject_name(cert);
  int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (idx >= 0) {
    ASN1_STRING* data =
        X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
    peer.common_name.assign(
        reinterpret_cast<const char*>(ASN1_STRING_get0_data(data)),
        static_cast<size_t>(ASN1_STRING_length(data)));
  }
  return peer;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

bool HasLineBreak(std::string_view s) {
  return s.find_first_of("\r\n") != std::string_view::npos;
}

// The whole response, status line to body, as one buffer: it goes out in
// one write.
std::string Serialize(const HttpResponse& res, unsigned version,
                      bool keep_alive) {
  std::string out;
  out.reserve(res.body.size() + 256);
  out += "HTTP/1.1 ";
  out += std::to_string(res.status);
  out += ' ';
  const beast::string_view reason =
      http::obsolete_reason(http::int_to_status(res.status));
  out.append(reason.data(), reason.size());
  out += "\r\n";
  auto header = [&out](std::string_view name, std::string_view value) {
    if (HasLineBreak(name) || HasLineBreak(value) || name.empty()) return;
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  };
  if (!res.content_type.empty()) header("Content-Type", res.content_type);
  for (const auto& [name, value] : res.headers) header(name, value);
  header("Content-Length", std::to_string(res.body.size()));
  if (!keep_alive) {
    header("Connection", "close");
  } else if (version < 11) {
    header("Connection", "keep-alive");
  }
  out += "\r\n";
  out += res.body;
  return out;
}

// A fixed set of threads running what is posted to it, at most `max_queued`
// waiting.
class WorkPool {
 public:
  WorkPool(int threads, size_t max_queued) : max_queued_(max_queued) {
    for (int i = 0; i < std::max(threads, 1); ++i) {
      threads_.emplace_back([this] { Run(); });
    }
  }
  ~WorkPool() { Stop(); }

  // False (and `work` dropped) when the queue is full or the pool stopped.
  bool TryPost(std::function<void()> work) {
    {
      std::lock_guard lock(mu_);
      if (stopping_ || queue_.size() >= max_queued_) return false;
      queue_.push_back(std::move(work));
    }
    cv_.notify_one();
    return true;
  }

  // Lets running work finish, drops what waits, joins the threads.
  void Stop() {
    std::deque<std::function<void()>> dropped;
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      dropped.swap(queue_);
    }
    cv_.notify_all();
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
    threads_.clear();
  }

 private:
  void Run() {
    for (;;) {
      std::function<void()> work;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (stopping_) return;
        work = std::move(queue_.front());
        queue_.pop_front();
      }
      work();
    }
  }

  const size_t max_queued_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;                    // GUARDED_BY(mu_)
  std::deque<std::function<void()>> queue_;  // GUARDED_BY(mu_)
  std::vector<std::thread> threads_;
};

class SessionBase {
 public:
  virtual ~SessionBase() = default;
  // Closes the connection (from any thread), then calls `done`.
  virtual void Close(std::function<void()> done) = 0;
};

// An error of the HTTP parser that the peer's bytes caused (as opposed to
// the connection ending).
bool IsMalformed(const error_code& ec) {
  static const auto& category =
      http::make_error_code(http::error::bad_method).category();
  return ec.category() == category && ec != http::error::end_of_stream &&
         ec != http::error::partial_message;
}

}  // namespace

std::string HttpRequest::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (EqualsIgnoreCase(k, name)) return v;
  }
  return "";
}

std::string_view HttpRequest::Path() const {
  std::string_view t = target;
  return t.substr(0, t.find('?'));
}

std::string HttpRequest::Query(std::string_view name) const {
  size_t q = target.find('?');
  if (q == std::string::npos) return "";
  std::string_view rest = std::string_view(target).substr(q + 1);
  while (!rest.empty()) {
    size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? "" : rest.substr(amp + 1);
    size_t eq = pair.find('=');
    std::string key = PercentDecode(pair.substr(0, eq), true);
    if (key == name) {
      return eq == std::string_view::npos
                 ? ""
                 : PercentDecode(pair.substr(eq + 1), true);
    }
  }
  return "";
}

struct HttpServer::Impl {
  HttpServerOptions options;
  Router router;
  Handler handler;
  ErrorResponder errors;
  Upgrader upgrader;

  struct Counters {
    std::atomic<uint64_t> accepted{0}, refused{0}, evicted{0}, timed_out{0},
        requests{0}, responses{0}, response_writes{0}, too_large{0},
        channels{0}, channel_messages{0};
  } counters;

  // Connections per client address, and the sessions (to close them all,
  // or one to make room).
  struct SessionEntry {
    std::weak_ptr<SessionBase> session;
    std::string address;
    // Between requests (handshake, waiting for or reading headers): closing
    // it loses no request. Cleared for good once it is being closed.
    std::shared_ptr<std::atomic<bool>> evictable;
  };
  std::mutex mu;
  size_t connections = 0;                               // GUARDED_BY(mu)
  std::unordered_map<std::string, size_t> per_address;  // GUARDED_BY(mu)
  std::map<SessionBase*, SessionEntry> sessions;        // GUARDED_BY(mu)
  bool stop_requested = false;                          // GUARDED_BY(mu)
  bool serving = false;                                 // GUARDED_BY(mu)

  std::atomic<size_t> body_bytes_in_flight{0};
  std::atomic<size_t> agent_body_bytes_in_flight{0};

  std::unique_ptr<ssl::context> tls;  // null: plain HTTP
  // Declared after what sessions use in their destructors and before what
  // refers to it: destroying it destroys the sessions its queue still holds.
  asio::io_context ioc;
  std::unique_ptr<WorkPool> api_pool;
  std::unique_ptr<WorkPool> agent_pool;
  std::optional<tcp::acceptor> acceptor;
  std::optional<asio::steady_timer> accept_retry;

  // Whether a new connection from `address` may stay. Below the cap, yes
  // while the address has fewer than max_connections_per_address. At the
  // cap, an address below its fair share (the cap over the addresses
  // connected) still gets in, and `*victim` is a connection, between
  // requests, of the address holding the most, to be closed by the caller;
  // otherwise no.
  bool Admit(const std::string& address, std::shared_ptr<SessionBase>* victim) {
    std::lock_guard lock(mu);
    const HttpLimits& limits = options.limits;
    size_t& n = per_address[address];
    bool admit = n < limits.max_connections_per_address;
    if (admit && connections >= limits.max_connections) {
      const size_t fair = limits.max_connections / per_address.size();
      const std::string* heaviest = nullptr;
      size_t most = 0;
      for (const auto& [a, count] : per_address) {
        if (count > most) {
          most = count;
          heaviest = &a;
        }
      }
      admit = false;
      if (n < fair && heaviest != nullptr && most > fair) {
        for (auto& [raw, entry] : sessions) {
          if (entry.address != *heaviest) continue;
          bool expected = true;
          if (!entry.evictable->compare_exchange_strong(expected, false)) {
            continue;
          }
          *victim = entry.session.lock();
          if (*victim) {
            admit = true;
            break;
          }
        }
      }
    }
    if (!admit) {
      if (n == 0) per_address.erase(address);
      return false;
    }
    ++n;
    ++connections;
    return true;
  }

  void Release(const std::string& address) {
    std::lock_guard lock(mu);
    auto it = per_address.find(address);
    if (it != per_address.end() && --it->second == 0) per_address.erase(it);
    --connections;
  }

  static bool Take(std::atomic<size_t>& used_bytes, size_t limit, size_t n) {
    size_t used = used_bytes.load();
    do {
      if (n > limit - std::min(used, limit)) return false;
    } while (!used_bytes.compare_exchange_weak(used, used + n));
    return true;
  }

  // From the budget of all bodies, and an agent route's also from the
  // agents' own.
  bool ReserveBody(size_t n, HttpRoute::Pool pool) {
    if (!Take(body_bytes_in_flight, options.limits.max_body_bytes_in_flight,
              n)) {
      return false;
    }
    if (pool == HttpRoute::Pool::kAgent &&
        !Take(agent_body_bytes_in_flight,
              options.limits.max_agent_body_bytes_in_flight, n)) {
      body_bytes_in_flight -= n;
      return false;
    }
    return true;
  }

  void ReleaseBody(size_t n, HttpRoute::Pool pool) {
    body_bytes_in_flight -= n;
    if (pool == HttpRoute::Pool::kAgent) agent_body_bytes_in_flight -= n;
  }

  WorkPool& PoolOf(HttpRoute::Pool pool) {
    return pool == HttpRoute::Pool::kAgent ? *agent_pool : *api_pool;
  }

  void Accept();
  void OnAccept(error_code ec, tcp::socket socket);
  void CloseAll();
};

namespace {

// What a WebSocket channel asks of its connection; each runs on the
// connection's strand.
class ChannelPort {
 public:
  virtual ~ChannelPort() = default;
  virtual void PostSend(std::string message) = 0;
  virtual void PostClose(websocket::close_reason reason) = 0;
};

class ChannelImpl : public WebSocketChannel {
 public:
  ChannelImpl(std::weak_ptr<ChannelPort> port, size_t max_backlog)
      : port_(std::move(port)), max_backlog_(max_backlog) {}

  bool Send(std::string message) override {
    if (closed_.load()) return false;
    auto port = port_.lock();
    if (!port) return false;
    const size_t n = message.size();
    if (backlog_.fetch_add(n) + n > max_backlog_) {
      backlog_ -= n;
      Close(static_cast<uint16_t>(websocket::close_code::policy_error),
            "the peer does not read what the server sends");
      return false;
    }
    port->PostSend(std::move(message));
    return true;
  }

  void Close(uint16_t code, std::string reason) override {
    if (closed_.exchange(true)) return;
    if (reason.size() > 123) reason.resize(123);
    if (auto port = port_.lock()) {
      port->PostClose(websocket::close_reason(
          static_cast<websocket::close_code>(code), reason));
    }
  }

  void Written(size_t n) { backlog_ -= n; }
  void MarkClosed() { closed_.store(true); }

 private:
  const std::weak_ptr<ChannelPort> port_;
  const size_t max_backlog_;
  std::atomic<bool> closed_{false};
  std::atomic<size_t> backlog_{0};
};

// One connection. Stream: beast::tcp_stream, or beast::ssl_stream over one.
// A request on a WebSocket route turns it into a channel for good.
template <typename Stream>
class Session : public SessionBase,
                public ChannelPort,
                public std::enable_shared_from_this<Session<Stream>> {
 public:
  template <typename... Args>
  Session(HttpServer::Impl* server, std::string address, Args&&... args)
      : server_(server),
        address_(std::move(address)),
        stream_(std::forward<Args>(args)...),
        executor_(stream_.get_executor()) {}

  ~Session() override {
    ReleaseBody();
    server_->Release(address_);
    std::lock_guard lock(server_->mu);
    server_->sessions.erase(this);
  }

  void Start() {
    {
      std::lock_guard lock(server_->mu);
      server_->sessions[this] = {this->shared_from_this(), address_,
                                 evictable_};
    }
    asio::dispatch(executor_,
                   [self = this->shared_from_this()] { self->Begin(); });
  }

  void Close(std::function<void()> done) override {
    *evictable_ = false;
    asio::post(executor_,
               [self = this->shared_from_this(), done = std::move(done)] {
                 self->Lowest().close();
                 done();
               });
  }

 private:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  // The TCP stream, under the WebSocket once there is one.
  beast::tcp_stream& Lowest() {
    return ws_ ? beast::get_lowest_layer(*ws_)
               : beast::get_lowest_layer(stream_);
  }
  const HttpLimits& options() const { return server_->options.limits; }

  void Begin() {
    if constexpr (kTls) {
      Lowest().expires_after(options().handshake_timeout);
      stream_.async_handshake(ssl::stream_base::server,
                              [self = this->shared_from_this()](error_code ec) {
                                self->OnHandshake(ec);
                              });
    } else {
      ReadHeader();
    }
  }

  void OnHandshake(error_code ec) {
    if (ec) return Fail(ec);
    if constexpr (kTls) peer_ = VerifiedPeer(stream_.native_handle());
    ReadHeader();
  }

  void ReadHeader() {
    if (!closing_) *evictable_ = true;
    parser_.emplace();
    parser_->header_limit(
        static_cast<std::uint32_t>(options().max_header_bytes));
    // The route's limit is set once the headers name the route; until then
    // a Content-Length is not checked (OnHeader checks it).
    parser_->body_limit(boost::none);
    Lowest().expires_after(first_request_ ? options().header_timeout
                                          : options().idle_timeout);
    first_request_ = false;
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = this->shared_from_this()](
                                error_code ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(error_code ec) {
    if (ec == http::error::header_limit) {
      ++server_->counters.too_large;
      return Refuse(HttpRoute::Pool::kApi, 431,
                    "The request's headers are larger than " +
                        std::to_string(options().max_header_bytes) + " bytes.");
    }
    if (IsMalformed(ec)) {
      return Refuse(HttpRoute::Pool::kApi, 400, "Malformed HTTP request.");
    }
    if (ec) return Fail(ec);
    // A request is under way: it is not closed to make room. (An eviction
    // that won the race has its close queued behind this handler: the next
    // operation fails.)
    bool expected = true;
    if (!evictable_->compare_exchange_strong(expected, false)) closing_ = true;
    ++server_->counters.requests;
    const auto& head = parser_->get();
    version_ = head.version();
    const std::string_view target(head.target().data(), head.target().size());
    route_ = server_->router(std::string_view(head.method_string().data(),
                                              head.method_string().size()),
                             target.substr(0, target.find('?')), peer_);
    if (route_.refusal) {
      return Respond(std::move(*route_.refusal), /*keep_alive=*/false);
    }
    if (route_.websocket) return Upgrade();
    size_t reserve = 0;
    if (auto length = parser_->content_length()) {
      if (*length > route_.max_body) {
        return TooLarge();
      }
      reserve = static_cast<size_t>(*length);
    } else if (parser_->chunked()) {
      reserve = route_.max_body;
    }
    if (reserve > 0) {
      if (!server_->ReserveBody(reserve, route_.pool)) {
        return Refuse(route_.pool, 503,
                      "The server is busy reading other requests; retry.");
      }
      reserved_ = reserve;
    }
    parser_->body_limit(route_.max_body);
    Lowest().expires_after(options().body_timeout);
    if (EqualsIgnoreCase(std::string_view(head[http::field::expect].data(),
                                          head[http::field::expect].size()),
                         "100-continue") &&
        !parser_->is_done()) {
      static const char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
      asio::async_write(
          stream_, asio::buffer(kContinue, sizeof(kContinue) - 1),
          [self = this->shared_from_this()](error_code ec, size_t) {
            if (ec) return self->Fail(ec);
            self->ReadBody();
          });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    http::async_read(stream_, buffer_, *parser_,
                     [self = this->shared_from_this()](error_code ec, size_t) {
                       self->OnBody(ec);
                     });
  }

  void OnBody(error_code ec) {
    if (ec == http::error::body_limit) return TooLarge();
    if (IsMalformed(ec)) {
      return Refuse(route_.pool, 400, "Malformed HTTP request.");
    }
    if (ec) return Fail(ec);
    Lowest().expires_never();
    auto& message = parser_->get();
    keep_alive_ = message.keep_alive();
    auto request = std::make_shared<HttpRequest>();
    request->method = std::string(message.method_string());
    request->target = std::string(message.target());
    for (const auto& field : message) {
      request->headers.emplace_back(std::string(field.name_string()),
                                    std::string(field.value()));
    }
    request->body = std::move(message.body());
    request->remote_address = address_;
    request->peer = peer_;
    parser_.reset();
    auto self = this->shared_from_this();
    bool posted =
        server_->PoolOf(route_.pool).TryPost([self, request]() mutable {
          HttpResponse response;
          try {
            response = self->server_->handler(*request);
          } catch (const std::exception& e) {
            std::fprintf(stderr, "ferry server: a request handler threw: %s\n",
                         e.what());
            response = self->server_->errors(self->route_.pool, 500,
                                             "internal error; the server's log "
                                             "has the details");
          }
          request.reset();
          asio::post(self->executor_,
                     [self, response = std::move(response)]() mutable {
                       self->ReleaseBody();
                       self->Respond(std::move(response), self->keep_alive_);
                     });
        });
    if (!posted) {
      Refuse(route_.pool, 503, "The server is busy; retry.");
    }
  }

  // --- WebSocket (HttpRoute::websocket) ---

  // The headers ask for an upgrade: the Upgrader, on a worker, accepts or
  // refuses it.
  void Upgrade() {
    const auto& head = parser_->get();
    if (!websocket::is_upgrade(head) || !server_->upgrader) {
      return Refuse(route_.pool, 400,
                    "This path takes a WebSocket upgrade (a GET with "
                    "Upgrade: websocket).");
    }
    if (parser_->chunked() || parser_->content_length().value_or(0) > 0) {
      return Refuse(route_.pool, 400, "A WebSocket upgrade has no body.");
    }
    auto request = std::make_shared<HttpRequest>();
    request->method = std::string(head.method_string());
    request->target = std::string(head.target());
    for (const auto& field : head) {
      request->headers.emplace_back(std::string(field.name_string()),
                                    std::string(field.value()));
    }
    request->remote_address = address_;
    request->peer = peer_;
    upgrade_.emplace(parser_->release());
    parser_.reset();
    // From here the channel's own deadlines apply (handshake, idle).
    Lowest().expires_never();
    std::weak_ptr<ChannelPort> port = this->shared_from_this();
    channel_ =
        std::make_shared<ChannelImpl>(port, options().max_channel_backlog);
    auto self = this->shared_from_this();
    bool posted =
        server_->PoolOf(route_.pool).TryPost([self, request]() mutable {
          auto handlers = std::make_shared<WebSocketHandlers>();
          std::optional<HttpResponse> refusal;
          try {
            refusal =
                self->server_->upgrader(*request, self->channel_, &*handlers);
          } catch (const std::exception& e) {
            std::fprintf(stderr,
                         "ferry server: a WebSocket upgrade handler threw: "
                         "%s\n",
                         e.what());
            refusal = self->server_->errors(self->route_.pool, 500,
                                            "internal error; the server's "
                                            "log has the details");
          }
          asio::post(self->executor_,
                     [self, refusal = std::move(refusal), handlers]() mutable {
                       if (refusal) {
                         self->channel_->MarkClosed();
                         self->Respond(std::move(*refusal), false);
                         return;
                       }
                       self->handlers_ = std::move(*handlers);
                       self->AcceptWebSocket();
                     });
        });
    if (!posted) {
      channel_->MarkClosed();
      Refuse(route_.pool, 503, "The server is busy; retry.");
    }
  }

  void AcceptWebSocket() {
    // The WebSocket takes the connection over (nothing is reading or
    // writing on it now).
    ws_.emplace(std::move(stream_));
    websocket::stream_base::timeout timeouts;
    timeouts.handshake_timeout = options().handshake_timeout;
    timeouts.idle_timeout = options().channel_idle_timeout;
    timeouts.keep_alive_pings = false;
    ws_->set_option(timeouts);
    ws_->read_message_max(route_.max_body);
    ws_->async_accept(*upgrade_, [self = this->shared_from_this()](
                                     error_code ec) { self->OnAccepted(ec); });
  }

  void OnAccepted(error_code ec) {
    upgrade_.reset();
    if (ec) return EndChannel(ec);
    ++server_->counters.channels;
    ws_open_ = true;
    if (!ws_out_.empty()) WriteNext();
    ReadMessage();
  }

  void ReadMessage() {
    if (ws_ended_ || ws_close_) return;
    ws_->async_read(ws_buffer_,
                    [self = this->shared_from_this()](error_code ec, size_t) {
                      self->OnMessage(ec);
                    });
  }

  // A message arrived: the handler runs on a worker, and the next message
  // is read once it returns.
  void OnMessage(error_code ec) {
    if (ec) return EndChannel(ec);
    ++server_->counters.channel_messages;
    if (!ws_->got_text()) {
      ws_buffer_.consume(ws_buffer_.size());
      return RequestClose(websocket::close_reason(
          websocket::close_code::bad_payload, "messages are JSON text"));
    }
    std::string text = beast::buffers_to_string(ws_buffer_.data());
    ws_buffer_.consume(ws_buffer_.size());
    auto self = this->shared_from_this();
    bool posted =
        server_->PoolOf(route_.pool)
            .TryPost([self, text = std::move(text)]() mutable {
              try {
                self->handlers_.on_message(std::move(text));
              } catch (const std::exception& e) {
                std::fprintf(stderr,
                             "ferry server: a WebSocket message "
                             "handler threw: %s\n",
                             e.what());
              }
              asio::post(self->executor_, [self] { self->ReadMessage(); });
            });
    if (!posted) {
      RequestClose(
          websocket::close_reason(websocket::close_code::try_again_later,
                                  "the server is busy; reconnect later"));
    }
  }

  void PostSend(std::string message) override {
    asio::post(executor_, [self = this->shared_from_this(),
                           message = std::move(message)]() mutable {
      if (self->ws_ended_ || self->ws_close_) {
        self->channel_->Written(message.size());
        return;
      }
      self->ws_out_.push_back(std::move(message));
      if (self->ws_open_ && !self->ws_writing_) self->WriteNext();
    });
  }

  void WriteNext() {
    ws_writing_ = true;
    ws_->text(true);
    ws_->async_write(asio::buffer(ws_out_.front()),
                     [self = this->shared_from_this()](error_code ec, size_t) {
                       self->OnWritten(ec);
                     });
  }

  void OnWritten(error_code ec) {
    ws_writing_ = false;
    if (!ws_out_.empty()) {
      channel_->Written(ws_out_.front().size());
      ws_out_.pop_front();
    }
    if (ec) return EndChannel(ec);
    if (ws_ended_) return;
    if (!ws_out_.empty()) return WriteNext();
    if (ws_close_) StartClose();
  }

  void PostClose(websocket::close_reason reason) override {
    asio::post(executor_, [self = this->shared_from_this(), reason] {
      self->RequestClose(reason);
    });
  }

  // Sends a close frame once what is queued is written.
  void RequestClose(websocket::close_reason reason) {
    if (ws_ended_ || ws_close_) return;
    channel_->MarkClosed();
    if (!ws_open_) {
      Lowest().close();  // the handshake fails: EndChannel
      return;
    }
    ws_close_ = reason;
    if (!ws_writing_) StartClose();
  }

  void StartClose() {
    ws_->async_close(*ws_close_, [self = this->shared_from_this()](
                                     error_code ec) { self->EndChannel(ec); });
  }

  void EndChannel(error_code ec) {
    if (ec == beast::error::timeout) ++server_->counters.timed_out;
    if (ws_ended_) return;
    ws_ended_ = true;
    channel_->MarkClosed();
    Lowest().close();
    if (handlers_.on_close) handlers_.on_close();
  }

  void TooLarge() {
    ++server_->counters.too_large;
    Refuse(route_.pool, 413,
           "The request body is larger than " +
               std::to_string(route_.max_body) + " bytes.");
  }

  // Answers and closes.
  void Refuse(HttpRoute::Pool pool, int status, const std::string& message) {
    ReleaseBody();
    Respond(server_->errors(pool, status, message), /*keep_alive=*/false);
  }

  void Respond(HttpResponse response, bool keep_alive) {
    keep_alive_ = keep_alive;
    ++server_->counters.responses;
    out_ = Serialize(response, version_, keep_alive);
    written_ = 0;
    Lowest().expires_after(options().write_timeout);
    Write();
  }

  void Write() {
    ++server_->counters.response_writes;
    stream_.async_write_some(
        asio::buffer(out_.data() + written_, out_.size() - written_),
        [self = this->shared_from_this()](error_code ec, size_t n) {
          self->OnWrite(ec, n);
        });
  }

  void OnWrite(error_code ec, size_t n) {
    if (ec) return Fail(ec);
    written_ += n;
    if (written_ < out_.size()) return Write();
    out_.clear();
    out_.shrink_to_fit();
    if (keep_alive_) return ReadHeader();
    Drain();
  }

  // Stops sending, then reads and drops what the peer still sends (bounded)
  // so that it gets the answer rather than a reset, and closes.
  void Drain() {
    error_code ignored;
    Lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
    Lowest().expires_after(kDrainTimeout);
    drain_.resize(16 << 10);
    DrainSome();
  }

  void DrainSome() {
    Lowest().async_read_some(
        asio::buffer(drain_),
        [self = this->shared_from_this()](error_code ec, size_t n) {
          self->drained_ += n;
          if (ec || self->drained_ >= kMaxDrainBytes) {
            self->Lowest().close();
            return;
          }
          self->DrainSome();
        });
  }

  void Fail(error_code ec) {
    if (ec == beast::error::timeout) ++server_->counters.timed_out;
    Lowest().close();
  }

  void ReleaseBody() {
    if (reserved_ > 0) server_->ReleaseBody(reserved_, route_.pool);
    reserved_ = 0;
  }

  HttpServer::Impl* const server_;
  const std::string address_;
  Stream stream_;  // moved into ws_ by a WebSocket upgrade
  // The connection's strand (stream_'s executor, kept past the move).
  const asio::any_io_executor executor_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  PeerCertificate peer_;
  HttpRoute route_;
  size_t reserved_ = 0;  // of Impl::body_bytes_in_flight
  bool first_request_ = true;
  bool keep_alive_ = false;
  unsigned version_ = 11;
  std::string out_;
  size_t written_ = 0;
  std::vector<char> drain_;
  size_t drained_ = 0;
  std::shared_ptr<std::atomic<bool>> evictable_ =
      std::make_shared<std::atomic<bool>>(true);
  bool closing_ = false;  // chosen for eviction

  // Once the route is a WebSocket: the upgrade request (until accepted),
  // the stream over stream_, the channel handed to the Upgrader, what it
  // handles messages with, and what waits to be written.
  std::optional<http::request<http::string_body>> upgrade_;
  std::optional<websocket::stream<Stream>> ws_;
  std::shared_ptr<ChannelImpl> channel_;
  WebSocketHandlers handlers_;
  beast::flat_buffer ws_buffer_;
  std::deque<std::string> ws_out_;
  bool ws_open_ = false;     // the handshake is done
  bool ws_writing_ = false;  // an async_write is under way
  bool ws_ended_ = false;    // on_close has run
  std::optional<websocket::close_reason> ws_close_;  // closing with it
};

}  // namespace

void HttpServer::Impl::Accept() {
  acceptor->async_accept(asio::make_strand(ioc),
                         [this](error_code ec, tcp::socket socket) {
                           OnAccept(ec, std::move(socket));
                         });
}

void HttpServer::Impl::OnAccept(error_code ec, tcp::socket socket) {
  if (ec == asio::error::operation_aborted || !acceptor->is_open()) return;
  if (ec) {
    // Out of descriptors, most likely: wait a little rather than spin.
    std::fprintf(stderr, "ferry server: accept: %s\n", ec.message().c_str());
    accept_retry->expires_after(std::chrono::milliseconds(100));
    accept_retry->async_wait([this](error_code wait) {
      if (!wait) Accept();
    });
    return;
  }
  error_code endpoint_ec;
  const tcp::endpoint peer = socket.remote_endpoint(endpoint_ec);
  std::string address =
      endpoint_ec ? std::string("?") : peer.address().to_string();
  std::shared_ptr<SessionBase> victim;
  if (!Admit(address, &victim)) {
    ++counters.refused;
    socket.close(endpoint_ec);
  } else {
    if (victim) {
      ++counters.evicted;
      victim->Close([] {});
      victim.reset();
    }
    ++counters.accepted;
    socket.set_option(tcp::no_delay(true), endpoint_ec);
    if (tls) {
      std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(
          this, std::move(address), std::move(socket), *tls)
          ->Start();
    } else {
      std::make_shared<Session<beast::tcp_stream>>(this, std::move(address),
                                                   std::move(socket))
          ->Start();
    }
  }
  Accept();
}

// On the acceptor's strand: no connection is accepted after it.
void HttpServer::Impl::CloseAll() {
  error_code ignored;
  acceptor->close(ignored);
  accept_retry->cancel();
  std::vector<std::shared_ptr<SessionBase>> open;
  {
    std::lock_guard lock(mu);
    for (auto& [raw, entry] : sessions) {
      if (auto s = entry.session.lock()) open.push_back(std::move(s));
    }
  }
  // Once every connection is closed the I/O threads return (what the worker
  // pools still run is dropped with the io_context's queue).
  auto remaining = std::make_shared<std::atomic<size_t>>(open.size() + 1);
  auto done = [this, remaining] {
    if (--*remaining == 0) ioc.stop();
  };
  for (auto& s : open) s->Close(done);
  done();
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Stop(); }

Result<std::unique_ptr<HttpServer>> HttpServer::Create(
    HttpServerOptions options, Router router, Handler handler,
    ErrorResponder errors, Upgrader upgrader) {
  auto impl = std::make_unique<Impl>();
  if (!options.cert_pem.empty()) {
    impl->tls = std::make_unique<ssl::context>(ssl::context::tls_server);
    FERRY_RETURN_IF_ERROR(SetUpTls(impl->tls->native_handle(), options));
  }
  impl->options = std::move(options);
  impl->router = std::move(router);
  impl->handler = std::move(handler);
  impl->errors = std::move(errors);
  impl->upgrader = std::move(upgrader);
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

Status HttpServer::Serve(const std::function<void(int port)>& on_listening) {
  Impl& impl = *impl_;
  const HostPort& listen = impl.options.listen;
  const std::string where = listen.ToString();
  error_code ec;
  tcp::resolver resolver(impl.ioc);
  auto endpoints = resolver.resolve(
      listen.host, std::to_string(listen.port),
      tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || endpoints.empty()) {
    return Status(StatusCode::kUnavailable,
                  "cannot listen on " + where + ": " +
                      (ec ? ec.message() : "the host has no address"));
  }
  // SO_REUSEADDR only (a restarted server binds at once despite
  // connections in TIME_WAIT); never SO_REUSEPORT, which would let a second
  // server bind the same port.
  impl.acceptor.emplace(asio::make_strand(impl.ioc));
  impl.accept_retry.emplace(impl.acceptor->get_executor());
  for (const auto& entry : endpoints) {
    impl.acceptor->close(ec);
    impl.acceptor->open(entry.endpoint().protocol(), ec);
    if (ec) continue;
    impl.acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
    impl.acceptor->bind(entry.endpoint(), ec);
    if (ec) continue;
    impl.acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (!ec) break;
  }
  if (ec == asio::error::address_in_use) {
    return Status(StatusCode::kUnavailable,
                  "cannot listen on " + where +
                      ": the port is in use (is another ferry server "
                      "running?)");
  }
  if (ec) {
    return Status(StatusCode::kUnavailable,
                  "cannot listen on " + where + ": " + ec.message() +
                      " (not an address of this host?)");
  }
  const int port = impl.acceptor->local_endpoint().port();
  {
    std::lock_guard lock(impl.mu);
    if (impl.stop_requested) return Status::Ok();
    impl.serving = true;
  }
  impl.api_pool = std::make_unique<WorkPool>(impl.options.limits.api_workers,
                                             impl.options.limits.max_queued);
  impl.agent_pool = std::make_unique<WorkPool>(
      impl.options.limits.agent_workers, impl.options.limits.max_queued);
  if (on_listening) on_listening(port);
  impl.Accept();
  std::vector<std::thread> threads;
  for (int i = 1; i < impl.options.limits.io_threads; ++i) {
    threads.emplace_back([&impl] { impl.ioc.run(); });
  }
  impl.ioc.run();
  for (std::thread& t : threads) t.join();
  impl.api_pool->Stop();
  impl.agent_pool->Stop();
  {
    std::lock_guard lock(impl.mu);
    impl.serving = false;
  }
  return Status::Ok();
}

void HttpServer::Stop() {
  Impl& impl = *impl_;
  std::lock_guard lock(impl.mu);
  if (impl.stop_requested) return;
  impl.stop_requested = true;
  if (!impl.serving) return;
  asio::post(impl.acceptor->get_executor(), [&impl] { impl.CloseAll(); });
}

HttpServerStats HttpServer::stats() const {
  const Impl::Counters& c = impl_->counters;
  HttpServerStats s;
  s.accepted = c.accepted;
  s.refused = c.refused;
  s.evicted = c.evicted;
  s.timed_out = c.timed_out;
  s.requests = c.requests;
  s.responses = c.responses;
  s.response_writes = c.response_writes;
  s.too_large = c.too_large;
  s.channels = c.channels;
  s.channel_messages = c.channel_messages;
  return s;
}

}  // namespace ferry::control
