// Percent-encoding and -decoding of URL parts (RFC 3986), shared by SigV4,
// the server's query parsing and the smb:// URLs of libsmbclient.
#pragma once

#include <string>
#include <string_view>

namespace ferry {

// The value of a hex digit, or -1.
int HexValue(char c);

// Every byte but the unreserved ones (A-Z a-z 0-9 - . _ ~) as %XX in
// upper-case hex; '/' too unless `keep_slash`.
std::string PercentEncode(std::string_view s, bool keep_slash);

// Decodes %XX escapes; a '%' not followed by two hex digits stays as it is.
// With `plus_is_space` (application/x-www-form-urlencoded), '+' is a space.
std::string PercentDecode(std::string_view s, bool plus_is_space = false);

}  // namespace ferry
