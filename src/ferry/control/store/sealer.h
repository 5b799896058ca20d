// Sealer: encrypts location secrets (SMB passwords, object storage secret
// keys, SAS tokens) before they reach the database, with AES-256-GCM under a
// key kept in the server's data directory (created on first use, mode 0600).
// A sealed value is text: "v1:" + base64(12-byte nonce | ciphertext | 16-byte
// tag). Opening fails cleanly (DataLoss) on any tampering or a wrong key.
// Thread-safe.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <string_view>

#include "ferry/base/status.h"

namespace ferry {

class Sealer {
 public:
  // Loads the key file at `path` (the server uses DIR/secret.key), creating
  // it (32 random bytes, 0600) if missing. Refused if group or others have
  // any access to it (PermissionDenied) or it does not hold 32 bytes
  // (FailedPrecondition).
  static Result<std::unique_ptr<Sealer>> OpenKeyFile(const std::string& path);
  static std::unique_ptr<Sealer> FromKey(
      const std::array<unsigned char, 32>& key);

  Result<std::string> Seal(std::string_view plaintext) const;
  Result<std::string> Open(std::string_view sealed) const;

 private:
  explicit Sealer(const std::array<unsigned char, 32>& key) : key_(key) {}
  std::array<unsigned char, 32> key_;
};

}  // namespace ferry
