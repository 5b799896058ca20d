// Fuzzes Filter::Parse and Decide with DataSync filter values from users and
// the API: the first line is the include value, the second the exclude value,
// the rest a path to decide on.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ferry/options/filter.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  size_t a = text.find('\n');
  if (a == std::string_view::npos) return 0;
  size_t b = text.find('\n', a + 1);
  if (b == std::string_view::npos) return 0;
  auto filter =
      ferry::Filter::Parse(text.substr(0, a), text.substr(a + 1, b - a - 1));
  if (!filter.ok()) return 0;
  auto path = ferry::RelPath::Parse(text.substr(b + 1));
  if (!path.ok()) return 0;
  (void)filter->Decide(*path, true);
  (void)filter->Decide(*path, false);
  return 0;
}
