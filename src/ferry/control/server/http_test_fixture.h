// The fixture of the HTTP layer's tests (server_http_test.cc,
// server_limits_test.cc): `server init` makes a data directory and a Server
// serves it on 127.0.0.1 port 0 in a thread of its own; requests are signed
// with SigV4 as the aws CLI signs them.
#pragma once

#ifndef CPPHTTPLIB_OPENSSL_SUPPORT
#define CPPHTTPLIB_OPENSSL_SUPPORT
#endif
#include <gtest/gtest.h>
#include <httplib.h>
#include <stdlib.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include "ferry/control/auth/sigv4.h"
#include "ferry/control/server/data_dir.h"
#include "ferry/control/server/server.h"

namespace ferry::control {

inline std::string TempDir() {
  std::string dir = ::testing::TempDir() + "ferry_http_test.XXXXXX";
  EXPECT_NE(mkdtemp(dir.data()), nullptr);
  return dir;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

inline bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// The access key in DIR/credentials.
inline AwsCredentials ReadCredentials(const std::string& dir) {
  AwsCredentials c;
  std::istringstream in(ReadFile(dir + "/credentials"));
  std::string line;
  while (std::getline(in, line)) {
    auto value = [&](const std::string& key) {
      return line.rfind(key + " = ", 0) == 0 ? line.substr(key.size() + 3) : "";
    };
    if (auto v = value("aws_access_key_id"); !v.empty()) c.access_key_id = v;
    if (auto v = value("aws_secret_access_key"); !v.empty()) {
      c.secret_access_key = v;
    }
  }
  return c;
}

// A server on 127.0.0.1 port 0, serving in a thread of its own.
class HttpTest : public ::testing::Test {
 protected:
  using json = nlohmann::json;

  // The clients here (cpp-httplib over OpenSSL) write to their sockets
  // without MSG_NOSIGNAL: one the server has closed (a refused client
  // certificate, which TLS 1.3 reports after the client's handshake is
  // done) would raise SIGPIPE. ferry's main() ignores it; so do the tests.
  HttpTest() { std::signal(SIGPIPE, SIG_IGN); }

  void Start(bool tls, const std::string& db = "") {
    dir_ = TempDir() + "/data";
    InitOptions init;
    init.data_dir = dir_;
    init.db = db;
    Status st = InitDataDir(init);
    ASSERT_TRUE(st.ok()) << st.ToString();
    credentials_ = ReadCredentials(dir_);
    tls_ = tls;
    ServerConfig config;
    config.data_dir = dir_;
    config.listen = "127.0.0.1:0";
    config.plain_http = !tls;
    config.tick = std::chrono::milliseconds(50);
    config.http = limits_;
    config.activation = activation_limits_;
    auto server = Server::Open(config);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);
    thread_ = std::thread([this] {
      Status served = server_->Serve();
      EXPECT_TRUE(served.ok()) << served.ToString();
    });
    for (int i = 0; i < 500 && server_->port() == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_NE(server_->port(), 0);
  }

  void TearDown() override {
    if (server_) server_->Stop();
    if (thread_.joinable()) thread_.join();
    server_.reset();
  }

  std::unique_ptr<httplib::Client> Client(const std::string& cert = "",
                                          const std::string& key = "") {
    std::unique_ptr<httplib::Client> c;
    if (tls_) {
      c = cert.empty()
              ? std::make_unique<httplib::Client>(
                    "https://127.0.0.1:" + std::to_string(server_->port()))
              : std::make_unique<httplib::Client>(
                    "https://127.0.0.1:" + std::to_string(server_->port()),
                    cert, key);
      c->set_ca_cert_path(dir_ + "/ca.pem");
      c->enable_server_certificate_verification(true);
    } else {
      c = std::make_unique<httplib::Client>("http://127.0.0.1:" +
                                            std::to_string(server_->port()));
    }
    c->set_read_timeout(std::chrono::seconds(10));
    return c;
  }

  struct Reply {
    int status = 0;
    json body;
    std::string request_id;
    std::string content_type;
  };

  // A request as the aws CLI sends it: SigV4 over content-type, host,
  // x-amz-date and x-amz-target. `tamper` changes it after signing.
  Reply Call(const std::string& target, const std::string& body,
             const AwsCredentials& credentials,
             std::chrono::system_clock::time_point when =
                 std::chrono::system_clock::now(),
             const std::function<void(SignableRequest&)>& tamper = nullptr) {
    SignableRequest r;
    r.method = "POST";
    r.path = "/";
    r.headers = {{"Host", "127.0.0.1:" + std::to_string(server_->port())},
                 {"Content-Type", "application/x-amz-json-1.1"},
                 {"X-Amz-Target", target}};
    r.body = body;
    if (!credentials.access_key_id.empty()) {
      SignRequest(&r, credentials, "ferry-local", "datasync", when);
    }
    if (tamper) tamper(r);
    httplib::Headers headers;
    for (const auto& [k, v] : r.headers) {
      if (k != "Content-Type") headers.emplace(k, v);
    }
    auto res =
        Client()->Post("/", headers, r.body, "application/x-amz-json-1.1");
    Reply reply;
    if (!res) {
      ADD_FAILURE() << "no answer: " << httplib::to_string(res.error());
      return reply;
    }
    reply.status = res->status;
    reply.body = json::parse(res->body, nullptr, false);
    reply.request_id = res->get_header_value("x-amzn-RequestId");
    reply.content_type = res->get_header_value("Content-Type");
    return reply;
  }

  Reply Api(const std::string& op, const json& body = json::object()) {
    return Call("FmrsService." + op, body.dump(), credentials_);
  }

  json Ok(const std::string& op, const json& body = json::object()) {
    Reply r = Api(op, body);
    EXPECT_EQ(r.status, 200) << op << ": " << r.body.dump();
    return r.body;
  }

  std::string dir_;
  HttpLimits limits_;                   // what Start() serves with
  ActivationLimits activation_limits_;  // for the server Start() opens
  bool tls_ = false;
  AwsCredentials credentials_;
  std::unique_ptr<Server> server_;
  std::thread thread_;
};

}  // namespace ferry::control
