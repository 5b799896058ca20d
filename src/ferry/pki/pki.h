// PKI: the certificates of a ferry deployment, made with OpenSSL. Shared by
// the server (the authority, server certificates, signing agents' requests)
// and the agent (its key and request, checking what the server signed), so
// it sits beside them rather than in either.
//
// `ferry server init` creates a certificate authority (or takes one given)
// and a server certificate for the server's names and addresses. Agents make
// a key and a certificate request at activation; CreateAgent signs it with
// the authority, naming the agent's ID ("agent-..." of its ARN; a common name
// holds at most 64 characters) in the subject's common name, so the server
// can tell agents apart by the certificate they present. Keys are EC
// P-256; everything is PEM text. Functions are thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ferry/base/status.h"

namespace ferry::pki {

struct KeyAndCertificate {
  std::string key_pem;
  std::string certificate_pem;
};

// A self-signed certificate authority valid for `days`.
Result<KeyAndCertificate> CreateAuthority(const std::string& common_name,
                                          int days);

// A server certificate signed by `authority` for DNS names and IP addresses
// (as subject alternative names), valid for `days`.
Result<KeyAndCertificate> CreateServerCertificate(
    const KeyAndCertificate& authority, const std::vector<std::string>& names,
    int days);

// A new private key and a certificate request for it (agents).
struct KeyAndRequest {
  std::string key_pem;
  std::string request_pem;
};
Result<KeyAndRequest> CreateRequest(const std::string& common_name);

// Signs a certificate request as a client certificate whose subject common
// name is `common_name` (whatever the request asked for). Fails on a request
// that is malformed or whose self-signature does not verify.
Result<std::string> SignClientRequest(const KeyAndCertificate& authority,
                                      const std::string& request_pem,
                                      const std::string& common_name, int days);

// The subject common name of a certificate.
Result<std::string> CommonName(const std::string& certificate_pem);

// The SHA-256 of a certificate's DER encoding, lower-case hex (what a TLS
// server sees of a client's certificate: PeerCertificate).
Result<std::string> Sha256Fingerprint(const std::string& certificate_pem);

// Checks that `certificate_pem` was issued by `authority_pem` and is valid now.
Status VerifyIssuedBy(const std::string& certificate_pem,
                      const std::string& authority_pem);

}  // namespace ferry::pki
