#include "ferry/aws/config.h"

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <vector>

namespace ferry {
namespace {

bool IsBlank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsBlank(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsBlank(s.back())) s.remove_suffix(1);
  return s;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

Status IniError(std::string_view file, int line, std::string_view what) {
  return Status::InvalidArgument(std::string(file) + ":" +
                                 std::to_string(line) + ": " +
                                 std::string(what));
}

std::optional<std::string> NonEmpty(const AwsEnv& env,
                                    const std::string& name) {
  std::optional<std::string> value = env(name);
  if (value && value->empty()) return std::nullopt;
  return value;
}

std::string ExpandHome(const std::string& path, const AwsEnv& env) {
  if (path == "~" || path.starts_with("~/")) {
    return env("HOME").value_or("") + path.substr(1);
  }
  return path;
}

// Reads and parses `path`; a missing file is an empty one.
Result<AwsIni> ReadIni(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT || errno == ENOTDIR) return AwsIni();
    return Status(StatusCode::kIoError,
                  "cannot read " + path + ": " + std::strerror(errno), errno);
  }
  std::string text(kMaxAwsIniBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > kMaxAwsIniBytes) {
    return Status::InvalidArgument(path + " is larger than " +
                                   std::to_string(kMaxAwsIniBytes) + " bytes");
  }
  if (in.bad()) return Status::IoError("cannot read " + path);
  return ParseAwsIni(text, path);
}

using Section = std::map<std::string, AwsIniValue>;

const Section* Find(const AwsIni& ini, const std::string& name) {
  auto it = ini.find(name);
  return it == ini.end() ? nullptr : &it->second;
}

std::optional<std::string> Get(const Section* s, const std::string& key) {
  if (s == nullptr) return std::nullopt;
  auto it = s->find(key);
  if (it == s->end() || it->second.value.empty()) return std::nullopt;
  return it->second.value;
}

// Credentials from one section, if it names any.
Result<std::optional<AwsCredentials>> CredentialsIn(const Section* section,
                                                    const std::string& where) {
  std::optional<std::string> key = Get(section, "aws_access_key_id");
  std::optional<std::string> secret = Get(section, "aws_secret_access_key");
  if (!key && !secret) return std::optional<AwsCredentials>();
  if (!key || !secret) {
    return Status::InvalidArgument(
        "partial credentials in " + where + ": " +
        (key ? "aws_secret_access_key" : "aws_access_key_id") + " is missing");
  }
  AwsCredentials credentials{*key, *secret, ""};
  credentials.session_token =
      Get(section, "aws_session_token")
          .value_or(Get(section, "aws_security_token").value_or(""));
  return std::optional<AwsCredentials>(std::move(credentials));
}

std::string First(std::initializer_list<std::optional<std::string>> values,
                  std::string fallback) {
  for (const auto& v : values) {
    if (v && !v->empty()) return *v;
  }
  return fallback;
}

std::optional<std::string> Given(const std::string& v) {
  if (v.empty()) return std::nullopt;
  return v;
}

}  // namespace

AwsEnv ProcessAwsEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

Result<AwsIni> ParseAwsIni(std::string_view text, std::string_view file_name) {
  if (text.size() > kMaxAwsIniBytes) {
    return Status::InvalidArgument(std::string(file_name) + " is larger than " +
                                   std::to_string(kMaxAwsIniBytes) + " bytes");
  }
  AwsIni ini;
  Section* section = nullptr;
  std::string parent;  // the key whose nested settings follow ("s3")
  int line_number = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view raw = text.substr(start, end - start);
    start = end + 1;
    ++line_number;
    if (raw.size() > kMaxAwsIniLine) {
      return IniError(
          file_name, line_number,
          "line longer than " + std::to_string(kMaxAwsIniLine) + " bytes");
    }
    std::string_view line = Trim(raw);
    if (line.empty() || line.front() == '#' || line.front() == ';') continue;
    const bool indented = IsBlank(raw.front());
    if (!indented && line.front() == '[') {
      if (line.back() != ']') {
        return IniError(file_name, line_number,
                        "section header without a closing ']'");
      }
      std::string name(Trim(line.substr(1, line.size() - 2)));
      if (name.empty()) {
        return IniError(file_name, line_number, "empty section name");
      }
      if (ini.size() >= kMaxAwsIniSections && !ini.contains(name)) {
        return IniError(
            file_name, line_number,
            "more than " + std::to_string(kMaxAwsIniSections) + " sections");
      }
      section = &ini[name];
      parent.clear();
      continue;
    }
    // A continuation line of a scalar value: botocore ignores it.
    if (indented && parent.empty()) continue;
    size_t eq = line.find_first_of("=:");
    if (eq == std::string_view::npos || eq == 0) {
      return IniError(file_name, line_number,
                      "expected \"key = value\", a [section] or a comment");
    }
    if (section == nullptr) {
      return IniError(file_name, line_number,
                      "setting before the first [section]");
    }
    std::string key = Lower(Trim(line.substr(0, eq)));
    std::string value(Trim(line.substr(eq + 1)));
    if (indented) {
      // A nested setting of the last unindented key with an empty value
      // (botocore's "s3 =\n  addressing_style = path").
      key = parent + "." + key;
    } else {
      parent = value.empty() ? key : "";
    }
    if (section->size() >= kMaxAwsIniKeysPerSection &&
        !section->contains(key)) {
      return IniError(file_name, line_number,
                      "more than " + std::to_string(kMaxAwsIniKeysPerSection) +
                          " settings in one section");
    }
    (*section)[key] = AwsIniValue{std::move(value), line_number};
  }
  return ini;
}

Result<AwsConfig> ResolveAwsConfig(const AwsConfigOverrides& overrides,
                                   const AwsEnv& env) {
  AwsConfig config;
  const bool explicit_profile = !overrides.profile.empty();
  config.profile = explicit_profile
                       ? overrides.profile
                       : NonEmpty(env, "AWS_PROFILE").value_or("default");
  const std::string home = env("HOME").value_or("");
  const std::string credentials_path =
      ExpandHome(NonEmpty(env, "AWS_SHARED_CREDENTIALS_FILE")
                     .value_or(home + "/.aws/credentials"),
                 env);
  const std::string config_path = ExpandHome(
      NonEmpty(env, "AWS_CONFIG_FILE").value_or(home + "/.aws/config"), env);
  FERRY_ASSIGN_OR_RETURN(AwsIni credentials_file, ReadIni(credentials_path));
  FERRY_ASSIGN_OR_RETURN(AwsIni config_file, ReadIni(config_path));

  const Section* credentials_section = Find(credentials_file, config.profile);
  std::string config_section_name =
      config.profile == "default" ? "default" : "profile " + config.profile;
  const Section* config_section = Find(config_file, config_section_name);
  if (config_section == nullptr && config.profile == "default") {
    config_section_name = "profile default";
    config_section = Find(config_file, config_section_name);
  }
  if (config.profile != "default" && credentials_section == nullptr &&
      config_section == nullptr) {
    return Status::NotFound("AWS profile '" + config.profile +
                            "' is in neither " + credentials_path + " nor " +
                            config_path);
  }

  // Credentials.
  std::optional<AwsCredentials> credentials;
  if (overrides.credentials) {
    const AwsCredentials& given = *overrides.credentials;
    if (given.access_key_id.empty() || given.secret_access_key.empty()) {
      return Status::InvalidArgument(
          "partial explicit credentials: both an access key id and a secret "
          "access key are needed");
    }
    credentials = given;
    config.credentials_source = "explicit";
  }
  if (!credentials && !explicit_profile) {
    std::optional<std::string> key = NonEmpty(env, "AWS_ACCESS_KEY_ID");
    std::optional<std::string> secret = NonEmpty(env, "AWS_SECRET_ACCESS_KEY");
    if (key && secret) {
      credentials = AwsCredentials{
          *key, *secret,
          NonEmpty(env, "AWS_SESSION_TOKEN")
              .value_or(NonEmpty(env, "AWS_SECURITY_TOKEN").value_or(""))};
      config.credentials_source = "environment";
    } else if (key || secret) {
      return Status::InvalidArgument(
          std::string("partial credentials in the environment: ") +
          (key ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID") +
          " is not set");
    }
  }
  const std::string credentials_where =
      credentials_path + " [" + config.profile + "]";
  const std::string config_where =
      config_path + " [" + config_section_name + "]";
  if (!credentials) {
    FERRY_ASSIGN_OR_RETURN(
        credentials, CredentialsIn(credentials_section, credentials_where));
    if (credentials) config.credentials_source = credentials_where;
  }
  if (!credentials) {
    FERRY_ASSIGN_OR_RETURN(credentials,
                           CredentialsIn(config_section, config_where));
    if (credentials) config.credentials_source = config_where;
  }
  if (!credentials) {
    return Status::NotFound(
        "no AWS credentials found: looked for explicit keys, " +
        std::string(explicit_profile
                        ? ""
                        : "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the "
                          "environment, ") +
        "and profile '" + config.profile + "' in " + credentials_path +
        " and " + config_path);
  }
  config.credentials = std::move(*credentials);

  config.region = First(
      {Given(overrides.region), NonEmpty(env, "AWS_REGION"),
       NonEmpty(env, "AWS_DEFAULT_REGION"), Get(config_section, "region")},
      kDefaultAwsRegion);
  config.ca_bundle = ExpandHome(
      First({Given(overrides.ca_bundle), NonEmpty(env, "AWS_CA_BUNDLE"),
             Get(config_section, "ca_bundle")},
            ""),
      env);
  config.endpoint_url = First(
      {Given(overrides.endpoint_url), NonEmpty(env, "AWS_ENDPOINT_URL_S3"),
       NonEmpty(env, "AWS_ENDPOINT_URL"),
       Get(config_section, "s3.endpoint_url"),
       Get(config_section, "endpoint_url")},
      "");
  config.addressing_style =
      Lower(Get(config_section, "s3.addressing_style").value_or(""));
  return config;
}

}  // namespace ferry
