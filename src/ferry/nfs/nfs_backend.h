// The "nfs" location type: a folder of an NFS export, through libnfs (a
// userspace client: no kernel mount), NFSv3 for reading and writing, NFSv4
// for reading.
//
// The backend keeps a small pool of libnfs contexts, each its own mount and
// TCP connection, and lends one to each call (a context is used by one
// thread at a time; contexts share nothing). A file being read or written
// keeps one open handle per connection it was used on. Files are written
// under a temporary name beside their final one (see storage/staging.h),
// given their mode and owner through the open handle, and renamed into
// place at Commit. Network faults (a lost or refused connection, a timeout)
// are retried with backoff on a fresh connection; a refusal (a missing
// export, permission denied, a squashed root that may not give a file away)
// is reported at once, naming the location or the file.
//
// What NFS keeps: content, mode, uid and gid, mtime and atime (to the
// microsecond: libnfs sets times as timevals; not of symbolic links, whose
// times libnfs cannot set), change time, symbolic links,
// hard links, FIFOs, sockets and devices (where the server lets the caller
// make them).
#pragma once

#include <memory>
#include <string>

#include "ferry/base/status.h"
#include "ferry/storage/backend.h"
#include "ferry/storage/registry.h"

namespace ferry {

// The NFS version of DataSync's MountOptions.Version ("", AUTOMATIC, NFS3,
// NFS4_0, NFS4_1) or of an nfs:// URL's ?version= ("3", "4"): 3 or 4.
Result<int> NfsVersion(const std::string& version);

// spec.host ("HOST" or "HOST:PORT", the port of the NFS service; MOUNT
// and the portmapper stay on their own ports), spec.path (the export and a
// folder beneath it, "export/dir": the export is the longest leading part
// the server lets one mount) and spec.endpoint.version (see NfsVersion).
// Checks that the server answers, the export exists and the folder is
// there (created with spec.create_root), and says which of these failed.
// A destination over NFSv4 is refused: libnfs 4.0.0 fails NFSv4 writes of
// more than about 4 KB.
Result<std::unique_ptr<Backend>> OpenNfsBackend(const LocationSpec& spec);

// Registers the "nfs" location type. Idempotent.
void RegisterNfsBackend();

}  // namespace ferry
