#include "ferry/control/auth/sigv4.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <map>

#include "ferry/control/auth/sigv4_canonical.h"

namespace ferry {
namespace {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
         c == '\f';
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

std::string Hex(const unsigned char* data, size_t size) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (size_t i = 0; i < size; ++i) {
    out.push_back(kDigits[data[i] >> 4]);
    out.push_back(kDigits[data[i] & 0xF]);
  }
  return out;
}

std::string Hmac(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out,
       &size);
  return std::string(reinterpret_cast<const char*>(out), size);
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && HexValue(s[i + 1]) >= 0 &&
        HexValue(s[i + 2]) >= 0) {
      out.push_back(
          static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::vector<std::string_view> Split(std::string_view s, char separator) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t end = s.find(separator, start);
    if (end == std::string_view::npos) {
      parts.push_back(s.substr(start));
      return parts;
    }
    parts.push_back(s.substr(start, end - start));
    start = end + 1;
  }
}

ApiError Incomplete(std::string message) {
  return ApiError{400, "IncompleteSignatureException", std::move(message), ""};
}

ApiError Invalid(std::string message) {
  return ApiError{403, "InvalidSignatureException", std::move(message), ""};
}

}  // namespace

namespace sigv4 {

std::string FormatAmzDate(std::chrono::system_clock::time_point t) {
  std::time_t seconds = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof(buffer), "%Y%m%dT%H%M%SZ", &tm);
  return buffer;
}

std::optional<std::chrono::system_clock::time_point> ParseAmzDate(
    std::string_view text) {
  if (text.size() != 16 || text[8] != 'T' || text[15] != 'Z') {
    return std::nullopt;
  }
  auto number = [&](size_t pos, size_t len) -> int {
    int v = 0;
    for (size_t i = pos; i < pos + len; ++i) {
      if (text[i] < '0' || text[i] > '9') return -1;
      v = v * 10 + (text[i] - '0');
    }
    return v;
  };
  int year = number(0, 4), month = number(4, 2), day = number(6, 2);
  int hour = number(9, 2), minute = number(11, 2), second = number(13, 2);
  // A system_clock time point (int64 nanoseconds) ends in 2262: later years
  // would overflow it, and no request can be signed that far ahead anyway.
  if (year < 1970 || year > 2200 || month < 1 || month > 12 || day < 1 ||
      hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 ||
      second > 60) {
    return std::nullopt;
  }
  std::chrono::year_month_day ymd{
      std::chrono::year(year), std::chrono::month(static_cast<unsigned>(month)),
      std::chrono::day(static_cast<unsigned>(day))};
  if (!ymd.ok()) return std::nullopt;
  return std::chrono::sys_days(ymd) + std::chrono::hours(hour) +
         std::chrono::minutes(minute) + std::chrono::seconds(second);
}

std::string UriEncode(std::string_view s, bool keep_slash) {
  static const char kDigits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' ||
        (keep_slash && c == '/')) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kDigits[c >> 4]);
      out.push_back(kDigits[c & 0xF]);
    }
  }
  return out;
}

std::string CanonicalUri(std::string_view path) {
  if (path.empty()) return "/";
  std::vector<std::string_view> kept;
  for (std::string_view segment : Split(path, '/')) {
    if (segment.empty() || segment == ".") continue;
    if (segment == "..") {
      if (!kept.empty()) kept.pop_back();
      continue;
    }
    kept.push_back(segment);
  }
  std::string normalized = path.front() == '/' ? "/" : "";
  for (size_t i = 0; i < kept.size(); ++i) {
    if (i > 0) normalized += '/';
    normalized += kept[i];
  }
  if (path.back() == '/' && !kept.empty()) normalized += '/';
  return UriEncode(normalized, /*keep_slash=*/true);
}

std::string CanonicalQuery(std::string_view query) {
  if (query.empty()) return "";
  std::vector<std::pair<std::string, std::string>> params;
  for (std::string_view pair : Split(query, '&')) {
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string_view key = pair.substr(0, eq);
    std::string_view value =
        eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    params.emplace_back(UriEncode(PercentDecode(key), false),
                        UriEncode(PercentDecode(value), false));
  }
  std::sort(params.begin(), params.end());
  std::string out;
  for (size_t i = 0; i < params.size(); ++i) {
    if (i > 0) out += '&';
    out += params[i].first + "=" + params[i].second;
  }
  return out;
}

std::string CanonicalHeaders(const SignableRequest& request,
                             const std::vector<std::string>& signed_headers) {
  std::string out;
  for (const std::string& name : signed_headers) {
    std::string joined;
    bool first = true;
    for (const auto& [header, value] : request.headers) {
      if (!EqualsIgnoreCase(header, name)) continue;
      // Trimmed, runs of whitespace made one space.
      std::string clean;
      bool space = false;
      for (char c : Trim(value)) {
        if (IsSpace(c)) {
          space = true;
          continue;
        }
        if (space && !clean.empty()) clean.push_back(' ');
        space = false;
        clean.push_back(c);
      }
      if (!first) joined += ',';
      joined += clean;
      first = false;
    }
    out += name + ":" + joined + "\n";
  }
  return out;
}

std::string CanonicalRequest(const SignableRequest& request,
                             const std::vector<std::string>& signed_headers,
                             std::string_view signed_headers_text) {
  std::string out = request.method;
  out += '\n';
  out += CanonicalUri(request.path);
  out += '\n';
  out += CanonicalQuery(request.query);
  out += '\n';
  out += CanonicalHeaders(request, signed_headers);
  out += '\n';
  out += signed_headers_text;
  out += '\n';
  out += Sha256Hex(request.body);
  return out;
}

std::string StringToSign(std::string_view amz_date, std::string_view scope,
                         std::string_view canonical_request) {
  std::string out(kAlgorithm);
  out += '\n';
  out += amz_date;
  out += '\n';
  out += scope;
  out += '\n';
  out += Sha256Hex(canonical_request);
  return out;
}

std::string SigningKey(std::string_view secret, std::string_view date,
                       std::string_view region, std::string_view service) {
  std::string key = Hmac("AWS4" + std::string(secret), date);
  key = Hmac(key, region);
  key = Hmac(key, service);
  return Hmac(key, kTerminator);
}

std::string Signature(std::string_view signing_key,
                      std::string_view string_to_sign) {
  std::string mac = Hmac(signing_key, string_to_sign);
  return Hex(reinterpret_cast<const unsigned char*>(mac.data()), mac.size());
}

}  // namespace sigv4

std::optional<std::string> SignableRequest::Header(
    std::string_view name) const {
  for (const auto& [header, value] : headers) {
    if (EqualsIgnoreCase(header, name)) return value;
  }
  return std::nullopt;
}

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr);
  return Hex(digest, size);
}

void SignRequest(SignableRequest* request, const AwsCredentials& credentials,
                 std::string_view region, std::string_view service,
                 std::chrono::system_clock::time_point now) {
  auto& headers = request->headers;
  std::erase_if(headers, [](const auto& h) {
    return EqualsIgnoreCase(h.first, "Authorization") ||
           EqualsIgnoreCase(h.first, "X-Amz-Date") ||
           EqualsIgnoreCase(h.first, "X-Amz-Security-Token");
  });
  std::string amz_date = sigv4::FormatAmzDate(now);
  headers.emplace_back("X-Amz-Date", amz_date);
  if (!credentials.session_token.empty()) {
    headers.emplace_back("X-Amz-Security-Token", credentials.session_token);
  }
  std::vector<std::string> names;
  for (const auto& [name, value] : headers) names.push_back(Lower(name));
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  std::string signed_headers;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) signed_headers += ';';
    signed_headers += names[i];
  }
  std::string date = amz_date.substr(0, 8);
  std::string scope = date + "/" + std::string(region) + "/" +
                      std::string(service) + "/" +
                      std::string(sigv4::kTerminator);
  std::string canonical =
      sigv4::CanonicalRequest(*request, names, signed_headers);
  std::string signature = sigv4::Signature(
      sigv4::SigningKey(credentials.secret_access_key, date, region, service),
      sigv4::StringToSign(amz_date, scope, canonical));
  headers.emplace_back("Authorization",
                       std::string(sigv4::kAlgorithm) +
                           " Credential=" + credentials.access_key_id + "/" +
                           scope + ", SignedHeaders=" + signed_headers +
                           ", Signature=" + signature);
}

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
