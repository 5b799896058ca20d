// Fuzzes the host:port and http(s) URL parser (base/net_address.h): listen
// addresses from config.json, `ferry agent --server` and the API client's
// --endpoint-url. Whatever parses must print back as something that parses
// to the same address.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ferry/base/net_address.h"

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  for (ferry::HostPortRules rules :
       {ferry::HostPortRules{}, ferry::HostPortRules{443, false},
        ferry::HostPortRules{0, true}}) {
    auto address = ferry::ParseHostPort(text, rules);
    if (!address.ok()) continue;
    Check(!address->host.empty());
    Check(address->port >= (rules.allow_port_zero ? 0 : 1) &&
          address->port <= 65535);
    auto again = ferry::ParseHostPort(address->ToString(), rules);
    Check(again.ok() && again->host == address->host &&
          again->port == address->port);
  }
  auto url = ferry::ParseHttpUrl(text);
  if (url.ok()) {
    Check(url->scheme == "http" || url->scheme == "https");
    auto again = ferry::ParseHttpUrl(url->Origin() + url->path);
    Check(again.ok() && again->address.host == url->address.host &&
          again->address.port == url->address.port && again->path == url->path);
  }
  return 0;
}
