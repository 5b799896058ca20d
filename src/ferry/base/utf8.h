// UTF-8 validity (RFC 3629: no overlong forms, no surrogates, at most
// U+10FFFF). Pure; thread-safe.
#pragma once

#include <cstddef>
#include <string_view>

namespace ferry {

bool IsValidUtf8(std::string_view s);

// The number of code points in valid UTF-8 `s` (S3 counts the length of
// tag keys and values so): its bytes that do not continue a sequence.
size_t Utf8CodePoints(std::string_view s);

}  // namespace ferry
