#include "ferry/base/net_address.h"

#include <arpa/inet.h>

#include <cctype>
#include <cstdio>

namespace ferry {
namespace {

Status Bad(std::string_view what, std::string_view text,
           const std::string& why) {
  // The input as written, control characters escaped.
  std::string shown;
  for (char c : text) {
    if (std::isprint(static_cast<unsigned char>(c))) {
      shown += c;
    } else {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "\\x%02x", static_cast<unsigned char>(c));
      shown += hex;
    }
  }
  return Status::InvalidArgument("bad " + std::string(what) + " '" + shown +
                                 "': " + why);
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

// "" if `host` is a usable IPv6 address (with an optional "%zone").
std::string CheckIpv6(std::string_view host) {
  std::string address(host.substr(0, host.find('%')));
  if (address.size() < host.size()) {
    std::string_view zone = host.substr(address.size() + 1);
    if (zone.empty()) return "an empty IPv6 zone after '%'";
    for (char c : zone) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' &&
          c != '_' && c != '.') {
        return "a bad character in the IPv6 zone";
      }
    }
  }
  in6_addr out;
  if (inet_pton(AF_INET6, address.c_str(), &out) != 1) {
    return "'" + address + "' in brackets is not an IPv6 address";
  }
  return "";
}

// "" if `host` is a usable host name or IPv4 address.
std::string CheckName(std::string_view host) {
  if (host.empty()) return "the host is empty";
  for (char c : host) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' &&
        c != '.') {
      if (c == ':') {
        return "an IPv6 address must be written in brackets, as "
               "[::1]:8443";
      }
      char shown[8];
      std::snprintf(
          shown, sizeof(shown),
          std::isprint(static_cast<unsigned char>(c)) ? "%c" : "\\x%02x",
          static_cast<unsigned char>(c));
      return std::string("the host holds '") + shown +
             "' (a host is a DNS name, an IPv4 address or [an IPv6 "
             "address])";
    }
  }
  return "";
}

}  // namespace

std::string HostPort::UrlHost() const {
  return host.find(':') == std::string::npos ? host : "[" + host + "]";
}

std::string HostPort::ToString() const {
  return UrlHost() + ":" + std::to_string(port);
}

namespace {

// Parses `text` into `out`; returns why it cannot ("" when it can).
std::string ParseHostPortInto(std::string_view text, HostPortRules rules,
                              HostPort* out_ptr) {
  HostPort& out = *out_ptr;
  if (text.empty()) return "empty (expected HOST:PORT)";
  std::string_view port_text;
  bool has_port = false;
  if (text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) {
      return "'[' without a closing ']'";
    }
    std::string_view host = text.substr(1, close - 1);
    if (host.empty()) return "the host is empty";
    if (std::string why = CheckIpv6(host); !why.empty()) return why;
    out.host = std::string(host);
    std::string_view after = text.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        return "'" + std::string(after) + "' after ']' (expected :PORT)";
      }
      port_text = after.substr(1);
      has_port = true;
    }
  } else {
    size_t colon = text.find(':');
    std::string_view host = text.substr(0, colon);
    if (colon != std::string_view::npos) {
      if (text.find(':', colon + 1) != std::string_view::npos) {
        return "an IPv6 address must be written in brackets, as "
               "[::1]:8443";
      }
      port_text = text.substr(colon + 1);
      has_port = true;
    }
    if (std::string why = CheckName(host); !why.empty()) return why;
    out.host = std::string(host);
  }
  if (!has_port) {
    if (rules.default_port == 0) {
      return "no port (expected HOST:PORT)";
    }
    out.port = rules.default_port;
    return "";
  }
  if (port_text.empty()) return "no port after ':'";
  int port = 0;
  for (char c : port_text) {
    if (c < '0' || c > '9') {
      return "the port '" + std::string(port_text) +
             "' is not a decimal number";
    }
    port = port * 10 + (c - '0');
    if (port > 65535) break;
  }
  const int lowest = rules.allow_port_zero ? 0 : 1;
  if (port < lowest || port > 65535) {
    return "the port " + std::string(port_text) + " is not in " +
           std::to_string(lowest) + "..65535";
  }
  out.port = port;
  return "";
}

}  // namespace

Result<HostPort> ParseHostPort(std::string_view text, HostPortRules rules) {
  HostPort out;
  std::string why = ParseHostPortInto(text, rules, &out);
  if (!why.empty()) return Bad("address", text, why);
  return out;
}

std::string HttpUrl::Origin() const {
  return scheme + "://" + address.ToString();
}

std::string HttpUrl::HostHeader() const {
  return default_port ? address.UrlHost() : address.ToString();
}

Result<HttpUrl> ParseHttpUrl(std::string_view text) {
  constexpr std::string_view kWhat = "URL";
  size_t sep = text.find("://");
  if (sep == std::string_view::npos) {
    return Bad(kWhat, text, "expected http://HOST[:PORT] or https://...");
  }
  HttpUrl url;
  url.scheme = Lower(text.substr(0, sep));
  if (url.scheme != "http" && url.scheme != "https") {
    return Bad(kWhat, text,
               "the scheme '" + std::string(text.substr(0, sep)) +
                   "' is neither http nor https");
  }
  std::string_view rest = text.substr(sep + 3);
  if (rest.find_first_of("?#") != std::string_view::npos) {
    return Bad(kWhat, text, "a query ('?') or fragment ('#') is not allowed");
  }
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (authority.find('@') != std::string_view::npos) {
    return Bad(kWhat, text, "user information ('user@') is not allowed");
  }
  if (authority.empty()) return Bad(kWhat, text, "no host");
  const int default_port = url.scheme == "https" ? 443 : 80;
  if (std::string why = ParseHostPortInto(
          authority, {.default_port = default_port}, &url.address);
      !why.empty()) {
    return Bad(kWhat, text, why);
  }
  url.address.host = Lower(url.address.host);
  url.default_port = url.address.port == default_port;
  if (slash != std::string_view::npos) {
    std::string_view path = rest.substr(slash);
    while (!path.empty() && path.back() == '/') path.remove_suffix(1);
    for (char c : path) {
      if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
        return Bad(kWhat, text, "the path holds a space or control character");
      }
    }
    url.path = std::string(path);
  }
  return url;
}

}  // namespace ferry
