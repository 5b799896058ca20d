// Credentials, region, endpoint and CA bundle for talking to AWS (S3 or an
// S3-compatible store), resolved as the aws CLI resolves them so that one
// ~/.aws set-up serves both `aws s3 ...` and ferry:
//
//   credentials  explicit values; else, unless a profile is named
//                explicitly, AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY
//                (+ AWS_SESSION_TOKEN); else the profile (the explicit
//                name, AWS_PROFILE, or "default"): aws_access_key_id,
//                aws_secret_access_key, aws_session_token in
//                AWS_SHARED_CREDENTIALS_FILE (~/.aws/credentials, section
//                [NAME]), then in AWS_CONFIG_FILE (~/.aws/config, section
//                [profile NAME], or [default])
//   region       explicit, AWS_REGION, AWS_DEFAULT_REGION, the profile's
//                region, else us-east-1
//   CA bundle    explicit, AWS_CA_BUNDLE, the profile's ca_bundle
//   endpoint     explicit, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, the
//                profile's nested `s3 = endpoint_url = ...`, the profile's
//                endpoint_url, else none (AWS itself)
//   addressing   the profile's nested `s3 = addressing_style = ...`
//
// Instance metadata, SSO, assume-role and credential processes are not
// supported. The files are untrusted input: bounded (size, line length,
// sections, keys) and their errors name the file and the line. Pure
// functions of their inputs (and the files they read); thread-safe.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "ferry/aws/sigv4.h"
#include "ferry/base/status.h"

namespace ferry {

inline constexpr char kDefaultAwsRegion[] = "us-east-1";

// Limits on the aws CLI's files.
inline constexpr size_t kMaxAwsIniBytes = 1 << 20;
inline constexpr size_t kMaxAwsIniLine = 4096;
inline constexpr size_t kMaxAwsIniSections = 1024;
inline constexpr size_t kMaxAwsIniKeysPerSection = 256;

// Looks up an environment variable (tests pass their own).
using AwsEnv = std::function<std::optional<std::string>(const std::string&)>;
AwsEnv ProcessAwsEnv();

// What the caller says explicitly ("" / nullopt: not said).
struct AwsConfigOverrides {
  std::string profile;
  std::optional<AwsCredentials> credentials;
  std::string region;
  std::string ca_bundle;
  std::string endpoint_url;
};

struct AwsConfig {
  AwsCredentials credentials;
  // Where the credentials came from: "explicit", "environment", or
  // "FILE [SECTION]".
  std::string credentials_source;
  std::string region;
  std::string ca_bundle;         // "" = the system's trust store
  std::string endpoint_url;      // "" = AWS's own endpoint for the region
  std::string addressing_style;  // "", "auto", "path" or "virtual"
  std::string profile;
};

// Fails with InvalidArgument for a malformed file (naming file and line) or
// partial credentials, NotFound for an explicitly named profile in neither
// file or for no credentials anywhere (naming every place it looked).
Result<AwsConfig> ResolveAwsConfig(const AwsConfigOverrides& overrides,
                                   const AwsEnv& env);

// One value of an INI file and the line it was on (1-based).
struct AwsIniValue {
  std::string value;
  int line = 0;
};
// section -> key -> value. Keys are lower-cased; a nested setting
//   s3 =
//     addressing_style = path
// is stored as "s3.addressing_style".
using AwsIni = std::map<std::string, std::map<std::string, AwsIniValue>>;

// Parses an aws CLI file as botocore does ('#'/';' comment lines, "key =
// value" or "key: value", values trimmed). A line that is none of these, a
// setting before any section, an unterminated section header, or text over
// the limits is an error "FILE:LINE: what".
Result<AwsIni> ParseAwsIni(std::string_view text, std::string_view file_name);

}  // namespace ferry
