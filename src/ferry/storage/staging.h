// Temporary files for file-system backends (posix, SMB, NFS): a file is
// written under a temporary name beside its final one and renamed into place
// by Commit. The names say which host and process wrote them, so that a run
// can remove what an interrupted one left without touching another host's
// live write to a shared destination. Thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "ferry/base/status.h"
#include "ferry/storage/backend.h"

namespace ferry {

// A tag of this boot and PID namespace, part of every temporary name.
uint32_t HostTag();

// A fresh name (IsFerryTempName): ".ferry-tmp-<host tag>-<pid>-<counter>",
// unique within this process and, with its host tag, across the hosts that
// share a destination.
std::string NewTempName();

// True when the temporary file `name` (IsFerryTempName) was written by a
// process of this host and PID namespace that has exited. False when that
// cannot be told: another host's (a shared NFS or SMB destination) or an
// older version's name.
bool StagingWriterGone(std::string_view name);

// Backend::CleanupStagingEntry for a temporary file a listing flagged
// (Entry::kStaging): removed through `backend` when its writer is gone or
// it was untouched (by its mtime) for cleanup.max_age; left otherwise.
Status CleanupTempFile(Backend& backend, const Entry& staging,
                       const StagingCleanup& cleanup);

}  // namespace ferry
