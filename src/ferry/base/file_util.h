// Small whole-file helpers for the files ferry keeps beside its data: keys,
// certificates, configuration, an agent's saved reports. Not for transfer
// data (that goes through storage/). Thread-safe; concurrent writers of one
// path are not supported (they share the temporary name).
#pragma once

#include <cstddef>
#include <string>

#include "ferry/base/status.h"

namespace ferry {

// Writes `text` to `path` so that a reader sees the old content or all of
// the new, never part of it, even after a crash: PATH.tmp is written with
// `mode` (whatever the umask), flushed to disk and renamed over `path`.
// On failure PATH.tmp may remain; `path` is as it was.
Status WriteFileAtomically(const std::string& path, const std::string& text,
                           unsigned mode);

// The whole file. NotFound if it does not exist, IoError if it cannot be
// read, InvalidArgument if it holds more than `max_bytes`; each names `path`.
Result<std::string> ReadTextFile(const std::string& path,
                                 size_t max_bytes = 1 << 20);

}  // namespace ferry
