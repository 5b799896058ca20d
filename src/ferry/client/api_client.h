// ApiClient: calls the DataSync JSON 1.1 API of a ferry server (or anything
// that speaks it): POST / with X-Amz-Target: FmrsService.<Operation>, a JSON
// body, signed with SigV4 (service "datasync"), over HTTP or HTTPS
// (cpp-httplib with OpenSSL; a CA bundle file, or the system's trust store).
// An ApiClient keeps one connection to its endpoint; it is not thread-safe:
// use one per thread.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "ferry/base/status.h"
#include "ferry/control/auth/sigv4.h"

namespace ferry {

struct ApiClientOptions {
  std::string endpoint_url;  // http(s)://host[:port][/path]
  std::string ca_bundle;     // PEM file; empty: the system's trust store
  bool verify_tls = true;
  AwsCredentials credentials;
  std::string region = "ferry-local";
  std::chrono::seconds connect_timeout{60};  // the aws CLI's defaults
  std::chrono::seconds read_timeout{60};
  // The signing time (tests); default: the system clock.
  std::function<std::chrono::system_clock::time_point()> clock;
};

class ApiClient {
 public:
  // Fails on a malformed endpoint URL or an unreadable CA bundle.
  static Result<std::unique_ptr<ApiClient>> Create(ApiClientOptions options);
  ~ApiClient();

  // Calls `operation` with `request` (an object) and returns the response
  // body. An error response becomes a Status whose message is
  // "<__type>: <message>" (see ApiErrorOf) and whose code follows the HTTP
  // status (400 InvalidArgument, 403 PermissionDenied, 404 NotFound, 5xx
  // Unavailable and retryable; ThrottlingException ResourceExhausted and
  // retryable); a connection failure is Unavailable.
  Result<nlohmann::json> Call(std::string_view operation,
                              const nlohmann::json& request);
  // The same with the bodies as text (the client commands print the
  // response in the server's member order).
  Result<std::string> CallRaw(std::string_view operation, std::string body);

  const std::string& endpoint_url() const { return endpoint_url_; }

 private:
  struct Connection;
  ApiClient(ApiClientOptions options, std::unique_ptr<Connection> connection,
            std::string host_header, std::string base_path);

  ApiClientOptions options_;
  std::unique_ptr<Connection> connection_;
  std::string endpoint_url_;
  std::string host_header_;
  std::string base_path_;
};

// The error type and message of a Status that ApiClient::Call returned for
// an error response ({"", message} for other statuses).
struct ApiErrorParts {
  std::string type;
  std::string message;
};
ApiErrorParts ApiErrorOf(const Status& status);

}  // namespace ferry
