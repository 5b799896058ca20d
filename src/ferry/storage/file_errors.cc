#include "ferry/storage/file_errors.h"

#include <cerrno>

namespace ferry {

ErrnoMeaning MeaningOfErrno(int err) {
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return {StatusCode::kNotFound, false};
    case EEXIST:
    case ENOTEMPTY:
      return {StatusCode::kAlreadyExists, false};
    case EACCES:
    case EPERM:
    case EROFS:
      return {StatusCode::kPermissionDenied, false};
    case EISDIR:
      return {StatusCode::kFailedPrecondition, false};
    case ENOSPC:
    case EDQUOT:
      return {StatusCode::kResourceExhausted, false};
    case EMFILE:
    case ENFILE:
    case ENOMEM:
      return {StatusCode::kResourceExhausted, true};
    case EINTR:
    case EAGAIN:
    case ETIMEDOUT:
    case ESTALE:
    case ECONNRESET:
    case ECONNREFUSED:
    case ECONNABORTED:
    case EPIPE:
    case EHOSTUNREACH:
    case ENETUNREACH:
    case ENETDOWN:
    case ENETRESET:  // libsmbclient: a handle of a connection made again
    case EHOSTDOWN:
    case ENOTCONN:
      return {StatusCode::kUnavailable, true};
    case ENOTSUP:
      return {StatusCode::kNotSupported, false};
    default:
      return {StatusCode::kIoError, false};
  }
}

}  // namespace ferry
