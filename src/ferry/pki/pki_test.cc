#include "ferry/pki/pki.h"

#include <gtest/gtest.h>
#include <openssl/err.h>

namespace ferry::pki {
namespace {

TEST(PkiTest, ServerCertificateIsIssuedByTheAuthority) {
  auto ca = CreateAuthority("ferry test CA", 30);
  ASSERT_TRUE(ca.ok()) << ca.status().ToString();
  auto server = CreateServerCertificate(*ca, {"localhost", "127.0.0.1"}, 30);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  EXPECT_TRUE(
      VerifyIssuedBy(server->certificate_pem, ca->certificate_pem).ok());
  EXPECT_EQ(CommonName(server->certificate_pem).value(), "localhost");
  auto other = CreateAuthority("another CA", 30);
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(
      VerifyIssuedBy(server->certificate_pem, other->certificate_pem).ok());
}

TEST(PkiTest, AgentRequestIsSignedWithTheGivenName) {
  auto ca = CreateAuthority("ferry test CA", 30);
  ASSERT_TRUE(ca.ok());
  auto req = CreateRequest("whatever the agent asks");
  ASSERT_TRUE(req.ok()) << req.status().ToString();
  const std::string id = "agent-0123456789abcdefg";
  auto cert = SignClientRequest(*ca, req->request_pem, id, 365);
  ASSERT_TRUE(cert.ok()) << cert.status().ToString();
  EXPECT_EQ(CommonName(*cert).value(), id);
  // X.509 common names are at most 64 characters: a whole ARN does not fit.
  EXPECT_FALSE(
      SignClientRequest(*ca, req->request_pem, std::string(65, 'a'), 1).ok());
  EXPECT_TRUE(VerifyIssuedBy(*cert, ca->certificate_pem).ok());
}

TEST(PkiTest, BadRequestsAreRefused) {
  auto ca = CreateAuthority("ferry test CA", 30);
  ASSERT_TRUE(ca.ok());
  EXPECT_FALSE(SignClientRequest(*ca, "not a request", "x", 1).ok());
  auto req = CreateRequest("agent");
  ASSERT_TRUE(req.ok());
  // Flip a character inside the base64 body: the signature no longer holds
  // (or the request no longer parses).
  std::string bad = req->request_pem;
  size_t pos = bad.find('\n', 40) + 20;
  bad[pos] = bad[pos] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(SignClientRequest(*ca, bad, "x", 1).ok());
}

// Agents send the request: refusing one must leave no error on the thread's
// OpenSSL error queue, where the thread's next TLS read or write
// (SSL_get_error) or failure message would find it (found by
// fuzz/fuzz_activation_csr).
TEST(PkiTest, RefusedRequestsLeaveNoOpenSslError) {
  auto ca = CreateAuthority("ferry test CA", 30);
  ASSERT_TRUE(ca.ok());
  ERR_clear_error();
  for (const char* pem : {"not a request",
                          "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n"
                          "-----END CERTIFICATE REQUEST-----\n"}) {
    auto cert = SignClientRequest(*ca, pem, "x", 1);
    EXPECT_FALSE(cert.ok()) << pem;
    EXPECT_EQ(ERR_peek_error(), 0u) << pem;
  }
}

}  // namespace
}  // namespace ferry::pki
