#include "ferry/pki/pki.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

#include "ferry/base/hex.h"

namespace ferry::pki {
namespace {

template <typename T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using Cert = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using Req = std::unique_ptr<X509_REQ, Deleter<X509_REQ, X509_REQ_free>>;
using Bio = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using Store = std::unique_ptr<X509_STORE, Deleter<X509_STORE, X509_STORE_free>>;
using StoreCtx = std::unique_ptr<X509_STORE_CTX,
                                 Deleter<X509_STORE_CTX, X509_STORE_CTX_free>>;

Status OpenSslError(const std::string& what) {
  unsigned long e = ERR_get_error();
  char buf[256] = "unknown error";
  if (e != 0) ERR_error_string_n(e, buf, sizeof(buf));
  ERR_clear_error();
  return Status::Internal(what + ": " + buf);
}

Result<Pkey> NewKey() {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  if (!key) return OpenSslError("cannot make a key");
  return Pkey(key);
}

Result<std::string> KeyPem(EVP_PKEY* key) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr,
                                nullptr)) {
    return OpenSslError("cannot write a key");
  }
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

Result<std::string> CertPem(X509* cert) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_X509(bio.get(), cert))
    return OpenSslError("cannot write a certificate");
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

Result<Pkey> ReadKey(const std::string& pem) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
  if (!key) return OpenSslError("cannot read a private key");
  return Pkey(key);
}

Result<Cert> ReadCert(const std::string& pem) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
  if (!cert) return OpenSslError("cannot read a certificate");
  return Cert(cert);
}

Status AddExtension(X509* cert, X509* issuer, int nid,
                    const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (!ext) return OpenSslError("bad certificate extension " + value);
  int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  if (!ok) return OpenSslError("cannot add certificate extension");
  return Status::Ok();
}

// A certificate with a random serial, the given subject CN and validity.
Result<Cert> NewCert(const std::string& common_name, int days) {
  Cert cert(X509_new());
  X509_set_version(cert.get(), 2);
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof(serial)) != 1)
    return OpenSslError("no random serial");
  serial[0] &= 0x7F;  // positive
  BIGNUM* bn = BN_bin2bn(serial, sizeof(serial), nullptr);
  ASN1_INTEGER* asn = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  if (!asn) return OpenSslError("cannot set a serial");
  X509_gmtime_adj(X509_getm_notBefore(cert.get()),
                  -3600);  // tolerate clock skew
  X509_gmtime_adj(X509_getm_notAfter(cert.get()),
                  static_cast<long>(days) * 86400);
  X509_NAME* name = X509_get_subject_name(cert.get());
  if (!X509_NAME_add_entry_by_txt(
          name, "CN", MBSTRING_UTF8,
          reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
          0)) {
    return OpenSslError("bad common name");
  }
  return cert;
}

bool IsIpAddress(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 ||
         inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

}  // namespace

Result<KeyAndCertificate> CreateAuthority(const std::string& common_name,
                                          int days) {
  FERRY_ASSIGN_OR_RETURN(Pkey key, NewKey());
  FERRY_ASSIGN_OR_RETURN(Cert cert, NewCert(common_name, days));
  X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get()));
  X509_set_pubkey(cert.get(), key.get());
  FERRY_RETURN_IF_ERROR(AddExtension(cert.get(), cert.get(),
                                     NID_basic_constraints,
                                     "critical,CA:TRUE,pathlen:0"));
  FERRY_RETURN_IF_ERROR(AddExtension(cert.get(), cert.get(), NID_key_usage,
                                     "critical,keyCertSign,cRLSign"));
  FERRY_RETURN_IF_ERROR(
      AddExtension(cert.get(), cert.get(), NID_subject_key_identifier, "hash"));
  if (!X509_sign(cert.get(), key.get(), EVP_sha256()))
    return OpenSslError("cannot sign");
  KeyAndCertificate out;
  FERRY_ASSIGN_OR_RETURN(out.key_pem, KeyPem(key.get()));
  FERRY_ASSIGN_OR_RETURN(out.certificate_pem, CertPem(cert.get()));
  return out;
}

Result<KeyAndCertificate> CreateServerCertificate(
    const KeyAndCertificate& authority, const std::vector<std::string>& names,
    int days) {
  if (names.empty())
    return Status::InvalidArgument("a server certificate needs a name");
  FERRY_ASSIGN_OR_RETURN(Pkey ca_key, ReadKey(authority.key_pem));
  FERRY_ASSIGN_OR_RETURN(Cert ca, ReadCert(authority.certificate_pem));
  FERRY_ASSIGN_OR_RETURN(Pkey key, NewKey());
  FERRY_ASSIGN_OR_RETURN(Cert cert, NewCert(names[0], days));
  X509_set_issuer_name(cert.get(), X509_get_subject_name(ca.get()));
  X509_set_pubkey(cert.get(), key.get());
  std::string san;
  for (const std::string& n : names) {
    if (!san.empty()) san += ",";
    san += (IsIpAddress(n) ? "IP:" : "DNS:") + n;
  }
  FERRY_RETURN_IF_ERROR(
      AddExtension(cert.get(), ca.get(), NID_subject_alt_name, san));
  FERRY_RETURN_IF_ERROR(
      AddExtension(cert.get(), ca.get(), NID_basic_constraints, "CA:FALSE"));
  FERRY_RETURN_IF_ERROR(AddExtension(cert.get(), ca.get(), NID_key_usage,
                                     "critical,digitalSignature"));
  FERRY_RETURN_IF_ERROR(
      AddExtension(cert.get(), ca.get(), NID_ext_key_usage, "serverAuth"));
  if (!X509_sign(cert.get(), ca_key.get(), EVP_sha256()))
    return OpenSslError("cannot sign");
  KeyAndCertificate out;
  FERRY_ASSIGN_OR_RETURN(out.key_pem, KeyPem(key.get()));
  FERRY_ASSIGN_OR_RETURN(out.certificate_pem, CertPem(cert.get()));
  return out;
}

Result<KeyAndRequest> CreateRequest(const std::string& common_name) {
  FERRY_ASSIGN_OR_RETURN(Pkey key, NewKey());
  Req req(X509_REQ_new());
  X509_REQ_set_version(req.get(), 0);
  X509_NAME* name = X509_REQ_get_subject_name(req.get());
  if (!X509_NAME_add_entry_by_txt(
          name, "CN", MBSTRING_UTF8,
          reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
          0)) {
    return OpenSslError("bad common name");
  }
  X509_REQ_set_pubkey(req.get(), key.get());
  if (!X509_REQ_sign(req.get(), key.get(), EVP_sha256())) {
    return OpenSslError("cannot sign a request");
  }
  Bio bio(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_X509_REQ(bio.get(), req.get()))
    return OpenSslError("cannot write a request");
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  KeyAndRequest out;
  out.request_pem.assign(data, static_cast<size_t>(n));
  FERRY_ASSIGN_OR_RETURN(out.key_pem, KeyPem(key.get()));
  return out;
}

Result<std::string> SignClientRequest(const KeyAndCertificate& authority,
                                      const std::string& request_pem,
                                      const std::string& common_name,
                                      int days) {
  Bio bio(BIO_new_mem_buf(request_pem.data(),
                          static_cast<int>(request_pem.size())));
  Req req(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
  if (!req) {
    // Left queued, the decoder's errors would be taken for those of the
    // thread's next OpenSSL call (SSL_get_error, OpenSslError).
    ERR_clear_error();
    return Status::InvalidArgument(
        "the certificate request is not a PEM request");
  }
  EVP_PKEY* req_key = X509_REQ_get0_pubkey(req.get());
  if (!req_key || X509_REQ_verify(req.get(), req_key) != 1) {
    ERR_clear_error();
    return Status::InvalidArgument(
        "the certificate request's signature does not verify");
  }
  FERRY_ASSIGN_OR_RETURN(Pkey ca_key, ReadKey(authority.key_pem));
  FERRY_ASSIGN_OR_RETURN(Cert ca, ReadCert(authority.certificate_pem));
  FERRY_ASSIGN_OR_RETURN(Cert cert, NewCert(common_name, days));
  X509_set_issuer_name(cert.get(), X509_get_subject_name(ca.get()));
  X509_set_pubkey(cert.get(), req_key);
  FERRY_RETURN_IF_ERROR(
      AddExtension(cert.get(), ca.get(), NID_basic_constraints, "CA:FALSE"));
  FERRY_RETURN_IF_ERROR(AddExtension(cert.get(), ca.get(), NID_key_usage,
                                     "critical,digitalSignature"));
  FERRY_RETURN_IF_ERROR(
      AddExtension(cert.get(), ca.get(), NID_ext_key_usage, "clientAuth"));
  if (!X509_sign(cert.get(), ca_key.get(), EVP_sha256()))
    return OpenSslError("cannot sign");
  return CertPem(cert.get());
}

Result<std::string> CommonName(const std::string& certificate_pem) {
  FERRY_ASSIGN_OR_RETURN(Cert cert, ReadCert(certificate_pem));
  X509_NAME* name = X509_get_subject_name(cert.get());
  int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (idx < 0)
    return Status::InvalidArgument("the certificate has no common name");
  ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(data)),
                     static_cast<size_t>(ASN1_STRING_length(data)));
}

Result<std::string> Sha256Fingerprint(const std::string& certificate_pem) {
  FERRY_ASSIGN_OR_RETURN(Cert cert, ReadCert(certificate_pem));
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (X509_digest(cert.get(), EVP_sha256(), md, &n) != 1) {
    return Status::Internal("cannot digest the certificate");
  }
  return LowerHex(md, n);
}

Status VerifyIssuedBy(const std::string& certificate_pem,
                      const std::string& authority_pem) {
  FERRY_ASSIGN_OR_RETURN(Cert cert, ReadCert(certificate_pem));
  FERRY_ASSIGN_OR_RETURN(Cert ca, ReadCert(authority_pem));
  Store store(X509_STORE_new());
  X509_STORE_add_cert(store.get(), ca.get());
  StoreCtx ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), nullptr);
  if (X509_verify_cert(ctx.get()) != 1) {
    int err = X509_STORE_CTX_get_error(ctx.get());
    return Status(StatusCode::kPermissionDenied,
                  std::string("certificate not issued by this authority: ") +
                      X509_verify_cert_error_string(err));
  }
  return Status::Ok();
}

}  // namespace ferry::pki
