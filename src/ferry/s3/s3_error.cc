#include "ferry/s3/s3_error.h"

namespace ferry {
namespace {

// The code S3 would have sent, for a response without a body (HEAD).
std::string CodeForStatus(int status) {
  switch (status) {
    case 301:
      return "PermanentRedirect";
    case 307:
      return "TemporaryRedirect";
    case 400:
      return "BadRequest";
    case 403:
      return "Forbidden";
    case 404:
      return "NotFound";
    case 409:
      return "Conflict";
    case 412:
      return "PreconditionFailed";
    case 416:
      return "InvalidRange";
    case 429:
      return "TooManyRequests";
    case 500:
      return "InternalError";
    case 503:
      return "ServiceUnavailable";
    default:
      return "HTTP" + std::to_string(status);
  }
}

}  // namespace

bool IsRetryableS3Error(int http_status, std::string_view code) {
  return http_status >= 500 || http_status == 429 || code == "SlowDown" ||
         code == "RequestTimeout" || code == "InternalError" ||
         code == "ServiceUnavailable" || code == "Throttling" ||
         code == "ThrottlingException" || code == "RequestLimitExceeded";
}

Status S3ErrorStatus(std::string_view context, int http_status,
                     const std::optional<S3ErrorDocument>& error,
                     std::string_view location) {
  const std::string code =
      error && !error->code.empty() ? error->code : CodeForStatus(http_status);
  std::string message =
      std::string(context) + ": " + std::to_string(http_status) + " " + code;
  if (error && !error->message.empty()) message += ": " + error->message;
  if (code == "NoSuchBucket") message += " (the bucket does not exist)";
  if (http_status == 412)
    message += " (the object changed since it was listed)";
  if (http_status >= 300 && http_status < 400) {
    std::string where = error && !error->endpoint.empty()
                            ? error->endpoint
                            : std::string(location);
    message += where.empty() ? " (redirects are not followed)"
                             : " (the bucket is served at " + where +
                                   "; redirects are not followed)";
  }
  if (error && !error->request_id.empty()) {
    message += " (request id " + error->request_id + ")";
  }
  if (IsRetryableS3Error(http_status, code)) {
    return Status(StatusCode::kUnavailable, std::move(message), 0, true);
  }
  StatusCode status_code = StatusCode::kIoError;
  if (code == "NoSuchBucket") {
    status_code = StatusCode::kFailedPrecondition;
  } else if (http_status == 404) {
    status_code = StatusCode::kNotFound;
  } else if (http_status == 403) {
    status_code = StatusCode::kPermissionDenied;
  } else if (http_status == 412) {
    status_code = StatusCode::kSourceChanged;
  } else if (code == "BucketAlreadyOwnedByYou" ||
             code == "BucketAlreadyExists") {
    status_code = StatusCode::kAlreadyExists;
  } else if (http_status >= 300 && http_status < 400) {
    status_code = StatusCode::kFailedPrecondition;
  } else if (http_status >= 400 && http_status < 500) {
    status_code = StatusCode::kInvalidArgument;
  }
  return Status(status_code, std::move(message));
}

}  // namespace ferry
