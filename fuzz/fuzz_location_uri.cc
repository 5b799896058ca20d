// Fuzzes location URI parsing (command line and API input).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ferry/storage/registry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)ferry::ParseLocationUri(text);
  return 0;
}
