// PosixBackend: a location that is a directory of a local (or locally
// mounted) POSIX file system.
//
// Every access starts from a directory descriptor opened on the root and
// resolves paths with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), or, on
// kernels without openat2, one O_NOFOLLOW component at a time; operations on a
// final component use the *at() calls with AT_SYMLINK_NOFOLLOW. So no symbolic
// link is ever followed beneath the root and nothing outside it is touched,
// whatever the tree holds. Files are written under a temporary name
// (kTempPrefix...) in their destination directory and renamed into place.
// Thread-safe.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "ferry/storage/backend.h"

namespace ferry {

struct PosixBackendOptions {
  // Create the root directory (and its parents) if it does not exist.
  bool create_root = false;
  // Resolve paths one component at a time even where openat2 exists.
  bool component_walk = false;
  // A destination: put back the access time of a symbolic link after reading
  // its target (which sets it), so the time ferry copied stays.
  bool keep_link_atimes = false;
  // A destination: its listings flag ferry's temporary files as staging
  // (Entry::kStaging), which CleanupStagingEntry removes once abandoned. In
  // a source they are data like any other name.
  bool flag_staging = false;
};

Result<std::unique_ptr<Backend>> OpenPosixBackend(
    const std::string& root, const PosixBackendOptions& options = {});

// Maps an errno from `op` on `path` to a Status: the one place that does.
Status PosixError(std::string_view op, const RelPath& path, int err);

}  // namespace ferry
