// Fuzzes ParseIni, the client's reader of the aws CLI's credentials and
// config files (~/.aws/credentials, ~/.aws/config). The whole input is the
// file.
//
// Every key must be lower-case, without '=' or ':' and trimmed; every
// section name and value trimmed; none holds a line break. Written back as
// "[section]" and "key = value" lines, the result must read back the same
// (keys that would read as a comment or a section header aside).
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "ferry/client/client_config.h"

namespace {

bool IsTrimmed(std::string_view s) {
  return s.empty() || (!std::isspace(static_cast<unsigned char>(s.front())) &&
                       !std::isspace(static_cast<unsigned char>(s.back())));
}

bool HasLineBreak(std::string_view s) {
  return s.find('\n') != std::string_view::npos;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  const ferry::IniFile ini = ferry::ParseIni(text);

  std::string written;
  bool writable = true;
  for (const auto& [section, entries] : ini) {
    if (!IsTrimmed(section) || HasLineBreak(section)) std::abort();
    written += "[" + section + "]\n";
    for (const auto& [key, value] : entries) {
      if (!IsTrimmed(key) || !IsTrimmed(value) || HasLineBreak(key) ||
          HasLineBreak(value) || key.find_first_of("=:") != std::string::npos) {
        std::abort();
      }
      for (char c : key) {
        if (c >= 'A' && c <= 'Z') std::abort();
      }
      if (!key.empty() && (key[0] == '#' || key[0] == ';' || key[0] == '[')) {
        writable = false;
      }
      // " = v" would be a continuation line.
      written += (key.empty() ? "" : key + " ") + "= " + value + "\n";
    }
  }
  if (writable && ferry::ParseIni(written) != ini) std::abort();
  return 0;
}
