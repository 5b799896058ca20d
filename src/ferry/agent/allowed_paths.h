// Which local paths an agent may read and write (`ferry agent --allowed-path
// DIR`, repeatable). Whoever holds an API key administers the server and may
// name any path in CreateLocationLocal; the operator of the agent's host
// bounds what the agent touches there. Paths are compared after
// normalization: "." and ".." resolved lexically, then symlinks resolved
// (realpath) as far as the path exists, so that "/data/../etc" and a
// symlink in /data pointing at /etc are both outside /data. The path
// checked is the path the agent then opens. Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "ferry/base/status.h"

namespace ferry::agent {

// `path` (absolute) with "." and ".." resolved lexically, its longest part
// that exists resolved with realpath(3), and the rest (which does not
// exist yet) appended. InvalidArgument for a path that is not absolute;
// FailedPrecondition, naming the entry, when what exists cannot be
// resolved (a dangling symlink, a loop, no permission).
Result<std::string> NormalizePath(std::string_view path);

// Whether `path` is `dir` or lies beneath it, both normalized: compared by
// whole components (/data2 is not beneath /data).
bool IsWithin(std::string_view path, std::string_view dir);

// `path` normalized, if it lies within one of `allowed` (each normalized
// now: an allowed directory may be created or moved after the agent
// started). PermissionDenied otherwise, naming the path (and what it
// resolved to) and the allowed paths. With `allowed` empty every path is
// allowed and `path` comes back as given.
Result<std::string> CheckAllowedPath(const std::string& path,
                                     const std::vector<std::string>& allowed);

}  // namespace ferry::agent
