// Fuzzes the manifest CSV parser (files users hand to --manifest and the
// API's ManifestConfig).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ferry/diff/manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto paths = ferry::ParseManifest(text);
  if (!paths.ok()) return 0;
  // Whatever is accepted is sorted, unique and never the root.
  for (size_t i = 0; i < paths->size(); ++i) {
    if ((*paths)[i].IsRoot()) std::abort();
    if (i > 0 && ferry::ComparePaths((*paths)[i - 1], (*paths)[i]) >= 0)
      std::abort();
  }
  return 0;
}
