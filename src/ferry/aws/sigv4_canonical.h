// The pieces of AWS Signature Version 4 that SignRequest, SignS3Request and
// the server's VerifyRequest (control/auth) share, exposed for tests (AWS's
// published vectors check each step). Pure functions; thread-safe.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/aws/sigv4.h"

namespace ferry::sigv4 {

inline constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
inline constexpr std::string_view kTerminator = "aws4_request";

// Text helpers of header handling: ASCII lower case, the whitespace HTTP
// allows around a value (space, \t, \n, \r, \v, \f), and trimming it.
std::string Lower(std::string_view s);
bool IsSpace(char c);
std::string_view Trim(std::string_view s);
// `s` cut at every `separator` (empty parts kept).
std::vector<std::string_view> Split(std::string_view s, char separator);

// "20150830T123600Z" (UTC) and back; nullopt unless exactly that form.
std::string FormatAmzDate(std::chrono::system_clock::time_point t);
std::optional<std::chrono::system_clock::time_point> ParseAmzDate(
    std::string_view text);

// AWS's UriEncode: every byte but A-Z a-z 0-9 - . _ ~ as %XX (upper-case
// hex); '/' too unless `keep_slash`.
std::string UriEncode(std::string_view s, bool keep_slash);

// The path with "." and ".." segments and empty segments removed (as
// botocore does), then URI-encoded again with '/' kept: the path as sent is
// already encoded once, and services other than S3 sign it encoded twice.
std::string CanonicalUri(std::string_view path);

// Parameters decoded, re-encoded with UriEncode and sorted by name, then
// value.
std::string CanonicalQuery(std::string_view query);

// "name:value\n" for each of `signed_headers` (lower case, in the given
// order); a value is trimmed, its runs of whitespace made one space, and
// the values of a repeated header joined with ','.
std::string CanonicalHeaders(const SignableRequest& request,
                             const std::vector<std::string>& signed_headers);

std::string CanonicalRequest(const SignableRequest& request,
                             const std::vector<std::string>& signed_headers,
                             std::string_view signed_headers_text);

// S3's canonical request: the path as sent ("/" if empty) and the given
// payload hash (the body is not read).
std::string S3CanonicalRequest(const SignableRequest& request,
                               const std::vector<std::string>& signed_headers,
                               std::string_view signed_headers_text,
                               std::string_view payload_hash);

std::string StringToSign(std::string_view amz_date, std::string_view scope,
                         std::string_view canonical_request);

// HMAC-SHA256 chain from "AWS4" + secret over date, region, service and
// "aws4_request"; 32 raw bytes.
std::string SigningKey(std::string_view secret, std::string_view date,
                       std::string_view region, std::string_view service);

// Lower-case hex HMAC-SHA256 of `string_to_sign` under `signing_key`.
std::string Signature(std::string_view signing_key,
                      std::string_view string_to_sign);

}  // namespace ferry::sigv4
