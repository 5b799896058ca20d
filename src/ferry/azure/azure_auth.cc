#include "ferry/azure/azure_auth.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <map>

#include "ferry/s3/s3_xml.h"

namespace ferry {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(c));
  return out;
}

bool Unreserved(unsigned char c) {
  return std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
}

std::string Encode(std::string_view s, bool keep_slash) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (Unreserved(c) || (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return std::string(s);
}

}  // namespace

std::string AzureEncodePath(std::string_view s) { return Encode(s, true); }
std::string AzureEncodeQuery(std::string_view s) { return Encode(s, false); }

std::string AzureDate(std::chrono::system_clock::time_point t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

std::string SharedKeyStringToSign(std::string_view account,
                                  const AzureSignable& request) {
  // The standard headers by lower-case name; the x-ms-* ones canonicalized.
  std::map<std::string, std::string> standard;
  std::map<std::string, std::string> ms;
  for (const auto& [name, value] : request.headers) {
    const std::string lower = Lower(name);
    if (lower.starts_with("x-ms-")) {
      ms[lower] = Trim(value);
    } else {
      standard[lower] = value;
    }
  }
  auto h = [&](const char* name) -> std::string {
    auto it = standard.find(name);
    return it == standard.end() ? "" : it->second;
  };
  std::string length = h("content-length");
  if (length == "0") length.clear();  // versions 2015-02-21 and later
  std::string out = request.method + "\n" + h("content-encoding") + "\n" +
                    h("content-language") + "\n" + length + "\n" +
                    h("content-md5") + "\n" + h("content-type") + "\n" +
                    h("date") + "\n" + h("if-modified-since") + "\n" +
                    h("if-match") + "\n" + h("if-none-match") + "\n" +
                    h("if-unmodified-since") + "\n" + h("range") + "\n";
  for (const auto& [name, value] : ms) out += name + ":" + value + "\n";
  out += "/" + std::string(account) + request.path;
  std::map<std::string, std::vector<std::string>> query;
  for (const auto& [name, value] : request.query) {
    query[Lower(name)].push_back(value);
  }
  for (auto& [name, values] : query) {
    std::sort(values.begin(), values.end());
    out += "\n" + name + ":";
    for (size_t i = 0; i < values.size(); ++i) {
      if (i > 0) out += ",";
      out += values[i];
    }
  }
  return out;
}

Result<std::string> SharedKeyAuthorization(std::string_view account,
                                           std::string_view key,
                                           const AzureSignable& request) {
  // Base64 decoding of the key (padding tells the true length).
  if (key.empty() || key.size() % 4 != 0 || key.size() > 1024) {
    return Status::InvalidArgument(
        "the Azure account key is not base64 (as the portal shows it)");
  }
  std::string raw(key.size() / 4 * 3, '\0');
  const int n =
      EVP_DecodeBlock(reinterpret_cast<unsigned char*>(raw.data()),
                      reinterpret_cast<const unsigned char*>(key.data()),
                      static_cast<int>(key.size()));
  if (n < 0) {
    return Status::InvalidArgument(
        "the Azure account key is not base64 (as the portal shows it)");
  }
  size_t size = static_cast<size_t>(n);
  for (size_t i = key.size(); i > 0 && key[i - 1] == '='; --i) --size;
  raw.resize(size);

  const std::string to_sign = SharedKeyStringToSign(account, request);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_size = 0;
  HMAC(EVP_sha256(), raw.data(), static_cast<int>(raw.size()),
       reinterpret_cast<const unsigned char*>(to_sign.data()), to_sign.size(),
       mac, &mac_size);
  unsigned char b64[128];
  const int b64_size = EVP_EncodeBlock(b64, mac, static_cast<int>(mac_size));
  return "SharedKey " + std::string(account) + ":" +
         std::string(reinterpret_cast<const char*>(b64),
                     static_cast<size_t>(b64_size));
}

namespace {

// The raw value of parameter `name` of a SAS token; "" when missing.
std::string_view SasParameter(std::string_view token, std::string_view name) {
  if (token.starts_with("?")) token.remove_prefix(1);
  size_t start = 0;
  while (start < token.size()) {
    size_t end = token.find('&', start);
    if (end == std::string_view::npos) end = token.size();
    std::string_view part = token.substr(start, end - start);
    if (part.size() > name.size() && part.starts_with(name) &&
        part[name.size()] == '=') {
      return part.substr(name.size() + 1);
    }
    start = end + 1;
  }
  return "";
}

}  // namespace

std::string SasPermissions(std::string_view token) {
  return std::string(SasParameter(token, "sp"));
}

std::optional<int64_t> SasExpiry(std::string_view token) {
  std::string se;
  std::string_view raw = SasParameter(token, "se");
  for (size_t i = 0; i < raw.size() && se.size() < 64; ++i) {
    if (raw.substr(i, 3) == "%3A" || raw.substr(i, 3) == "%3a") {
      se.push_back(':');
      i += 2;
    } else {
      se.push_back(raw[i]);
    }
  }
  // "2026-12-06T17:00:00Z", or a day: "2026-12-06".
  if (se.size() == 10) se += "T00:00:00Z";
  std::optional<int64_t> ns = ParseS3Time(se);
  if (!ns) return std::nullopt;
  return *ns / 1000000000;
}

Result<std::string> NormalizeSasToken(std::string_view token) {
  if (token.starts_with("?")) token.remove_prefix(1);
  if (token.empty()) return Status::InvalidArgument("the SAS token is empty");
  if (token.size() > 8192) {
    return Status::InvalidArgument("the SAS token is longer than 8 KiB");
  }
  bool signature = false;
  size_t start = 0;
  while (start <= token.size()) {
    size_t end = token.find('&', start);
    if (end == std::string_view::npos) end = token.size();
    std::string_view part = token.substr(start, end - start);
    const size_t eq = part.find('=');
    if (part.empty() || eq == 0 || eq == std::string_view::npos) {
      return Status::InvalidArgument(
          "the SAS token is not a list of name=value parameters");
    }
    for (unsigned char c : part) {
      if (!Unreserved(c) && c != '%' && c != '=' && c != ':' && c != ',' &&
          c != '+' && c != '/') {
        return Status::InvalidArgument(
            "the SAS token holds a character a URL cannot carry as is");
      }
    }
    if (part.substr(0, eq) == "sig") signature = true;
    start = end + 1;
  }
  if (!signature) {
    return Status::InvalidArgument("the SAS token has no signature (sig=)");
  }
  return std::string(token);
}

}  // namespace ferry
