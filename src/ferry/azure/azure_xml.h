// Azure Blob Storage's XML documents (REST API version 2021-08-06): the
// decoders of response bodies (untrusted input: sizes, counts, lengths and
// numbers are checked, and a document that breaks a limit is an error, never
// a partial result) and the encoders of request bodies. XML parsing is
// pugixml's. Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ferry/base/status.h"

namespace ferry {

// Bounds on what ferry accepts from a server.
inline constexpr size_t kAzureMaxXmlBytes = 8 << 20;  // one response document
inline constexpr size_t kAzureMaxBlobNameBytes = 1024;
inline constexpr int kAzureMaxListResults = 5000;  // per List Blobs page
// With include=metadata (up to 8 KiB a blob): a smaller page, and a larger
// document allowed for it.
inline constexpr int kAzureMaxListResultsWithMetadata = 1000;
inline constexpr size_t kAzureMaxListXmlBytesWithMetadata = 16 << 20;

struct AzureBlobItem {  // one List Blobs <Blob>
  // 1..kAzureMaxBlobNameBytes bytes of valid UTF-8, percent-decoded when the
  // listing gave it as <Name Encoded="true">.
  std::string name;
  // <Properties><Content-Length>, at most 2^53.
  uint64_t size = 0;
  // <Properties><Etag> exactly as given (quoted or not), at most 256 bytes.
  std::string etag;
  // <Properties><Last-Modified> (an HTTP date), since the Unix epoch.
  int64_t last_modified_ns = 0;
  // <Properties><AccessTier>, "" if absent, at most 32 bytes.
  std::string access_tier;
  // <Metadata>'s children (listed with include=metadata only): names as
  // given, distinct; names and values valid UTF-8, at most 8 KiB in all.
  std::map<std::string, std::string> metadata;
};

struct AzureListPage {
  std::vector<AzureBlobItem> blobs;  // in document order
  // <Blobs><BlobPrefix><Name>, each 1..kAzureMaxBlobNameBytes bytes of valid
  // UTF-8 (percent-decoded as a blob's name is).
  std::vector<std::string> prefixes;
  // <NextMarker>: "" when the listing is done; at most 4096 bytes.
  std::string next_marker;
};

struct AzureErrorDocument {
  std::string code;     // at most 128 bytes
  std::string message;  // at most 2048 bytes (a longer one is cut)
};

// Decoders. Errors are kIoError ("malformed ... response: why"), not
// retryable.

// A List Blobs answer (<EnumerationResults>): at most kAzureMaxListResults
// blobs and prefixes together.
Result<AzureListPage> ParseListBlobs(std::string_view xml);

// An <Error><Code>..</Code><Message>..</Message></Error> document, if `xml`
// is one (a code longer than 128 bytes and a message longer than 2048 are
// cut, at a UTF-8 character boundary).
std::optional<AzureErrorDocument> ParseAzureError(std::string_view xml);

// Encoders. Text is escaped (& < > " and control characters as character
// references) so that the decoders above read back exactly what was given.

// A Put Block List body: <?xml version="1.0" encoding="utf-8"?><BlockList>
// <Latest>ID</Latest>...</BlockList>, in the order given.
std::string BlockListXml(const std::vector<std::string>& block_ids);

}  // namespace ferry
