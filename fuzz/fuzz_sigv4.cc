// Fuzzes VerifyRequest, the server's check of the SigV4 Authorization header
// on every API call, against a key store holding one access key, at a fixed
// time (2024-01-01T00:00:00Z). The input is an HTTP request, one field per
// line:
//
//   METHOD
//   PATH[?QUERY]
//   Name: value        (headers, one a line, up to an empty line; blanks
//                      around the value dropped, as HTTP servers do)
//   ...
//
//   BODY               (everything after the empty line)
//
// The verdict on the request as given must be well formed: a caller with the
// known key and a valid region, or a 400/403 error of one of SigV4's types
// with a message. Then the same request (its header names reduced to those
// HTTP allows) is signed with SignRequest under the known key at the fixed
// time: it must verify, and must not once its body changes, under another
// secret, or 16 minutes later.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "ferry/control/auth/sigv4.h"

namespace {

using std::chrono::system_clock;

constexpr char kAccessKey[] = "AKIDFERRYFUZZ";
constexpr char kSecret[] = "fuzz/Secret+Key";
constexpr char kRegion[] = "ferry-local";
constexpr char kService[] = "datasync";

std::optional<std::string> SecretFor(std::string_view key) {
  if (key == kAccessKey) return std::string(kSecret);
  return std::nullopt;
}

std::optional<std::string> OtherSecretFor(std::string_view key) {
  if (key == kAccessKey) return std::string("another secret");
  return std::nullopt;
}

// Takes the text up to the next '\n' (all of it if none).
std::string_view TakeLine(std::string_view* rest) {
  size_t nl = rest->find('\n');
  std::string_view line = rest->substr(0, nl);
  rest->remove_prefix(nl == std::string_view::npos ? rest->size() : nl + 1);
  return line;
}

// RFC 9110 token characters: what an HTTP server passes on as a header name.
bool IsToken(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        (c >= '0' && c <= '9')) {
      continue;
    }
    if (std::string_view("!#$%&'*+-.^_`|~").find(c) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

bool IsValidRegion(std::string_view region) {
  if (region.empty()) return false;
  for (char c : region) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '-')) {
      return false;
    }
  }
  return true;
}

void CheckVerdict(
    const std::variant<ferry::VerifiedCaller, ferry::ApiError>& v) {
  if (const auto* caller = std::get_if<ferry::VerifiedCaller>(&v)) {
    if (caller->access_key_id != kAccessKey) std::abort();
    if (!IsValidRegion(caller->region)) std::abort();
    return;
  }
  const ferry::ApiError& e = std::get<ferry::ApiError>(v);
  if (e.message.empty()) std::abort();
  if (e.type == "MissingAuthenticationTokenException" ||
      e.type == "IncompleteSignatureException") {
    if (e.http_status != 400) std::abort();
  } else if (e.type == "InvalidSignatureException" ||
             e.type == "UnrecognizedClientException") {
    if (e.http_status != 403) std::abort();
  } else {
    std::abort();
  }
}

bool IsError(const std::variant<ferry::VerifiedCaller, ferry::ApiError>& v,
             std::string_view type) {
  const auto* e = std::get_if<ferry::ApiError>(&v);
  return e != nullptr && e->type == type && !e->message.empty();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  // 2024-01-01T00:00:00Z.
  const system_clock::time_point now{std::chrono::seconds(1704067200)};

  ferry::SignableRequest request;
  request.method = std::string(TakeLine(&rest));
  std::string_view target = TakeLine(&rest);
  size_t q = target.find('?');
  request.path = std::string(target.substr(0, q));
  if (q != std::string_view::npos) request.query = target.substr(q + 1);
  while (!rest.empty()) {
    std::string_view line = TakeLine(&rest);
    if (line.empty()) break;
    size_t colon = line.find(':');
    std::string_view name = line.substr(0, colon);
    std::string_view value = colon == std::string_view::npos
                                 ? std::string_view()
                                 : line.substr(colon + 1);
    // The optional whitespace around a value is not part of it (RFC 9110).
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
      value.remove_prefix(1);
    }
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) {
      value.remove_suffix(1);
    }
    request.headers.emplace_back(name, value);
  }
  request.body = std::string(rest);

  CheckVerdict(ferry::VerifyRequest(request, kService, SecretFor, now));

  // The same request, signed properly.
  std::erase_if(request.headers,
                [](const auto& h) { return !IsToken(h.first); });
  if (!request.Header("Host")) {
    request.headers.emplace_back("Host", "127.0.0.1:8443");
  }
  ferry::SignRequest(&request, {kAccessKey, kSecret, ""}, kRegion, kService,
                     now);
  auto verified = ferry::VerifyRequest(request, kService, SecretFor, now);
  const auto* caller = std::get_if<ferry::VerifiedCaller>(&verified);
  if (caller == nullptr || caller->access_key_id != kAccessKey ||
      caller->region != kRegion) {
    std::abort();
  }
  // Within the allowed skew either way, but not beyond it.
  if (!std::holds_alternative<ferry::VerifiedCaller>(ferry::VerifyRequest(
          request, kService, SecretFor, now + std::chrono::minutes(15)))) {
    std::abort();
  }
  if (!IsError(ferry::VerifyRequest(request, kService, SecretFor,
                                    now + std::chrono::minutes(16)),
               "InvalidSignatureException")) {
    std::abort();
  }
  if (!IsError(ferry::VerifyRequest(request, kService, OtherSecretFor, now),
               "InvalidSignatureException")) {
    std::abort();
  }
  if (!IsError(ferry::VerifyRequest(request, "s3", SecretFor, now),
               "InvalidSignatureException")) {
    std::abort();
  }
  request.body.push_back('x');
  if (!IsError(ferry::VerifyRequest(request, kService, SecretFor, now),
               "InvalidSignatureException")) {
    std::abort();
  }
  return 0;
}
