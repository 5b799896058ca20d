// The link's transport (docs/link.md, "Who dials whom", "Who is allowed"):
// a mutual-TLS connection between two agents, each presenting the client
// certificate its activation gave it and checking the other's against the
// server's agent authority, followed by the HELLO / HELLO_OK handshake that
// binds the connection to one execution. DialLink is the sender's side;
// LinkListener the receiver's. Both hand back a FrameStream only once every
// check has passed; a refused connection gets an ERROR frame (when TLS got
// that far) and is closed, and nothing it sent is acted on.
//
// Streams are blocking, one thread per direction (FrameStream's contract),
// on OpenSSL 3 over a non-blocking socket: every call into the SSL object is
// made under one mutex and never waits, and the waiting is done in poll()
// outside it, so a Send and a Receive in two threads proceed together
// without OpenSSL ever seeing two threads in one SSL object. Close() shuts
// the socket down, which wakes both. Writes use MSG_NOSIGNAL: a connection
// the peer has closed is an Unavailable status, never a SIGPIPE.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "ferry/base/status.h"
#include "ferry/link/frame_stream.h"
#include "ferry/link/wire.h"

namespace ferry::link {

// This agent's TLS identity: what its activation gave it.
struct TlsIdentity {
  // This agent's certificate (PEM; intermediate certificates may follow),
  // a client certificate whose subject common name is the agent id
  // ("agent-...", pki::SignClientRequest).
  std::string certificate_pem;
  std::string key_pem;
  // The server's agent authority, which signed every agent's certificate
  // (PEM; several certificates are all trusted, for a rotation).
  std::string authority_pem;
};

// The TLS exporter label of the link proof: HELLO's proof is
// HMAC-SHA256(link secret, the connection's 32-byte exporter value under
// this label, no context).
inline constexpr std::string_view kLinkExporterLabel = "EXPORTER-ferry-link";
// A link secret shorter than this is refused (the server makes 32 random
// bytes).
inline constexpr size_t kMinLinkSecretBytes = 32;
// The default window a receiver offers (bytes of chunk data unacknowledged
// per connection).
inline constexpr uint64_t kDefaultLinkWindowBytes = 16 << 20;

// The agent id an agent ARN names: its last path component
// ("arn:aws:datasync:REGION:ACCOUNT:agent/agent-xxx" -> "agent-xxx"); empty
// if the ARN has no '/' or ends in one.
std::string_view AgentIdOfArn(std::string_view arn);

// What sender and receiver agreed in HELLO / HELLO_OK.
struct LinkAgreement {
  uint8_t version = kLinkVersion;
  uint64_t window = kMinWindowBytes;  // the receiver's, per connection
};

// The sender's side of one connection.
struct DialOptions {
  std::string host;  // the receiver's advertised address: a name or an IP
  int port = 0;
  TlsIdentity identity;
  // The receiver's agent id ("agent-..."), as the server named it: the
  // receiver's certificate must carry it as its common name.
  std::string receiver_agent_id;
  // The HELLO to send. Its proof is computed here from `secret`; the rest
  // (versions, execution id, this agent's ARN, connection index and count)
  // is sent as it is.
  Hello hello;
  std::string secret;  // the execution's link secret
  // TCP connect (every address the name resolves to, in turn).
  std::chrono::milliseconds connect_timeout{10000};
  // The TLS handshake and HELLO until HELLO_OK, after the connect.
  std::chrono::milliseconds handshake_timeout{10000};
};

// Connects, handshakes and sends HELLO; returns the stream once the
// receiver has answered HELLO_OK, and what was agreed in `*agreement` if
// given. Errors: Unavailable (retryable) when the receiver cannot be reached
// or the connection breaks or times out; PermissionDenied when either side
// refuses the other's certificate (an ERROR names the problem: "link:
// peer certificate is for agent-x, this execution's sender is agent-y");
// the receiver's ERROR status otherwise (NotSupported for versions without
// overlap); InvalidArgument for options that cannot be sent. Resolving the
// host name is not bounded by the timeouts. Thread-safe.
Result<std::unique_ptr<FrameStream>> DialLink(
    const DialOptions& options, LinkAgreement* agreement = nullptr);

// What the receiver expects of a connection's sender, from the command that
// started the execution.
struct LinkGrant {
  std::string secret;           // the execution's link secret
  std::string sender_agent_id;  // "agent-..." the sender's certificate names
};

// Decides whether a HELLO names an execution this receiver serves a link
// for, from the HELLO (execution id, sender ARN, connection index and
// count) and the common name of the certificate the peer presented (already
// verified against the authority). A non-OK status refuses the connection,
// and goes to the peer in the ERROR frame as it is. The listener checks the
// rest itself: the certificate's name is the grant's sender, the HELLO's ARN
// names that agent, the proof, the versions. Called concurrently from the
// handshake threads.
using LinkAuthorizer = std::function<Result<LinkGrant>(
    const Hello& hello, const std::string& peer_common_name)>;

// Takes an authorized connection (HELLO_OK sent) and its HELLO. Called on
// the connection's handshake thread, which counts against
// ListenOptions::max_handshakes until it returns: hand the stream to a
// thread of its own and return.
using LinkHandler =
    std::function<void(std::unique_ptr<FrameStream> stream, const Hello&)>;

struct ListenOptions {
  // Address to bind: an IP address ("0.0.0.0", "::", "127.0.0.1") or a name
  // that resolves to one; port 0 is any free port (LinkListener::port()).
  std::string address = "0.0.0.0";
  int port = 7447;
  TlsIdentity identity;
  // The versions this receiver speaks; it answers the highest one the
  // sender speaks too.
  uint8_t lowest_version = kLowestLinkVersion;
  uint8_t highest_version = kLinkVersion;
  // Offered in HELLO_OK: kMinWindowBytes..kMaxWindowBytes.
  uint64_t window = kDefaultLinkWindowBytes;
  // From accept to HELLO: a peer that is silent (or slow) longer is
  // dropped, so that it cannot hold a thread.
  std::chrono::milliseconds handshake_timeout{10000};
  // Connections in their handshake (or in the handler) at once; one more is
  // closed as soon as it is accepted.
  int max_handshakes = 64;
  // Optional: told of every refused connection ("link: refused
  // 10.0.0.7:51234: wrong link proof (...)"), with the refusal's code, for
  // the agent's log. Called concurrently from the handshake threads and the
  // accept thread.
  std::function<void(const Status&)> on_refused;

  // InvalidArgument naming the bad field.
  Status Validate() const;
};

// The receiver's listening socket: accepts on a thread of its own,
// handshakes each connection on a short-lived thread, and hands each
// authorized one to the handler. A client that fails (garbage, a wrong
// certificate, silence) costs its own connection only. Thread-safe.
class LinkListener {
 public:
  // Binds and starts accepting. Errors: InvalidArgument (options),
  // FailedPrecondition (an identity that does not load), Unavailable (the
  // address cannot be bound).
  static Result<std::unique_ptr<LinkListener>> Start(ListenOptions options,
                                                     LinkAuthorizer authorize,
                                                     LinkHandler handle);
  ~LinkListener();  // Stop()

  LinkListener(const LinkListener&) = delete;
  LinkListener& operator=(const LinkListener&) = delete;

  // The bound port (the chosen one when ListenOptions::port was 0).
  int port() const;

  // Closes the listening socket, aborts the handshakes in progress and
  // waits for their threads (and handlers) to end. Streams already handed
  // over are not touched. Idempotent. REQUIRES: not called from the handler
  // or the authorizer (it would wait for itself).
  void Stop();

 private:
  struct Impl;
  explicit LinkListener(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry::link
