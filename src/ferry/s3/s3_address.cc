#include "ferry/s3/s3_address.h"

#include "ferry/aws/sigv4_canonical.h"
#include "ferry/s3/s3_types.h"

namespace ferry {
namespace {

bool IsIpLiteral(std::string_view host) {
  if (host.find(':') != std::string_view::npos) return true;  // IPv6
  for (char c : host) {
    if ((c < '0' || c > '9') && c != '.') return false;
  }
  return !host.empty();
}

bool IsDnsLabelBucket(std::string_view bucket, bool allow_dots) {
  if (bucket.size() < 3 || bucket.size() > 63) return false;
  for (char c : bucket) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
              (allow_dots && c == '.');
    if (!ok) return false;
  }
  return bucket.front() != '-' && bucket.back() != '-' &&
         bucket.front() != '.' && bucket.back() != '.' &&
         bucket.find("..") == std::string_view::npos;
}

}  // namespace

Result<S3Endpoint> ParseS3Endpoint(std::string_view url,
                                   std::string_view region,
                                   S3Addressing addressing) {
  std::string text(url);
  if (text.empty()) {
    if (region.empty()) {
      return Status::InvalidArgument("S3 needs an endpoint URL or a region");
    }
    text = "https://s3." + std::string(region) + ".amazonaws.com";
  }
  Result<HttpUrl> parsed = ParseHttpUrl(text);
  if (!parsed.ok()) {
    return parsed.status().WithContext("S3 endpoint URL");
  }
  S3Endpoint endpoint{std::move(*parsed), addressing};
  if (addressing == S3Addressing::kVirtualHosted &&
      IsIpLiteral(endpoint.url.address.host)) {
    return Status::InvalidArgument(
        "S3 endpoint " + text +
        ": virtual-hosted addressing needs a host name, not an IP address");
  }
  return endpoint;
}

Status ValidateBucketName(std::string_view bucket) {
  bool ok = bucket.size() >= 3 && bucket.size() <= 63;
  for (char c : bucket) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_');
  }
  ok = ok && bucket.front() != '.' && bucket.front() != '-' &&
       bucket.back() != '.' && bucket.back() != '-';
  if (!ok) {
    return Status::InvalidArgument(
        "invalid S3 bucket name '" + std::string(bucket.substr(0, 80)) +
        "': 3 to 63 letters, digits, '-', '.' or '_', not starting or ending "
        "with '-' or '.'");
  }
  return Status::Ok();
}

Status ValidateObjectKey(std::string_view key) {
  if (key.empty() || key.size() > kS3MaxKeyBytes) {
    return Status::InvalidArgument("invalid S3 object key: it must be 1 to " +
                                   std::to_string(kS3MaxKeyBytes) +
                                   " bytes long, not " +
                                   std::to_string(key.size()));
  }
  return Status::Ok();
}

bool UsesVirtualHost(const S3Endpoint& endpoint, std::string_view bucket) {
  switch (endpoint.addressing) {
    case S3Addressing::kPath:
      return false;
    case S3Addressing::kVirtualHosted:
      return !bucket.empty();
    case S3Addressing::kAuto: {
      const std::string& host = endpoint.url.address.host;
      const bool aws =
          host == "amazonaws.com" || host.ends_with(".amazonaws.com");
      // A dotted bucket name breaks the wildcard certificate over https.
      return aws && !bucket.empty() &&
             IsDnsLabelBucket(bucket, endpoint.url.scheme == "http");
    }
  }
  return false;
}

S3Target BuildS3Target(
    const S3Endpoint& endpoint, std::string_view bucket, std::string_view key,
    const std::vector<std::pair<std::string, std::string>>& query) {
  S3Target t;
  const HttpUrl& url = endpoint.url;
  HostPort host = url.address;
  t.path = url.path;
  if (UsesVirtualHost(endpoint, bucket)) {
    host.host = std::string(bucket) + "." + host.host;
  } else if (!bucket.empty()) {
    t.path += "/" + sigv4::UriEncode(bucket, false);
  }
  t.path += "/";
  t.path += sigv4::UriEncode(key, /*keep_slash=*/true);
  for (size_t i = 0; i < query.size(); ++i) {
    if (i > 0) t.query += '&';
    t.query += sigv4::UriEncode(query[i].first, false) + "=" +
               sigv4::UriEncode(query[i].second, false);
  }
  t.host_header = host.UrlHost();
  if (!url.default_port) t.host_header += ":" + std::to_string(host.port);
  t.url = url.scheme + "://" + t.host_header + t.path;
  if (!t.query.empty()) t.url += "?" + t.query;
  return t;
}

std::string S3Uri(std::string_view bucket, std::string_view key) {
  std::string out = "s3://" + std::string(bucket);
  if (!key.empty()) out += "/" + std::string(key);
  return out;
}

}  // namespace ferry
