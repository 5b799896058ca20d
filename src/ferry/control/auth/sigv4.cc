#include "ferry/control/auth/sigv4.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <cctype>
#include <map>

#include "ferry/aws/sigv4_canonical.h"

namespace ferry {
namespace {

using sigv4::IsSpace;
using sigv4::Lower;
using sigv4::Split;
using sigv4::Trim;

ApiError Incomplete(std::string message) {
  return ApiError{400, "IncompleteSignatureException", std::move(message), ""};
}

ApiError Invalid(std::string message) {
  return ApiError{403, "InvalidSignatureException", std::move(message), ""};
}

}  // namespace

std::variant<VerifiedCaller, ApiError> VerifyRequest(
    const SignableRequest& request, std::string_view service,
    const std::function<
        std::optional<std::string>(std::string_view access_key_id)>& secret_for,
    std::chrono::system_clock::time_point now, std::chrono::seconds max_skew) {
  std::optional<std::string> header = request.Header("Authorization");
  if (!header) {
    return ApiError{400, "MissingAuthenticationTokenException",
                    "Missing Authentication Token", ""};
  }
  const std::string& authorization = *header;
  std::string_view text = Trim(authorization);
  size_t space = text.find(' ');
  std::string_view algorithm = text.substr(0, space);
  std::string_view rest =
      space == std::string_view::npos ? std::string_view() : text.substr(space);
  if (algorithm != sigv4::kAlgorithm) {
    if (algorithm.starts_with("AWS4-")) {
      return Incomplete("Unsupported AWS 'algorithm': '" +
                        std::string(algorithm) + "'");
    }
    rest = text;  // not SigV4 at all: report the missing parameters
  }

  // Credential=..., SignedHeaders=..., Signature=...
  std::map<std::string, std::string, std::less<>> params;
  if (algorithm == sigv4::kAlgorithm) {
    // Pairs are separated by commas and/or whitespace.
    std::vector<std::string_view> parts;
    size_t start = std::string_view::npos;
    for (size_t i = 0; i <= rest.size(); ++i) {
      bool separator = i == rest.size() || rest[i] == ',' || IsSpace(rest[i]);
      if (separator && start != std::string_view::npos) {
        parts.push_back(rest.substr(start, i - start));
        start = std::string_view::npos;
      } else if (!separator && start == std::string_view::npos) {
        start = i;
      }
    }
    for (std::string_view part : parts) {
      size_t eq = part.find('=');
      if (eq == std::string_view::npos) {
        return Incomplete("'" + std::string(part) +
                          "' not a valid key=value pair (missing equal-sign) "
                          "in Authorization header: '" +
                          authorization + "'.");
      }
      params[std::string(part.substr(0, eq))] =
          std::string(part.substr(eq + 1));
    }
  }
  std::optional<std::string> amz_date_header = request.Header("X-Amz-Date");
  std::string missing;
  for (const char* name : {"Credential", "Signature", "SignedHeaders"}) {
    auto it = params.find(name);
    if (it == params.end() || it->second.empty()) {
      missing += "Authorization header requires '" + std::string(name) +
                 "' parameter. ";
    }
  }
  if (!amz_date_header) {
    missing +=
        "Authorization header requires existence of either a 'X-Amz-Date' or "
        "a 'Date' header. ";
  }
  if (!missing.empty()) {
    return Incomplete(missing + "Authorization=" + authorization);
  }
  const std::string& credential = params["Credential"];
  const std::string& signed_headers_text = params["SignedHeaders"];
  const std::string& signature = params["Signature"];

  std::vector<std::string_view> scope = Split(credential, '/');
  if (scope.size() != 5) {
    return Incomplete(
        "Credential must have exactly 5 slash-delimited elements, e.g. "
        "keyid/date/region/service/term, got '" +
        credential + "'");
  }
  std::string_view access_key = scope[0], scope_date = scope[1],
                   region = scope[2], scope_service = scope[3],
                   terminator = scope[4];
  const std::string& amz_date = *amz_date_header;
  std::optional<std::chrono::system_clock::time_point> request_time =
      sigv4::ParseAmzDate(amz_date);
  if (!request_time) {
    return Incomplete("Date must be in ISO-8601 'basic format'. Got '" +
                      amz_date +
                      "'. See http://en.wikipedia.org/wiki/ISO_8601");
  }
  if (terminator != sigv4::kTerminator) {
    return Invalid(
        "Credential should be scoped with a valid terminator: "
        "'aws4_request', not '" +
        std::string(terminator) + "'. ");
  }
  if (scope_service != service) {
    return Invalid("Credential should be scoped to correct service: '" +
                   std::string(service) + "'. ");
  }
  bool region_ok =
      !region.empty() && std::all_of(region.begin(), region.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-';
      });
  if (!region_ok) {
    return Invalid("Credential should be scoped to a valid region, not '" +
                   std::string(region) + "'. ");
  }
  if (scope_date != std::string_view(amz_date).substr(0, 8)) {
    return Invalid(
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 "
        "version of date from HTTP: '" +
        std::string(scope_date) + "' != '" + amz_date.substr(0, 8) +
        "', from '" + amz_date + "'.");
  }
  std::vector<std::string> signed_headers;
  for (std::string_view name : Split(signed_headers_text, ';')) {
    signed_headers.push_back(Lower(name));
  }
  auto is_signed = [&](std::string_view name) {
    return std::find(signed_headers.begin(), signed_headers.end(), name) !=
           signed_headers.end();
  };
  if (!is_signed("host")) {
    return Incomplete(
        "'Host' or ':authority' must be a 'SignedHeader' in the AWS "
        "Authorization.");
  }
  if (!is_signed("x-amz-date")) {
    return Incomplete(
        "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.");
  }
  // As AWS does: every x-amz-* header and Content-Type the request carries
  // is signed, else a captured request could be replayed with another
  // X-Amz-Target (operation) or security token.
  std::string unsigned_headers;
  for (const auto& [name, value] : request.headers) {
    std::string lower = Lower(name);
    bool must_sign = lower.starts_with("x-amz-") || lower == "content-type";
    if (must_sign && !is_signed(lower) &&
        unsigned_headers.find("'" + name + "'") == std::string::npos) {
      if (!unsigned_headers.empty()) unsigned_headers += ", ";
      unsigned_headers += "'" + name + "'";
    }
  }
  if (!unsigned_headers.empty()) {
    return Invalid(
        "There were headers present in the request which were not signed: " +
        unsigned_headers +
        ". Every 'X-Amz-*' header and 'Content-Type' must be a "
        "'SignedHeader' in the AWS Authorization.");
  }

  std::optional<std::string> secret = secret_for(access_key);
  if (!secret) {
    return ApiError{403, "UnrecognizedClientException",
                    "The security token included in the request is invalid.",
                    ""};
  }

  std::string skew_text =
      std::to_string(
          std::chrono::duration_cast<std::chrono::minutes>(max_skew).count()) +
      " min.";
  if (*request_time < now - max_skew) {
    return Invalid("Signature expired: " + amz_date + " is now earlier than " +
                   sigv4::FormatAmzDate(now - max_skew) + " (" +
                   sigv4::FormatAmzDate(now) + " - " + skew_text + ")");
  }
  if (*request_time > now + max_skew) {
    return Invalid("Signature not yet current: " + amz_date +
                   " is still later than " +
                   sigv4::FormatAmzDate(now + max_skew) + " (" +
                   sigv4::FormatAmzDate(now) + " + " + skew_text + ")");
  }

  std::string canonical =
      sigv4::CanonicalRequest(request, signed_headers, signed_headers_text);
  std::string string_to_sign = sigv4::StringToSign(
      amz_date,
      std::string(scope_date) + "/" + std::string(region) + "/" +
          std::string(scope_service) + "/" + std::string(terminator),
      canonical);
  std::string expected = sigv4::Signature(
      sigv4::SigningKey(*secret, scope_date, region, scope_service),
      string_to_sign);
  bool match =
      signature.size() == expected.size() &&
      CRYPTO_memcmp(signature.data(), expected.data(), expected.size()) == 0;
  if (!match) {
    return Invalid(
        "The request signature we calculated does not match the signature "
        "you provided. Check your AWS Secret Access Key and signing method. "
        "Consult the service documentation for details.\n\nThe Canonical "
        "String for this request should have been\n'" +
        canonical + "'\n\nThe String-to-Sign should have been\n'" +
        string_to_sign + "'\n");
  }
  return VerifiedCaller{std::string(access_key), std::string(region)};
}

}  // namespace ferry
