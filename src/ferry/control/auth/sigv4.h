// AWS Signature Version 4 verification for the DataSync JSON API (the
// server). Signing, the credentials and the canonical pieces are in
// ferry/aws/sigv4.h (included here: the client commands sign with it).
// Stateless functions; thread-safe.
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

#include "ferry/aws/sigv4.h"
#include "ferry/base/status.h"
#include "ferry/control/model/api_model.h"

namespace ferry {

struct VerifiedCaller {
  std::string access_key_id;
  std::string region;  // from the credential scope
};

// Checks the Authorization header of `request`: algorithm, credential scope
// (service `service`), the signature over the signed headers (which must
// include host, x-amz-date, and every x-amz-* header and content-type the
// request carries: 403 InvalidSignatureException naming the unsigned ones
// otherwise), and a request time within `max_skew` of
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

}  // namespace ferry
