#include "ferry/link/tls.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ferry/pki/pki.h"

namespace ferry::link {
namespace {

using std::chrono::milliseconds;

constexpr char kSenderArn[] =
    "arn:aws:datasync:us-east-1:123456789012:agent/agent-a";
constexpr char kExecution[] = "exec-0123456789abcdef0";

bool Contains(const Status& s, std::string_view text) {
  return s.message().find(text) != std::string_view::npos;
}

TlsIdentity MakeIdentity(const pki::KeyAndCertificate& authority,
                         const std::string& agent_id) {
  Result<pki::KeyAndRequest> request = pki::CreateRequest(agent_id);
  EXPECT_TRUE(request.ok()) << request.status().ToString();
  Result<std::string> cert = pki::SignClientRequest(
      authority, request->request_pem, agent_id, /*days=*/1);
  EXPECT_TRUE(cert.ok()) << cert.status().ToString();
  return TlsIdentity{*cert, request->key_pem, authority.certificate_pem};
}

std::vector<std::byte> Frame(FrameType type, uint32_t stream,
                             const std::vector<std::byte>& payload) {
  const auto header = EncodeHeader(
      FrameHeader{static_cast<uint32_t>(payload.size()), type, stream});
  std::vector<std::byte> out(header.begin(), header.end());
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

template <typename Message>
std::vector<std::byte> MessageFrame(uint32_t stream, const Message& msg) {
  std::vector<std::byte> out;
  Status s = AppendFrame(&out, stream, msg);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

// A plain TCP connection to the listener (no TLS), with a receive timeout
// so that a test that fails cannot hang.
int ConnectRaw(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0)
      << std::strerror(errno);
  timeval tv{60, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

// Reads until the peer closes (0) or the connection fails (-1 with errno).
ssize_t ReadToEnd(int fd) {
  char buf[4096];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return n;
  }
}

// A sender made by hand on OpenSSL, so that a test can send a HELLO with a
// proof of its own making: it computes proofs as docs/link.md says, and can
// send one connection's proof on another.
class RawSender {
 public:
  RawSender(int port, const TlsIdentity& identity) {
    fd_ = ConnectRaw(port);
    ctx_ = SSL_CTX_new(TLS_client_method());
    BIO* cert_bio = BIO_new_mem_buf(identity.certificate_pem.data(),
                                    identity.certificate_pem.size());
    X509* cert = PEM_read_bio_X509(cert_bio, nullptr, nullptr, nullptr);
    BIO_free(cert_bio);
    BIO* key_bio =
        BIO_new_mem_buf(identity.key_pem.data(), identity.key_pem.size());
    EVP_PKEY* key = PEM_read_bio_PrivateKey(key_bio, nullptr, nullptr, nullptr);
    BIO_free(key_bio);
    BIO* ca_bio = BIO_new_mem_buf(identity.authority_pem.data(),
                                  identity.authority_pem.size());
    X509* ca = PEM_read_bio_X509(ca_bio, nullptr, nullptr, nullptr);
    BIO_free(ca_bio);
    EXPECT_EQ(SSL_CTX_use_certificate(ctx_, cert), 1);
    EXPECT_EQ(SSL_CTX_use_PrivateKey(ctx_, key), 1);
    EXPECT_EQ(X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx_), ca), 1);
    X509_free(cert);
    EVP_PKEY_free(key);
    X509_free(ca);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    EXPECT_EQ(SSL_CTX_set_purpose(ctx_, X509_PURPOSE_SSL_CLIENT), 1);
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    connected_ = SSL_connect(ssl_) == 1;
    ERR_clear_error();
  }
  ~RawSender() {
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
    ::close(fd_);
  }

  bool connected() const { return connected_; }
  std::string cipher() const { return SSL_get_cipher_name(ssl_); }

  std::array<uint8_t, kLinkProofBytes> ProofFor(const std::string& secret) {
    unsigned char exported[32];
    EXPECT_EQ(SSL_export_keying_material(
                  ssl_, exported, sizeof(exported), kLinkExporterLabel.data(),
                  kLinkExporterLabel.size(), nullptr, 0, 0),
              1);
    std::array<uint8_t, kLinkProofBytes> proof{};
    unsigned int n = 0;
    HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), exported,
         sizeof(exported), proof.data(), &n);
    EXPECT_EQ(n, proof.size());
    return proof;
  }

  void Send(const std::vector<std::byte>& frame) {
    size_t written = 0;
    EXPECT_EQ(SSL_write_ex(ssl_, frame.data(), frame.size(), &written), 1);
  }

  // The next frame's header and payload.
  Result<FrameHeader> Receive(std::vector<std::byte>* payload) {
    std::array<std::byte, kFrameHeaderBytes> raw;
    if (!ReadExact(raw.data(), raw.size())) {
      return Status(StatusCode::kUnavailable, "raw sender: no frame");
    }
    FERRY_ASSIGN_OR_RETURN(FrameHeader header, DecodeHeader(raw));
    payload->resize(header.length);
    if (!ReadExact(payload->data(), payload->size())) {
      return Status(StatusCode::kUnavailable, "raw sender: short frame");
    }
    return header;
  }

 private:
  bool ReadExact(std::byte* data, size_t n) {
    size_t got = 0;
    while (got < n) {
      size_t r = 0;
      if (SSL_read_ex(ssl_, data + got, n - got, &r) != 1) {
        ERR_clear_error();
        return false;
      }
      got += r;
    }
    return true;
  }

  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  bool connected_ = false;
};

class LinkTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<pki::KeyAndCertificate> authority =
        pki::CreateAuthority("ferry agents", 1);
    ASSERT_TRUE(authority.ok()) << authority.status().ToString();
    authority_ = *authority;
    sender_ = MakeIdentity(authority_, "agent-a");
    receiver_ = MakeIdentity(authority_, "agent-b");
    secret_ = std::string("0123456789abcdef0123456789abcdef");
  }

  void TearDown() override { listener_.reset(); }

  ListenOptions Listen() {
    ListenOptions o;
    o.address = "127.0.0.1";
    o.port = 0;
    o.identity = receiver_;
    o.window = 1 << 20;
    o.on_refused = [this](const Status& s) {
      std::lock_guard lock(mu_);
      refusals_.push_back(s);
      cv_.notify_all();
    };
    return o;
  }

  void StartListener(ListenOptions o) {
    Result<std::unique_ptr<LinkListener>> listener = LinkListener::Start(
        std::move(o),
        [this](const Hello& hello, const std::string& peer) {
          return Authorize(hello, peer);
        },
        [this](std::unique_ptr<FrameStream> stream, const Hello& hello) {
          std::lock_guard lock(mu_);
          accepted_.emplace_back(std::move(stream), hello);
          cv_.notify_all();
        });
    ASSERT_TRUE(listener.ok()) << listener.status().ToString();
    listener_ = std::move(*listener);
  }

  Result<LinkGrant> Authorize(const Hello& hello, const std::string&) {
    if (hello.execution_id != kExecution) {
      return Status::NotFound("link: this agent serves no link for " +
                              hello.execution_id);
    }
    return LinkGrant{secret_, "agent-a"};
  }

  Hello BaseHello() const {
    Hello hello;
    hello.execution_id = kExecution;
    hello.sender_arn = kSenderArn;
    hello.connection_index = 0;
    hello.connection_count = 1;
    return hello;
  }

  DialOptions Dial() const {
    DialOptions d;
    d.host = "127.0.0.1";
    d.port = listener_->port();
    d.identity = sender_;
    d.receiver_agent_id = "agent-b";
    d.hello = BaseHello();
    d.secret = secret_;
    return d;
  }

  // The next connection the listener handed over (null after 30 s).
  std::unique_ptr<FrameStream> NextAccepted(Hello* hello = nullptr) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, std::chrono::seconds(30),
                      [this] { return !accepted_.empty(); })) {
      return nullptr;
    }
    auto [stream, h] = std::move(accepted_.front());
    accepted_.pop_front();
    if (hello != nullptr) *hello = h;
    return std::move(stream);
  }

  // The next refusal the listener reported (an OK status after 30 s).
  Status NextRefusal() {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, std::chrono::seconds(30),
                      [this] { return !refusals_.empty(); })) {
      return Status::Ok();
    }
    Status s = refusals_.front();
    refusals_.pop_front();
    return s;
  }

  size_t AcceptedCount() {
    std::lock_guard lock(mu_);
    return accepted_.size();
  }

  pki::KeyAndCertificate authority_;
  TlsIdentity sender_;
  TlsIdentity receiver_;
  std::string secret_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<std::unique_ptr<FrameStream>, Hello>> accepted_;
  std::deque<Status> refusals_;
  std::unique_ptr<LinkListener> listener_;  // last: stopped first
};

TEST_F(LinkTlsTest, GoodConnectionExchangesFramesBothWays) {
  StartListener(Listen());
  LinkAgreement agreed;
  agreed.version = 0;
  agreed.window = 0;
  Result<std::unique_ptr<FrameStream>> client = DialLink(Dial(), &agreed);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  EXPECT_EQ(agreed.version, kLinkVersion);
  EXPECT_EQ(agreed.window, uint64_t{1} << 20);
  Hello seen;
  std::unique_ptr<FrameStream> server = NextAccepted(&seen);
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(seen.execution_id, kExecution);
  EXPECT_EQ(seen.sender_arn, kSenderArn);
  EXPECT_EQ(seen.connection_count, 1u);
  EXPECT_NE((*client)->Describe().find("agent-b"), std::string::npos);
  EXPECT_NE(server->Describe().find("agent-a"), std::string::npos);

  std::vector<std::byte> payload;
  // Sender to receiver and back.
  ASSERT_TRUE((*client)->Send(MessageFrame(7, Ping{0x1122334455667788})).ok());
  Result<FrameHeader> h = server->Receive(&payload);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->type, FrameType::kPing);
  EXPECT_EQ(h->stream, 7u);
  ASSERT_TRUE(Ping::Decode(payload).ok());
  EXPECT_EQ(Ping::Decode(payload)->opaque, 0x1122334455667788u);
  ASSERT_TRUE(server->Send(MessageFrame(7, Pong{0x1122334455667788})).ok());
  h = (*client)->Receive(&payload);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->type, FrameType::kPong);
  EXPECT_EQ(Pong::Decode(payload)->opaque, 0x1122334455667788u);

  // Receiver to sender and back.
  ASSERT_TRUE(server->Send(MessageFrame(9, Ping{5})).ok());
  h = (*client)->Receive(&payload);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->type, FrameType::kPing);
  ASSERT_TRUE((*client)->Send(MessageFrame(9, Pong{5})).ok());
  h = server->Receive(&payload);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->type, FrameType::kPong);
  EXPECT_EQ(h->stream, 9u);
  EXPECT_EQ(Pong::Decode(payload)->opaque, 5u);

  // A goodbye reads as the end of the connection on the other side.
  (*client)->Close();
  h = server->Receive(&payload);
  EXPECT_EQ(h.status().code(), StatusCode::kUnavailable);
}

TEST_F(LinkTlsTest, LargeFramesFromSeveralSendersWhileReceiving) {
  StartListener(Listen());
  Result<std::unique_ptr<FrameStream>> dialed = DialLink(Dial());
  ASSERT_TRUE(dialed.ok()) << dialed.status().ToString();
  std::unique_ptr<FrameStream> client = std::move(*dialed);
  std::unique_ptr<FrameStream> server = NextAccepted();
  ASSERT_NE(server, nullptr);

  constexpr int kSenders = 2;
  constexpr int kFrames = 8;
  constexpr size_t kBytes = kMaxFramePayload;
  // The receiver echoes every frame.
  std::thread echo([&] {
    std::vector<std::byte> payload;
    for (int i = 0; i < kSenders * kFrames; ++i) {
      Result<FrameHeader> h = server->Receive(&payload);
      ASSERT_TRUE(h.ok()) << h.status().ToString();
      ASSERT_TRUE(server->Send(Frame(h->type, h->stream, payload)).ok());
    }
  });
  std::vector<std::thread> senders;
  for (int t = 0; t < kSenders; ++t) {
    senders.emplace_back([&, t] {
      for (int i = 0; i < kFrames; ++i) {
        std::vector<std::byte> payload(kBytes - static_cast<size_t>(i),
                                       std::byte(t * kFrames + i));
        ASSERT_TRUE(
            client
                ->Send(Frame(FrameType::kRequest,
                             static_cast<uint32_t>(t * 1000 + i), payload))
                .ok());
      }
    });
  }
  // Each sender's frames come back whole and in its order.
  std::vector<int> next(kSenders, 0);
  std::vector<std::byte> payload;
  for (int i = 0; i < kSenders * kFrames; ++i) {
    Result<FrameHeader> h = client->Receive(&payload);
    ASSERT_TRUE(h.ok()) << h.status().ToString();
    const int t = static_cast<int>(h->stream / 1000);
    const int n = static_cast<int>(h->stream % 1000);
    ASSERT_LT(t, kSenders);
    EXPECT_EQ(n, next[t]++);
    ASSERT_EQ(payload.size(), kBytes - static_cast<size_t>(n));
    const std::byte fill = std::byte(t * kFrames + n);
    EXPECT_EQ(std::count(payload.begin(), payload.end(), fill),
              static_cast<std::ptrdiff_t>(payload.size()));
  }
  for (std::thread& s : senders) s.join();
  echo.join();
}

TEST_F(LinkTlsTest, ClientOfAnotherAuthorityIsRefused) {
  StartListener(Listen());
  Result<pki::KeyAndCertificate> other = pki::CreateAuthority("other", 1);
  ASSERT_TRUE(other.ok());
  DialOptions d = Dial();
  d.identity = MakeIdentity(*other, "agent-a");
  d.identity.authority_pem = authority_.certificate_pem;
  Result<std::unique_ptr<FrameStream>> client = DialLink(d);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), StatusCode::kPermissionDenied)
      << client.status().ToString();
  EXPECT_TRUE(Contains(client.status(), "refused this agent's certificate"))
      << client.status().ToString();
  Status refusal = NextRefusal();
  EXPECT_EQ(refusal.code(), StatusCode::kPermissionDenied)
      << refusal.ToString();
  EXPECT_TRUE(Contains(refusal, "not an agent certificate"))
      << refusal.ToString();
  EXPECT_EQ(AcceptedCount(), 0u);
}

TEST_F(LinkTlsTest, ReceiverOfAnotherAuthorityIsRefused) {
  Result<pki::KeyAndCertificate> other = pki::CreateAuthority("other", 1);
  ASSERT_TRUE(other.ok());
  ListenOptions o = Listen();
  o.identity = MakeIdentity(*other, "agent-b");
  o.identity.authority_pem = authority_.certificate_pem;
  StartListener(o);
  Result<std::unique_ptr<FrameStream>> client = DialLink(Dial());
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), StatusCode::kPermissionDenied)
      << client.status().ToString();
  EXPECT_TRUE(Contains(client.status(), "not an agent certificate"))
      << client.status().ToString();
}

// The purpose check (tls.cc): a server certificate of the same authority,
// even one naming the expected agent, is not an agent's.
TEST_F(LinkTlsTest, ServerCertificateIsNotAnAgentCertificate) {
  Result<pki::KeyAndCertificate> server_cert =
      pki::CreateServerCertificate(authority_, {"agent-b"}, 1);
  ASSERT_TRUE(server_cert.ok()) << server_cert.status().ToString();
  ListenOptions o = Listen();
  o.identity = TlsIdentity{server_cert->certificate_pem, server_cert->key_pem,
                           authority_.certificate_pem};
  StartListener(o);
  Result<std::unique_ptr<FrameStream>> client = DialLink(Dial());
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), StatusCode::kPermissionDenied);
  EXPECT_TRUE(Contains(client.status(), "certificate purpose"))
      << client.status().ToString();
}

TEST_F(LinkTlsTest, ClientThatIsNotTheSenderIsRefusedNamingBoth) {
  StartListener(Listen());
  DialOptions d = Dial();
  d.identity = MakeIdentity(authority_, "agent-c");
  d.hello.sender_arn = "arn:aws:datasync:us-east-1:123456789012:agent/agent-c";
  Result<std::unique_ptr<FrameStream>> client = DialLink(d);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), StatusCode::kPermissionDenied);
  EXPECT_TRUE(Contains(client.status(),
                       "peer certificate is for agent-c, this execution's "
                       "sender is agent-a"))
      << client.status().ToString();
  Status refusal = NextRefusal();
  EXPECT_TRUE(Contains(refusal, "peer certificate is for agent-c"))
      << refusal.ToString();
  EXPECT_EQ(AcceptedCount(), 0u);
}

TEST_F(LinkTlsTest, HelloNamingAnotherSenderIsRefused) {
  StartListener(Listen());
  DialOptions d = Dial();
  d.hello.sender_arn = "arn:aws:datasync:us-east-1:123456789012:agent/agent-z";
  Result<std::unique_ptr<FrameStream>> client = DialLink(d);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), StatusCode::kPermissionDenied);
  EXPECT_TRUE(Contains(client.status(),
                       "agent/agent-z, but the peer "
                       "certificate is for agent-a"))
      << client.status().ToString();
}

TEST_F(LinkTlsTest, WrongProofIsRefused) {
  StartListener(Listen());
  DialOptions d = Dial();
  d.secret = std::string(32, 'x');
  Result<std::unique_ptr<FrameStream>> client = DialLink(d);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), StatusCode::kPermissionDenied);
  EXPECT_TRUE(Contains(client.status(), "wrong link proof"))
      << client.status().ToString();
  EXPECT_TRUE(Contains(NextRefusal(), "wrong link proof"));
  EXPECT_EQ(AcceptedCount(), 0u);
}

TEST_F(LinkTlsTest, AuthorizerRefusalReachesTheSender) {
  StartListener(Listen());
  DialOptions d = Dial();
  d.hello.execution_id = "exec-unknown";
  Result<std::unique_ptr<FrameStream>> client = DialLink(d);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(Contains(client.status(), "serves no link for exec-unknown"))
      << client.status().ToString();
}

TEST_F(LinkTlsTest, ProofReplayedOnAnotherConnectionIsRefused) {
  StartListener(Listen());
  // The proof as docs/link.md defines it opens the first connection...
  RawSender first(listener_->port(), sender_);
  ASSERT_TRUE(first.connected());
  Hello hello = BaseHello();
  hello.proof = first.ProofFor(secret_);
  first.Send(MessageFrame(0, hello));
  std::vector<std::byte> payload;
  Result<FrameHeader> h = first.Receive(&payload);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->type, FrameType::kHelloOk);
  ASSERT_NE(NextAccepted(), nullptr);

  // ...and not a second one.
  RawSender second(listener_->port(), sender_);
  ASSERT_TRUE(second.connected());
  second.Send(MessageFrame(0, hello));
  h = second.Receive(&payload);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  ASSERT_EQ(h->type, FrameType::kError);
  Result<ErrorFrame> error = ErrorFrame::Decode(payload);
  ASSERT_TRUE(error.ok());
  EXPECT_EQ(error->status.code(), StatusCode::kPermissionDenied);
  EXPECT_TRUE(Contains(error->status, "wrong link proof"))
      << error->status.ToString();
  EXPECT_TRUE(Contains(NextRefusal(), "wrong link proof"));
  EXPECT_EQ(AcceptedCount(), 0u);
}

TEST_F(LinkTlsTest, ReceiverChoosesAes128GcmOverASendersDefaults) {
  StartListener(Listen());
  // OpenSSL's own client puts AES-256-GCM first; the link, which encrypts
  // every byte it carries, takes the faster AES-128-GCM.
  RawSender raw(listener_->port(), sender_);
  ASSERT_TRUE(raw.connected());
  EXPECT_EQ(raw.cipher(), "TLS_AES_128_GCM_SHA256");
}

TEST_F(LinkTlsTest, ReceiverThatIsNotTheExpectedAgentIsRefused) {
  StartListener(Listen());
  DialOptions d = Dial();
  d.receiver_agent_id = "agent-q";
  Result<std::unique_ptr<FrameStream>> client = DialLink(d);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), StatusCode::kPermissionDenied);
  EXPECT_TRUE(Contains(client.status(),
                       "presents a certificate for agent-b, this execution's "
                       "receiver is agent-q"))
      << client.status().ToString();
  // The receiver hears why, and hands nothing over.
  EXPECT_TRUE(Contains(NextRefusal(), "receiver is agent-q"));
  EXPECT_EQ(AcceptedCount(), 0u);
}

TEST_F(LinkTlsTest, SilentClientIsDroppedAfterTheHandshakeTimeout) {
  ListenOptions o = Listen();
  o.handshake_timeout = milliseconds(200);
  StartListener(o);
  const int fd = ConnectRaw(listener_->port());
  EXPECT_EQ(ReadToEnd(fd), 0) << std::strerror(errno);
  ::close(fd);
  Status refusal = NextRefusal();
  EXPECT_TRUE(Contains(refusal, "timed out")) << refusal.ToString();
}

TEST_F(LinkTlsTest, VersionsWithoutOverlapGetAnErrorNamingBoth) {
  ListenOptions o = Listen();
  o.lowest_version = 3;
  o.highest_version = 4;
  StartListener(o);
  Result<std::unique_ptr<FrameStream>> client = DialLink(Dial());
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), StatusCode::kNotSupported);
  EXPECT_TRUE(Contains(client.status(),
                       "the sender speaks 1..2, this "
                       "receiver 3..4"))
      << client.status().ToString();
}

TEST_F(LinkTlsTest, HighestCommonVersionIsChosen) {
  ListenOptions o = Listen();
  o.lowest_version = 1;
  o.highest_version = 3;
  StartListener(o);
  DialOptions d = Dial();
  d.hello.lowest_version = 1;
  d.hello.highest_version = 2;
  LinkAgreement agreed;
  Result<std::unique_ptr<FrameStream>> client = DialLink(d, &agreed);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  EXPECT_EQ(agreed.version, 2);
  // Both ends write their statuses in the version agreed.
  EXPECT_EQ((*client)->link_version(), 2);
  std::unique_ptr<FrameStream> server = NextAccepted(nullptr);
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(server->link_version(), 2);
}

// A sender of version 1 (before statuses carried their retryable flag) and
// this build's receiver agree on 1.
TEST_F(LinkTlsTest, AVersion1SenderIsAnsweredInVersion1) {
  StartListener(Listen());
  DialOptions d = Dial();
  d.hello.lowest_version = 1;
  d.hello.highest_version = 1;
  LinkAgreement agreed;
  Result<std::unique_ptr<FrameStream>> client = DialLink(d, &agreed);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  EXPECT_EQ(agreed.version, 1);
  EXPECT_EQ((*client)->link_version(), 1);
  std::unique_ptr<FrameStream> server = NextAccepted(nullptr);
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(server->link_version(), 1);
}

TEST_F(LinkTlsTest, GarbageDoesNotStopTheListener) {
  ListenOptions o = Listen();
  o.handshake_timeout = milliseconds(500);  // for the one-byte "record"
  StartListener(o);
  for (const std::string& garbage :
       {std::string("GET / HTTP/1.1\r\nHost: agent-b\r\n\r\n"),
        std::string("\x16\x03\x01\xff\xff", 5) + std::string(5000, '\xee'),
        std::string(1, '\0')}) {
    const int fd = ConnectRaw(listener_->port());
    ASSERT_EQ(::send(fd, garbage.data(), garbage.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(garbage.size()));
    EXPECT_LE(ReadToEnd(fd), 0);
    ::close(fd);
    EXPECT_FALSE(NextRefusal().ok());
  }
  Result<std::unique_ptr<FrameStream>> client = DialLink(Dial());
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  EXPECT_NE(NextAccepted(), nullptr);
}

TEST_F(LinkTlsTest, CloseUnblocksReceiveInAnotherThread) {
  StartListener(Listen());
  Result<std::unique_ptr<FrameStream>> client = DialLink(Dial());
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  std::unique_ptr<FrameStream> server = NextAccepted();
  ASSERT_NE(server, nullptr);
  Status received;
  std::thread reader([&] {
    std::vector<std::byte> payload;
    received = (*client)->Receive(&payload).status();
  });
  std::this_thread::sleep_for(milliseconds(50));  // most likely blocked now
  (*client)->Close();
  reader.join();
  EXPECT_EQ(received.code(), StatusCode::kUnavailable) << received.ToString();
  EXPECT_EQ((*client)->Send(MessageFrame(1, Ping{1})).code(),
            StatusCode::kUnavailable);
  (*client)->Close();  // idempotent
}

TEST_F(LinkTlsTest, HandshakesBeyondTheLimitAreRefused) {
  ListenOptions o = Listen();
  o.max_handshakes = 1;
  o.handshake_timeout = std::chrono::seconds(60);
  StartListener(o);
  const int silent = ConnectRaw(listener_->port());
  Result<std::unique_ptr<FrameStream>> refused = DialLink(Dial());
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable)
      << refused.status().ToString();
  Status refusal = NextRefusal();
  EXPECT_EQ(refusal.code(), StatusCode::kResourceExhausted)
      << refusal.ToString();
  // Once the silent one is gone, its place is free again.
  ::close(silent);
  Result<std::unique_ptr<FrameStream>> client = DialLink(Dial());
  for (int i = 0; i < 200 && !client.ok(); ++i) {
    std::this_thread::sleep_for(milliseconds(50));
    client = DialLink(Dial());
  }
  EXPECT_TRUE(client.ok()) << client.status().ToString();
}

TEST_F(LinkTlsTest, StopAbortsHandshakesInProgress) {
  ListenOptions o = Listen();
  o.handshake_timeout = std::chrono::seconds(60);
  StartListener(o);
  const int silent = ConnectRaw(listener_->port());
  listener_->Stop();
  errno = 0;
  const ssize_t n = ReadToEnd(silent);
  EXPECT_LE(n, 0);
  if (n < 0) EXPECT_NE(errno, EAGAIN) << "the connection was not closed";
  ::close(silent);
  listener_->Stop();  // idempotent
}

TEST_F(LinkTlsTest, OptionsAreChecked) {
  StartListener(Listen());
  DialOptions d = Dial();
  d.secret = "short";
  EXPECT_EQ(DialLink(d).status().code(), StatusCode::kInvalidArgument);
  d = Dial();
  d.port = 0;
  EXPECT_EQ(DialLink(d).status().code(), StatusCode::kInvalidArgument);
  d = Dial();
  d.hello.connection_count = 0;
  EXPECT_EQ(DialLink(d).status().code(), StatusCode::kInvalidArgument);
  d = Dial();
  d.identity.key_pem = "not a key";
  EXPECT_EQ(DialLink(d).status().code(), StatusCode::kFailedPrecondition);

  ListenOptions o = Listen();
  o.window = 1;
  EXPECT_TRUE(Contains(o.Validate(), "window"));
  o = Listen();
  o.lowest_version = 2;
  o.highest_version = 1;
  EXPECT_FALSE(o.Validate().ok());
  o = Listen();
  o.identity.authority_pem.clear();
  EXPECT_EQ(LinkListener::Start(
                o,
                [](const Hello&, const std::string&) -> Result<LinkGrant> {
                  return LinkGrant{};
                },
                [](std::unique_ptr<FrameStream>, const Hello&) {})
                .status()
                .code(),
            StatusCode::kFailedPrecondition);
}

TEST(LinkTlsArnTest, AgentIdIsTheLastPathComponent) {
  EXPECT_EQ(AgentIdOfArn(kSenderArn), "agent-a");
  EXPECT_EQ(AgentIdOfArn("agent-a"), "");
  EXPECT_EQ(AgentIdOfArn("arn:aws:datasync:r:1:agent/"), "");
}

}  // namespace
}  // namespace ferry::link
