// UTF-8 validity (RFC 3629: no overlong forms, no surrogates, at most
// U+10FFFF). Pure; thread-safe.
#pragma once

#include <cstddef>
#include <string_view>

namespace ferry {

bool IsValidUtf8(std::string_view s);

// The length of the valid UTF-8 sequence starting at s[i] (1 to 4), or 0
// if none starts there. REQUIRES: i < s.size().
size_t Utf8SequenceLength(std::string_view s, size_t i);

// The number of code points in valid UTF-8 `s` (S3 counts the length of
// tag keys and values so): its bytes that do not continue a sequence.
size_t Utf8CodePoints(std::string_view s);

}  // namespace ferry
