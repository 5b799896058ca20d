// Where the client commands send requests and whose keys sign them, resolved
// from the command line, the environment and the aws CLI's files exactly as
// the aws CLI (botocore) resolves them, so that one ~/.aws set-up serves both
// `aws datasync --endpoint-url ...` and `ferry ...`:
//
//   credentials  --profile P: that profile only (environment keys ignored);
//                else AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY
//                (+ AWS_SESSION_TOKEN); else the profile AWS_DEFAULT_PROFILE,
//                AWS_PROFILE or "default": its aws_access_key_id,
//                aws_secret_access_key, aws_session_token in
//                AWS_SHARED_CREDENTIALS_FILE (~/.aws/credentials), then in
//                AWS_CONFIG_FILE (~/.aws/config, section [profile P])
//   region       --region, AWS_DEFAULT_REGION, AWS_REGION, the profile's
//                region, else "ferry-local"
//   endpoint     --endpoint-url, AWS_ENDPOINT_URL_DATASYNC, AWS_ENDPOINT_URL,
//                the profile's endpoint_url, else https://127.0.0.1:8443
//                (ferry server's default listen address)
//   CA bundle    --ca-bundle, AWS_CA_BUNDLE, the profile's ca_bundle
//
// Instance metadata, SSO, assume-role and credential processes are not
// supported. Pure functions of their inputs; thread-safe.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "ferry/base/status.h"
#include "ferry/control/auth/sigv4.h"

namespace ferry {

inline constexpr char kDefaultEndpointUrl[] = "https://127.0.0.1:8443";
inline constexpr char kDefaultRegion[] = "ferry-local";

// The aws CLI's global options, as given ("" when not given).
struct ClientFlags {
  std::string endpoint_url;
  std::string ca_bundle;
  std::string profile;
  std::string region;
  bool no_verify_ssl = false;
};

struct ClientConfig {
  std::string endpoint_url;
  std::string ca_bundle;  // empty: the system's trust store
  bool verify_tls = true;
  AwsCredentials credentials;
  std::string region;
  std::string profile;  // the profile the settings came from
};

// Looks up an environment variable (tests pass their own).
using GetEnv = std::function<std::optional<std::string>(const std::string&)>;
GetEnv ProcessEnvironment();

// Fails with the aws CLI's messages: "Unable to locate credentials. ...",
// "The config profile (P) could not be found", "Partial credentials found in
// env, missing: AWS_SECRET_ACCESS_KEY".
Result<ClientConfig> ResolveClientConfig(const ClientFlags& flags,
                                         const GetEnv& env);

// An INI file as botocore reads the aws CLI's files: section -> key ->
// value, keys lower-cased, values trimmed, '#'/';' comment lines skipped,
// indented continuation lines (nested settings) ignored.
using IniFile = std::map<std::string, std::map<std::string, std::string>>;
IniFile ParseIni(std::string_view text);

}  // namespace ferry
