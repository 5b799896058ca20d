// Base64 (RFC 4648, standard alphabet, padded), as the DataSync JSON API
// carries blobs. Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace ferry {

std::string Base64Encode(std::string_view data);
// nullopt unless `text` is canonical padded base64 (no whitespace).
std::optional<std::string> Base64Decode(std::string_view text);

}  // namespace ferry
