// The pieces of the link's transport below its handshake (tls.h): TLS
// contexts made from an agent's identity, TCP sockets, and TlsFrameStream,
// a FrameStream over one TLS connection. Internal to ferry_link_tls; DialLink
// and LinkListener (tls.cc) are built on it.
//
// Certificates. Every agent's certificate is a client certificate (extended
// key usage clientAuth only, pki::SignClientRequest), and on the link one of
// them also serves as the receiver's server certificate. OpenSSL verifies a
// server's certificate for the "ssl_server" purpose, which would refuse it,
// so both sides set the purpose X509_PURPOSE_SSL_CLIENT on their context:
// each side requires of the other a client certificate (clientAuth, digital
// signature) issued by the agent authority. That is the one kind an agent
// holds; the ferry server's own certificate (serverAuth) cannot stand in for
// an agent on either side even if the same authority signed it.
//
// Threads. A TlsFrameStream's socket is non-blocking. Every call into its
// SSL object is made under one mutex and returns at once; where OpenSSL
// wants the socket readable or writable, the caller waits in poll() without
// the lock and calls again. So OpenSSL never sees two threads in one SSL
// object (it supports that in no version, 3.0 included), and a Receive
// waiting for data never holds up a Send. A wait is capped at a second:
// should a call in one direction ever consume the other's input (OpenSSL's
// SSL_write does not, for TLS 1.3 or for TLS 1.2 without renegotiation, and
// both sides refuse renegotiation and send no post-handshake messages), the
// waiter still calls again. Close() marks the stream closed and shuts the
// socket down, which wakes every poll().
#pragma once

#include <openssl/types.h>
#include <sys/socket.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/base/status.h"
#include "ferry/link/frame_stream.h"
#include "ferry/link/tls.h"
#include "ferry/link/wire.h"

namespace ferry::link::tls_internal {

using Clock = std::chrono::steady_clock;
inline constexpr Clock::time_point kNoDeadline = Clock::time_point::max();
// How long a refused connection is given to take its ERROR frame (or TLS
// alert) and close before its socket is closed.
inline constexpr std::chrono::milliseconds kRefusalGrace{1000};
// The longest single poll() (file comment).
inline constexpr int kMaxWaitMs = 1000;

struct SslCtxDeleter {
  void operator()(SSL_CTX* ctx) const;
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxDeleter>;

// A context for either side: this agent's certificate and key, the
// authority as the only trust anchor, the peer's certificate required and
// verified as a client certificate (file comment), TLS 1.2 at least, no
// renegotiation, no session resumption. FailedPrecondition for an identity
// that does not load.
Result<SslCtxPtr> MakeContext(const TlsIdentity& identity, bool server);

// Milliseconds for poll() until `deadline`, at most kMaxWaitMs; 0 once it
// has passed.
int WaitMs(Clock::time_point deadline);

// TCP_NODELAY and keepalive (a peer that vanished from an idle connection is
// noticed in about two minutes).
void SetSocketOptions(int fd);

// "1.2.3.4:5678", "[::1]:5678".
std::string SocketAddressText(const sockaddr_storage& sa);

// A non-blocking TCP connection to host:port (each address in turn) by
// `deadline`; `name` is host:port for messages. Unavailable, retryable.
Result<int> ConnectTcp(const std::string& host, int port,
                       Clock::time_point deadline, const std::string& name);

// A connected socket as the stream's BIO sees it: writes use MSG_NOSIGNAL,
// so that a closed connection is an error, never a SIGPIPE.
struct SocketState {
  int fd = -1;
  int last_errno = 0;  // of the last failed send or recv
  // TLS records OpenSSL wrote and not yet sent: a record holds at most 16
  // KiB, and the records of one Send go out in as few send() calls as the
  // socket takes (a flush, at the latest when the Send ends).
  std::vector<char> unsent;
};

// A FrameStream over one TLS connection, and the steps of the handshake the
// link runs over it before the stream is handed out. The handshake steps are
// for one thread, before the stream is shared.
class TlsFrameStream final : public FrameStream {
 public:
  // Takes `fd` (connected, non-blocking; closed whatever happens) and makes
  // the SSL object for it, as the TLS server or client.
  static Result<std::unique_ptr<TlsFrameStream>> Create(SSL_CTX* ctx, int fd,
                                                        std::string address,
                                                        bool server);
  ~TlsFrameStream() override;

  Status Send(std::span<const std::byte> frame) override {
    return SendUntil(frame, kNoDeadline, "sending to ");
  }
  Result<FrameHeader> Receive(std::vector<std::byte>* payload) override {
    return ReceiveUntil(payload, kNoDeadline, "receiving from ");
  }
  // Records read ahead and not yet taken, or bytes in the socket.
  bool InputPending() override;
  void Close() override;
  // "agent-b at 10.0.0.7:7447", or the address before the peer is known.
  std::string Describe() const override;

  // The handshake's steps, bounded by `deadline`; `step` begins messages
  // ("link: <step><peer>: <problem>", "link: TLS handshake with 10.0.0.7:7447:
  // timed out").
  Status Handshake(Clock::time_point deadline);
  Status SendUntil(std::span<const std::byte> frame, Clock::time_point deadline,
                   std::string_view step);
  Result<FrameHeader> ReceiveUntil(std::vector<std::byte>* payload,
                                   Clock::time_point deadline,
                                   std::string_view step);
  // The verified peer certificate's subject common name (exactly one,
  // non-empty, text).
  Result<std::string> PeerCommonName();
  // HMAC-SHA256(secret, this connection's exporter value under
  // kLinkExporterLabel).
  Result<std::array<uint8_t, kLinkProofBytes>> Proof(std::string_view secret);
  void set_peer_agent_id(std::string id) { agent_id_ = std::move(id); }

  // Sends an ERROR frame for `status` (best effort) and closes gracefully.
  void Refuse(const Status& status);
  // Says goodbye (close_notify, FIN) and gives the peer until `deadline` to
  // close its side, discarding what it sends, before the socket is shut
  // down: a socket closed with unread input is reset, and a reset can
  // destroy the ERROR frame or TLS alert the peer has not read yet.
  void CloseGracefully(Clock::time_point deadline);

 private:
  TlsFrameStream(int fd, std::string address);

  // Calls `call` (an SSL function; `done` receives bytes read or written)
  // under ssl_mu_ until it succeeds, waiting on the socket in between as
  // OpenSSL asks.
  template <typename Call>
  Result<size_t> Retry(Call call, Clock::time_point deadline,
                       std::string_view step);
  Status Wait(short events, Clock::time_point deadline,  // NOLINT
              std::string_view step);
  Status ReadExact(std::byte* data, size_t n, Clock::time_point deadline,
                   std::string_view step);
  // The status of a fatal SSL error. REQUIRES: ssl_mu_ held.
  Status Failure(int ssl_error, std::string_view step);
  Status ClosedStatus() const;
  // Sends close_notify once, if the connection is sound.
  void SayGoodbye();

  SocketState socket_;  // the BIO's; lives as long as ssl_
  SSL* ssl_ = nullptr;
  const std::string address_;
  std::string agent_id_;  // set in the handshake, before sharing
  std::atomic<bool> closed_{false};
  std::mutex send_mu_;         // held by one Send for its whole frame
  Status send_failure_;        // GUARDED_BY(send_mu_): a frame went in part
  Status receive_failure_;     // the one receiving thread's
  mutable std::mutex ssl_mu_;  // every call into ssl_; never held in a wait
  Status failure_;             // GUARDED_BY(ssl_mu_): the first fatal error
  bool goodbye_said_ = false;  // GUARDED_BY(ssl_mu_): close_notify sent
};

// The statuses both sides give: Unavailable (retryable unless said) and
// PermissionDenied (a refusal).
Status Unavailable(std::string message, int sys_errno = 0,
                   bool retryable = true);
Status PermissionDenied(std::string message);

}  // namespace ferry::link::tls_internal
