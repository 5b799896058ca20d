// TLS contexts, sockets and TlsFrameStream (tls_stream.h).
#include "ferry/link/tls_stream.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "ferry/base/net_address.h"

namespace ferry::link::tls_internal {
namespace {

// TCP keepalive: probes after a minute idle, every 10 s, 6 unanswered end
// the connection. (Not TCP_USER_TIMEOUT: it also ends connections whose
// receiver is slow to open its window, which is the link's flow control.)
constexpr int kKeepIdleSeconds = 60;
constexpr int kKeepIntervalSeconds = 10;
constexpr int kKeepCount = 6;

template <typename T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using SslPtr = std::unique_ptr<SSL, Deleter<SSL, SSL_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using EvpKeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;

// The reason of OpenSSL's first queued error ("certificate verify failed"),
// and clears the queue (it is the thread's, and would otherwise be taken for
// the next call's).
std::string TakeOpenSslError(std::string_view fallback) {
  const unsigned long e = ERR_peek_error();
  std::string text(fallback);
  if (e != 0) {
    const char* reason = ERR_reason_error_string(e);
    if (reason != nullptr) {
      text = reason;
    } else {
      char buf[256];
      ERR_error_string_n(e, buf, sizeof(buf));
      text = buf;
    }
  }
  ERR_clear_error();
  return text;
}

// ---------------------------------------------------------------------------
// A socket BIO of our own: send() with MSG_NOSIGNAL (OpenSSL's writes with
// write(), which raises SIGPIPE on a closed connection), and the errno of a
// failure kept for the message.

SocketState* StateOf(BIO* bio) {
  return static_cast<SocketState*>(BIO_get_data(bio));
}

// Records held for one send() at most (SocketState::unsent).
constexpr size_t kMaxUnsentBytes = 256 << 10;

enum class Flushed { kAll, kWouldBlock, kFailed };

// Sends what SocketState::unsent holds, as far as the socket takes it.
Flushed SendUnsent(SocketState* s) {
  size_t done = 0;
  Flushed result = Flushed::kAll;
  while (done < s->unsent.size()) {
    const ssize_t r = ::send(s->fd, s->unsent.data() + done,
                             s->unsent.size() - done, MSG_NOSIGNAL);
    if (r >= 0) {
      done += static_cast<size_t>(r);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      result = Flushed::kWouldBlock;
    } else {
      s->last_errno = errno;
      result = Flushed::kFailed;
    }
    break;
  }
  s->unsent.erase(s->unsent.begin(), s->unsent.begin() + done);
  return result;
}

int BioWrite(BIO* bio, const char* data, size_t n, size_t* written) {
  BIO_clear_retry_flags(bio);
  SocketState* s = StateOf(bio);
  if (s->unsent.size() + n > kMaxUnsentBytes && !s->unsent.empty()) {
    const Flushed f = SendUnsent(s);
    if (f == Flushed::kFailed) return 0;
    if (s->unsent.size() + n > kMaxUnsentBytes) {
      BIO_set_retry_write(bio);
      return 0;
    }
  }
  s->unsent.insert(s->unsent.end(), data, data + n);
  *written = n;
  return 1;
}

int BioRead(BIO* bio, char* data, size_t n, size_t* read) {
  BIO_clear_retry_flags(bio);
  SocketState* s = StateOf(bio);
  for (;;) {
    const ssize_t r = ::recv(s->fd, data, n, 0);
    if (r > 0) {
      *read = static_cast<size_t>(r);
      return 1;
    }
    if (r == 0) {
      // The peer's FIN: OpenSSL asks BIO_CTRL_EOF to tell it from an error.
      if (n > 0) BIO_set_flags(bio, BIO_FLAGS_IN_EOF);
      return 0;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      BIO_set_retry_read(bio);
    } else {
      s->last_errno = errno;
    }
    return 0;
  }
}

long BioCtrl(BIO* bio, int cmd, long, void*) {  // NOLINT(runtime/int)
  switch (cmd) {
    case BIO_CTRL_FLUSH: {
      BIO_clear_retry_flags(bio);
      const Flushed f = SendUnsent(StateOf(bio));
      if (f == Flushed::kWouldBlock) BIO_set_retry_write(bio);
      return f == Flushed::kAll ? 1 : 0;
    }
    case BIO_CTRL_WPENDING:
      return static_cast<long>(StateOf(bio)->unsent.size());  // NOLINT
    case BIO_CTRL_EOF:
      return BIO_test_flags(bio, BIO_FLAGS_IN_EOF) != 0 ? 1 : 0;
    default:
      return 0;
  }
}

const BIO_METHOD* SocketBioMethod() {
  // Made once and kept for the process.
  static const BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
                                 "ferry link socket");
    if (m == nullptr) return static_cast<BIO_METHOD*>(nullptr);
    BIO_meth_set_write_ex(m, BioWrite);
    BIO_meth_set_read_ex(m, BioRead);
    BIO_meth_set_ctrl(m, BioCtrl);
    return m;
  }();
  return method;
}

// ---------------------------------------------------------------------------
// TLS contexts.

Result<std::vector<X509Ptr>> ReadCertificates(const std::string& pem,
                                              std::string_view what) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  std::vector<X509Ptr> out;
  while (bio != nullptr) {
    X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
    if (cert == nullptr) break;
    out.emplace_back(cert);
  }
  ERR_clear_error();  // the end of the text reads as an error
  if (out.empty()) {
    return Status::FailedPrecondition("link: " + std::string(what) +
                                      " holds no PEM certificate");
  }
  return out;
}

}  // namespace

void SslCtxDeleter::operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }

Result<SslCtxPtr> MakeContext(const TlsIdentity& identity, bool server) {
  SslCtxPtr ctx(
      SSL_CTX_new(server ? TLS_server_method() : TLS_client_method()));
  if (ctx == nullptr) {
    return Status::Internal("link: cannot make a TLS context: " +
                            TakeOpenSslError("out of memory"));
  }
  SSL_CTX* c = ctx.get();
  // AES-128-GCM first: on x86 with AES-NI it runs a quarter faster than
  // AES-256-GCM (OpenSSL's default first choice in TLS 1.3), and the link
  // encrypts and decrypts every byte it carries.
  if (SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_cipher_list(
          c, "ECDHE+AES128+AESGCM:ECDHE+AESGCM:ECDHE+CHACHA20") != 1 ||
      SSL_CTX_set_ciphersuites(c,
                               "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
                               "TLS_CHACHA20_POLY1305_SHA256") != 1) {
    return Status::Internal("link: cannot configure TLS: " +
                            TakeOpenSslError("unknown error"));
  }
  // The receiver's order decides, whatever a sender's library prefers.
  SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET |
                             SSL_OP_NO_COMPRESSION |
                             SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
  if (server) SSL_CTX_set_num_tickets(c, 0);
  SSL_CTX_set_mode(
      c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // Read what the socket holds in one recv (several records, as many small
  // frames as came), not each record's 5-byte header and then its body:
  // every read goes through SSL_read first, so nothing buffered is missed
  // by a poll on the socket.
  SSL_CTX_set_read_ahead(c, 1);
  SSL_CTX_set_default_read_buffer_len(c, 64 << 10);

  FERRY_ASSIGN_OR_RETURN(
      std::vector<X509Ptr> chain,
      ReadCertificates(identity.certificate_pem, "this agent's certificate"));
  if (SSL_CTX_use_certificate(c, chain[0].get()) != 1) {
    return Status::FailedPrecondition(
        "link: cannot use this agent's certificate: " +
        TakeOpenSslError("unknown error"));
  }
  for (size_t i = 1; i < chain.size(); ++i) {
    if (SSL_CTX_add1_chain_cert(c, chain[i].get()) != 1) {
      return Status::FailedPrecondition(
          "link: cannot use this agent's certificate chain: " +
          TakeOpenSslError("unknown error"));
    }
  }
  BioPtr key_bio(BIO_new_mem_buf(identity.key_pem.data(),
                                 static_cast<int>(identity.key_pem.size())));
  EvpKeyPtr key(
      key_bio == nullptr
          ? nullptr
          : PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (key == nullptr) {
    ERR_clear_error();
    return Status::FailedPrecondition(
        "link: this agent's key is not a PEM private key");
  }
  if (SSL_CTX_use_PrivateKey(c, key.get()) != 1 ||
      SSL_CTX_check_private_key(c) != 1) {
    return Status::FailedPrecondition(
        "link: this agent's key does not match its certificate: " +
        TakeOpenSslError("unknown error"));
  }

  FERRY_ASSIGN_OR_RETURN(
      std::vector<X509Ptr> authority,
      ReadCertificates(identity.authority_pem, "the agent authority"));
  X509_STORE* store = SSL_CTX_get_cert_store(c);
  for (const X509Ptr& cert : authority) {
    if (X509_STORE_add_cert(store, cert.get()) != 1) {
      return Status::FailedPrecondition(
          "link: cannot trust the agent authority: " +
          TakeOpenSslError("unknown error"));
    }
  }
  SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                     nullptr);
  SSL_CTX_set_verify_depth(c, 4);
  if (SSL_CTX_set_purpose(c, X509_PURPOSE_SSL_CLIENT) != 1) {
    return Status::Internal("link: cannot set the certificate purpose: " +
                            TakeOpenSslError("unknown error"));
  }
  return ctx;
}

// ---------------------------------------------------------------------------
// Sockets.

void SetSocketOptions(int fd) {
  const int one = 1;
  // Best effort: a socket without them still works.
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  (void)::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &kKeepIdleSeconds,
                     sizeof(kKeepIdleSeconds));
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &kKeepIntervalSeconds,
                     sizeof(kKeepIntervalSeconds));
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &kKeepCount,
                     sizeof(kKeepCount));
}

std::string SocketAddressText(const sockaddr_storage& sa) {
  char host[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (sa.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&sa);
    ::inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
    port = ntohs(in->sin_port);
  } else if (sa.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&sa);
    ::inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
    port = ntohs(in6->sin6_port);
  }
  return HostPort{host, port}.ToString();
}

int WaitMs(Clock::time_point deadline) {
  if (deadline == kNoDeadline) return kMaxWaitMs;
  const auto left =
      std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(
      std::clamp<int64_t>(left.count(), 0, int64_t{kMaxWaitMs}));
}

Result<int> ConnectTcp(const std::string& host, int port,
                       Clock::time_point deadline, const std::string& name) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found);
      rc != 0) {
    return Unavailable("link: cannot resolve " + host + ": " +
                       ::gai_strerror(rc));
  }
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> list(found, ::freeaddrinfo);
  Status last = Unavailable("link: " + host + " resolves to no address");
  for (const addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    const int fd =
        ::socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      last = Unavailable(
          "link: cannot make a socket: " + std::string(std::strerror(errno)),
          errno);
      continue;
    }
    int err = 0;
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) err = errno;
    while (err == EINPROGRESS || err == EINTR) {
      pollfd p{fd, POLLOUT, 0};
      const int ms = WaitMs(deadline);
      if (ms == 0) {
        err = ETIMEDOUT;
        break;
      }
      const int r = ::poll(&p, 1, ms);
      if (r < 0 && errno != EINTR) {
        err = errno;
      } else if (r > 0) {
        socklen_t len = sizeof(err);
        if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
          err = errno;
        }
      }
    }
    if (err == 0) {
      SetSocketOptions(fd);
      return fd;
    }
    ::close(fd);
    last = Unavailable(
        "link: cannot connect to " + name + ": " +
            (err == ETIMEDOUT ? std::string("timed out") : std::strerror(err)),
        err);
    if (Clock::now() >= deadline) break;
  }
  return last;
}

// ---------------------------------------------------------------------------
// TlsFrameStream.

TlsFrameStream::TlsFrameStream(int fd, std::string address)
    : address_(std::move(address)) {
  socket_.fd = fd;
}

Result<std::unique_ptr<TlsFrameStream>> TlsFrameStream::Create(
    SSL_CTX* ctx, int fd, std::string address, bool server) {
  std::unique_ptr<TlsFrameStream> stream(
      new TlsFrameStream(fd, std::move(address)));
  const BIO_METHOD* method = SocketBioMethod();
  SslPtr ssl(SSL_new(ctx));
  BIO* bio = method == nullptr ? nullptr : BIO_new(method);
  if (ssl == nullptr || bio == nullptr) {
    BIO_free(bio);
    return Status::Internal("link: cannot make a TLS connection: " +
                            TakeOpenSslError("out of memory"));
  }
  BIO_set_data(bio, &stream->socket_);
  BIO_set_init(bio, 1);
  SSL_set_bio(ssl.get(), bio, bio);  // the SSL object owns the BIO
  if (server) {
    SSL_set_accept_state(ssl.get());
  } else {
    SSL_set_connect_state(ssl.get());
  }
  stream->ssl_ = ssl.release();
  return stream;
}

TlsFrameStream::~TlsFrameStream() {
  Close();
  if (ssl_ != nullptr) SSL_free(ssl_);
  ::close(socket_.fd);
}

std::string TlsFrameStream::Describe() const {
  return agent_id_.empty() ? address_ : agent_id_ + " at " + address_;
}

Status TlsFrameStream::ClosedStatus() const {
  return Unavailable("link: the connection to " + Describe() + " is closed", 0,
                     false);
}

void TlsFrameStream::SayGoodbye() {
  std::lock_guard lock(ssl_mu_);
  // close_notify, once, if the connection is sound (OpenSSL forbids it
  // after a fatal error). It cannot block: the socket is non-blocking.
  if (goodbye_said_ || ssl_ == nullptr || !failure_.ok() ||
      !SSL_is_init_finished(ssl_)) {
    return;
  }
  goodbye_said_ = true;
  ERR_clear_error();
  (void)SSL_shutdown(ssl_);
  ERR_clear_error();
}

bool TlsFrameStream::InputPending() {
  {
    std::lock_guard lock(ssl_mu_);
    if (SSL_has_pending(ssl_) == 1) return true;
  }
  int n = 0;
  return ::ioctl(socket_.fd, FIONREAD, &n) == 0 && n > 0;
}

void TlsFrameStream::Close() {
  if (closed_.exchange(true)) return;
  SayGoodbye();
  ::shutdown(socket_.fd, SHUT_RDWR);  // wakes every poll() on it
}

void TlsFrameStream::CloseGracefully(Clock::time_point deadline) {
  if (!closed_.load()) {
    SayGoodbye();
    ::shutdown(socket_.fd, SHUT_WR);
    char sink[4096];
    for (;;) {
      const int ms = WaitMs(deadline);
      if (ms == 0 || closed_.load()) break;
      pollfd p{socket_.fd, POLLIN, 0};
      const int r = ::poll(&p, 1, ms);
      if (r < 0 && errno != EINTR) break;
      if (r <= 0) continue;
      const ssize_t n = ::recv(socket_.fd, sink, sizeof(sink), 0);
      if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) break;
    }
  }
  Close();
}

Status TlsFrameStream::Wait(short events, Clock::time_point deadline,  // NOLINT
                            std::string_view step) {
  for (;;) {
    if (closed_.load()) return ClosedStatus();
    const int ms = WaitMs(deadline);
    if (ms == 0 && deadline != kNoDeadline) {
      return Unavailable("link: " + std::string(step) + Describe() +
                         ": timed out");
    }
    pollfd p{socket_.fd, events, 0};
    // Ready, an error OpenSSL will see, or the cap (file comment) or the
    // deadline passed: OpenSSL is called again either way.
    if (::poll(&p, 1, ms) >= 0) return Status::Ok();
    if (errno != EINTR) {
      return Unavailable("link: " + std::string(step) + Describe() +
                             ": poll: " + std::strerror(errno),
                         errno);
    }
  }
}

template <typename Call>
Result<size_t> TlsFrameStream::Retry(Call call, Clock::time_point deadline,
                                     std::string_view step) {
  for (;;) {
    if (closed_.load()) return ClosedStatus();
    short events = 0;  // NOLINT(runtime/int)
    {
      std::lock_guard lock(ssl_mu_);
      if (!failure_.ok()) return failure_;
      ERR_clear_error();
      socket_.last_errno = 0;
      size_t done = 0;
      const int rc = call(&done);
      if (rc == 1) return done;
      const int error = SSL_get_error(ssl_, rc);
      switch (error) {
        case SSL_ERROR_WANT_READ:
          events = POLLIN;
          break;
        case SSL_ERROR_WANT_WRITE:
          events = POLLOUT;
          break;
        case SSL_ERROR_ZERO_RETURN:  // close_notify: no more to read
          ERR_clear_error();
          return Unavailable("link: " + std::string(step) + Describe() +
                             ": the peer closed the connection");
        default: {
          Status failure = Failure(error, step);  // clears OpenSSL's errors
          failure_ = closed_.load() ? ClosedStatus() : std::move(failure);
          return failure_;
        }
      }
    }
    FERRY_RETURN_IF_ERROR(Wait(events, deadline, step));
  }
}

Status TlsFrameStream::Failure(int ssl_error, std::string_view step) {
  const std::string prefix = "link: " + std::string(step) + Describe() + ": ";
  const unsigned long e = ERR_peek_error();  // NOLINT(runtime/int)
  if (ssl_error == SSL_ERROR_SYSCALL && e == 0) {
    const int err = socket_.last_errno;
    if (err == 0) return Unavailable(prefix + "the peer closed the connection");
    return Unavailable(prefix + std::strerror(err), err);
  }
  const int reason = ERR_GET_LIB(e) == ERR_LIB_SSL ? ERR_GET_REASON(e) : 0;
  const std::string text = TakeOpenSslError("TLS error");
  switch (reason) {
    case SSL_R_UNEXPECTED_EOF_WHILE_READING:
      return Unavailable(prefix + "the peer closed the connection");
    case SSL_R_CERTIFICATE_VERIFY_FAILED:
      return PermissionDenied(
          prefix +
          "the peer's certificate is not an agent certificate of this "
          "server's authority (" +
          X509_verify_cert_error_string(SSL_get_verify_result(ssl_)) + ")");
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
      return PermissionDenied(prefix + "the peer presented no certificate");
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_TLSV1_ALERT_ACCESS_DENIED:
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
      return PermissionDenied(
          prefix + "the peer refused this agent's certificate (" + text + ")");
    default:
      return Unavailable(prefix + text, 0, false);
  }
}

Status TlsFrameStream::Handshake(Clock::time_point deadline) {
  const Result<size_t> r =
      Retry([this](size_t*) { return SSL_do_handshake(ssl_); }, deadline,
            "TLS handshake with ");
  return r.status();
}

Status TlsFrameStream::SendUntil(std::span<const std::byte> frame,
                                 Clock::time_point deadline,
                                 std::string_view step) {
  std::lock_guard lock(send_mu_);
  if (!send_failure_.ok()) return send_failure_;
  size_t sent = 0;
  while (sent < frame.size()) {
    const std::byte* data = frame.data() + sent;
    const size_t n = frame.size() - sent;
    Result<size_t> r =
        Retry([this, data,
               n](size_t* done) { return SSL_write_ex(ssl_, data, n, done); },
              deadline, step);
    if (!r.ok()) {
      // The peer would take what follows for the rest of this frame.
      if (sent > 0) send_failure_ = r.status();
      return r.status();
    }
    sent += *r;
  }
  // The records are written; now they go out, in as few sends as can be.
  for (;;) {
    if (closed_.load()) return ClosedStatus();
    {
      std::lock_guard lock(ssl_mu_);
      const Flushed f = SendUnsent(&socket_);
      if (f == Flushed::kAll) return Status::Ok();
      if (f == Flushed::kFailed) {
        ERR_clear_error();
        send_failure_ = Failure(SSL_ERROR_SYSCALL, step);
        return send_failure_;
      }
    }
    if (Status st = Wait(POLLOUT, deadline, step); !st.ok()) {
      send_failure_ = st;
      return st;
    }
  }
}

Status TlsFrameStream::ReadExact(std::byte* data, size_t n,
                                 Clock::time_point deadline,
                                 std::string_view step) {
  size_t got = 0;
  while (got < n) {
    std::byte* at = data + got;
    const size_t want = n - got;
    FERRY_ASSIGN_OR_RETURN(
        size_t r,
        Retry([this, at, want](
                  size_t* done) { return SSL_read_ex(ssl_, at, want, done); },
              deadline, step));
    got += r;
  }
  return Status::Ok();
}

Result<FrameHeader> TlsFrameStream::ReceiveUntil(
    std::vector<std::byte>* payload, Clock::time_point deadline,
    std::string_view step) {
  if (!receive_failure_.ok()) return receive_failure_;
  std::array<std::byte, kFrameHeaderBytes> raw;
  Status s = ReadExact(raw.data(), raw.size(), deadline, step);
  Result<FrameHeader> header =
      s.ok() ? DecodeHeader(raw) : Result<FrameHeader>(s);
  if (header.ok()) {
    payload->resize(header->length);
    s = ReadExact(payload->data(), payload->size(), deadline, step);
    if (s.ok()) return header;
    header = s;
  }
  // Out of step with the peer's frames from here on.
  receive_failure_ = header.status();
  return header;
}

Result<std::string> TlsFrameStream::PeerCommonName() {
  std::lock_guard lock(ssl_mu_);
  const X509* cert = SSL_get0_peer_certificate(ssl_);
  if (cert == nullptr) {
    return PermissionDenied("link: " + Describe() +
                            " presented no certificate");
  }
  const X509_NAME* name = X509_get_subject_name(cert);
  const int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (i < 0) {
    return PermissionDenied("link: the certificate of " + Describe() +
                            " has no common name");
  }
  if (X509_NAME_get_index_by_NID(name, NID_commonName, i) >= 0) {
    return PermissionDenied("link: the certificate of " + Describe() +
                            " has several common names");
  }
  unsigned char* utf8 = nullptr;
  const int n = ASN1_STRING_to_UTF8(
      &utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
  if (n < 0) {
    ERR_clear_error();
    return PermissionDenied("link: the certificate of " + Describe() +
                            " has a common name that is not text");
  }
  std::string cn(reinterpret_cast<const char*>(utf8), static_cast<size_t>(n));
  OPENSSL_free(utf8);
  if (cn.empty() || cn.find('\0') != std::string::npos) {
    return PermissionDenied("link: the certificate of " + Describe() +
                            " has an empty or malformed common name");
  }
  return cn;
}

Result<std::array<uint8_t, kLinkProofBytes>> TlsFrameStream::Proof(
    std::string_view secret) {
  std::array<unsigned char, 32> exported{};
  {
    std::lock_guard lock(ssl_mu_);
    if (SSL_export_keying_material(
            ssl_, exported.data(), exported.size(), kLinkExporterLabel.data(),
            kLinkExporterLabel.size(), nullptr, 0, 0) != 1) {
      return Status::Internal("link: cannot export keying material: " +
                              TakeOpenSslError("unknown error"));
    }
  }
  std::array<uint8_t, kLinkProofBytes> proof{};
  unsigned int n = 0;
  const unsigned char* ok =
      HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
           exported.data(), exported.size(), proof.data(), &n);
  OPENSSL_cleanse(exported.data(), exported.size());
  if (ok == nullptr || n != proof.size()) {
    return Status::Internal("link: cannot compute the link proof: " +
                            TakeOpenSslError("unknown error"));
  }
  return proof;
}

void TlsFrameStream::Refuse(const Status& status) {
  const Clock::time_point deadline = Clock::now() + kRefusalGrace;
  std::vector<std::byte> frame;
  ErrorFrame error{status};
  if (AppendFrame(&frame, 0, error).ok()) {
    (void)SendUntil(frame, deadline, "refusing ");
  }
  CloseGracefully(deadline);
}

Status Unavailable(std::string message, int sys_errno, bool retryable) {
  return Status(StatusCode::kUnavailable, std::move(message), sys_errno,
                retryable);
}

Status PermissionDenied(std::string message) {
  return Status(StatusCode::kPermissionDenied, std::move(message));
}

}  // namespace ferry::link::tls_internal
