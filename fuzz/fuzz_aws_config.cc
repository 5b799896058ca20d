// Fuzzes ParseAwsIni, the reader of the aws CLI's credentials and config
// files (ferry/aws/config.h). The whole input is the file. What parses must
// be within the limits (sections, settings per section), hold lower-case
// keys without line breaks, and name lines that exist; an error must name
// the file.
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "ferry/aws/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto ini = ferry::ParseAwsIni(text, "FILE");
  if (!ini.ok()) {
    if (!ini.status().message().starts_with("FILE")) std::abort();
    return 0;
  }
  size_t lines = 1;
  for (char c : text) lines += c == '\n';
  if (ini->size() > ferry::kMaxAwsIniSections) std::abort();
  for (const auto& [section, entries] : *ini) {
    if (section.empty() || section.find('\n') != std::string::npos) {
      std::abort();
    }
    if (entries.size() > ferry::kMaxAwsIniKeysPerSection) std::abort();
    for (const auto& [key, value] : entries) {
      if (key.empty() || key.find('\n') != std::string::npos ||
          value.value.find('\n') != std::string::npos) {
        std::abort();
      }
      for (char c : key) {
        if (std::isupper(static_cast<unsigned char>(c))) std::abort();
      }
      if (value.line < 1 || static_cast<size_t>(value.line) > lines) {
        std::abort();
      }
    }
  }
  return 0;
}
