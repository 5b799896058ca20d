// HttpServer on its own, with a handler of the test's: what a request
// carries (the verified client certificate's common name and fingerprint,
// query parameters), and how connections share the cap.
#ifndef CPPHTTPLIB_OPENSSL_SUPPORT
#define CPPHTTPLIB_OPENSSL_SUPPORT
#endif
#include "ferry/control/server/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <csignal>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ferry/base/file_util.h"
#include "ferry/control/server/raw_socket_testing.h"
#include "ferry/pki/pki.h"

namespace ferry::control {
namespace {

using testing::ClosedByPeer;
using testing::Connect;

std::string TempDir() {
  std::string dir = ::testing::TempDir() + "ferry_http_server_test.XXXXXX";
  EXPECT_NE(mkdtemp(dir.data()), nullptr);
  return dir;
}

// SHA-256 of the certificate's DER, in lower-case hex, as OpenSSL computes
// it.
std::string Fingerprint(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (cert == nullptr) return "";
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  X509_digest(cert, EVP_sha256(), md, &n);
  X509_free(cert);
  std::string hex;
  char two[3];
  for (unsigned int i = 0; i < n; ++i) {
    std::snprintf(two, sizeof(two), "%02x", md[i]);
    hex += two;
  }
  return hex;
}

// An HttpServer on 127.0.0.1 port 0 whose handler answers with what the
// request carried.
class HttpServerTest : public ::testing::Test {
 protected:
  HttpServerTest() { std::signal(SIGPIPE, SIG_IGN); }

  // Without a handler: one that answers with what the request carried.
  void Start(HttpServerOptions options, HttpServer::Handler handler = nullptr) {
    options.listen = {"127.0.0.1", 0};
    if (!handler) {
      handler = [](HttpRequest& req) {
        HttpResponse res;
        res.content_type = "text/plain";
        res.body = req.peer.common_name + " " + req.peer.sha256_fingerprint +
                   " " + req.Query("key") + " " + req.Query("token");
        return res;
      };
    }
    auto server = HttpServer::Create(
        std::move(options),
        // Paths under /agent go to the agents' pool.
        [](std::string_view, std::string_view path, const PeerCertificate&) {
          HttpRoute route;
          route.max_body = 1024;
          if (path.rfind("/agent", 0) == 0)
            route.pool = HttpRoute::Pool::kAgent;
          return route;
        },
        std::move(handler),
        [](HttpRoute::Pool, int status, const std::string& message) {
          HttpResponse res;
          res.status = status;
          res.body = message;
          return res;
        });
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    thread_ = std::thread([this] {
      Status st = server_->Serve([this](int port) { port_ = port; });
      EXPECT_TRUE(st.ok()) << st.ToString();
    });
    for (int i = 0; i < 500 && port_ == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_NE(port_, 0);
  }

  void TearDown() override {
    if (server_) server_->Stop();
    if (thread_.joinable()) thread_.join();
  }

  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
  std::atomic<int> port_{0};
};

TEST_F(HttpServerTest, TheRequestCarriesTheVerifiedCertificate) {
  auto ca = pki::CreateAuthority("test CA", 1);
  ASSERT_TRUE(ca.ok());
  auto server_cert = pki::CreateServerCertificate(*ca, {"127.0.0.1"}, 1);
  ASSERT_TRUE(server_cert.ok());
  auto key = pki::CreateRequest("agent");
  ASSERT_TRUE(key.ok());
  auto client_cert = pki::SignClientRequest(*ca, key->request_pem,
                                            "agent-0123456789abcdefg", 1);
  ASSERT_TRUE(client_cert.ok());
  const std::string dir = TempDir();
  ASSERT_TRUE(
      WriteFileAtomically(dir + "/ca.pem", ca->certificate_pem, 0600).ok());
  ASSERT_TRUE(WriteFileAtomically(dir + "/c.pem", *client_cert, 0600).ok());
  ASSERT_TRUE(WriteFileAtomically(dir + "/c.key", key->key_pem, 0600).ok());

  HttpServerOptions options;
  options.cert_pem = server_cert->certificate_pem;
  options.key_pem = server_cert->key_pem;
  options.client_ca_pem = ca->certificate_pem;
  Start(options);

  const std::string url = "https://127.0.0.1:" + std::to_string(port_);
  httplib::Client with_cert(url, dir + "/c.pem", dir + "/c.key");
  with_cert.set_ca_cert_path(dir + "/ca.pem");
  with_cert.enable_server_certificate_verification(true);
  auto res = with_cert.Get("/x?key=A%2DB&token=x%2By");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->body, "agent-0123456789abcdefg " + Fingerprint(*client_cert) +
                           " A-B x+y");
  EXPECT_EQ(Fingerprint(*client_cert).size(), 64u);

  // Without a certificate: nothing verified.
  httplib::Client without(url);
  without.set_ca_cert_path(dir + "/ca.pem");
  without.enable_server_certificate_verification(true);
  res = without.Get("/x");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->body, "   ");
}

// At the cap, a new address gets its fair share: one connection of the
// address holding them all is closed to make room; that address gets no
// more.
TEST_F(HttpServerTest, AtTheCapANewAddressGetsItsFairShare) {
  HttpServerOptions options;
  options.limits.max_connections = 4;
  options.limits.max_connections_per_address = 4;
  Start(options);
  std::vector<int> hog;
  for (int i = 0; i < 4; ++i) {
    int fd = Connect(port_, "127.0.0.2");
    ASSERT_GE(fd, 0);
    hog.push_back(fd);
  }
  // Let the server accept them all before the newcomer.
  for (int i = 0; i < 500 && server_->stats().accepted < 4; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(server_->stats().accepted, 4u);

  int newcomer = Connect(port_, "127.0.0.3");
  ASSERT_GE(newcomer, 0);
  const std::string request = "GET /x HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(::send(newcomer, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  char buf[512];
  ssize_t n = ::recv(newcomer, buf, sizeof(buf), 0);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, static_cast<size_t>(n)).rfind("HTTP/1.1 200 ", 0),
            0u);
  int closed = 0;
  for (int i = 0; i < 1000 && closed == 0; ++i) {
    for (int fd : hog) {
      if (ClosedByPeer(fd, std::chrono::milliseconds(0))) ++closed;
    }
    if (closed == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(closed, 1);

  // The hog, at more than its share, is refused.
  int more = Connect(port_, "127.0.0.2");
  ASSERT_GE(more, 0);
  EXPECT_TRUE(ClosedByPeer(more, std::chrono::seconds(10)));
  const HttpServerStats stats = server_->stats();
  EXPECT_EQ(stats.evicted, 1u);
  EXPECT_EQ(stats.refused, 1u);
  ::close(more);
  ::close(newcomer);
  for (int fd : hog) ::close(fd);
}

std::string Exchange(int fd, const std::string& request) {
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    return "";
  }
  char buf[1024];
  ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

// Bodies being read at once share a budget: a body that would pass it is
// refused (503) before it is read, and what a finished request held is
// given back.
TEST_F(HttpServerTest, BodiesBeingReadShareABudget) {
  HttpServerOptions options;
  options.limits.max_body_bytes_in_flight = 1500;
  Start(options);
  int first = Connect(port_, "127.0.0.1");
  int second = Connect(port_, "127.0.0.1");
  ASSERT_GE(first, 0);
  ASSERT_GE(second, 0);
  const std::string head =
      "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n";
  ASSERT_EQ(::send(first, head.data(), head.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(head.size()));
  // The first reserves its 1000 bytes as soon as its headers are read
  // (counted just before).
  for (int i = 0; i < 1000 && server_->stats().requests < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  int probe = Connect(port_, "127.0.0.1");
  const std::string busy = Exchange(probe, head);
  ::close(probe);
  EXPECT_EQ(busy.rfind("HTTP/1.1 503 ", 0), 0u) << busy;
  EXPECT_EQ(Exchange(first, std::string(1000, 'b')).rfind("HTTP/1.1 200 ", 0),
            0u);
  // Given back: the second is served.
  EXPECT_EQ(
      Exchange(second, head + std::string(1000, 'b')).rfind("HTTP/1.1 200 ", 0),
      0u);
  ::close(first);
  ::close(second);
}

// A client that asks before sending its body is told to go on.
TEST_F(HttpServerTest, ExpectContinueIsAnswered) {
  Start(HttpServerOptions{});
  int fd = Connect(port_, "127.0.0.1");
  ASSERT_GE(fd, 0);
  EXPECT_EQ(Exchange(fd,
                     "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                     "Expect: 100-continue\r\n\r\n"),
            "HTTP/1.1 100 Continue\r\n\r\n");
  EXPECT_EQ(Exchange(fd, "body").rfind("HTTP/1.1 200 ", 0), 0u);
  ::close(fd);
}

// Agents' requests stuck in their handlers (every agent worker busy, more
// waiting) do not hold up the API's, and the other way round.
TEST_F(HttpServerTest, ApiAndAgentRequestsDoNotWaitForEachOther) {
  std::mutex mu;
  std::condition_variable cv;
  std::string stuck;  // GUARDED_BY(mu): the pool whose handlers wait
  int waiting = 0;    // GUARDED_BY(mu)
  HttpServerOptions options;
  options.limits.api_workers = 2;
  options.limits.agent_workers = 2;
  Start(options, [&](HttpRequest& req) {
    const std::string pool =
        req.Path().rfind("/agent", 0) == 0 ? "agent" : "api";
    std::unique_lock lock(mu);
    if (pool == stuck) {
      ++waiting;
      cv.notify_all();
      cv.wait(lock, [&] { return stuck.empty(); });
    }
    HttpResponse res;
    res.body = pool;
    return res;
  });
  for (const std::string& blocked : {"agent", "api"}) {
    SCOPED_TRACE(blocked + " handlers stuck");
    const std::string other = blocked == "agent" ? "api" : "agent";
    {
      std::lock_guard lock(mu);
      stuck = blocked;
      waiting = 0;
    }
    // Whatever happens below, the stuck handlers go (the server's stop
    // waits for them).
    struct Unstick {
      std::mutex& mu;
      std::condition_variable& cv;
      std::string& stuck;
      ~Unstick() {
        {
          std::lock_guard lock(mu);
          stuck.clear();
        }
        cv.notify_all();
      }
    } unstick{mu, cv, stuck};
    const std::string path = blocked == "agent" ? "/agent/sync" : "/";
    const std::string request =
        "POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";
    std::vector<int> fds;
    for (int i = 0; i < 3; ++i) {  // two workers busy, one waiting
      int fd = Connect(port_, "127.0.0.1");
      ASSERT_GE(fd, 0);
      ASSERT_EQ(::send(fd, request.data(), request.size(), MSG_NOSIGNAL),
                static_cast<ssize_t>(request.size()));
      fds.push_back(fd);
    }
    {
      std::unique_lock lock(mu);
      ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10),
                              [&] { return waiting == 2; }));
    }
    int fd = Connect(port_, "127.0.0.1");
    const std::string other_path = other == "agent" ? "/agent/sync" : "/";
    const std::string answer =
        Exchange(fd, "POST " + other_path +
                         " HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    ::close(fd);
    EXPECT_EQ(answer.rfind("HTTP/1.1 200 ", 0), 0u) << answer;
    EXPECT_TRUE(
        answer.size() >= other.size() &&
        answer.compare(answer.size() - other.size(), other.size(), other) == 0)
        << answer;
    {
      std::lock_guard lock(mu);
      stuck.clear();
    }
    cv.notify_all();
    char buf[512];
    for (int held : fds) {
      EXPECT_GT(::recv(held, buf, sizeof(buf), 0), 0);
      ::close(held);
    }
  }
}

}  // namespace
}  // namespace ferry::control
