// The "smb" location type: a folder of an SMB share (SMB1 to SMB3, NTLM
// with a user name, password and domain), through libsmbclient.
//
// libsmbclient's contexts are not thread-safe: the backend keeps a small
// pool of them, each with its own connection to the server, and lends one
// to each call. A file being read or written keeps one open handle per
// connection it was used on, so that parallel reads and writes of one file
// go over several connections. Files are written under a temporary name
// beside their final one (see storage/staging.h) and renamed into place at
// Commit. Network faults (a reset or refused connection, a timeout) are
// retried with backoff; a refusal (a wrong password, a missing share,
// permission denied) is reported at once, naming the location.
//
// What SMB keeps of a file: its content, mtime and atime (to the
// microsecond), and its change time. No POSIX owner or mode, no links.
#pragma once

#include <memory>

#include "ferry/base/status.h"
#include "ferry/storage/backend.h"
#include "ferry/storage/registry.h"

namespace ferry {

// spec.host ("HOST" or "HOST:PORT"), spec.bucket (the share), spec.path
// (a folder beneath it), and spec.endpoint's user, password, domain and
// version (AUTOMATIC or "", SMB1, SMB2_0, SMB2, SMB3). Checks that the
// server answers, the account logs on and the folder exists (created with
// spec.create_root), and says which of these failed.
Result<std::unique_ptr<Backend>> OpenSmbBackend(const LocationSpec& spec);

// Registers the "smb" location type. Idempotent.
void RegisterSmbBackend();

}  // namespace ferry
