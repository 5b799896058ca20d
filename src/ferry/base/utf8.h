// UTF-8 validity (RFC 3629: no overlong forms, no surrogates, at most
// U+10FFFF). Pure; thread-safe.
#pragma once

#include <string_view>

namespace ferry {

bool IsValidUtf8(std::string_view s);

}  // namespace ferry
