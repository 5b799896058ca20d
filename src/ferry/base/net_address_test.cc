#include "ferry/base/net_address.h"

#include <gtest/gtest.h>

#include <string>

namespace ferry {
namespace {

// The message of a refused address, or a failure if it was accepted.
std::string Refusal(std::string_view text, HostPortRules rules = {}) {
  auto r = ParseHostPort(text, rules);
  if (r.ok()) {
    ADD_FAILURE() << "'" << text << "' was accepted as " << r->ToString();
    return "";
  }
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << text;
  return std::string(r.status().message());
}

std::string UrlRefusal(std::string_view text) {
  auto r = ParseHttpUrl(text);
  if (r.ok()) {
    ADD_FAILURE() << "'" << text << "' was accepted as " << r->Origin()
                  << r->path;
    return "";
  }
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << text;
  return std::string(r.status().message());
}

// Expects `part` in the message `text`.
#define EXPECT_HAS(text, part)                                     \
  do {                                                             \
    const std::string message_ = (text);                           \
    EXPECT_NE(message_.find(part), std::string::npos) << message_; \
  } while (0)

TEST(ParseHostPortTest, HostAndPort) {
  auto a = ParseHostPort("127.0.0.1:8443");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 8443);
  EXPECT_EQ(a->ToString(), "127.0.0.1:8443");

  auto name = ParseHostPort("ferry-1.example.com:1");
  ASSERT_TRUE(name.ok()) << name.status().ToString();
  EXPECT_EQ(name->host, "ferry-1.example.com");
  EXPECT_EQ(name->port, 1);

  auto top = ParseHostPort("h:65535");
  ASSERT_TRUE(top.ok()) << top.status().ToString();
  EXPECT_EQ(top->port, 65535);
}

TEST(ParseHostPortTest, BracketedIpv6) {
  auto a = ParseHostPort("[::1]:8443");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->host, "::1");
  EXPECT_EQ(a->port, 8443);
  EXPECT_EQ(a->ToString(), "[::1]:8443");
  EXPECT_EQ(a->UrlHost(), "[::1]");

  auto zone = ParseHostPort("[fe80::1%eth0]:80");
  ASSERT_TRUE(zone.ok()) << zone.status().ToString();
  EXPECT_EQ(zone->host, "fe80::1%eth0");
}

TEST(ParseHostPortTest, DefaultPortOnlyWhenGiven) {
  EXPECT_HAS(Refusal("localhost"), "no port");
  EXPECT_HAS(Refusal("[::1]"), "no port");
  auto bare = ParseHostPort("localhost", {.default_port = 443});
  ASSERT_TRUE(bare.ok()) << bare.status().ToString();
  EXPECT_EQ(bare->port, 443);
  auto v6 = ParseHostPort("[::]", {.default_port = 8443});
  ASSERT_TRUE(v6.ok()) << v6.status().ToString();
  EXPECT_EQ(v6->host, "::");
  EXPECT_EQ(v6->port, 8443);
  // A given port wins over the default.
  EXPECT_EQ(ParseHostPort("h:7", {.default_port = 443})->port, 7);
}

TEST(ParseHostPortTest, PortZeroOnlyForListening) {
  EXPECT_HAS(Refusal("h:0"), "the port 0 is not in 1..65535");
  auto any = ParseHostPort("127.0.0.1:0", {.allow_port_zero = true});
  ASSERT_TRUE(any.ok()) << any.status().ToString();
  EXPECT_EQ(any->port, 0);
}

TEST(ParseHostPortTest, BadInputIsNamedWithTheReason) {
  EXPECT_EQ(Refusal(""), "bad address '': empty (expected HOST:PORT)");
  EXPECT_EQ(Refusal("h:65536"),
            "bad address 'h:65536': the port 65536 is not in 1..65535");
  EXPECT_HAS(Refusal("h:99999999999999999999"), "not in 1..65535");
  EXPECT_EQ(Refusal("h:80a"),
            "bad address 'h:80a': the port '80a' is not a decimal number");
  EXPECT_HAS(Refusal("h:-1"), "not a decimal number");
  EXPECT_HAS(Refusal("h:+80"), "not a decimal number");
  EXPECT_HAS(Refusal("h: 80"), "not a decimal number");
  EXPECT_EQ(Refusal("h:"), "bad address 'h:': no port after ':'");
  EXPECT_HAS(Refusal(":8443"), "the host is empty");
  EXPECT_HAS(Refusal("[]:8443"), "the host is empty");
  EXPECT_HAS(Refusal("::1:8443"), "must be written in brackets");
  EXPECT_HAS(Refusal("fe80::1"), "must be written in brackets");
  EXPECT_HAS(Refusal("[::1:8443"), "without a closing ']'");
  EXPECT_HAS(Refusal("[::1]8443"), "'8443' after ']' (expected :PORT)");
  EXPECT_HAS(Refusal("[::1]:"), "no port after ':'");
  EXPECT_HAS(Refusal("[::1]:80x"), "not a decimal number");
  EXPECT_HAS(Refusal("[::1]:80]"), "not a decimal number");
  EXPECT_HAS(Refusal("[localhost]:80"), "is not an IPv6 address");
  EXPECT_HAS(Refusal("[1.2.3.4]:80"), "is not an IPv6 address");
  EXPECT_HAS(Refusal("[fe80::1%]:80"), "empty IPv6 zone");
  EXPECT_HAS(Refusal("h/x:80"), "the host holds '/'");
  EXPECT_HAS(Refusal("user@h:80"), "the host holds '@'");
  EXPECT_HAS(Refusal("a]b:80"), "the host holds ']'");
  EXPECT_HAS(Refusal("h x:80"), "the host holds ' '");
  // Control characters are shown escaped, in the input and the reason.
  EXPECT_EQ(Refusal(std::string_view("h\n:80", 5)),
            "bad address 'h\\x0a:80': the host holds '\\x0a' (a host is a DNS "
            "name, an IPv4 address or [an IPv6 address])");
  EXPECT_HAS(Refusal(std::string_view("h\0:80", 5)), "'\\x00'");
}

TEST(ParseHttpUrlTest, SchemeHostPortAndPath) {
  auto u = ParseHttpUrl("HTTPS://Host.Example:8443/base/");
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_EQ(u->scheme, "https");
  EXPECT_EQ(u->address.host, "host.example");
  EXPECT_EQ(u->address.port, 8443);
  EXPECT_FALSE(u->default_port);
  EXPECT_EQ(u->path, "/base");
  EXPECT_EQ(u->Origin(), "https://host.example:8443");
  EXPECT_EQ(u->HostHeader(), "host.example:8443");

  auto d = ParseHttpUrl("http://h");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->address.port, 80);
  EXPECT_TRUE(d->default_port);
  EXPECT_EQ(d->path, "");
  EXPECT_EQ(d->HostHeader(), "h");

  // The scheme's own port, written out, is still the default one.
  auto explicit_default = ParseHttpUrl("https://h:443/");
  ASSERT_TRUE(explicit_default.ok());
  EXPECT_TRUE(explicit_default->default_port);
  EXPECT_EQ(explicit_default->path, "");

  auto v6 = ParseHttpUrl("https://[::1]:9/x");
  ASSERT_TRUE(v6.ok()) << v6.status().ToString();
  EXPECT_EQ(v6->address.host, "::1");
  EXPECT_EQ(v6->Origin(), "https://[::1]:9");
  EXPECT_EQ(v6->HostHeader(), "[::1]:9");
  EXPECT_EQ(v6->path, "/x");
}

TEST(ParseHttpUrlTest, BadUrlsAreNamedWithTheReason) {
  EXPECT_EQ(UrlRefusal("ftp://x"),
            "bad URL 'ftp://x': the scheme 'ftp' is neither http nor https");
  EXPECT_HAS(UrlRefusal("127.0.0.1:8443"), "expected http://");
  EXPECT_HAS(UrlRefusal(""), "expected http://");
  EXPECT_HAS(UrlRefusal("http://"), "no host");
  EXPECT_HAS(UrlRefusal("http:///path"), "no host");
  EXPECT_EQ(UrlRefusal("http://h:0"),
            "bad URL 'http://h:0': the port 0 is not in 1..65535");
  EXPECT_HAS(UrlRefusal("http://h:99999"), "not in 1..65535");
  EXPECT_HAS(UrlRefusal("http://h:80a/"), "not a decimal number");
  EXPECT_HAS(UrlRefusal("http://user@h"), "user information");
  EXPECT_HAS(UrlRefusal("http://[::1"), "without a closing ']'");
  EXPECT_HAS(UrlRefusal("http://::1/"), "in brackets");
  EXPECT_HAS(UrlRefusal("https://h/?x=1"), "query");
  EXPECT_HAS(UrlRefusal("https://h#top"), "fragment");
  EXPECT_HAS(UrlRefusal("https://h/a b"), "space or control");
}

}  // namespace
}  // namespace ferry
