// LinkSession: the receiver's end of the agent-to-agent link (docs/link.md).
// It serves one sender's session over any number of connections, at once
// and one after another (a connection that broke is opened again and
// attached to the same session), running each request on the Backend the
// receiving agent opened for the execution's destination.
//
// Each connection's frames are handled in order, the next one read only
// once the previous one is answered: a slow backend stops the sender
// through TCP. A CHUNK's data is decompressed (never beyond its declared
// length) and checked against its XXH3-128 before anything is written; a
// mismatch is acknowledged with DataLoss and writes nothing. A frame that
// does not decode gets an ERROR frame and its connection is closed; the
// session lives on.
//
// Open writers, listers and readers are kept by id, in bounded numbers
// (beyond: ResourceExhausted). A request sent again after a reconnection
// carries its first id: the responses of requests that change something are
// kept, and a request whose id was answered already gets that answer again
// instead of running twice. Kept are the responses of the last
// response_cache_entries such requests, and of as many of those as fit in
// response_cache_bytes; the oldest answered go first. (Read-only requests,
// OpIsRepeatable, are simply run again.) A repeated id that arrives while
// the first is still running waits for its answer.
//
// A session serves one sender (one RemoteBackend): request ids are the
// sender's, and another sender's would be taken for repeats.
//
// Thread-safe: Serve is called from a thread per connection. The backend is
// not owned and must outlive the session.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <stop_token>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ferry/base/status.h"
#include "ferry/link/frame_stream.h"
#include "ferry/link/operations.h"
#include "ferry/storage/backend.h"

namespace ferry::link {

struct LinkSessionOptions {
  size_t max_writers = 4096;
  size_t max_listers = 256;
  size_t max_readers = 1024;
  size_t response_cache_entries = 4096;
  size_t response_cache_bytes = 64 << 20;
};

class LinkSession {
 public:
  explicit LinkSession(Backend* backend, LinkSessionOptions options = {});
  // Aborts the writers still open and closes readers and listers.
  // REQUIRES: no Serve call is running (Shutdown, then join them).
  ~LinkSession();

  LinkSession(const LinkSession&) = delete;
  LinkSession& operator=(const LinkSession&) = delete;

  // Serves one connection until the sender says GOODBYE or closes it (OK),
  // or sends what does not decode (the error, after an ERROR frame). The
  // connection is closed when it returns.
  Status Serve(std::unique_ptr<FrameStream> stream);

  // Closes every connection being served (their Serve calls return) and
  // stops the digests being computed. Later Serve calls return at once.
  void Shutdown();

  // What is open, for tests and status pages.
  size_t open_writers() const;
  size_t cached_responses() const;

 private:
  template <typename T>
  struct Slot {
    // Shared for positional calls (WriteAt, ReadAt), exclusive otherwise.
    std::shared_mutex mu;
    std::unique_ptr<T> object;
    // A writer's chunks that were refused (damaged, or their write failed)
    // and not written since, by (offset, length): COMMIT is refused while
    // there are any (the sender commits without waiting for its chunks'
    // acknowledgements). More than kMaxRefusedChunks refuse every commit.
    std::mutex refused_mu;
    std::set<std::pair<uint64_t, uint64_t>> refused;
    bool too_many_refused = false;
  };
  static constexpr size_t kMaxRefusedChunks = 1024;
  struct ListerState;
  template <typename T>
  class Table;
  // A response kept for requests sent again (or being worked out).
  struct Cached {
    Op op = Op::kDescribe;
    bool done = false;
    std::vector<std::byte> frame;
  };

  class AnswerPacing;
  // Each appends its answer to `*out`, which Serve sends (HandleRequest
  // sends what it holds first if the request may take long).
  Status HandleRequest(FrameStream& stream, uint32_t id,
                       std::span<const std::byte> payload,
                       std::vector<std::byte>* out, AnswerPacing* pacing);
  Status HandleChunk(uint32_t writer, std::span<const std::byte> payload,
                     uint8_t version, std::vector<std::byte>* out);
  Response Execute(const Request& q);
  Response ExecuteWriter(const Request& q);
  Response ExecuteReader(const Request& q);
  Response ListNext(uint32_t handle);
  Status CopyBasis(const Request& q);
  // OPEN_WRITE, the data and COMMIT in one (aborted if any fails).
  Status PutFile(const Request& q);
  Response Signatures(const Request& q);
  Response Cleanup(const Request& q);
  // The cached answer to request `id`, waiting for it if it is being
  // worked out; nullopt (and `id` marked as being worked out) if new.
  Result<std::optional<std::vector<std::byte>>> CachedOrClaim(uint32_t id,
                                                              Op op);
  void Remember(uint32_t id, const std::vector<std::byte>& frame);

  Backend* const backend_;
  const LinkSessionOptions options_;
  std::stop_source stop_;

  std::unique_ptr<Table<StagedWriter>> writers_;
  std::unique_ptr<Table<ListerState>> listers_;
  std::unique_ptr<Table<Reader>> readers_;

  mutable std::mutex cache_mu_;
  std::condition_variable cache_cv_;
  std::unordered_map<uint32_t, Cached> cache_;  // GUARDED_BY(cache_mu_)
  std::deque<uint32_t> answered_;               // oldest first
  size_t cache_bytes_ = 0;

  std::mutex streams_mu_;
  std::set<FrameStream*> streams_;  // being served
  bool shut_down_ = false;
};

}  // namespace ferry::link
