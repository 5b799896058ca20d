#include "ferry/link/link_client.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <list>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

#include "ferry/base/digest.h"
#include "ferry/link/chunk_coding.h"

namespace ferry::link {

bool CompressionBackoff::Try() {
  uint32_t left = skip_.load(std::memory_order_relaxed);
  while (left > 0) {
    if (skip_.compare_exchange_weak(left, left - 1,
                                    std::memory_order_relaxed)) {
      return false;
    }
  }
  return true;
}

void CompressionBackoff::Compressed(bool paid) {
  if (paid) {
    backoff_.store(0, std::memory_order_relaxed);
    return;
  }
  const uint32_t next = std::min<uint32_t>(
      std::max<uint32_t>(1, 2 * backoff_.load(std::memory_order_relaxed)),
      kMaxCompressionBackoff);
  backoff_.store(next, std::memory_order_relaxed);
  skip_.store(next, std::memory_order_relaxed);
}

struct LinkClient::Channel {
  Channel(uint32_t c, uint32_t w) : conn(c), writer_id(w) {}
  const uint32_t conn;
  const uint32_t writer_id;
  // Compression backs off on a file that does not compress.
  CompressionBackoff compression;
  // Guarded by the connection's mu.
  uint64_t pending = 0;  // chunks not yet acknowledged
  Status failure;
  bool cancelled = false;
};

// Chunk frames' buffers, kept for the next chunks. A frame is about a MiB;
// one allocated afresh for each chunk is memory the kernel maps and zeroes
// page by page as the chunk is copied in, and a freed one goes back to it
// (the agents' page faults over a 1 GiB copy: 197k without the pool, 40k
// with it).
class LinkClient::FramePool {
 public:
  explicit FramePool(uint64_t keep_bytes) : keep_bytes_(keep_bytes) {}

  // An empty buffer, with the capacity of one given back if there is one.
  std::vector<std::byte> Take() {
    std::lock_guard lock(mu_);
    if (free_.empty()) return {};
    std::vector<std::byte> v = std::move(free_.back());
    free_.pop_back();
    kept_bytes_ -= v.capacity();
    return v;
  }

  // Keeps `v` for a later Take, while the pool holds under keep_bytes.
  void Give(std::vector<std::byte> v) {
    if (v.capacity() == 0) return;
    v.clear();
    std::lock_guard lock(mu_);
    if (kept_bytes_ + v.capacity() > keep_bytes_) return;
    kept_bytes_ += v.capacity();
    free_.push_back(std::move(v));
  }

 private:
  const uint64_t keep_bytes_;
  std::mutex mu_;
  std::vector<std::vector<std::byte>> free_;  // GUARDED_BY(mu_)
  uint64_t kept_bytes_ = 0;                   // GUARDED_BY(mu_)
};

struct LinkClient::ChunkRecord {
  ~ChunkRecord() {
    if (pool) pool->Give(std::move(frame));
  }

  std::shared_ptr<FramePool> pool;  // where `frame` goes back
  std::shared_ptr<Channel> channel;
  uint64_t offset = 0;
  uint64_t length = 0;
  std::vector<std::byte> frame;  // the whole CHUNK frame; immutable
  uint64_t wire_bytes = 0;       // its data as sent
  // Its bytes as read were told to the observer (with its first send).
  std::atomic<bool> told{false};
  // Guarded by the connection's mu.
  std::list<std::shared_ptr<ChunkRecord>>::iterator pos;  // in live
  int outstanding = 0;  // sends on the current stream not acknowledged
  int retries = 0;
  bool sent = false;  // sent on the current stream, or being sent
  bool resend_queued = false;
  bool done = false;  // acknowledged, failed or cancelled; out of live
};

struct LinkClient::PendingCall {
  uint32_t id = 0;
  Op op = Op::kDescribe;
  std::vector<std::byte> frame;
  // Guarded by the connection's mu.
  bool done = false;
  std::vector<std::byte> payload;
  uint8_t version = 1;  // the link version the payload is in
  Status error;
  // The caller waits on its own: an answer wakes only its caller, not
  // every thread with a call on the connection.
  std::condition_variable cv;
};

struct LinkClient::Connection {
  explicit Connection(uint32_t i) : index(i) {}

  enum class State { kConnecting, kUp, kFailed };

  const uint32_t index;
  // Sends on the stream happen in the order their frames were registered
  // below: send_mu is taken before mu, and held across the Send.
  std::mutex send_mu;
  std::mutex mu;
  std::condition_variable cv;       // callers and the receiving thread
  std::condition_variable work_cv;  // the maintaining thread
  // Everything below is guarded by mu.
  State state = State::kConnecting;
  // When the connection last stopped working (it was first wanted, or it
  // broke after carrying something): the reconnection budget runs from
  // there, so that a peer that takes connections and drops them at once
  // still ends the wait.
  std::chrono::steady_clock::time_point down_since =
      std::chrono::steady_clock::now();
  bool heard = false;                              // a frame came on `stream`
  std::chrono::steady_clock::time_point up_since;  // of `stream`
  std::shared_ptr<FrameStream> stream;
  uint64_t generation = 0;  // of `stream`: one per connection made
  Status last_error;        // why it is (re)connecting, or failed
  bool stopping = false;
  std::map<uint32_t, PendingCall*> calls;  // by request id
  // Chunks not yet acknowledged, in the order they are to be written.
  std::list<std::shared_ptr<ChunkRecord>> live;
  // Chunk sends on the current stream awaiting acknowledgement, in order.
  std::deque<std::shared_ptr<ChunkRecord>> inflight;
  std::vector<std::shared_ptr<ChunkRecord>> resend;
  std::vector<uint64_t> pongs;
  uint64_t unacked = 0;  // chunk bytes (as read) in live
  // REQUEST frames of calls on the current stream, not sent yet: a caller
  // that finds send_mu taken leaves its frame here, and whoever holds
  // send_mu sends them before letting go, several in one Send (fewer
  // system calls and TLS records, and no caller waits for another's send).
  std::vector<std::byte> outbox;

  std::thread receiver;
  std::thread maintainer;
};

// Holds a connection's send_mu; on release, sends the requests queued
// meanwhile (FlushOutbox).
class LinkClient::SendGuard {
 public:
  SendGuard(LinkClient* client, Connection& c) : client_(client), c_(c) {
    c_.send_mu.lock();
  }
  ~SendGuard() {
    client_->DrainOutbox(c_);
    c_.send_mu.unlock();
    client_->FlushOutbox(c_);
  }
  SendGuard(const SendGuard&) = delete;
  SendGuard& operator=(const SendGuard&) = delete;

 private:
  LinkClient* const client_;
  Connection& c_;
};

namespace {

std::string Seconds(std::chrono::milliseconds ms) {
  const auto s = ms.count() / 1000;
  const auto rest = ms.count() % 1000;
  if (rest == 0) return std::to_string(s) + " s";
  return std::to_string(ms.count()) + " ms";
}

}  // namespace

Status LinkOptions::Validate() const {
  if (window_bytes < kMinWindowBytes || window_bytes > kMaxWindowBytes) {
    return Status::InvalidArgument(
        "link window_bytes: " + std::to_string(window_bytes) + " not in " +
        std::to_string(kMinWindowBytes) + ".." +
        std::to_string(kMaxWindowBytes));
  }
  if (reconnect_delay.count() <= 0 || max_reconnect_delay < reconnect_delay) {
    return Status::InvalidArgument(
        "link reconnect_delay: must be positive and at most "
        "max_reconnect_delay");
  }
  if (reconnect_budget.count() < 0) {
    return Status::InvalidArgument("link reconnect_budget: negative");
  }
  if (max_chunk_retries < 0 || max_chunk_retries > 100) {
    return Status::InvalidArgument("link max_chunk_retries: not in 0..100");
  }
  return Status::Ok();
}

Result<std::unique_ptr<LinkClient>> LinkClient::Start(Connector connector,
                                                      uint32_t connections,
                                                      LinkOptions options) {
  FERRY_RETURN_IF_ERROR(options.Validate());
  if (connections < 1 || connections > kMaxConnections) {
    return Status::InvalidArgument(
        "link connections: " + std::to_string(connections) + " not in 1.." +
        std::to_string(kMaxConnections));
  }
  if (!connector) return Status::InvalidArgument("link: no connector");
  return std::unique_ptr<LinkClient>(
      new LinkClient(std::move(connector), connections, std::move(options)));
}

LinkClient::LinkClient(Connector connector, uint32_t connections,
                       LinkOptions options)
    : connector_(std::move(connector)),
      options_(std::move(options)),
      // As many frames as every connection's window holds, up to 64 MiB.
      frame_pool_(std::make_shared<FramePool>(std::min<uint64_t>(
          uint64_t{connections} * options_.window_bytes, 64 << 20))) {
  for (uint32_t i = 0; i < connections; ++i) {
    connections_.push_back(std::make_unique<Connection>(i));
  }
  for (auto& c : connections_) {
    c->receiver = std::thread([this, &c = *c] { ReceiveLoop(c); });
    c->maintainer = std::thread([this, &c = *c] { MaintainLoop(c); });
  }
}

LinkClient::~LinkClient() {
  // No GOODBYE: it could block behind a peer that stopped reading, and the
  // receiver takes the end of the stream as the same.
  for (auto& c : connections_) {
    std::lock_guard lock(c->mu);
    c->stopping = true;
    if (c->stream) c->stream->Close();
    for (auto& [id, call] : c->calls) call->cv.notify_one();
    c->cv.notify_all();
    c->work_cv.notify_all();
  }
  for (auto& c : connections_) {
    c->receiver.join();
    c->maintainer.join();
  }
}

std::string LinkClient::Name(const Connection& c) const {
  return "link to " + options_.peer + " (connection " +
         std::to_string(c.index) + ")";
}

uint32_t LinkClient::connection_count() const {
  return static_cast<uint32_t>(connections_.size());
}

uint64_t LinkClient::max_chunk_bytes() const {
  return std::min<uint64_t>(kMaxChunkBytes, options_.window_bytes);
}

void LinkClient::SetObserver(StorageObserver* observer) {
  observer_.store(observer);
}

void LinkClient::CountData(uint64_t as_read, uint64_t on_wire) {
  counters_.chunk_bytes_read += as_read;
  counters_.chunk_bytes_sent += on_wire;
  if (StorageObserver* o = observer_.load()) o->OnBytesOnWire(as_read, on_wire);
}

uint32_t LinkClient::PickConnection() {
  const uint32_t n = connection_count();
  const uint32_t start = next_connection_.fetch_add(1) % n;
  for (uint32_t i = 0; i < n; ++i) {
    Connection& c = *connections_[(start + i) % n];
    std::lock_guard lock(c.mu);
    if (c.state == Connection::State::kUp) return c.index;
  }
  return start;
}

// --- Calls ------------------------------------------------------------------

LinkClient::Started::Started() : call_(std::make_unique<PendingCall>()) {}

LinkClient::Started::~Started() {
  if (client_ == nullptr) return;
  {
    std::lock_guard lock(conn_->mu);
    if (call_->done) return;  // answered: its frame went long ago
    conn_->calls.erase(call_->id);
  }
  // Its frame may be queued: not left for a later send to carry.
  client_->FlushOutbox(*conn_);
}

Result<Response> LinkClient::Call(uint32_t conn, const Request& request) {
  FERRY_ASSIGN_OR_RETURN(std::unique_ptr<Started> started,
                         Start(conn, request));
  return Await(*started);
}

Result<Response> LinkClient::CallIfUp(uint32_t conn, const Request& request) {
  Connection& c = *connections_.at(conn);
  {
    std::lock_guard lock(c.mu);
    if (c.stopping || c.state != Connection::State::kUp) {
      return Status(StatusCode::kUnavailable,
                    Name(c) + ": not connected; " +
                        std::string(OpName(request.op)) + " not sent");
    }
  }
  return Call(conn, request);
}

Result<std::unique_ptr<LinkClient::Started>> LinkClient::Start(
    uint32_t conn, const Request& request) {
  Connection& c = *connections_.at(conn);
  auto started = std::unique_ptr<Started>(new Started());
  PendingCall& call = *started->call_;
  call.op = request.op;
  call.id = next_request_id_.fetch_add(1);
  if (call.id == 0) call.id = next_request_id_.fetch_add(1);  // wrapped
  FERRY_RETURN_IF_ERROR(AppendRequest(&call.frame, call.id, request));
  bool flush = false;
  {
    std::lock_guard lock(c.mu);
    if (c.stopping) return Status::Cancelled(Name(c) + ": closing");
    if (c.state == Connection::State::kFailed) Revive(c);
    c.calls[call.id] = &call;
    started->client_ = this;
    started->conn_ = &c;
    // Not up: sent once it is (Install sends every call waiting).
    if (c.state == Connection::State::kUp) {
      c.outbox.insert(c.outbox.end(), call.frame.begin(), call.frame.end());
      flush = c.outbox.size() >= kOutboxFlushBytes;
    }
  }
  if (flush) FlushOutbox(c);
  return started;
}

Result<Response> LinkClient::Await(Started& started) {
  Connection& c = *started.conn_;
  PendingCall& call = *started.call_;
  FlushOutbox(c);
  std::unique_lock lock(c.mu);
  call.cv.wait(lock, [&] { return call.done || c.stopping; });
  if (!call.done) {
    c.calls.erase(call.id);
    return Status::Cancelled(Name(c) + ": closing");
  }
  if (!call.error.ok()) return call.error;
  std::vector<std::byte> payload = std::move(call.payload);
  const uint8_t version = call.version;
  lock.unlock();
  auto response = DecodeResponse(call.op, payload, version);
  if (!response.ok()) {
    return response.status().WithContext(Name(c) + ": response to " +
                                         std::string(OpName(call.op)));
  }
  return response;
}

// --- Chunks -----------------------------------------------------------------

std::shared_ptr<LinkClient::Channel> LinkClient::OpenChannel(
    uint32_t conn, uint32_t writer_id) {
  return std::make_shared<Channel>(conn % connection_count(), writer_id);
}

Status LinkClient::SendChunk(const std::shared_ptr<Channel>& channel_ptr,
                             uint64_t offset, std::span<const std::byte> data,
                             const BlockChecksum* checksum) {
  Channel& channel = *channel_ptr;
  if (data.empty() || data.size() > max_chunk_bytes()) {
    return Status::Internal("link: a chunk of " + std::to_string(data.size()) +
                            " bytes");
  }
  Connection& c = *connections_[channel.conn];
  auto record = std::make_shared<ChunkRecord>();
  record->pool = frame_pool_;
  record->frame = frame_pool_->Take();
  record->offset = offset;
  record->length = data.size();
  Chunk chunk;
  chunk.offset = offset;
  chunk.length = data.size();
  chunk.checksum = checksum ? *checksum : ComputeBlockChecksum(data);
  chunk.data = data;
  std::vector<std::byte> compressed;
  if (options_.compression && channel.compression.Try()) {
    chunk.encoding = CompressChunk(data, &compressed);
    if (chunk.encoding == ChunkEncoding::kZstd) chunk.data = compressed;
    channel.compression.Compressed(chunk.encoding == ChunkEncoding::kZstd);
  }
  record->wire_bytes = chunk.data.size();
  // The header and the chunk's fields take well under 64 bytes.
  record->frame.reserve(kFrameHeaderBytes + 64 + chunk.data.size());
  FERRY_RETURN_IF_ERROR(AppendFrame(&record->frame, channel.writer_id, chunk));
  counters_.chunk_bytes_read += data.size();
  {
    std::unique_lock lock(c.mu);
    c.cv.wait(lock, [&] {
      return c.stopping || !channel.failure.ok() || channel.cancelled ||
             c.unacked + record->length <= options_.window_bytes;
    });
    if (!channel.failure.ok()) return channel.failure;
    if (c.stopping || channel.cancelled) {
      return Status::Cancelled(Name(c) + ": the write was abandoned");
    }
    if (c.state == Connection::State::kFailed) Revive(c);
    record->channel = channel_ptr;
    record->pos = c.live.insert(c.live.end(), record);
    SetUnackedLocked(c, c.unacked + record->length);
    ++channel.pending;
    // An earlier chunk of the range waits to be sent again (it arrived
    // damaged): this one goes after it, with the resends, so that the last
    // write of the range stays last.
    for (const auto& r : c.resend) {
      if (r->resend_queued && r->channel == record->channel &&
          r->offset < record->offset + record->length &&
          record->offset < r->offset + r->length) {
        record->resend_queued = true;
        c.resend.push_back(record);
        c.work_cv.notify_all();
        break;
      }
    }
  }
  SendGuard send_lock(this, c);
  std::shared_ptr<FrameStream> stream;
  uint64_t generation = 0;
  {
    std::lock_guard lock(c.mu);
    // A reconnection or a retry may have sent it already, or a failure
    // dropped it.
    if (record->done || record->sent || record->resend_queued ||
        c.state != Connection::State::kUp) {
      return Status::Ok();
    }
    record->sent = true;
    ++record->outstanding;
    c.inflight.push_back(record);
    stream = c.stream;
    generation = c.generation;
  }
  counters_.chunk_bytes_sent += record->wire_bytes;
  if (StorageObserver* o = observer_.load()) {
    o->OnBytesOnWire(record->told.exchange(true) ? 0 : record->length,
                     record->wire_bytes);
  }
  if (Status st = stream->Send(record->frame); !st.ok()) {
    Break(c, generation, st);
  }
  return Status::Ok();
}

Status LinkClient::WaitAcknowledged(Channel& channel) {
  Connection& c = *connections_[channel.conn];
  std::unique_lock lock(c.mu);
  c.cv.wait(lock, [&] {
    return channel.pending == 0 || !channel.failure.ok() || c.stopping ||
           channel.cancelled;
  });
  if (!channel.failure.ok()) return channel.failure;
  if (channel.pending > 0) {
    return Status::Cancelled(Name(c) + ": the write was abandoned");
  }
  return Status::Ok();
}

void LinkClient::CancelChannel(Channel& channel) {
  Connection& c = *connections_[channel.conn];
  std::lock_guard lock(c.mu);
  channel.cancelled = true;
  for (auto it = c.live.begin(); it != c.live.end();) {
    ChunkRecord& r = **it;
    ++it;
    if (r.channel.get() == &channel) CompleteLocked(c, r);
  }
  c.cv.notify_all();
}

void LinkClient::SetUnackedLocked(Connection& c, uint64_t unacked) {
  if (unacked >= c.unacked) {
    counters_.unacked_bytes += unacked - c.unacked;
  } else {
    counters_.unacked_bytes -= c.unacked - unacked;
  }
  c.unacked = unacked;
  uint64_t seen = counters_.max_unacked_bytes.load();
  while (unacked > seen &&
         !counters_.max_unacked_bytes.compare_exchange_weak(seen, unacked)) {
  }
}

void LinkClient::CompleteLocked(Connection& c, ChunkRecord& record) {
  if (record.done) return;
  record.done = true;
  c.live.erase(record.pos);
  SetUnackedLocked(c, c.unacked - record.length);
  if (record.channel->pending > 0) --record.channel->pending;
  c.cv.notify_all();
}

void LinkClient::FailChannelLocked(Connection& c, Channel& channel,
                                   const Status& why) {
  if (channel.failure.ok()) channel.failure = why;
  for (auto it = c.live.begin(); it != c.live.end();) {
    ChunkRecord& r = **it;
    ++it;
    if (r.channel.get() == &channel) CompleteLocked(c, r);
  }
  c.cv.notify_all();
}

void LinkClient::QueueResendLocked(Connection& c,
                                   const std::shared_ptr<ChunkRecord>& record) {
  // The chunk goes to the end of the write order, and so does every later
  // chunk of its writer that overlaps it: whatever the receiver wrote of
  // those is written again after it.
  std::vector<std::shared_ptr<ChunkRecord>> moved;
  for (auto it = record->pos; it != c.live.end(); ++it) {
    const ChunkRecord& r = **it;
    if (*it == record || (r.channel == record->channel &&
                          r.offset < record->offset + record->length &&
                          record->offset < r.offset + r.length)) {
      moved.push_back(*it);
    }
  }
  for (const auto& r : moved) {
    c.live.splice(c.live.end(), c.live, r->pos);
    if (!r->resend_queued) {
      r->resend_queued = true;
      c.resend.push_back(r);
    }
  }
  c.work_cv.notify_all();
}

void LinkClient::OnAck(Connection& c, uint64_t generation, uint8_t version,
                       uint32_t stream, std::span<const std::byte> payload) {
  auto ack = ChunkAck::Decode(payload, version);
  std::lock_guard lock(c.mu);
  if (generation != c.generation || c.state != Connection::State::kUp) return;
  if (!ack.ok()) {
    return FailLocked(c, ack.status().WithContext(Name(c)));
  }
  if (c.inflight.empty()) {
    return FailLocked(
        c, Status::InvalidArgument(Name(c) + ": CHUNK_ACK of no chunk sent"));
  }
  std::shared_ptr<ChunkRecord> record = c.inflight.front();
  if (record->channel->writer_id != stream || record->offset != ack->offset ||
      record->length != ack->length) {
    return FailLocked(
        c, Status::InvalidArgument(
               Name(c) + ": CHUNK_ACK of writer " + std::to_string(stream) +
               " at " + std::to_string(ack->offset) + " out of order"));
  }
  c.inflight.pop_front();
  --record->outstanding;
  if (record->done) return;
  Channel& channel = *record->channel;
  const Status& st = ack->status;
  if (st.ok()) {
    if (record->outstanding == 0 && !record->resend_queued) {
      CompleteLocked(c, *record);
    }
    return;
  }
  if (st.code() != StatusCode::kDataLoss) {
    return FailChannelLocked(c, channel, st);
  }
  if (record->resend_queued) return;  // on its way again already
  if (record->retries >= options_.max_chunk_retries) {
    return FailChannelLocked(
        c, channel,
        Status::DataLoss(Name(c) + ": the " + std::to_string(record->length) +
                         " bytes at offset " + std::to_string(record->offset) +
                         " arrived damaged " +
                         std::to_string(record->retries + 1) +
                         " times: " + std::string(st.message())));
  }
  ++record->retries;
  ++counters_.chunk_retries;
  QueueResendLocked(c, record);
}

// --- Connection upkeep ------------------------------------------------------

void LinkClient::BreakLocked(Connection& c, uint64_t generation,
                             const Status& why) {
  if (generation != c.generation || c.state != Connection::State::kUp ||
      c.stopping) {
    return;
  }
  c.state = Connection::State::kConnecting;
  c.last_error = why;
  // A connection that worked starts a new wait; one that broke before it
  // carried anything goes on with the last one.
  const auto now = std::chrono::steady_clock::now();
  if (c.heard || now - c.up_since >= options_.max_reconnect_delay) {
    c.down_since = now;
  }
  c.heard = false;
  c.stream->Close();
  c.inflight.clear();
  c.outbox.clear();  // its calls are sent again on the next stream
  c.work_cv.notify_all();
}

void LinkClient::Revive(Connection& c) {
  c.state = Connection::State::kConnecting;
  c.down_since = std::chrono::steady_clock::now();
  c.heard = false;
  c.work_cv.notify_all();
}

void LinkClient::Break(Connection& c, uint64_t generation, const Status& why) {
  std::lock_guard lock(c.mu);
  BreakLocked(c, generation, why);
}

void LinkClient::Fail(Connection& c, uint64_t generation, const Status& why) {
  std::lock_guard lock(c.mu);
  if (generation != c.generation || c.state != Connection::State::kUp) return;
  FailLocked(c, why);
}

void LinkClient::FailLocked(Connection& c, const Status& why) {
  c.state = Connection::State::kFailed;
  c.last_error = why;
  if (c.stream) c.stream->Close();
  for (auto& [id, call] : c.calls) {
    call->done = true;
    call->error = why;
    call->cv.notify_one();
  }
  c.calls.clear();
  c.outbox.clear();
  while (!c.live.empty()) {
    std::shared_ptr<ChunkRecord> r = c.live.front();
    if (r->channel->failure.ok()) r->channel->failure = why;
    CompleteLocked(c, *r);
  }
  c.inflight.clear();
  c.resend.clear();
  c.pongs.clear();
  c.cv.notify_all();
}

void LinkClient::ReceiveLoop(Connection& c) {
  uint64_t seen = 0;
  while (true) {
    std::shared_ptr<FrameStream> stream;
    uint64_t generation = 0;
    {
      std::unique_lock lock(c.mu);
      c.cv.wait(lock, [&] {
        return c.stopping ||
               (c.state == Connection::State::kUp && c.generation != seen);
      });
      if (c.stopping) return;
      stream = c.stream;
      generation = seen = c.generation;
    }
    bool heard = false;
    while (true) {
      std::vector<std::byte> payload;
      auto header = stream->Receive(&payload);
      if (header.ok() && !heard) {
        heard = true;
        std::lock_guard lock(c.mu);
        if (c.generation == generation) c.heard = true;
      }
      if (!header.ok()) {
        if (header.status().code() == StatusCode::kUnavailable) {
          Break(c, generation, header.status());
        } else {
          Fail(c, generation, header.status().WithContext(Name(c)));
        }
        break;
      }
      Route(c, generation, stream->link_version(), *header, std::move(payload));
    }
  }
}

void LinkClient::Route(Connection& c, uint64_t generation, uint8_t version,
                       const FrameHeader& header,
                       std::vector<std::byte> payload) {
  switch (header.type) {
    case FrameType::kResponse: {
      std::lock_guard lock(c.mu);
      if (generation != c.generation) return;
      auto it = c.calls.find(header.stream);
      if (it == c.calls.end()) return;  // its caller gave up
      PendingCall* call = it->second;
      call->payload = std::move(payload);
      call->version = version;
      call->done = true;
      c.calls.erase(it);
      call->cv.notify_one();
      return;
    }
    case FrameType::kChunkAck:
      return OnAck(c, generation, version, header.stream, payload);
    case FrameType::kPing: {
      auto ping = Ping::Decode(payload);
      if (!ping.ok()) return Fail(c, generation, ping.status());
      std::lock_guard lock(c.mu);
      if (generation != c.generation) return;
      c.pongs.push_back(ping->opaque);
      c.work_cv.notify_all();
      return;
    }
    case FrameType::kPong:
      return;
    case FrameType::kGoodbye:
      return Break(c, generation,
                   Status(StatusCode::kUnavailable,
                          Name(c) + ": the peer said goodbye"));
    case FrameType::kError: {
      auto error = ErrorFrame::Decode(payload);
      const Status& why = error.ok() ? error->status : error.status();
      return Fail(c, generation,
                  Status(why.code(), Name(c) + ": closed by the peer: " +
                                         std::string(why.message())));
    }
    case FrameType::kHello:
    case FrameType::kHelloOk:
    case FrameType::kRequest:
    case FrameType::kChunk:
      break;
  }
  Fail(c, generation,
       Status::InvalidArgument(Name(c) + ": unexpected " +
                               std::string(FrameTypeName(header.type)) +
                               " frame"));
}

void LinkClient::MaintainLoop(Connection& c) {
  std::unique_lock lock(c.mu);
  while (!c.stopping) {
    if (c.state == Connection::State::kConnecting) {
      lock.unlock();
      Reconnect(c);
      lock.lock();
      continue;
    }
    if (c.state == Connection::State::kUp &&
        (!c.resend.empty() || !c.pongs.empty())) {
      lock.unlock();
      SendResends(c);
      lock.lock();
      continue;
    }
    c.work_cv.wait(lock);
  }
}

void LinkClient::Reconnect(Connection& c) {
  std::chrono::steady_clock::time_point start;
  {
    std::lock_guard lock(c.mu);
    start = c.down_since;
    if (std::chrono::steady_clock::now() - start > options_.reconnect_budget) {
      // Connections were made, and broke before carrying anything, for
      // longer than the budget.
      FailLocked(c, Status(StatusCode::kUnavailable,
                           Name(c) + ": the connection keeps breaking: " +
                               std::string(c.last_error.message())));
      return;
    }
  }
  std::chrono::milliseconds delay = options_.reconnect_delay;
  for (int attempt = 1;; ++attempt) {
    {
      std::lock_guard lock(c.mu);
      if (c.stopping || c.state != Connection::State::kConnecting) return;
    }
    Result<std::unique_ptr<FrameStream>> stream = connector_(c.index);
    if (stream.ok() && *stream) return Install(c, std::move(*stream));
    const Status why =
        stream.ok() ? Status::Internal("the connector gave no connection")
                    : stream.status();
    const auto elapsed = std::chrono::steady_clock::now() - start;
    std::unique_lock lock(c.mu);
    if (c.stopping) return;
    if (why.code() != StatusCode::kUnavailable && !why.retryable()) {
      // A refusal (a certificate, a version): trying again changes nothing.
      FailLocked(c, why.WithContext(Name(c)));
      return;
    }
    if (elapsed + delay > options_.reconnect_budget) {
      std::string msg = Name(c) + ": cannot connect within " +
                        Seconds(options_.reconnect_budget) + ": " +
                        std::string(why.message());
      if (!c.last_error.ok()) {
        msg += " (the connection was lost: " +
               std::string(c.last_error.message()) + ")";
      }
      FailLocked(c, Status(StatusCode::kUnavailable, std::move(msg)));
      return;
    }
    if (StorageObserver* o = observer_.load()) {
      o->OnStorageRetry(Name(c), why, attempt, delay);
    }
    c.work_cv.wait_for(lock, delay, [&] { return c.stopping; });
    delay = std::min(delay * 2, options_.max_reconnect_delay);
  }
}

void LinkClient::DrainOutbox(Connection& c) {
  while (true) {
    std::vector<std::byte> batch;
    std::shared_ptr<FrameStream> stream;
    uint64_t generation = 0;
    {
      std::lock_guard lock(c.mu);
      if (c.outbox.empty() || c.state != Connection::State::kUp) return;
      batch.swap(c.outbox);
      stream = c.stream;
      generation = c.generation;
    }
    if (Status st = stream->Send(batch); !st.ok()) {
      Break(c, generation, st);
      return;
    }
  }
}

void LinkClient::FlushOutbox(Connection& c) {
  while (true) {
    {
      std::unique_lock send_lock(c.send_mu, std::try_to_lock);
      // Whoever holds it sends what is queued before it lets go, and then
      // looks again (below), so nothing queued is left behind.
      if (!send_lock.owns_lock()) return;
      DrainOutbox(c);
    }
    std::lock_guard lock(c.mu);
    if (c.outbox.empty() || c.state != Connection::State::kUp) return;
  }
}

Status LinkClient::SendFrames(
    Connection& c, uint64_t generation, FrameStream& stream,
    const std::vector<std::shared_ptr<ChunkRecord>>& chunks,
    const std::vector<std::vector<std::byte>>& frames) {
  for (const auto& r : chunks) {
    counters_.chunk_bytes_sent += r->wire_bytes;
    if (StorageObserver* o = observer_.load()) {
      o->OnBytesOnWire(r->told.exchange(true) ? 0 : r->length, r->wire_bytes);
    }
    if (Status st = stream.Send(r->frame); !st.ok()) {
      Break(c, generation, st);
      return st;
    }
  }
  for (const auto& f : frames) {
    if (Status st = stream.Send(f); !st.ok()) {
      Break(c, generation, st);
      return st;
    }
  }
  return Status::Ok();
}

void LinkClient::Install(Connection& c, std::unique_ptr<FrameStream> fresh) {
  std::shared_ptr<FrameStream> stream(std::move(fresh));
  SendGuard send_lock(this, c);
  std::vector<std::shared_ptr<ChunkRecord>> chunks;
  std::vector<std::vector<std::byte>> frames;
  uint64_t generation = 0;
  {
    std::lock_guard lock(c.mu);
    if (c.stopping) {
      stream->Close();
      return;
    }
    if (c.generation > 0) ++counters_.reconnects;
    generation = ++c.generation;
    c.up_since = std::chrono::steady_clock::now();
    c.stream = stream;
    c.state = Connection::State::kUp;
    c.last_error = Status::Ok();
    c.inflight.clear();
    c.resend.clear();
    c.pongs.clear();
    c.outbox.clear();  // every call waiting goes below
    // Everything the connection owed, again: chunks in write order, then
    // the requests (whose ids let the receiver answer those it already
    // ran from what it did).
    for (const auto& r : c.live) {
      r->sent = true;
      r->outstanding = 1;
      r->resend_queued = false;
      c.inflight.push_back(r);
      chunks.push_back(r);
    }
    for (const auto& [id, call] : c.calls) frames.push_back(call->frame);
    c.cv.notify_all();
  }
  (void)SendFrames(c, generation, *stream, chunks, frames);
}

void LinkClient::SendResends(Connection& c) {
  SendGuard send_lock(this, c);
  std::vector<std::shared_ptr<ChunkRecord>> chunks;
  std::vector<std::vector<std::byte>> frames;
  std::shared_ptr<FrameStream> stream;
  uint64_t generation = 0;
  {
    std::lock_guard lock(c.mu);
    if (c.stopping || c.state != Connection::State::kUp) return;
    for (auto& r : c.resend) {
      if (r->done || !r->resend_queued) continue;
      r->resend_queued = false;
      r->sent = true;
      ++r->outstanding;
      c.inflight.push_back(r);
      chunks.push_back(std::move(r));
    }
    c.resend.clear();
    for (uint64_t opaque : c.pongs) {
      frames.emplace_back();
      (void)AppendFrame(&frames.back(), 0, Pong{opaque});
    }
    c.pongs.clear();
    stream = c.stream;
    generation = c.generation;
  }
  (void)SendFrames(c, generation, *stream, chunks, frames);
}

}  // namespace ferry::link
