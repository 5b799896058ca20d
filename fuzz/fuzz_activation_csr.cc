// Fuzzes pki::SignClientRequest on the certificate request an agent sends
// when it activates (AgentService::Activate signs it once to refuse a bad
// one before anything is stored; CreateAgent signs it for real), with a
// certificate authority made once. The first byte picks the form of the
// rest: even, the rest is the request as sent (PEM text); odd, the rest is
// DER, which the target wraps in PEM itself so that mutations reach the
// ASN.1 decoder rather than dying in base64.
//
// A refused request must give InvalidArgument with a message and leave no
// OpenSSL error behind on the thread (a stale one would be reported as the
// cause of the next failure); a signed one must be a certificate issued by
// the authority for the common name asked. A request made with
// pki::CreateRequest is checked to sign once, at start.
#include <openssl/err.h>
#include <openssl/evp.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "ferry/pki/pki.h"

namespace {

namespace pki = ferry::pki;

constexpr char kCommonName[] = "agent-0123456789abcdef0";

bool IsFor(const std::string& certificate_pem,
           const pki::KeyAndCertificate& a) {
  auto name = pki::CommonName(certificate_pem);
  return name.ok() && *name == kCommonName &&
         pki::VerifyIssuedBy(certificate_pem, a.certificate_pem).ok();
}

const pki::KeyAndCertificate& Authority() {
  static const pki::KeyAndCertificate* const authority = [] {
    auto made = pki::CreateAuthority("ferry fuzz CA", 30);
    if (!made.ok()) std::abort();
    auto* a = new pki::KeyAndCertificate(*made);
    // The success path, once.
    auto request = pki::CreateRequest("agent");
    if (!request.ok()) std::abort();
    auto cert =
        pki::SignClientRequest(*a, request->request_pem, kCommonName, 1);
    if (!cert.ok() || !IsFor(*cert, *a)) std::abort();
    return a;
  }();
  return *authority;
}

std::string DerToPem(std::string_view der) {
  std::string pem = "-----BEGIN CERTIFICATE REQUEST-----\n";
  for (size_t at = 0; at < der.size(); at += 48) {
    std::string_view chunk = der.substr(at, 48);
    unsigned char line[65];
    EVP_EncodeBlock(line, reinterpret_cast<const unsigned char*>(chunk.data()),
                    static_cast<int>(chunk.size()));
    pem += reinterpret_cast<const char*>(line);
    pem += '\n';
  }
  return pem + "-----END CERTIFICATE REQUEST-----\n";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const pki::KeyAndCertificate& authority = Authority();
  if (size == 0) return 0;
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::string pem = data[0] % 2 == 0 ? std::string(rest) : DerToPem(rest);

  ERR_clear_error();
  auto cert = pki::SignClientRequest(authority, pem, kCommonName, 1);
  if (ERR_peek_error() != 0) std::abort();
  if (!cert.ok()) {
    if (cert.status().code() != ferry::StatusCode::kInvalidArgument ||
        cert.status().message().empty()) {
      std::abort();
    }
    return 0;
  }
  if (!IsFor(*cert, authority)) std::abort();
  return 0;
}
