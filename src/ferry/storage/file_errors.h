// How an errno from a file system reads as a Status, for the backends that
// reach one through a POSIX-like API (posix, SMB, NFS): one table, so that a
// missing file, a full disk or a dropped connection means the same to the
// engine whatever holds the file. Pure; thread-safe.
#pragma once

#include "ferry/base/status.h"

namespace ferry {

struct ErrnoMeaning {
  StatusCode code = StatusCode::kIoError;
  bool retryable = false;  // a retry after a backoff may succeed
};

// ENOENT, ENOTDIR: kNotFound. EEXIST, ENOTEMPTY: kAlreadyExists. EACCES,
// EPERM, EROFS: kPermissionDenied. EISDIR: kFailedPrecondition. ENOSPC,
// EDQUOT: kResourceExhausted (not retried: a full disk does not clear within
// a backoff). EMFILE, ENFILE, ENOMEM: kResourceExhausted, retried. EINTR,
// EAGAIN, ETIMEDOUT, ESTALE and a lost or refused connection: kUnavailable,
// retried. ENOTSUP: kNotSupported. Anything else: kIoError.
ErrnoMeaning MeaningOfErrno(int err);

}  // namespace ferry
