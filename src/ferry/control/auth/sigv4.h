// AWS Signature Version 4 for the DataSync JSON API: signing (the client
// commands) and verification (the server). The canonical request, string to
// sign and key derivation follow AWS's documentation; HMAC-SHA256 and SHA-256
// come from OpenSSL. Stateless functions; thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "ferry/base/status.h"
#include "ferry/control/model/api_model.h"

namespace ferry {

struct AwsCredentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // optional
};

// An HTTP request as far as signing is concerned. Header names are matched
// case-insensitively.
struct SignableRequest {
  std::string method = "POST";
  std::string path = "/";  // as sent, percent-encoded
  std::string query;       // as sent, without '?'
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  std::optional<std::string> Header(std::string_view name) const;
};

// Adds X-Amz-Date, X-Amz-Security-Token (if any) and Authorization, signing
// every header present (Host must be there).
void SignRequest(SignableRequest* request, const AwsCredentials& credentials,
                 std::string_view region, std::string_view service,
                 std::chrono::system_clock::time_point now);

struct VerifiedCaller {
  std::string access_key_id;
  std::string region;  // from the credential scope
};

// Checks the Authorization header of `request`: algorithm, credential scope
// (service `service`), the signature over the signed headers (which must
// include host and x-amz-date), and a request time within `max_skew` of
// `now`. `secret_for` returns the secret of an access key, or nullopt for an
// unknown one. On failure returns the error to send: 403
// UnrecognizedClientException (unknown key), 403 InvalidSignatureException
// (bad signature, or signature expired), 400/403
// MissingAuthenticationTokenException / IncompleteSignatureException
// (missing or malformed header), worded as AWS words them.
std::variant<VerifiedCaller, ApiError> VerifyRequest(
    const SignableRequest& request, std::string_view service,
    const std::function<
        std::optional<std::string>(std::string_view access_key_id)>& secret_for,
    std::chrono::system_clock::time_point now,
    std::chrono::seconds max_skew = std::chrono::minutes(15));

// Lower-case hex SHA-256 (the payload hash).
std::string Sha256Hex(std::string_view data);

}  // namespace ferry
