#include "ferry/client/api_client.h"

#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <fstream>

#include "ferry/base/net_address.h"

namespace ferry {
namespace {

constexpr char kTargetPrefix[] = "FmrsService";
constexpr char kService[] = "datasync";
constexpr char kContentType[] = "application/x-amz-json-1.1";

std::string Lower(std::string s) {
  for (char& c : s) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return s;
}

// AWS's error type: "com.amazon.coral.service#InvalidSignatureException" and
// the header's "InvalidSignatureException:http://..." are both
// "InvalidSignatureException".
std::string CleanType(std::string type) {
  if (size_t hash = type.rfind('#'); hash != std::string::npos) {
    type = type.substr(hash + 1);
  }
  if (size_t colon = type.find(':'); colon != std::string::npos) {
    type = type.substr(0, colon);
  }
  return type;
}

Status ErrorResponse(int http_status, const httplib::Response& response) {
  std::string type;
  std::string message;
  nlohmann::json body =
      nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_object()) {
    if (body.contains("__type") && body["__type"].is_string()) {
      type = body["__type"].get<std::string>();
    }
    for (const char* key : {"message", "Message"}) {
      if (body.contains(key) && body[key].is_string()) {
        message = body[key].get<std::string>();
        break;
      }
    }
  }
  if (type.empty() && response.has_header("x-amzn-ErrorType")) {
    type = response.get_header_value("x-amzn-ErrorType");
  }
  type = CleanType(type);
  if (type.empty()) type = "HTTP" + std::to_string(http_status);
  if (message.empty() && !body.is_object()) message = response.body;
  StatusCode code = StatusCode::kInvalidArgument;
  bool retryable = false;
  if (type == "ThrottlingException" || http_status == 429) {
    code = StatusCode::kResourceExhausted;
    retryable = true;
  } else if (http_status >= 500) {
    code = StatusCode::kUnavailable;
    retryable = true;
  } else if (http_status == 401 || http_status == 403) {
    code = StatusCode::kPermissionDenied;
  } else if (http_status == 404) {
    code = StatusCode::kNotFound;
  }
  return Status(code, type + ": " + message, 0, retryable);
}

}  // namespace

struct ApiClient::Connection {
  explicit Connection(const std::string& scheme_host_port)
      : client(scheme_host_port) {}
  httplib::Client client;
};

ApiClient::ApiClient(ApiClientOptions options,
                     std::unique_ptr<Connection> connection,
                     std::string host_header, std::string base_path)
    : options_(std::move(options)),
      connection_(std::move(connection)),
      endpoint_url_(options_.endpoint_url),
      host_header_(std::move(host_header)),
      base_path_(std::move(base_path)) {}

ApiClient::~ApiClient() = default;

Result<std::unique_ptr<ApiClient>> ApiClient::Create(ApiClientOptions options) {
  // "Invalid endpoint" as the aws CLI says it, then the URL and the reason.
  auto endpoint = ParseHttpUrl(options.endpoint_url);
  if (!endpoint.ok()) {
    return Status::InvalidArgument("Invalid endpoint: " +
                                   std::string(endpoint.status().message()));
  }
  if (!options.ca_bundle.empty() && !std::ifstream(options.ca_bundle)) {
    return Status::InvalidArgument("The CA bundle " + options.ca_bundle +
                                   " could not be read");
  }
  auto connection = std::make_unique<Connection>(endpoint->Origin());
  httplib::Client& client = connection->client;
  if (!client.is_valid()) {
    return Status::InvalidArgument("Invalid endpoint: " + options.endpoint_url);
  }
  client.set_connection_timeout(options.connect_timeout.count());
  client.set_read_timeout(options.read_timeout.count());
  client.set_write_timeout(options.read_timeout.count());
  client.set_keep_alive(true);
  // cpp-httplib writes a request's headers and its body in two writes: with
  // Nagle's algorithm the body waits for the server's delayed ACK of the
  // headers, about 40 ms on Linux, on every call.
  client.set_tcp_nodelay(true);
  if (endpoint->scheme == "https") {
    if (!options.ca_bundle.empty()) client.set_ca_cert_path(options.ca_bundle);
    client.enable_server_certificate_verification(options.verify_tls);
  }
  return std::unique_ptr<ApiClient>(
      new ApiClient(std::move(options), std::move(connection),
                    endpoint->HostHeader(), endpoint->path));
}

Result<std::string> ApiClient::CallRaw(std::string_view operation,
                                       std::string body) {
  SignableRequest request;
  request.method = "POST";
  request.path = base_path_ + "/";
  request.headers = {
      {"Host", host_header_},
      {"Content-Type", kContentType},
      {"X-Amz-Target",
       std::string(kTargetPrefix) + "." + std::string(operation)},
  };
  request.body = std::move(body);
  SignRequest(
      &request, options_.credentials, options_.region, kService,
      options_.clock ? options_.clock() : std::chrono::system_clock::now());

  httplib::Headers headers;
  for (const auto& [name, value] : request.headers) {
    // cpp-httplib sends the content type given with the body; a second
    // Content-Type header would change what was signed.
    if (Lower(name) == "content-type") continue;
    headers.emplace(name, value);
  }
  std::string url = endpoint_url_;
  httplib::Result result = connection_->client.Post(request.path, headers,
                                                    request.body, kContentType);
  if (!result) {
    httplib::Error error = result.error();
    switch (error) {
      case httplib::Error::SSLServerVerification:
        return Status(
            StatusCode::kUnavailable,
            "SSL validation failed for " + url + " certificate verify failed");
      case httplib::Error::Read:
        return Status(StatusCode::kUnavailable,
                      "Read timeout on endpoint URL: \"" + url + "\"", 0, true);
      case httplib::Error::Connection:
      case httplib::Error::ConnectionTimeout:
        return Status(StatusCode::kUnavailable,
                      "Could not connect to the endpoint URL: \"" + url + "\"",
                      0, true);
      default:
        return Status(
            StatusCode::kUnavailable,
            "Request to " + url + " failed: " + httplib::to_string(error), 0,
            true);
    }
  }
  if (result->status < 200 || result->status >= 300) {
    return ErrorResponse(result->status, *result);
  }
  return std::move(result->body);
}

Result<nlohmann::json> ApiClient::Call(std::string_view operation,
                                       const nlohmann::json& request) {
  FERRY_ASSIGN_OR_RETURN(
      std::string body,
      CallRaw(operation,
              request.dump(-1, ' ', false,
                           nlohmann::json::error_handler_t::replace)));
  if (body.empty()) return nlohmann::json::object();
  nlohmann::json response =
      nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (response.is_discarded()) {
    return Status(StatusCode::kDataLoss,
                  "The response to " + std::string(operation) +
                      " is not JSON: " + body.substr(0, 200));
  }
  return response;
}

ApiErrorParts ApiErrorOf(const Status& status) {
  std::string_view message = status.message();
  size_t colon = message.find(": ");
  if (colon != std::string_view::npos && colon > 0) {
    std::string_view type = message.substr(0, colon);
    bool word = std::isalpha(static_cast<unsigned char>(type.front())) &&
                std::all_of(type.begin(), type.end(), [](char c) {
                  return std::isalnum(static_cast<unsigned char>(c)) ||
                         c == '_' || c == '.';
                });
    if (word) {
      return {std::string(type), std::string(message.substr(colon + 2))};
    }
  }
  return {"", std::string(message)};
}

}  // namespace ferry
