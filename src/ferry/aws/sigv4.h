// AWS Signature Version 4 signing, shared by every AWS protocol ferry speaks:
// the DataSync JSON API (the client commands; the server verifies with
// control/auth) and S3. The canonical request, string to sign and key
// derivation follow AWS's documentation; HMAC-SHA256 and SHA-256 come from
// OpenSSL. Stateless functions; thread-safe.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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
// every header present (Host must be there). The path is normalized and
// signed encoded twice, as every service but S3 expects.
void SignRequest(SignableRequest* request, const AwsCredentials& credentials,
                 std::string_view region, std::string_view service,
                 std::chrono::system_clock::time_point now);

// The payload hash S3 accepts for a body it should not check.
inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";

// S3's variant (service "s3"): the path is signed exactly as sent (no
// normalization, no second encoding: each segment is encoded once by the
// caller), and X-Amz-Content-Sha256 carries `payload_hash` (lower-case hex
// SHA-256 of the body, or kUnsignedPayload), which S3 checks against the
// body; `request->body` is not read, so large bodies need not be copied into
// it. Adds X-Amz-Date, X-Amz-Content-Sha256, X-Amz-Security-Token (if any)
// and Authorization, signing every header present (Host must be there).
void SignS3Request(SignableRequest* request, const AwsCredentials& credentials,
                   std::string_view region, std::string_view payload_hash,
                   std::chrono::system_clock::time_point now);

// Lower-case hex SHA-256 (the payload hash).
std::string Sha256Hex(std::string_view data);

}  // namespace ferry
