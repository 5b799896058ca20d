#include "ferry/aws/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <map>

#include "ferry/aws/sigv4_canonical.h"
#include "ferry/base/hex.h"
#include "ferry/base/percent.h"

namespace ferry {
namespace {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string Hex(const unsigned char* data, size_t size) {
  return LowerHex(data, size);
}

std::string Hmac(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out,
       &size);
  return std::string(reinterpret_cast<const char*>(out), size);
}

}  // namespace

namespace sigv4 {

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
  return PercentEncode(s, keep_slash);
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

namespace {

std::string CanonicalRequestWith(const SignableRequest& request,
                                 std::string_view canonical_uri,
                                 const std::vector<std::string>& signed_headers,
                                 std::string_view signed_headers_text,
                                 std::string_view payload_hash) {
  std::string out = request.method;
  out += '\n';
  out += canonical_uri;
  out += '\n';
  out += CanonicalQuery(request.query);
  out += '\n';
  out += CanonicalHeaders(request, signed_headers);
  out += '\n';
  out += signed_headers_text;
  out += '\n';
  out += payload_hash;
  return out;
}

}  // namespace

std::string CanonicalRequest(const SignableRequest& request,
                             const std::vector<std::string>& signed_headers,
                             std::string_view signed_headers_text) {
  return CanonicalRequestWith(request, CanonicalUri(request.path),
                              signed_headers, signed_headers_text,
                              Sha256Hex(request.body));
}

std::string S3CanonicalRequest(const SignableRequest& request,
                               const std::vector<std::string>& signed_headers,
                               std::string_view signed_headers_text,
                               std::string_view payload_hash) {
  return CanonicalRequestWith(
      request, request.path.empty() ? std::string_view("/") : request.path,
      signed_headers, signed_headers_text, payload_hash);
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

namespace {

// Signs `request` for `service`: replaces the authentication headers, adds
// `extra` ones, signs every header present.
template <typename Canonicalize>
void Sign(SignableRequest* request, const AwsCredentials& credentials,
          std::string_view region, std::string_view service,
          std::chrono::system_clock::time_point now,
          std::vector<std::pair<std::string, std::string>> extra,
          const Canonicalize& canonicalize) {
  auto& headers = request->headers;
  std::erase_if(headers, [&](const auto& h) {
    if (EqualsIgnoreCase(h.first, "Authorization") ||
        EqualsIgnoreCase(h.first, "X-Amz-Date") ||
        EqualsIgnoreCase(h.first, "X-Amz-Security-Token")) {
      return true;
    }
    for (const auto& [name, value] : extra) {
      if (EqualsIgnoreCase(h.first, name)) return true;
    }
    return false;
  });
  std::string amz_date = sigv4::FormatAmzDate(now);
  headers.emplace_back("X-Amz-Date", amz_date);
  for (auto& header : extra) headers.push_back(std::move(header));
  if (!credentials.session_token.empty()) {
    headers.emplace_back("X-Amz-Security-Token", credentials.session_token);
  }
  std::vector<std::string> names;
  for (const auto& [name, value] : headers) names.push_back(sigv4::Lower(name));
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
  std::string canonical = canonicalize(*request, names, signed_headers);
  std::string signature = sigv4::Signature(
      sigv4::SigningKey(credentials.secret_access_key, date, region, service),
      sigv4::StringToSign(amz_date, scope, canonical));
  headers.emplace_back("Authorization",
                       std::string(sigv4::kAlgorithm) +
                           " Credential=" + credentials.access_key_id + "/" +
                           scope + ", SignedHeaders=" + signed_headers +
                           ", Signature=" + signature);
}

}  // namespace

void SignRequest(SignableRequest* request, const AwsCredentials& credentials,
                 std::string_view region, std::string_view service,
                 std::chrono::system_clock::time_point now) {
  Sign(request, credentials, region, service, now, {},
       [](const SignableRequest& r, const std::vector<std::string>& names,
          std::string_view text) {
         return sigv4::CanonicalRequest(r, names, text);
       });
}

void SignS3Request(SignableRequest* request, const AwsCredentials& credentials,
                   std::string_view region, std::string_view payload_hash,
                   std::chrono::system_clock::time_point now) {
  Sign(request, credentials, region, "s3", now,
       {{"X-Amz-Content-Sha256", std::string(payload_hash)}},
       [&](const SignableRequest& r, const std::vector<std::string>& names,
           std::string_view text) {
         return sigv4::S3CanonicalRequest(r, names, text, payload_hash);
       });
}

}  // namespace ferry
