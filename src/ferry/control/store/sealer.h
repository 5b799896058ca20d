// Sealer: encrypts location secrets (SMB passwords, object storage secret
// keys, SAS tokens) and access keys' secrets before they reach the database,
// with AES-256-GCM under a key kept in the server's data directory (created
// on first use, mode 0600). Each value is bound to where it is kept (table,
// column, the row's primary key), as the cipher's associated data: moved to
// another row, it no longer opens, so write access to the database without
// the key cannot hand one location's password to another's agents.
// A sealed value is text: "v2:" + base64(12-byte nonce | ciphertext |
// 16-byte tag). "v1:" values (the same without associated data, as ferry
// sealed them before) open only through OpenUnbound, for the migration that
// reseals them. Opening fails cleanly (DataLoss) on any tampering, another
// row, or a wrong key. Thread-safe.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <string_view>

#include "ferry/base/status.h"

namespace ferry {

// Where a sealed value is kept. The views must outlive the call they are
// passed to.
struct SealedPlace {
  std::string_view table;
  std::string_view column;
  std::string_view row;  // the row's primary key
};

class Sealer {
 public:
  // Loads the key file at `path` (the server uses DIR/secret.key), creating
  // it (32 random bytes, 0600) if missing. Refused if group or others have
  // any access to it (PermissionDenied) or it does not hold 32 bytes
  // (FailedPrecondition).
  static Result<std::unique_ptr<Sealer>> OpenKeyFile(const std::string& path);
  static std::unique_ptr<Sealer> FromKey(
      const std::array<unsigned char, 32>& key);

  // Seals `plaintext` for `place`: it opens only with the same place.
  Result<std::string> Seal(std::string_view plaintext,
                           const SealedPlace& place) const;
  // Opens a "v2:" value sealed for `place`; a "v1:" value is refused.
  Result<std::string> Open(std::string_view sealed,
                           const SealedPlace& place) const;
  // Opens a "v1:" value (sealed before values were bound to their place);
  // only the migration that reseals them calls it.
  Result<std::string> OpenUnbound(std::string_view sealed) const;
  // Whether `sealed` is a "v1:" value, which OpenUnbound opens.
  static bool IsUnbound(std::string_view sealed);

 private:
  explicit Sealer(const std::array<unsigned char, 32>& key) : key_(key) {}
  Result<std::string> OpenBlob(std::string_view prefix, std::string_view sealed,
                               std::string_view associated_data) const;
  std::array<unsigned char, 32> key_;
};

}  // namespace ferry
