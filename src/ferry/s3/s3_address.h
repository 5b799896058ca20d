// Where an S3 request goes: the endpoint, path-style or virtual-hosted
// addressing, and the URL, Host header and signed path of a bucket + key +
// query. Keys are encoded here, once, segment by segment (AWS's UriEncode,
// '/' kept), and the same text is sent and signed. Pure functions;
// thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ferry/base/net_address.h"
#include "ferry/base/status.h"

namespace ferry {

enum class S3Addressing {
  // Virtual-hosted for AWS endpoints (*.amazonaws.com) and DNS-compatible
  // bucket names (no '.' over https), path-style otherwise (an IP address,
  // a local gateway).
  kAuto,
  kPath,           // scheme://host:port/bucket/key
  kVirtualHosted,  // scheme://bucket.host:port/key
};

struct S3Endpoint {
  HttpUrl url;
  S3Addressing addressing = S3Addressing::kAuto;
};

// `url` "" means AWS's endpoint for `region` (https://s3.REGION.amazonaws.com).
Result<S3Endpoint> ParseS3Endpoint(std::string_view url,
                                   std::string_view region,
                                   S3Addressing addressing);

// 3 to 63 of [a-z0-9.-] (upper case and '_' too, for older gateways), not
// starting or ending with '.' or '-'.
Status ValidateBucketName(std::string_view bucket);
// 1 to kS3MaxKeyBytes bytes.
Status ValidateObjectKey(std::string_view key);

struct S3Target {
  std::string url;          // what libcurl is given
  std::string host_header;  // what Host carries (and is signed)
  std::string path;         // the encoded path, as sent and signed
  std::string query;        // the encoded query, as sent and signed
};

bool UsesVirtualHost(const S3Endpoint& endpoint, std::string_view bucket);

// The request target of `bucket` (may be "" for the service) and `key` (""
// for the bucket itself) with `query` parameters (names and values raw;
// encoded here; an empty value is written "name=").
S3Target BuildS3Target(
    const S3Endpoint& endpoint, std::string_view bucket, std::string_view key,
    const std::vector<std::pair<std::string, std::string>>& query = {});

// "s3://bucket/key" (or "s3://bucket"), for messages.
std::string S3Uri(std::string_view bucket, std::string_view key);

}  // namespace ferry
