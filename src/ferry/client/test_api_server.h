// TestApiServer: a tiny DataSync-style endpoint for the client tests. It
// checks each request's signature with VerifyRequest (service "datasync",
// the keys given), records it, and answers with `respond` (default: echo
// the body with 200). Plain HTTP on 127.0.0.1, or HTTPS with a given
// certificate. Requests are handled on the server's threads; the recorded
// ones are guarded by a mutex.
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "ferry/control/auth/sigv4.h"

namespace ferry {

struct RecordedRequest {
  std::string target;  // X-Amz-Target
  std::string content_type;
  std::string authorization;
  std::string body;
};

struct TestResponse {
  int status = 200;
  std::string body;
  std::string content_type = "application/x-amz-json-1.1";
};

// Access key -> secret.
using KeySecrets = std::map<std::string, std::string>;

class TestApiServer {
 public:
  using Responder = std::function<TestResponse(const RecordedRequest&)>;

  // HTTPS if both paths are given.
  explicit TestApiServer(KeySecrets secrets, const std::string& cert_path = "",
                         const std::string& key_path = "")
      : secrets_(std::move(secrets)) {
    if (!cert_path.empty()) {
      server_ = std::make_unique<httplib::SSLServer>(cert_path.c_str(),
                                                     key_path.c_str());
      scheme_ = "https";
    } else {
      server_ = std::make_unique<httplib::Server>();
    }
    server_->Post("/", [this](const httplib::Request& req,
                              httplib::Response& res) { Handle(req, res); });
    port_ = server_->bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    // Connections queue on the bound socket already; this only makes a
    // listener that failed to start fail the test rather than hang it.
    const auto until =
        std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!server_->is_running()) {
      if (port_ < 0 || std::chrono::steady_clock::now() > until) {
        ADD_FAILURE() << "the test API server did not start (port " << port_
                      << ")";
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  TestApiServer(const TestApiServer&) = delete;
  TestApiServer& operator=(const TestApiServer&) = delete;

  ~TestApiServer() {
    server_->stop();
    thread_.join();
  }

  std::string url() const {
    return scheme_ + "://127.0.0.1:" + std::to_string(port_);
  }
  int port() const { return port_; }

  void set_responder(Responder respond) {
    std::lock_guard<std::mutex> lock(mu_);
    respond_ = std::move(respond);
  }

  std::vector<RecordedRequest> requests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }
  RecordedRequest last() const {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_.empty() ? RecordedRequest{} : requests_.back();
  }

 private:
  void Handle(const httplib::Request& req, httplib::Response& res) {
    SignableRequest signable;
    signable.method = req.method;
    signable.path = req.path;
    for (const auto& [name, value] : req.headers) {
      signable.headers.emplace_back(name, value);
    }
    signable.body = req.body;
    auto verified = VerifyRequest(
        signable, "datasync",
        [this](std::string_view key) -> std::optional<std::string> {
          auto it = secrets_.find(std::string(key));
          if (it == secrets_.end()) return std::nullopt;
          return it->second;
        },
        std::chrono::system_clock::now());
    if (const ApiError* error = std::get_if<ApiError>(&verified)) {
      res.status = error->http_status;
      res.set_content(error->ToJson().dump(), "application/x-amz-json-1.1");
      return;
    }
    RecordedRequest recorded{req.get_header_value("X-Amz-Target"),
                             req.get_header_value("Content-Type"),
                             req.get_header_value("Authorization"), req.body};
    Responder respond;
    {
      std::lock_guard<std::mutex> lock(mu_);
      requests_.push_back(recorded);
      respond = respond_;
    }
    TestResponse response =
        respond ? respond(recorded) : TestResponse{200, recorded.body};
    res.status = response.status;
    res.set_content(response.body, response.content_type.c_str());
  }

  std::map<std::string, std::string> secrets_;
  std::unique_ptr<httplib::Server> server_;
  std::string scheme_ = "http";
  int port_ = 0;
  std::thread thread_;
  mutable std::mutex mu_;
  Responder respond_;
  std::vector<RecordedRequest> requests_;
};

}  // namespace ferry
