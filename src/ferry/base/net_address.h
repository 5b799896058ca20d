// Network addresses as users and configuration files write them: the one
// parser of "host:port" (`ferry server --listen`, config.json) and of
// "http(s)://host[:port][/path]" URLs (`ferry agent --server`, the API
// client's --endpoint-url). Everything here decodes untrusted text: errors
// are InvalidArgument and quote the input and say what is wrong with it.
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "ferry/base/status.h"

namespace ferry {

struct HostPort {
  // A DNS name, an IPv4 address or an IPv6 address (without brackets; an
  // IPv6 zone, "fe80::1%eth0", is kept).
  std::string host;
  int port = 0;

  // "host:port", with an IPv6 host in brackets ("[::1]:8443").
  std::string ToString() const;
  // The host as it goes into a URL or a Host header (IPv6 in brackets).
  std::string UrlHost() const;
};

struct HostPortRules {
  // The port when the text names none; 0: the text must name one.
  int default_port = 0;
  // Accept port 0 (a listen address: "any free port").
  bool allow_port_zero = false;
};

// Parses "host:port", "[ipv6]:port", and, when `rules.default_port` is set,
// a bare "host" or "[ipv6]". A port is 1 to 65535 (0 too if allowed), in
// decimal digits only. An IPv6 address must be in brackets; a host name
// holds letters, digits, '-', '_' and '.' only.
Result<HostPort> ParseHostPort(std::string_view text, HostPortRules rules = {});

// An http or https URL: scheme "://" host [":" port] [path].
struct HttpUrl {
  std::string scheme;  // "http" or "https" (lower case)
  HostPort address;    // the host in lower case; the scheme's port if none
  bool default_port = true;  // the port is the scheme's (80 or 443)
  std::string path;          // "" or "/a/b" (trailing slashes removed)

  // "scheme://host:port" (the port always written).
  std::string Origin() const;
  // What a Host header carries: the host, and ":port" unless it is the
  // scheme's.
  std::string HostHeader() const;
};

// Parses an http(s) URL. User information ("user@"), queries ('?') and
// fragments ('#') are refused.
Result<HttpUrl> ParseHttpUrl(std::string_view text);

}  // namespace ferry
