// AzureClient: the requests of Azure Blob Storage's REST API that ferry
// makes, one method per request, on libcurl (ferry/s3/http.h's HttpClient:
// no Azure SDK is packaged in Debian). Authorized with Shared Key or a SAS
// token; transient failures (a dropped connection, a timeout, 500, 503,
// throttling) are retried with backoff, a refusal (4xx) never. Everything
// the service answers is bounded and checked (azure_xml.h).
// Thread-safe: any number of threads may call at once.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/azure/azure_xml.h"
#include "ferry/base/clock.h"
#include "ferry/base/retry.h"
#include "ferry/base/status.h"
#include "ferry/s3/http.h"

namespace ferry {

// Blobs of one Put Blob, and blocks: Azure's limits (API 2019-12-12 on).
inline constexpr uint64_t kAzureMaxPutBlobBytes = uint64_t{5000} << 20;
inline constexpr uint64_t kAzureMaxBlockBytes = uint64_t{4000} << 20;
inline constexpr uint32_t kAzureMaxBlocks = 50000;
inline constexpr size_t kAzureMaxMetadataBytes = 8 << 10;

struct AzureClientOptions {
  // The account's blob endpoint: "https://ACCOUNT.blob.core.windows.net", or
  // Azurite's path-style "http://127.0.0.1:10000/devstoreaccount1" (the
  // account as the path's first segment).
  std::string endpoint;
  std::string account;
  // One of: the account key (base64, Shared Key), or a SAS token.
  std::string key;
  std::string sas;
  std::string ca_file;
  std::chrono::milliseconds connect_timeout{10000};
  std::chrono::seconds stall_timeout{60};
  RetryPolicy retry{.max_attempts = 6};
  Clock* clock = nullptr;  // null: the real one
  std::stop_token stop;
  // Told of each retry: the request ("PUT https://.../c/k"), the failure,
  // the attempt that failed (1-based) and the delay before the next.
  std::function<void(const std::string& operation, const Status& failure,
                     int attempt, Clock::duration delay)>
      on_retry;
};

struct AzureBlobProperties {
  uint64_t size = 0;
  std::string etag;
  int64_t last_modified_ns = 0;
  std::map<std::string, std::string> metadata;  // x-ms-meta-*, names as sent
  std::string access_tier;                      // "" when not told
};

struct AzureListRequest {
  std::string prefix;
  std::string delimiter;  // "" or "/"
  std::string marker;     // "" for the first page
  int max_results = kAzureMaxListResults;
  // include=metadata: each blob's metadata too (a page of at most
  // kAzureMaxListResultsWithMetadata, whose document may be larger).
  bool include_metadata = false;
};

class AzureClient {
 public:
  // InvalidArgument for an endpoint that is not
  // http(s)://HOST[:PORT][/ACCOUNT], no account, neither or both of a key and a
  // SAS token, a key that is not base64 or a SAS token that is not one.
  static Result<std::unique_ptr<AzureClient>> Create(
      AzureClientOptions options);
  ~AzureClient();

  // "http://127.0.0.1:10000/devstoreaccount1": for messages.
  const std::string& endpoint() const;
  // How far the service's clock runs ahead of ours (its Date headers), to
  // within a second; nullopt before the first answer.
  std::optional<std::chrono::nanoseconds> ClockOffset() const;

  Status CreateContainer(std::string_view container);
  Result<AzureListPage> ListBlobs(std::string_view container,
                                  const AzureListRequest& request);
  Result<AzureBlobProperties> GetBlobProperties(std::string_view container,
                                                std::string_view name);
  // Reads up to out.size() bytes at `offset`; 0 at or past the end. With
  // `if_match`, a blob whose ETag differs is kSourceChanged. `properties`,
  // when given, gets what the answer tells (size: the whole blob's).
  Result<size_t> GetBlob(std::string_view container, std::string_view name,
                         uint64_t offset, std::span<std::byte> out,
                         const std::string& if_match,
                         AzureBlobProperties* properties = nullptr);
  // Bytes [offset, offset + length) of the blob, read as they arrive (one
  // GET, retried until its answer's headers are in; a failure after that is
  // the reader's, who may ask again from where it got to). With
  // `if_match`, a blob whose ETag differs is kSourceChanged. Null: the
  // range starts at or past the blob's end. The stream must not outlive
  // this client.
  Result<std::unique_ptr<HttpStream>> GetBlobStream(
      std::string_view container, std::string_view name, uint64_t offset,
      uint64_t length, const std::string& if_match);
  // A block blob of `data`, with these metadata and access tier ("" for
  // the account's default). Returns its ETag.
  Result<std::string> PutBlob(
      std::string_view container, std::string_view name,
      std::span<const std::byte> data,
      const std::map<std::string, std::string>& metadata,
      std::string_view tier);
  // An uncommitted block (block ids: base64, one length for all of a blob).
  Status PutBlock(std::string_view container, std::string_view name,
                  std::string_view block_id, std::span<const std::byte> data);
  // Commits these blocks, in order, as the blob. Returns its ETag.
  Result<std::string> PutBlockList(
      std::string_view container, std::string_view name,
      const std::vector<std::string>& block_ids,
      const std::map<std::string, std::string>& metadata,
      std::string_view tier);
  // Replaces the blob's metadata (if its ETag is `if_match`, when given).
  // Returns the new ETag.
  Result<std::string> SetBlobMetadata(
      std::string_view container, std::string_view name,
      const std::map<std::string, std::string>& metadata,
      const std::string& if_match);
  Status SetBlobTier(std::string_view container, std::string_view name,
                     std::string_view tier);
  // OK when the blob is already gone.
  Status DeleteBlob(std::string_view container, std::string_view name);

 private:
  struct Impl;
  explicit AzureClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Whether `name` can be an Azure metadata name (a C# identifier: a letter
// or '_' and then letters, digits and '_'), as Azure requires.
bool IsAzureMetadataName(std::string_view name);

}  // namespace ferry
