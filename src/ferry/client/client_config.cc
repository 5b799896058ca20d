#include "ferry/client/client_config.h"

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace ferry {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) {
    s.remove_prefix(1);
  }
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) {
    s.remove_suffix(1);
  }
  return s;
}

std::optional<std::string> NonEmpty(const GetEnv& env,
                                    const std::string& name) {
  std::optional<std::string> value = env(name);
  if (value && value->empty()) return std::nullopt;
  return value;
}

std::string ExpandHome(const std::string& path, const GetEnv& env) {
  if (path == "~" || path.rfind("~/", 0) == 0) {
    return env("HOME").value_or("") + path.substr(1);
  }
  return path;
}

IniFile ReadIni(const std::string& path) {
  std::ifstream in(path);
  if (!in) return {};
  std::ostringstream text;
  text << in.rdbuf();
  return ParseIni(text.str());
}

const std::map<std::string, std::string>* Section(const IniFile& ini,
                                                  const std::string& name) {
  auto it = ini.find(name);
  return it == ini.end() ? nullptr : &it->second;
}

std::optional<std::string> Get(const std::map<std::string, std::string>* s,
                               const std::string& key) {
  if (s == nullptr) return std::nullopt;
  auto it = s->find(key);
  if (it == s->end() || it->second.empty()) return std::nullopt;
  return it->second;
}

// Credentials from one section, if it names any.
Result<std::optional<AwsCredentials>> CredentialsIn(
    const std::map<std::string, std::string>* section,
    std::string_view provider) {
  std::optional<std::string> key = Get(section, "aws_access_key_id");
  std::optional<std::string> secret = Get(section, "aws_secret_access_key");
  if (!key && !secret) return std::optional<AwsCredentials>();
  if (!key || !secret) {
    return Status::InvalidArgument(
        "Partial credentials found in " + std::string(provider) +
        ", missing: " + (key ? "aws_secret_access_key" : "aws_access_key_id"));
  }
  AwsCredentials credentials{*key, *secret, ""};
  credentials.session_token =
      Get(section, "aws_session_token")
          .value_or(Get(section, "aws_security_token").value_or(""));
  return std::optional<AwsCredentials>(std::move(credentials));
}

}  // namespace

GetEnv ProcessEnvironment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

IniFile ParseIni(std::string_view text) {
  IniFile ini;
  std::string section;
  bool in_section = false;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view raw = text.substr(start, end - start);
    start = end + 1;
    if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
    std::string_view line = Trim(raw);
    if (line.empty() || line.front() == '#' || line.front() == ';') continue;
    if (std::isspace(static_cast<unsigned char>(raw.front()))) {
      continue;  // a continuation line (nested settings such as s3 = ...)
    }
    if (line.front() == '[' && line.back() == ']') {
      section = std::string(Trim(line.substr(1, line.size() - 2)));
      in_section = true;
      ini[section];
      continue;
    }
    if (!in_section) continue;
    size_t eq = line.find_first_of("=:");
    if (eq == std::string_view::npos) continue;
    std::string key(Trim(line.substr(0, eq)));
    for (char& c : key) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    ini[section][key] = std::string(Trim(line.substr(eq + 1)));
  }
  return ini;
}

Result<ClientConfig> ResolveClientConfig(const ClientFlags& flags,
                                         const GetEnv& env) {
  ClientConfig config;
  bool explicit_profile = !flags.profile.empty();
  config.profile =
      explicit_profile
          ? flags.profile
          : NonEmpty(env, "AWS_DEFAULT_PROFILE")
                .value_or(NonEmpty(env, "AWS_PROFILE").value_or("default"));
  std::string home = env("HOME").value_or("");
  IniFile credentials_file =
      ReadIni(ExpandHome(NonEmpty(env, "AWS_SHARED_CREDENTIALS_FILE")
                             .value_or(home + "/.aws/credentials"),
                         env));
  IniFile config_file = ReadIni(ExpandHome(
      NonEmpty(env, "AWS_CONFIG_FILE").value_or(home + "/.aws/config"), env));
  const auto* credentials_section = Section(credentials_file, config.profile);
  const auto* config_section = Section(
      config_file,
      config.profile == "default" ? "default" : "profile " + config.profile);
  if (config_section == nullptr && config.profile == "default") {
    config_section = Section(config_file, "profile default");
  }
  if (config.profile != "default" && credentials_section == nullptr &&
      config_section == nullptr) {
    return Status::NotFound("The config profile (" + config.profile +
                            ") could not be found");
  }

  // Credentials.
  std::optional<AwsCredentials> credentials;
  if (!explicit_profile) {
    std::optional<std::string> key = NonEmpty(env, "AWS_ACCESS_KEY_ID");
    std::optional<std::string> secret = NonEmpty(env, "AWS_SECRET_ACCESS_KEY");
    if (key && secret) {
      credentials = AwsCredentials{
          *key, *secret,
          NonEmpty(env, "AWS_SESSION_TOKEN")
              .value_or(NonEmpty(env, "AWS_SECURITY_TOKEN").value_or(""))};
    } else if (key || secret) {
      return Status::InvalidArgument(
          std::string("Partial credentials found in env, missing: ") +
          (key ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID"));
    }
  }
  if (!credentials) {
    FERRY_ASSIGN_OR_RETURN(
        credentials,
        CredentialsIn(credentials_section, "shared-credentials-file"));
  }
  if (!credentials) {
    FERRY_ASSIGN_OR_RETURN(credentials,
                           CredentialsIn(config_section, "config-file"));
  }
  if (!credentials) {
    return Status::NotFound(
        "Unable to locate credentials. You can configure credentials by "
        "running \"aws configure\".");
  }
  config.credentials = std::move(*credentials);

  // Region, endpoint, CA bundle.
  auto first = [](std::initializer_list<std::optional<std::string>> values,
                  std::string fallback) {
    for (const auto& v : values) {
      if (v && !v->empty()) return *v;
    }
    return fallback;
  };
  auto flag = [](const std::string& v) -> std::optional<std::string> {
    if (v.empty()) return std::nullopt;
    return v;
  };
  config.region =
      first({flag(flags.region), NonEmpty(env, "AWS_DEFAULT_REGION"),
             NonEmpty(env, "AWS_REGION"), Get(config_section, "region")},
            kDefaultRegion);
  config.endpoint_url = first(
      {flag(flags.endpoint_url), NonEmpty(env, "AWS_ENDPOINT_URL_DATASYNC"),
       NonEmpty(env, "AWS_ENDPOINT_URL"), Get(config_section, "endpoint_url")},
      kDefaultEndpointUrl);
  config.ca_bundle =
      ExpandHome(first({flag(flags.ca_bundle), NonEmpty(env, "AWS_CA_BUNDLE"),
                        Get(config_section, "ca_bundle")},
                       ""),
                 env);
  config.verify_tls = !flags.no_verify_ssl;
  return config;
}

}  // namespace ferry
