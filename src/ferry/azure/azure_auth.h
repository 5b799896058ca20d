// How a request to Azure Blob Storage is authorized: Shared Key (an
// HMAC-SHA256 of the request with the account key) or a SAS token (query
// parameters the account owner signed). Pure functions; thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ferry/base/status.h"

namespace ferry {

// The REST API version ferry speaks (x-ms-version).
inline constexpr std::string_view kAzureApiVersion = "2021-08-06";

using AzureParams = std::vector<std::pair<std::string, std::string>>;

// A request as Shared Key signs it. `path` is the URL path as sent
// (percent-encoded, starting with '/'; with Azurite's path-style addressing
// it starts with the account); `query` holds decoded names and values.
struct AzureSignable {
  std::string method;
  std::string path;
  AzureParams query;
  AzureParams headers;  // names in any case; Content-Length as sent
};

// The Authorization header's value: "SharedKey ACCOUNT:SIGNATURE" over the
// string to sign of the Blob service (version 2009-09-19 and later).
// `key` is the account key as Azure shows it (base64); InvalidArgument if
// it is not base64.
Result<std::string> SharedKeyAuthorization(std::string_view account,
                                           std::string_view key,
                                           const AzureSignable& request);

// The string Shared Key signs (for tests and messages).
std::string SharedKeyStringToSign(std::string_view account,
                                  const AzureSignable& request);

// An x-ms-date value: "Sat, 05 Dec 2026 17:00:00 GMT".
std::string AzureDate(std::chrono::system_clock::time_point t);

// Percent-encodes a blob name for a URL path: all but unreserved
// characters and '/'.
std::string AzureEncodePath(std::string_view s);
// Percent-encodes a query value: all but unreserved characters.
std::string AzureEncodeQuery(std::string_view s);

// A SAS token as given (with or without a leading '?'): its parameters,
// checked to be "name=value" pairs of URL-safe characters, bounded (8 KiB),
// with a signature (sig). InvalidArgument saying what is wrong, never
// repeating the token.
Result<std::string> NormalizeSasToken(std::string_view token);

// The permissions a SAS token grants (its "sp", e.g. "racwdl"); "" when
// it names none.
std::string SasPermissions(std::string_view token);
// Its expiry ("se": "2026-12-06T17:00:00Z" or "2026-12-06", decoded) as
// seconds since the epoch; nullopt when it has none ferry can read.
std::optional<int64_t> SasExpiry(std::string_view token);

}  // namespace ferry
