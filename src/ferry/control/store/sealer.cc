#include "ferry/control/store/sealer.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <optional>

#include "ferry/base/base64.h"

namespace ferry {
namespace {

constexpr std::string_view kUnboundPrefix = "v1:";  // no associated data
constexpr std::string_view kPrefix = "v2:";
constexpr size_t kKeySize = 32;
constexpr size_t kNonceSize = 12;
constexpr size_t kTagSize = 16;

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;

Status PosixError(std::string_view op, const std::string& path, int err) {
  std::string message = std::string(op) + " " + path + ": " + strerror(err);
  if (err == EACCES || err == EPERM) {
    return Status(StatusCode::kPermissionDenied, std::move(message), err);
  }
  if (err == ENOENT) return Status(StatusCode::kNotFound, message, err);
  return Status(StatusCode::kIoError, std::move(message), err);
}

// Writes `key` to a new file at `path`, atomically: a key file is either
// missing or complete, and one that another server created first wins.
Status CreateKeyFile(const std::string& path,
                     const std::array<unsigned char, kKeySize>& key) {
  std::string temp = path + ".tmp.XXXXXX";
  int fd = mkostemp(temp.data(), O_CLOEXEC);  // mode 0600
  if (fd < 0) return PosixError("creating", temp, errno);
  Status status;
  if (fchmod(fd, 0600) != 0) {
    status = PosixError("chmod", temp, errno);
  } else if (write(fd, key.data(), key.size()) !=
             static_cast<ssize_t>(key.size())) {
    status = PosixError("writing", temp, errno);
  } else if (fsync(fd) != 0) {
    status = PosixError("fsync", temp, errno);
  }
  close(fd);
  if (status.ok() && link(temp.c_str(), path.c_str()) != 0 && errno != EEXIST) {
    status = PosixError("linking", path, errno);
  }
  unlink(temp.c_str());
  return status;
}

// The associated data of a value sealed for `place`. Table and column
// names hold no NUL, and the row comes last: two places never give the same
// bytes.
std::string AssociatedData(const SealedPlace& place) {
  std::string ad = "ferry sealed value";
  for (std::string_view part : {place.table, place.column, place.row}) {
    ad += '\0';
    ad += part;
  }
  return ad;
}

}  // namespace

Result<std::unique_ptr<Sealer>> Sealer::OpenKeyFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0 && errno == ENOENT) {
    std::array<unsigned char, kKeySize> key;
    if (RAND_bytes(key.data(), key.size()) != 1) {
      return Status::Internal("no random bytes for a new secret key");
    }
    Status created = CreateKeyFile(path, key);
    OPENSSL_cleanse(key.data(), key.size());
    FERRY_RETURN_IF_ERROR(created);
    // Read it back: another server may have created it first.
    fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  }
  if (fd < 0) return PosixError("opening secret key", path, errno);

  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    return PosixError("stat", path, err);
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return Status::FailedPrecondition("secret key " + path +
                                      " is not a regular file");
  }
  if ((st.st_mode & 077) != 0) {
    close(fd);
    char mode[8];
    snprintf(mode, sizeof(mode), "%04o",
             static_cast<unsigned>(st.st_mode & 07777));
    return Status(StatusCode::kPermissionDenied,
                  "secret key " + path + " is open to other users (mode " +
                      mode + "); make it 0600: chmod 600 " + path);
  }
  if (st.st_size != static_cast<off_t>(kKeySize)) {
    close(fd);
    return Status::FailedPrecondition(
        "secret key " + path + " holds " + std::to_string(st.st_size) +
        " bytes, not " + std::to_string(kKeySize));
  }
  std::array<unsigned char, kKeySize> key;
  ssize_t n = read(fd, key.data(), key.size());
  int err = errno;
  close(fd);
  if (n != static_cast<ssize_t>(key.size())) {
    return n < 0 ? PosixError("reading", path, err)
                 : Status::IoError("secret key " + path + ": short read");
  }
  std::unique_ptr<Sealer> sealer = FromKey(key);
  OPENSSL_cleanse(key.data(), key.size());
  return sealer;
}

std::unique_ptr<Sealer> Sealer::FromKey(
    const std::array<unsigned char, 32>& key) {
  return std::unique_ptr<Sealer>(new Sealer(key));
}

Result<std::string> Sealer::Seal(std::string_view plaintext,
                                 const SealedPlace& place) const {
  if (plaintext.size() > INT_MAX / 2) {
    return Status::InvalidArgument("secret too large to seal: " +
                                   std::to_string(plaintext.size()) + " bytes");
  }
  std::string blob(kNonceSize + plaintext.size() + kTagSize, '\0');
  auto* nonce = reinterpret_cast<unsigned char*>(blob.data());
  unsigned char* ciphertext = nonce + kNonceSize;
  unsigned char* tag = ciphertext + plaintext.size();
  if (RAND_bytes(nonce, kNonceSize) != 1) {
    return Status::Internal("no random bytes for a nonce");
  }
  const std::string ad = AssociatedData(place);
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  int ad_len = 0;
  int final_len = 0;
  if (ctx == nullptr ||
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key_.data(),
                         nonce) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &ad_len,
                        reinterpret_cast<const unsigned char*>(ad.data()),
                        static_cast<int>(ad.size())) != 1 ||
      EVP_EncryptUpdate(
          ctx.get(), ciphertext, &len,
          reinterpret_cast<const unsigned char*>(plaintext.data()),
          static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), ciphertext + len, &final_len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagSize, tag) !=
          1) {
    return Status::Internal("AES-256-GCM encryption failed");
  }
  return std::string(kPrefix) + Base64Encode(blob);
}

bool Sealer::IsUnbound(std::string_view sealed) {
  return sealed.starts_with(kUnboundPrefix);
}

Result<std::string> Sealer::Open(std::string_view sealed,
                                 const SealedPlace& place) const {
  if (IsUnbound(sealed)) {
    return Status::DataLoss(
        "sealed value is of version 1, not bound to its row (the server "
        "reseals those when it starts; one seen later was put there since)");
  }
  return OpenBlob(kPrefix, sealed, AssociatedData(place));
}

Result<std::string> Sealer::OpenUnbound(std::string_view sealed) const {
  return OpenBlob(kUnboundPrefix, sealed, "");
}

Result<std::string> Sealer::OpenBlob(std::string_view prefix,
                                     std::string_view sealed,
                                     std::string_view associated_data) const {
  if (!sealed.starts_with(prefix)) {
    return Status::DataLoss("sealed value does not start with \"" +
                            std::string(prefix) + "\"");
  }
  // Strict base64: every sealed value has exactly one spelling, so changing
  // any character of it changes the bytes.
  std::optional<std::string> decoded =
      Base64Decode(sealed.substr(prefix.size()));
  if (!decoded) return Status::DataLoss("sealed value is not valid base64");
  const std::string blob = std::move(*decoded);
  if (blob.size() < kNonceSize + kTagSize) {
    return Status::DataLoss("sealed value is too short (" +
                            std::to_string(blob.size()) + " bytes)");
  }
  const auto* nonce = reinterpret_cast<const unsigned char*>(blob.data());
  const unsigned char* ciphertext = nonce + kNonceSize;
  const size_t size = blob.size() - kNonceSize - kTagSize;
  unsigned char tag[kTagSize];
  std::memcpy(tag, ciphertext + size, kTagSize);

  std::string plaintext(size, '\0');
  auto* out = reinterpret_cast<unsigned char*>(plaintext.data());
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  int ad_len = 0;
  int final_len = 0;
  if (ctx == nullptr ||
      EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key_.data(),
                         nonce) != 1 ||
      (!associated_data.empty() &&
       EVP_DecryptUpdate(
           ctx.get(), nullptr, &ad_len,
           reinterpret_cast<const unsigned char*>(associated_data.data()),
           static_cast<int>(associated_data.size())) != 1) ||
      EVP_DecryptUpdate(ctx.get(), out, &len, ciphertext,
                        static_cast<int>(size)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagSize, tag) !=
          1) {
    return Status::Internal("AES-256-GCM decryption failed to start");
  }
  if (EVP_DecryptFinal_ex(ctx.get(), out + len, &final_len) != 1) {
    OPENSSL_cleanse(plaintext.data(), plaintext.size());
    return Status::DataLoss(
        "sealed value failed authentication: it was changed, moved from "
        "another row, or sealed under another key");
  }
  return plaintext;
}

}  // namespace ferry
