// RemoteBackend: the destination of an execution whose destination agent is
// another one (docs/link.md). A Backend on the sender whose every call is an
// operation on the link, served by the receiver's LinkSession from the
// backend the receiver opened; its capabilities() are that backend's (plus
// `delta`), so the engine does what it would do with the destination at
// hand. File data goes as CHUNK frames with flow control and retries (see
// LinkClient); verification digests are computed at the receiver.
//
// Thread-safe like every Backend. REQUIRES: listers, readers and writers it
// returns are destroyed before it is. Their destructors tell the receiver
// (LIST_CLOSE, CLOSE_READ, ABORT), waiting for its answer; on a link that
// is down that takes up to the reconnection budget.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

#include "ferry/link/link_client.h"
#include "ferry/link/operations.h"
#include "ferry/storage/backend.h"

namespace ferry::link {

// A staged writer at the receiver, fed by chunks and (delta transfer) by
// copies from a file the receiver already holds.
class RemoteWriter : public StagedWriter {
 public:
  // Has the receiver write `length` bytes of the file at `basis`, from
  // `basis_offset`, into this file at `target_offset` (COPY_BASIS, in
  // pieces of at most kMaxCopyBasisBytes). Ordered after every WriteAt that
  // returned before it. SourceChanged if the basis is shorter than that.
  Status CopyFromBasis(uint64_t target_offset, const RelPath& basis,
                       uint64_t basis_offset, uint64_t length) override = 0;
};

// Calls a sender keeps in flight at least (Capabilities::io_concurrency):
// each waits for the receiver's answer.
inline constexpr int kLinkIoConcurrency = 8;

class RemoteBackend : public Backend {
 public:
  // Starts the session's connections (1..kMaxConnections) through
  // `connector` and asks the receiver what its backend is (CAPABILITIES,
  // DESCRIBE, CLOCK_OFFSET). Unavailable, naming options.peer, when the
  // first connection cannot be made within the reconnection budget.
  static Result<std::unique_ptr<RemoteBackend>> Open(Connector connector,
                                                     uint32_t connections,
                                                     LinkOptions options);
  ~RemoteBackend() override;

  void SetObserver(StorageObserver* observer) override;
  const Capabilities& capabilities() const override { return caps_; }
  // The receiver's description of its location, and who the receiver is.
  std::string Describe() const override { return describe_; }
  // The receiver's backend's offset, plus how far the receiver's clock runs
  // ahead of this machine's (measured once, at Open).
  std::optional<std::chrono::nanoseconds> ClockOffset() const override {
    return clock_offset_;
  }

  Result<std::optional<Entry>> Stat(const RelPath& path) override;
  Result<std::unique_ptr<Lister>> List(const RelPath& dir) override;
  Result<std::unique_ptr<Reader>> OpenRead(const RelPath& path) override;
  Result<std::unique_ptr<StagedWriter>> OpenWrite(
      const RelPath& path, const WriteHints& hints) override;
  Status MakeDirectory(const RelPath& path) override;
  Status CreateSymlink(const RelPath& path, const Entry& src,
                       const MetadataPolicy& policy) override;
  Status CreateSpecial(const RelPath& path, const Entry& src,
                       const MetadataPolicy& policy) override;
  Status CreateHardLink(const RelPath& existing, const RelPath& link) override;
  Status SetMetadata(const RelPath& path, const Entry& src,
                     const MetadataPolicy& policy) override;
  Result<XattrList> GetXattrs(const RelPath& path) override;
  Status SetXattrs(const RelPath& path, const XattrList& xattrs,
                   bool xattr_scope, bool acl_scope) override;
  Result<ObjectTags> GetTags(const RelPath& path) override;
  Status SetTags(const RelPath& path, const ObjectTags& tags) override;
  Status Remove(const RelPath& path) override;
  // In batches of at most kMaxRemoveBatch paths; `stop` is looked at
  // between batches.
  std::vector<Status> RemoveFiles(std::span<const RelPath> paths,
                                  std::stop_token stop = {}) override;
  Status RemoveTree(const RelPath& path) override;
  Status Sync() override;
  // The receiver describes at most kMaxCleanupReports removed items; the
  // rest are reported as one, at the root.
  Status CleanupStaging(const StagingCleanup& cleanup) override;
  Status CleanupStagingEntry(const Entry& staging,
                             const StagingCleanup& cleanup) override;
  // Computed by the receiver (COMPUTE_DIGEST): no data crosses the link.
  // `stop` is looked at before the request only; `on_bytes` is called once,
  // with the file's size, at the end.
  std::vector<Result<std::optional<Entry>>> StatMany(
      std::span<const RelPath> paths) override;
  std::vector<Result<XattrList>> GetXattrsMany(
      std::span<const RelPath> paths) override;
  std::vector<Result<std::pair<Digest, Entry>>> ComputeDigestMany(
      std::span<const RelPath> paths, DigestAlgorithm algorithm,
      const std::stop_token& stop,
      const std::function<void(uint64_t bytes)>& on_bytes) override;
  Result<std::pair<Digest, Entry>> ComputeDigest(
      const RelPath& path, DigestAlgorithm algorithm,
      const std::stop_token& stop,
      const std::function<void(uint64_t bytes)>& on_bytes) override;

  // Delta transfer: the signatures of blocks [first_block, first_block +
  // max_count) of `block_size` bytes of the file at `path`, as the receiver
  // holds it (delta::ComputeSignatures there). max_count at most
  // kMaxSignatureCount; block_size a power of two in kMinSignatureBlockSize..
  // kMaxSignatureBlockSize.
  // Signatures' blocks: the seam's way to them.
  Result<std::vector<delta::BlockSignature>> BlockSignatures(
      const RelPath& path, uint32_t block_size, uint64_t first_block,
      uint64_t max_count) override;
  Result<SignatureList> Signatures(const RelPath& path, uint32_t block_size,
                                   uint64_t first_block, uint64_t max_count);
  // OpenWrite, typed.
  Result<std::unique_ptr<RemoteWriter>> OpenRemoteWrite(
      const RelPath& path, const WriteHints& hints);

  LinkCounters& counters() { return client_->counters(); }
  LinkClient& client() { return *client_; }

 private:
  explicit RemoteBackend(std::unique_ptr<LinkClient> client);
  // A writer at the receiver (OPEN_WRITE), whatever the file's size.
  Result<std::unique_ptr<RemoteWriter>> OpenLinkWrite(const RelPath& path,
                                                      const WriteHints& hints);
  Status Init();
  // One request on the next connection; the receiver's status as the error.
  Result<Response> Call(const Request& request);
  // Many on one connection, sent together; the answers in order.
  std::vector<Result<Response>> CallMany(std::span<const Request> requests);
  Status CallStatus(const Request& request);
  // An operation on `path` that takes an entry and a metadata policy.
  Status EntryCall(Op op, const RelPath& path, const Entry& src,
                   const MetadataPolicy& policy);
  Result<std::vector<CleanupReport>> Cleanup(const Request& request,
                                             const StagingCleanup& cleanup);

  std::unique_ptr<LinkClient> client_;
  Capabilities caps_;
  std::string describe_;
  std::optional<std::chrono::nanoseconds> clock_offset_;
};

}  // namespace ferry::link
