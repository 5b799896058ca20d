// Fuzzes the parsing of object user metadata (untrusted: whatever wrote the
// bucket) into entries: "name: value" lines become the metadata map.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ferry/storage/object/object_metadata.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  ferry::ObjectMetadata metadata;
  while (!text.empty() && metadata.size() < 64) {
    size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? "" : text.substr(eol + 1);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    metadata[std::string(line.substr(0, colon))] = std::string(value);
  }
  ferry::Entry e = ferry::EntryFromObject(ferry::RelPath(), false, size, "etag",
                                          ferry::FileTime{1, 2}, metadata);
  // What is parsed formats back to something that parses the same.
  ferry::ObjectMetadata again;
  ferry::SetPosixMetadata(e, e.kind, ferry::MetadataPolicy{}, &again);
  ferry::SetDigestMetadata(e.digest, &again);
  ferry::Entry back = ferry::EntryFromObject(
      ferry::RelPath(), false, size, "etag", ferry::FileTime{1, 2}, again);
  if (back.mode != e.mode || back.uid != e.uid || back.gid != e.gid ||
      back.mtime != e.mtime || back.atime != e.atime ||
      !(back.digest == e.digest) || back.kind != e.kind) {
    __builtin_trap();
  }
  return 0;
}
