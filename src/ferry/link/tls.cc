// DialLink and LinkListener: the link's handshake over TLS (tls.h); the
// TLS connection itself is tls_stream.h's.
#include "ferry/link/tls.h"

#include <netdb.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <list>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "ferry/base/net_address.h"
#include "ferry/link/tls_stream.h"

namespace ferry::link {
namespace {

using tls_internal::Clock;
using tls_internal::ConnectTcp;
using tls_internal::kMaxWaitMs;
using tls_internal::kRefusalGrace;
using tls_internal::MakeContext;
using tls_internal::SocketAddressText;
using tls_internal::SslCtxPtr;
using tls_internal::TlsFrameStream;

using tls_internal::PermissionDenied;
using tls_internal::Unavailable;

std::string VersionRange(uint8_t lowest, uint8_t highest) {
  return std::to_string(lowest) + ".." + std::to_string(highest);
}

// A message without the "link: " it begins with, for a context that says it
// already.
std::string_view WithoutLinkPrefix(std::string_view message) {
  constexpr std::string_view kPrefix = "link: ";
  if (message.substr(0, kPrefix.size()) == kPrefix) {
    message.remove_prefix(kPrefix.size());
  }
  return message;
}

}  // namespace

std::string_view AgentIdOfArn(std::string_view arn) {
  const size_t slash = arn.rfind('/');
  if (slash == std::string_view::npos) return {};
  return arn.substr(slash + 1);
}

// ---------------------------------------------------------------------------
// The sender's side.

Result<std::unique_ptr<FrameStream>> DialLink(const DialOptions& options,
                                              LinkAgreement* agreement) {
  if (options.host.empty()) {
    return Status::InvalidArgument("link: no receiver host to dial");
  }
  if (options.port < 1 || options.port > 65535) {
    return Status::InvalidArgument("link: receiver port " +
                                   std::to_string(options.port) +
                                   " is not 1..65535");
  }
  if (options.receiver_agent_id.empty()) {
    return Status::InvalidArgument("link: no receiver agent id to expect");
  }
  if (options.secret.size() < kMinLinkSecretBytes) {
    return Status::InvalidArgument(
        "link: the link secret is " + std::to_string(options.secret.size()) +
        " bytes, fewer than " + std::to_string(kMinLinkSecretBytes));
  }
  if (options.connect_timeout.count() <= 0 ||
      options.handshake_timeout.count() <= 0) {
    return Status::InvalidArgument("link: the dial timeouts must be positive");
  }
  {
    std::vector<std::byte> scratch;  // refuse a HELLO that cannot be sent
    FERRY_RETURN_IF_ERROR(AppendFrame(&scratch, 0, options.hello));
  }
  FERRY_ASSIGN_OR_RETURN(SslCtxPtr ctx,
                         MakeContext(options.identity, /*server=*/false));
  const std::string name = HostPort{options.host, options.port}.ToString();
  FERRY_ASSIGN_OR_RETURN(
      int fd, ConnectTcp(options.host, options.port,
                         Clock::now() + options.connect_timeout, name));
  FERRY_ASSIGN_OR_RETURN(std::unique_ptr<TlsFrameStream> stream,
                         TlsFrameStream::Create(ctx.get(), fd, name,
                                                /*server=*/false));
  const Clock::time_point deadline = Clock::now() + options.handshake_timeout;
  FERRY_RETURN_IF_ERROR(stream->Handshake(deadline));
  FERRY_ASSIGN_OR_RETURN(std::string cn, stream->PeerCommonName());
  if (cn != options.receiver_agent_id) {
    Status refused = PermissionDenied(
        "link: the receiver at " + name + " presents a certificate for " + cn +
        ", this execution's receiver is " + options.receiver_agent_id);
    stream->Refuse(refused);
    return refused;
  }
  stream->set_peer_agent_id(cn);

  Hello hello = options.hello;
  FERRY_ASSIGN_OR_RETURN(hello.proof, stream->Proof(options.secret));
  std::vector<std::byte> frame;
  FERRY_RETURN_IF_ERROR(AppendFrame(&frame, 0, hello));
  FERRY_RETURN_IF_ERROR(
      stream->SendUntil(frame, deadline, "sending HELLO to "));
  std::vector<std::byte> payload;
  FERRY_ASSIGN_OR_RETURN(
      FrameHeader header,
      stream->ReceiveUntil(&payload, deadline, "waiting for HELLO_OK from "));
  if (header.type == FrameType::kError) {
    Result<ErrorFrame> error = ErrorFrame::Decode(payload);
    if (!error.ok()) return error.status();
    return Status(error->status.code(),
                  "link: " + stream->Describe() + " refused the connection: " +
                      std::string(WithoutLinkPrefix(error->status.message())));
  }
  if (header.type != FrameType::kHelloOk) {
    Status refused = Status::InvalidArgument(
        "link: " + stream->Describe() + " answered HELLO with " +
        std::string(FrameTypeName(header.type)));
    stream->Refuse(refused);
    return refused;
  }
  Result<HelloOk> ok = HelloOk::Decode(payload);
  if (!ok.ok()) {
    stream->Refuse(ok.status());
    return ok.status();
  }
  if (ok->version < hello.lowest_version ||
      ok->version > hello.highest_version) {
    Status refused = Status::NotSupported(
        "link: " + stream->Describe() + " chose version " +
        std::to_string(ok->version) + ", outside this sender's " +
        VersionRange(hello.lowest_version, hello.highest_version));
    stream->Refuse(refused);
    return refused;
  }
  stream->set_link_version(ok->version);
  if (agreement != nullptr) {
    agreement->version = ok->version;
    agreement->window = ok->window;
  }
  return std::unique_ptr<FrameStream>(std::move(stream));
}

// ---------------------------------------------------------------------------
// The receiver's side.

Status ListenOptions::Validate() const {
  if (port < 0 || port > 65535) {
    return Status::InvalidArgument("link listen port " + std::to_string(port) +
                                   " is not 0..65535");
  }
  if (lowest_version < 1 || lowest_version > highest_version) {
    return Status::InvalidArgument(
        "link versions " + VersionRange(lowest_version, highest_version) +
        " are not a range of versions from 1");
  }
  if (window < kMinWindowBytes || window > kMaxWindowBytes) {
    return Status::InvalidArgument("link window " + std::to_string(window) +
                                   " is not " +
                                   std::to_string(kMinWindowBytes) + ".." +
                                   std::to_string(kMaxWindowBytes) + " bytes");
  }
  if (handshake_timeout.count() <= 0) {
    return Status::InvalidArgument("link handshake_timeout must be positive");
  }
  if (max_handshakes < 1) {
    return Status::InvalidArgument("link max_handshakes must be at least 1");
  }
  return Status::Ok();
}

namespace {

// A HELLO that passed every check, and the version to answer it with.
struct AcceptedHello {
  Hello hello;
  uint8_t version = kLinkVersion;
};

// After the TLS handshake: HELLO, the authorizer's grant and every check.
Result<AcceptedHello> CheckHello(TlsFrameStream& stream,
                                 const ListenOptions& options,
                                 const LinkAuthorizer& authorize,
                                 Clock::time_point deadline) {
  FERRY_ASSIGN_OR_RETURN(std::string cn, stream.PeerCommonName());
  std::vector<std::byte> payload;
  FERRY_ASSIGN_OR_RETURN(
      FrameHeader header,
      stream.ReceiveUntil(&payload, deadline, "waiting for HELLO from "));
  if (header.type == FrameType::kError) {
    Result<ErrorFrame> error = ErrorFrame::Decode(payload);
    if (!error.ok()) return error.status();
    return Status(error->status.code(),
                  "link: the sender " + cn + " gave up the connection: " +
                      std::string(WithoutLinkPrefix(error->status.message())));
  }
  if (header.type != FrameType::kHello) {
    return Status::InvalidArgument("link: the first frame must be HELLO, not " +
                                   std::string(FrameTypeName(header.type)));
  }
  FERRY_ASSIGN_OR_RETURN(Hello hello, Hello::Decode(payload));
  FERRY_ASSIGN_OR_RETURN(LinkGrant grant, authorize(hello, cn));
  if (grant.sender_agent_id != cn) {
    return PermissionDenied("link: peer certificate is for " + cn +
                            ", this execution's sender is " +
                            grant.sender_agent_id);
  }
  if (AgentIdOfArn(hello.sender_arn) != cn) {
    return PermissionDenied("link: HELLO names the sender " + hello.sender_arn +
                            ", but the peer certificate is for " + cn);
  }
  if (grant.secret.size() < kMinLinkSecretBytes) {
    return Status::Internal("link: the link secret of execution " +
                            hello.execution_id + " is too short");
  }
  FERRY_ASSIGN_OR_RETURN(auto proof, stream.Proof(grant.secret));
  if (CRYPTO_memcmp(proof.data(), hello.proof.data(), proof.size()) != 0) {
    return PermissionDenied(
        "link: wrong link proof (not made with the link secret of execution " +
        hello.execution_id + " on this connection)");
  }
  const uint8_t lowest = std::max(hello.lowest_version, options.lowest_version);
  const uint8_t highest =
      std::min(hello.highest_version, options.highest_version);
  if (lowest > highest) {
    return Status::NotSupported(
        "link: no common version: the sender speaks " +
        VersionRange(hello.lowest_version, hello.highest_version) +
        ", this receiver " +
        VersionRange(options.lowest_version, options.highest_version));
  }
  stream.set_peer_agent_id(cn);
  return AcceptedHello{std::move(hello), highest};
}

}  // namespace

struct LinkListener::Impl {
  struct Handshake {
    std::thread thread;
    TlsFrameStream* stream = nullptr;  // while it handshakes, for Stop()
    bool done = false;                 // the thread is about to end
  };

  ListenOptions options;
  LinkAuthorizer authorize;
  LinkHandler handle;
  SslCtxPtr ctx;
  int listen_fd = -1;
  int wake_fd = -1;  // an eventfd: Stop() wakes the accept loop with it
  int port = 0;
  std::thread accept_thread;

  std::mutex stop_mu;    // serializes Stop()
  bool stopped = false;  // GUARDED_BY(stop_mu)

  std::mutex mu;
  bool stopping = false;            // GUARDED_BY(mu)
  std::list<Handshake> handshakes;  // GUARDED_BY(mu)

  ~Impl() {
    if (listen_fd >= 0) ::close(listen_fd);
    if (wake_fd >= 0) ::close(wake_fd);
  }

  void Refused(const std::string& address, const Status& status) {
    if (!options.on_refused) return;
    options.on_refused(
        Status(status.code(),
               "link: refused " + address + ": " +
                   std::string(WithoutLinkPrefix(status.message())),
               status.sys_errno(), status.retryable()));
  }

  // Joins the threads that have finished.
  void Reap() {
    std::list<Handshake> finished;
    {
      std::lock_guard lock(mu);
      for (auto it = handshakes.begin(); it != handshakes.end();) {
        auto next = std::next(it);
        if (it->done) finished.splice(finished.end(), handshakes, it);
        it = next;
      }
    }
    for (Handshake& h : finished) h.thread.join();
  }

  void AcceptLoop();
  void Serve(Handshake* h, int fd, const std::string& address);
  void Stop();
};

void LinkListener::Impl::AcceptLoop() {
  for (;;) {
    pollfd fds[2] = {{listen_fd, POLLIN, 0}, {wake_fd, POLLIN, 0}};
    const int r = ::poll(fds, 2, kMaxWaitMs);
    Reap();
    if (fds[1].revents != 0) return;
    if (r <= 0) continue;  // the periodic reap, or EINTR
    sockaddr_storage sa{};
    socklen_t len = sizeof(sa);
    const int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&sa), &len,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
        // Out of descriptors or memory: the connection waits in the backlog
        // until some are freed.
        Refused("a connection", Unavailable(std::strerror(err), err));
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      } else if (err != EAGAIN && err != EWOULDBLOCK && err != EINTR &&
                 err != ECONNABORTED && err != EPROTO && err != ENETDOWN &&
                 err != ENETUNREACH && err != EHOSTDOWN &&
                 err != EHOSTUNREACH && err != ENONET && err != ENOPROTOOPT &&
                 err != EOPNOTSUPP && err != ETIMEDOUT) {
        // Unexpected: never spin on it.
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      continue;  // the next connection
    }
    const std::string address = SocketAddressText(sa);
    std::unique_lock lock(mu);
    if (stopping) {
      ::close(fd);
      return;
    }
    const size_t active = static_cast<size_t>(
        std::count_if(handshakes.begin(), handshakes.end(),
                      [](const Handshake& h) { return !h.done; }));
    if (active >= static_cast<size_t>(options.max_handshakes)) {
      lock.unlock();
      ::close(fd);
      Refused(address, Status(StatusCode::kResourceExhausted,
                              "the listener is at its limit of " +
                                  std::to_string(options.max_handshakes) +
                                  " handshakes at once"));
      continue;
    }
    handshakes.emplace_back();
    Handshake* h = &handshakes.back();
    try {
      h->thread =
          std::thread([this, h, fd, address] { Serve(h, fd, address); });
    } catch (const std::system_error& e) {
      handshakes.pop_back();
      lock.unlock();
      ::close(fd);
      Refused(address,
              Unavailable(std::string("cannot start a thread: ") + e.what()));
    }
  }
}

void LinkListener::Impl::Serve(Handshake* h, int fd,
                               const std::string& address) {
  const Clock::time_point deadline = Clock::now() + options.handshake_timeout;
  tls_internal::SetSocketOptions(fd);
  Result<std::unique_ptr<TlsFrameStream>> made =
      TlsFrameStream::Create(ctx.get(), fd, address, /*server=*/true);
  std::unique_ptr<TlsFrameStream> stream;
  if (made.ok()) stream = std::move(*made);
  bool stopped_early = false;
  {
    std::lock_guard lock(mu);
    stopped_early = stopping;
    if (stream != nullptr && !stopped_early) h->stream = stream.get();
  }
  // Reported as soon as decided: the log should not wait for the peer.
  auto report = [&](const Status& refusal) {
    bool quiet = false;
    {
      std::lock_guard lock(mu);
      quiet = stopping;  // Stop() closed it
    }
    if (!quiet) Refused(address, refusal);
  };
  std::optional<Hello> hello;
  if (!made.ok()) {
    report(made.status());
  } else if (!stopped_early) {
    Status s = stream->Handshake(deadline);
    if (!s.ok()) {
      // No TLS, no ERROR frame: OpenSSL has sent its alert, if any.
      report(s);
      stream->CloseGracefully(Clock::now() + kRefusalGrace);
    } else if (Result<AcceptedHello> checked =
                   CheckHello(*stream, options, authorize, deadline);
               !checked.ok()) {
      report(checked.status());
      stream->Refuse(checked.status());
    } else {
      std::vector<std::byte> frame;
      s = AppendFrame(&frame, 0, HelloOk{checked->version, options.window});
      if (s.ok()) {
        s = stream->SendUntil(frame, deadline, "sending HELLO_OK to ");
      }
      if (s.ok()) {
        stream->set_link_version(checked->version);
        hello = std::move(checked->hello);
      } else {
        report(s);
      }
    }
  }
  bool hand_over = false;
  {
    std::lock_guard lock(mu);
    h->stream = nullptr;
    hand_over = hello.has_value() && !stopping;
  }
  if (hand_over) handle(std::move(stream), *hello);
  stream.reset();
  std::lock_guard lock(mu);
  h->done = true;
}

void LinkListener::Impl::Stop() {
  std::lock_guard stop_lock(stop_mu);
  if (stopped) return;
  stopped = true;
  {
    std::lock_guard lock(mu);
    stopping = true;
    for (Handshake& h : handshakes) {
      if (h.stream != nullptr) h.stream->Close();
    }
  }
  const uint64_t one = 1;
  (void)!::write(wake_fd, &one, sizeof(one));
  if (accept_thread.joinable()) accept_thread.join();
  std::list<Handshake> all;
  {
    std::lock_guard lock(mu);
    all.swap(handshakes);
  }
  for (Handshake& h : all) h.thread.join();
  ::close(listen_fd);
  listen_fd = -1;
}

Result<std::unique_ptr<LinkListener>> LinkListener::Start(
    ListenOptions options, LinkAuthorizer authorize, LinkHandler handle) {
  FERRY_RETURN_IF_ERROR(options.Validate());
  if (!authorize || !handle) {
    return Status::InvalidArgument(
        "link: a listener needs an authorizer and a handler");
  }
  auto impl = std::make_unique<Impl>();
  FERRY_ASSIGN_OR_RETURN(impl->ctx,
                         MakeContext(options.identity, /*server=*/true));

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(options.port);
  const std::string name = HostPort{options.address, options.port}.ToString();
  if (int rc = ::getaddrinfo(
          options.address.empty() ? nullptr : options.address.c_str(),
          service.c_str(), &hints, &found);
      rc != 0) {
    return Unavailable("link: cannot resolve the listen address " +
                           options.address + ": " + ::gai_strerror(rc),
                       0, false);
  }
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> list(found, ::freeaddrinfo);
  Status last = Unavailable("link: " + name + " resolves to no address");
  for (const addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    const int fd =
        ::socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      last = Unavailable(
          "link: cannot make a socket: " + std::string(std::strerror(errno)),
          errno, false);
      continue;
    }
    const int one = 1;
    (void)::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
        ::listen(fd, SOMAXCONN) != 0) {
      const int err = errno;
      ::close(fd);
      last = Unavailable(
          "link: cannot listen on " + name + ": " + std::strerror(err), err,
          false);
      continue;
    }
    impl->listen_fd = fd;
    break;
  }
  if (impl->listen_fd < 0) return last;
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  if (::getsockname(impl->listen_fd, reinterpret_cast<sockaddr*>(&bound),
                    &len) != 0) {
    return Unavailable(
        "link: getsockname: " + std::string(std::strerror(errno)), errno,
        false);
  }
  impl->port = bound.ss_family == AF_INET6
                   ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                   : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  impl->wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (impl->wake_fd < 0) {
    return Unavailable("link: eventfd: " + std::string(std::strerror(errno)),
                       errno, false);
  }
  impl->options = std::move(options);
  impl->authorize = std::move(authorize);
  impl->handle = std::move(handle);
  Impl* raw = impl.get();
  try {
    impl->accept_thread = std::thread([raw] { raw->AcceptLoop(); });
  } catch (const std::system_error& e) {
    return Unavailable(std::string("link: cannot start a thread: ") + e.what(),
                       0, false);
  }
  return std::unique_ptr<LinkListener>(new LinkListener(std::move(impl)));
}

LinkListener::LinkListener(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}

LinkListener::~LinkListener() { Stop(); }

int LinkListener::port() const { return impl_->port; }

void LinkListener::Stop() { impl_->Stop(); }

}  // namespace ferry::link
