// S3's XML documents: every decoder of a response body (untrusted input:
// sizes, counts, key lengths and numbers are checked, and a document that
// breaks a limit is an error, never a partial result) and the encoders of
// request bodies. XML parsing is pugixml's. Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ferry/base/status.h"
#include "ferry/s3/s3_types.h"

namespace ferry {

// Decoders. Errors are kIoError ("malformed ... response: why"), not
// retryable.
Result<S3ListObjectsPage> ParseListObjectsV2(std::string_view xml);
Result<S3ListUploadsPage> ParseListMultipartUploads(std::string_view xml);
// The UploadId of an InitiateMultipartUploadResult.
Result<std::string> ParseInitiateMultipartUpload(std::string_view xml);
// The ETag of a CompleteMultipartUploadResult or CopyObjectResult ("" if
// the document has none: radosgw 16 completes uploads with "<ETag></ETag>").
Result<std::string> ParseWriteResultEtag(std::string_view xml,
                                         std::string_view root);
Result<std::vector<S3DeleteError>> ParseDeleteResult(std::string_view xml);
// A GetObjectTagging answer: at most kS3MaxTags tags of distinct, non-empty
// keys, each key and value UTF-8 within kS3MaxTagKeyChars and
// kS3MaxTagValueChars characters.
Result<std::vector<std::pair<std::string, std::string>>> ParseTagging(
    std::string_view xml);
// An <Error> document, if `xml` is one (fields bounded, a long message cut).
std::optional<S3ErrorDocument> ParseS3Error(std::string_view xml);

// "2009-10-12T17:50:30.000Z" (fraction optional) to ns since the epoch.
std::optional<int64_t> ParseS3Time(std::string_view text);
// An HTTP date ("Wed, 12 Oct 2009 17:50:00 GMT") to ns since the epoch.
std::optional<int64_t> ParseHttpDate(std::string_view text);

// Encoders.
std::string CompleteMultipartUploadXml(
    const std::vector<S3CompletedPart>& parts);
std::string DeleteObjectsXml(const std::vector<std::string>& keys);  // Quiet
std::string TaggingXml(
    const std::vector<std::pair<std::string, std::string>>& tags);
std::string CreateBucketXml(std::string_view region);  // "" if us-east-1

}  // namespace ferry
