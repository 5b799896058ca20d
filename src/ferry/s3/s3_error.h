// The one place S3's errors become Statuses, and where it is decided which
// are worth retrying. Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "ferry/base/status.h"
#include "ferry/s3/s3_types.h"

namespace ferry {

// Whether an HTTP status and S3 error code are transient: 5xx, 429,
// SlowDown, RequestTimeout, InternalError, ServiceUnavailable, Throttling.
bool IsRetryableS3Error(int http_status, std::string_view code);

// The Status of a response with a non-2xx HTTP status (or a 200 whose body
// is an <Error>), worded "CONTEXT: STATUS CODE: Message (request id ID)",
// e.g. "PUT s3://b/k at http://127.0.0.1:17480: 403 SignatureDoesNotMatch:
// The request signature we calculated does not match...". Codes:
//   404 NoSuchBucket                   kFailedPrecondition (never a missing
//                                      object: the location is wrong)
//   404 (NoSuchKey, NoSuchUpload, ...) kNotFound
//   403                                kPermissionDenied
//   412 (If-Match failed)              kSourceChanged ("changed since
//                                      listed")
//   409 BucketAlreadyOwnedByYou/Exists kAlreadyExists
//   3xx                                kFailedPrecondition (redirects are
//                                      not followed; names the endpoint)
//   retryable (see above)              kUnavailable, retryable
//   other 4xx                          kInvalidArgument
// `location` is the Location header of a redirect, if any.
Status S3ErrorStatus(std::string_view context, int http_status,
                     const std::optional<S3ErrorDocument>& error,
                     std::string_view location = {});

}  // namespace ferry
