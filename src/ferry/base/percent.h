// Percent-decoding of URL parts (RFC 3986), shared by the SigV4 canonical
// query and the server's query parsing.
#pragma once

#include <string>
#include <string_view>

namespace ferry {

// The value of a hex digit, or -1.
int HexValue(char c);

// Decodes %XX escapes; a '%' not followed by two hex digits stays as it is.
// With `plus_is_space` (application/x-www-form-urlencoded), '+' is a space.
std::string PercentDecode(std::string_view s, bool plus_is_space = false);

}  // namespace ferry
