// LinkClient: the sender's end of the agent-to-agent link (docs/link.md),
// under RemoteBackend. It owns the session's connections, each with one
// thread receiving RESPONSE and CHUNK_ACK frames and routing them to the
// callers waiting for them, and one thread that re-establishes the
// connection when it breaks and sends what must be sent again.
//
// Requests carry session-unique ids. A broken connection (a Send or Receive
// that fails with Unavailable, or the peer's GOODBYE) is reopened through
// the connector with backoff (LinkOptions::reconnect_*), and everything it
// owed is sent again on the new one: the requests awaiting a response, with
// the same ids (the receiver answers a repeated id from what it already
// did), and the chunks awaiting an acknowledgement. Callers only wait; only
// when reconnecting fails for longer than the budget do they fail, with
// Unavailable naming the peer. A peer that breaks the protocol (a frame
// that does not decode, an ERROR frame, an acknowledgement of nothing sent)
// fails everything waiting on that connection with what it did, and so
// does a connector that fails with anything but Unavailable (a refused
// certificate or version); the next call on it connects again.
//
// Chunks of one writer all travel on one connection, whose receiver
// handles frames in order, so acknowledgements arrive in the order chunks
// were sent. Each chunk's frame is kept until it is acknowledged: a
// DataLoss acknowledgement sends it again (with any later chunk of that
// writer overlapping it, so that the last write of a range stays last), up
// to max_chunk_retries times; any other error fails the writer. At most
// window_bytes of chunk data (as read) are unacknowledged on a connection
// at a time: SendChunk blocks until there is room.
//
// Thread-safe. REQUIRES: no call is running when the client is destroyed.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "ferry/base/status.h"
#include "ferry/link/frame_stream.h"
#include "ferry/link/operations.h"
#include "ferry/storage/backend.h"

namespace ferry::link {

// Opens connection `index` of the session (0..count-1) ready for requests:
// the transport's handshake (HELLO, HELLO_OK) done. Called again to reopen
// a connection that broke. Called from the client's threads.
using Connector =
    std::function<Result<std::unique_ptr<FrameStream>>(uint32_t index)>;

struct LinkOptions {
  // Who the peer is, for messages: "agent-0123 at 10.0.0.5:7447".
  std::string peer = "the peer agent";
  // Compress chunks with zstd (level 1) where that saves a tenth or more.
  bool compression = false;
  // Chunk data (as read) that may be unacknowledged on one connection:
  // HELLO_OK's window. kMinWindowBytes..kMaxWindowBytes.
  uint64_t window_bytes = 16 << 20;
  // Reconnection: the first delay, doubling up to the largest, for as long
  // as the budget (counted from the failure) allows.
  std::chrono::milliseconds reconnect_delay{100};
  std::chrono::milliseconds max_reconnect_delay{5000};
  std::chrono::milliseconds reconnect_budget{60000};
  // Times a chunk is sent again after a DataLoss acknowledgement before its
  // writer fails.
  int max_chunk_retries = 3;

  Status Validate() const;
};

// What the link did, for the execution's counters. Updated as it happens.
struct LinkCounters {
  // CHUNK data as read (each chunk once) and as sent (after compression,
  // every send: retries and re-sends after a reconnection included).
  std::atomic<uint64_t> chunk_bytes_read{0};
  std::atomic<uint64_t> chunk_bytes_sent{0};
  // Chunks sent again after a DataLoss acknowledgement.
  std::atomic<uint64_t> chunk_retries{0};
  // Connections re-established after they broke.
  std::atomic<uint64_t> reconnects{0};
  // Chunk data unacknowledged now (all connections), and the most ever on
  // one connection.
  std::atomic<uint64_t> unacked_bytes{0};
  std::atomic<uint64_t> max_unacked_bytes{0};
};

// Chunks of a file that does not compress sent at most without trying
// (LinkClient::SendChunk) before compression is tried again; and small files
// (sent whole, one PUT_FILE each) after small files that did not compress.
inline constexpr uint32_t kMaxCompressionBackoff = 16;

// Compression that backs off where it does not pay: after data that did not
// compress, the next 1, 2, 4 .. kMaxCompressionBackoff pieces go as read
// without an attempt; one that does starts it over. Used from several
// threads: a heuristic, so relaxed. Thread-safe.
class CompressionBackoff {
 public:
  // Whether to try compressing the next piece.
  bool Try();
  // The outcome of a try.
  void Compressed(bool paid);

 private:
  std::atomic<uint32_t> skip_{0};     // attempts still to skip
  std::atomic<uint32_t> backoff_{0};  // the last skip set
};

// Requests queued by LinkClient::Start on one connection, in bytes, before
// they are sent without waiting for an Await.
inline constexpr size_t kOutboxFlushBytes = 64 << 10;

class LinkClient {
  struct Connection;
  struct PendingCall;

 public:
  // Compression of small files, each sent whole (RemoteBackend's PUT_FILE):
  // one backoff for them all, as each is too small to learn from alone.
  CompressionBackoff& small_file_compression() { return small_files_; }

  // The chunks of one staged writer at the receiver. Opaque.
  struct Channel;

  // Starts `connections` connections (1..kMaxConnections), connecting in
  // the background; the first call on one waits for it.
  static Result<std::unique_ptr<LinkClient>> Start(Connector connector,
                                                   uint32_t connections,
                                                   LinkOptions options);
  ~LinkClient();

  LinkClient(const LinkClient&) = delete;
  LinkClient& operator=(const LinkClient&) = delete;

  // A connection for the next call: the next one that is up, in turn.
  uint32_t PickConnection();
  uint32_t connection_count() const;

  // Sends `request` on connection `conn` and waits for its response. The
  // error is the link's (encoding, the connection lost for good, a response
  // that does not decode); the receiver's own answer is Response::status.
  Result<Response> Call(uint32_t conn, const Request& request);
  // Call on a connection that is up now; on one that is not, Unavailable at
  // once, without waiting for a reconnection. For clean-up the receiver does
  // on its own when the link ends (a writer aborted, a reader closed).
  Result<Response> CallIfUp(uint32_t conn, const Request& request);

  // Call in two halves, so that one thread can have many requests under
  // way: Start queues the request, to go out with the next send on the
  // connection (at the latest when kOutboxFlushBytes are queued, or at an
  // Await), and Await waits for its response. Destroying a started call
  // without Await stops waiting for it; the request may still be carried
  // out by the receiver.
  class Started;
  Result<std::unique_ptr<Started>> Start(uint32_t conn, const Request& request);
  Result<Response> Await(Started& started);
  class Started {
   public:
    ~Started();
    Started(const Started&) = delete;
    Started& operator=(const Started&) = delete;

   private:
    friend class LinkClient;
    Started();
    LinkClient* client_ = nullptr;  // set once registered
    Connection* conn_ = nullptr;
    std::unique_ptr<PendingCall> call_;
  };

  // The chunks of writer `writer_id`, sent on connection `conn`.
  std::shared_ptr<Channel> OpenChannel(uint32_t conn, uint32_t writer_id);
  // Sends data[0..] (at most kMaxChunkBytes and window_bytes, not empty) as
  // the CHUNK at `offset`, after waiting for room in the window, with
  // `checksum` (taken where the data was read) or else its own. Returns the
  // writer's failure, if it failed (an earlier chunk's), instead.
  Status SendChunk(const std::shared_ptr<Channel>& channel, uint64_t offset,
                   std::span<const std::byte> data,
                   const BlockChecksum* checksum = nullptr);
  // Waits until every chunk sent is acknowledged; the writer's failure if
  // one was not.
  Status WaitAcknowledged(Channel& channel);
  // Forgets the writer's unacknowledged chunks (it is being aborted).
  void CancelChannel(Channel& channel);
  // The largest piece SendChunk takes.
  uint64_t max_chunk_bytes() const;

  // Where reconnection attempts are reported (nullptr: nowhere).
  void SetObserver(StorageObserver* observer);
  // File data sent in a request rather than as chunks (PUT_FILE): counted
  // as chunks are, `as_read` once (0 when sent again) and `on_wire` at
  // every send.
  void CountData(uint64_t as_read, uint64_t on_wire);

  LinkCounters& counters() { return counters_; }
  const LinkOptions& options() const { return options_; }

 private:
  class FramePool;
  struct ChunkRecord;
  class SendGuard;

  LinkClient(Connector connector, uint32_t connections, LinkOptions options);

  void ReceiveLoop(Connection& c);
  void MaintainLoop(Connection& c);
  void Reconnect(Connection& c);
  void Install(Connection& c, std::unique_ptr<FrameStream> stream);
  void SendResends(Connection& c);
  // Sends the queued requests (Connection::outbox). REQUIRES: send_mu held.
  void DrainOutbox(Connection& c);
  // Sends them if send_mu is free; otherwise its holder will.
  void FlushOutbox(Connection& c);
  // `version`: the link version of the connection the frame came on.
  void Route(Connection& c, uint64_t generation, uint8_t version,
             const FrameHeader& header, std::vector<std::byte> payload);
  void OnAck(Connection& c, uint64_t generation, uint8_t version,
             uint32_t stream, std::span<const std::byte> payload);
  // REQUIRES: c.mu held.
  void BreakLocked(Connection& c, uint64_t generation, const Status& why);
  void FailLocked(Connection& c, const Status& why);
  // A failed connection is to be made again (a call needs it).
  void Revive(Connection& c);
  void CompleteLocked(Connection& c, ChunkRecord& record);
  void FailChannelLocked(Connection& c, Channel& channel, const Status& why);
  void QueueResendLocked(Connection& c,
                         const std::shared_ptr<ChunkRecord>& record);
  void SetUnackedLocked(Connection& c, uint64_t unacked);
  void Break(Connection& c, uint64_t generation, const Status& why);
  void Fail(Connection& c, uint64_t generation, const Status& why);
  Status SendFrames(Connection& c, uint64_t generation, FrameStream& stream,
                    const std::vector<std::shared_ptr<ChunkRecord>>& chunks,
                    const std::vector<std::vector<std::byte>>& frames);
  std::string Name(const Connection& c) const;

  const Connector connector_;
  const LinkOptions options_;
  const std::shared_ptr<FramePool> frame_pool_;
  LinkCounters counters_;
  CompressionBackoff small_files_;
  std::atomic<StorageObserver*> observer_{nullptr};
  std::atomic<uint32_t> next_request_id_{1};
  std::atomic<uint32_t> next_connection_{0};
  std::vector<std::unique_ptr<Connection>> connections_;
};

}  // namespace ferry::link
