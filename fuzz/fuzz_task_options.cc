// Fuzzes the aws CLI shorthand parser for task options (--options).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ferry/options/task_options.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  ferry::TaskOptions options;
  if (options.SetFromShorthand(text).ok()) {
    (void)options.Validate();
    (void)options.ToPairs();
  }
  return 0;
}
