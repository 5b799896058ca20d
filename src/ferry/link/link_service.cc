#include "ferry/link/link_service.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <string>
#include <thread>
#include <utility>

#include "ferry/base/clock.h"
#include "ferry/base/digest.h"
#include "ferry/delta/delta.h"
#include "ferry/link/chunk_coding.h"

namespace ferry::link {
namespace {

Response Answer(Status status) {
  Response r;
  r.status = std::move(status);
  return r;
}

// An upper bound of an entry's encoding: its variable fields and at most
// 256 bytes of the rest.
size_t EntryBound(const Entry& e) {
  return e.path.str().size() + e.link_target.size() + e.etag.size() +
         e.version.size() + 256;
}

// Reads out.size() bytes at `offset`, fewer only at the end of the file.
Result<size_t> ReadFully(Reader& reader, uint64_t offset,
                         std::span<std::byte> out) {
  size_t got = 0;
  while (got < out.size()) {
    FERRY_ASSIGN_OR_RETURN(size_t n,
                           reader.ReadAt(offset + got, out.subspan(got)));
    if (n == 0) break;
    got += n;
  }
  return got;
}

}  // namespace

struct LinkSession::ListerState {
  std::unique_ptr<Lister> lister;
  std::vector<Entry> buffered;  // from the last NextBatch, from `next` on
  size_t next = 0;
  bool exhausted = false;
};

// Open objects by id, at most `max` at once.
template <typename T>
class LinkSession::Table {
 public:
  Table(std::string what, size_t max) : what_(std::move(what)), max_(max) {}

  Result<uint32_t> Add(std::unique_ptr<T> object) {
    std::lock_guard lock(mu_);
    if (map_.size() >= max_) {
      return Status(
          StatusCode::kResourceExhausted,
          "link: " + std::to_string(max_) + " " + what_ + "s open already");
    }
    uint32_t id = next_++;
    while (id == 0 || map_.count(id)) id = next_++;
    auto slot = std::make_shared<Slot<T>>();
    slot->object = std::move(object);
    map_.emplace(id, std::move(slot));
    return id;
  }

  // The object, or NotFound.
  Result<std::shared_ptr<Slot<T>>> Find(uint32_t id) {
    std::lock_guard lock(mu_);
    auto it = map_.find(id);
    if (it == map_.end()) return Missing(id);
    return it->second;
  }

  // Forgets the object; whoever holds its slot may finish with it.
  std::shared_ptr<Slot<T>> Take(uint32_t id) {
    std::lock_guard lock(mu_);
    auto it = map_.find(id);
    if (it == map_.end()) return nullptr;
    std::shared_ptr<Slot<T>> slot = std::move(it->second);
    map_.erase(it);
    return slot;
  }

  // Remembers that `id` was finished with (the last max of them): a
  // chunk sent again after a reconnection may still name it.
  void Retire(uint32_t id) {
    std::lock_guard lock(mu_);
    if (retired_.insert(id).second) retired_order_.push_back(id);
    while (retired_order_.size() > max_) {
      retired_.erase(retired_order_.front());
      retired_order_.pop_front();
    }
  }
  bool Retired(uint32_t id) const {
    std::lock_guard lock(mu_);
    return retired_.count(id) > 0;
  }

  std::vector<std::shared_ptr<Slot<T>>> TakeAll() {
    std::lock_guard lock(mu_);
    std::vector<std::shared_ptr<Slot<T>>> out;
    for (auto& [id, slot] : map_) out.push_back(std::move(slot));
    map_.clear();
    return out;
  }

  size_t size() const {
    std::lock_guard lock(mu_);
    return map_.size();
  }

  Status Missing(uint32_t id) const {
    return Status::NotFound("link: no open " + what_ + " " +
                            std::to_string(id));
  }

 private:
  const std::string what_;
  const size_t max_;
  mutable std::mutex mu_;
  std::map<uint32_t, std::shared_ptr<Slot<T>>> map_;
  std::set<uint32_t> retired_;
  std::deque<uint32_t> retired_order_;
  uint32_t next_ = 1;
};

LinkSession::LinkSession(Backend* backend, LinkSessionOptions options)
    : backend_(backend),
      options_(options),
      writers_(
          std::make_unique<Table<StagedWriter>>("writer", options.max_writers)),
      listers_(
          std::make_unique<Table<ListerState>>("lister", options.max_listers)),
      readers_(std::make_unique<Table<Reader>>("reader", options.max_readers)) {
}

LinkSession::~LinkSession() {
  stop_.request_stop();
  for (auto& slot : writers_->TakeAll()) {
    std::unique_lock lock(slot->mu);
    slot->object->Abort();
  }
}

size_t LinkSession::open_writers() const { return writers_->size(); }

size_t LinkSession::cached_responses() const {
  std::lock_guard lock(cache_mu_);
  return cache_.size();
}

void LinkSession::Shutdown() {
  std::lock_guard lock(streams_mu_);
  shut_down_ = true;
  for (FrameStream* s : streams_) s->Close();
  stop_.request_stop();
}

namespace {

// Answers to requests held back while more requests wait (Serve).
constexpr size_t kMaxHeldAnswers = 64;
constexpr size_t kMaxHeldAnswerBytes = 256 << 10;

// Whether `op` is quick until it has run: it moves no file data in bulk (a
// small file's PUT_FILE aside) and walks no tree.
bool QuickAtFirst(Op op) {
  switch (op) {
    case Op::kListOpen:
    case Op::kListNext:
    case Op::kCommit:
    case Op::kRemoveFiles:
    case Op::kRemoveTree:
    case Op::kSync:
    case Op::kCleanupStaging:
    case Op::kCleanupStagingEntry:
    case Op::kComputeDigest:
    case Op::kRead:
    case Op::kReadNextData:
    case Op::kSignatures:
    case Op::kCopyBasis:
      return false;
    default:
      return true;
  }
}

// An operation that took longer than this the last time it ran on a
// connection is not quick.
constexpr auto kQuickOp = std::chrono::milliseconds(1);

}  // namespace

// Per connection: answers are held back while a request runs only if it is
// quick (a digest of small files is; one of a large file is not), judged
// by how long the same operation took the last time it ran there.
class LinkSession::AnswerPacing {
 public:
  bool MayHold(Op op) const {
    const size_t i = Index(op);
    return ran_[i] ? quick_[i] : QuickAtFirst(op);
  }
  void Ran(Op op, std::chrono::steady_clock::duration took) {
    const size_t i = Index(op);
    ran_[i] = true;
    quick_[i] = took < kQuickOp;
  }

 private:
  static size_t Index(Op op) {
    const auto v = static_cast<uint32_t>(op);
    return v >= kFirstOp && v <= kLastOp ? v : 0;
  }
  std::array<bool, kLastOp + 1> ran_{};
  std::array<bool, kLastOp + 1> quick_{};
};

Status LinkSession::Serve(std::unique_ptr<FrameStream> stream) {
  {
    std::lock_guard lock(streams_mu_);
    if (shut_down_) {
      stream->Close();
      return Status::Ok();
    }
    streams_.insert(stream.get());
  }
  auto served = [&](Status st) {
    {
      std::lock_guard lock(streams_mu_);
      streams_.erase(stream.get());
    }
    stream->Close();
    return st;
  };
  std::vector<std::byte> payload;
  // Answers not sent yet: held while more requests are already waiting, to
  // go out together (one TLS record and one send for many small answers),
  // except a chunk's acknowledgement, which the sender's window waits for.
  std::vector<std::byte> out;
  size_t held = 0;
  AnswerPacing pacing;
  while (true) {
    auto header = stream->Receive(&payload);
    Status st;
    bool urgent = true;
    if (!header.ok()) {
      // The sender went away (it reconnects if it wants to).
      if (header.status().code() == StatusCode::kUnavailable) {
        return served(Status::Ok());
      }
      st = header.status();
    } else {
      switch (header->type) {
        case FrameType::kRequest:
          st = HandleRequest(*stream, header->stream, payload, &out, &pacing);
          urgent = false;
          break;
        case FrameType::kChunk:
          st = HandleChunk(header->stream, payload, stream->link_version(),
                           &out);
          break;
        case FrameType::kPing: {
          auto ping = Ping::Decode(payload);
          st = ping.ok() ? AppendFrame(&out, header->stream, Pong{ping->opaque})
                         : ping.status();
          break;
        }
        case FrameType::kGoodbye: {
          auto bye = Goodbye::Decode(payload);
          if (bye.ok()) return served(Status::Ok());
          st = bye.status();
          break;
        }
        case FrameType::kHello:
        case FrameType::kHelloOk:
        case FrameType::kError:
        case FrameType::kResponse:
        case FrameType::kChunkAck:
        case FrameType::kPong:
          st = Status::InvalidArgument(
              "link: unexpected " + std::string(FrameTypeName(header->type)) +
              " frame from the sender");
          break;
      }
    }
    if (st.ok() && !out.empty()) {
      ++held;  // (at most: HandleRequest may have sent some)
      if (urgent || held >= kMaxHeldAnswers ||
          out.size() >= kMaxHeldAnswerBytes || !stream->InputPending()) {
        st = stream->Send(out);
        out.clear();
        held = 0;
      }
    }
    if (st.ok()) continue;
    if (st.code() == StatusCode::kUnavailable) return served(Status::Ok());
    // The sender broke the protocol: tell it why (after the answers held),
    // act on nothing more.
    if (AppendFrame(&out, 0, ErrorFrame{st}).ok()) (void)stream->Send(out);
    return served(st);
  }
}

// --- Requests ---------------------------------------------------------------

Result<std::optional<std::vector<std::byte>>> LinkSession::CachedOrClaim(
    uint32_t id, Op op) {
  std::unique_lock lock(cache_mu_);
  auto it = cache_.find(id);
  if (it == cache_.end()) {
    cache_[id].op = op;
    return std::optional<std::vector<std::byte>>();
  }
  if (it->second.op != op) {
    return Status::InvalidArgument("link: request id " + std::to_string(id) +
                                   " used again for " +
                                   std::string(OpName(op)));
  }
  cache_cv_.wait(lock, [&] {
    auto found = cache_.find(id);
    return found == cache_.end() || found->second.done;
  });
  auto found = cache_.find(id);
  if (found == cache_.end()) {
    return Status::Internal("link: the answer to request " +
                            std::to_string(id) + " was forgotten");
  }
  return std::optional<std::vector<std::byte>>(found->second.frame);
}

void LinkSession::Remember(uint32_t id, const std::vector<std::byte>& frame) {
  std::lock_guard lock(cache_mu_);
  Cached& c = cache_[id];
  c.frame = frame;
  c.done = true;
  answered_.push_back(id);
  cache_bytes_ += frame.size();
  while (!answered_.empty() &&
         (answered_.size() > options_.response_cache_entries ||
          cache_bytes_ > options_.response_cache_bytes)) {
    auto old = cache_.find(answered_.front());
    answered_.pop_front();
    if (old == cache_.end()) continue;
    cache_bytes_ -= old->second.frame.size();
    cache_.erase(old);
  }
  cache_cv_.notify_all();
}

Status LinkSession::HandleRequest(FrameStream& stream, uint32_t id,
                                  std::span<const std::byte> payload,
                                  std::vector<std::byte>* out,
                                  AnswerPacing* pacing) {
  FERRY_ASSIGN_OR_RETURN(Request q, DecodeRequest(payload));
  if (!out->empty() && !pacing->MayHold(q.op)) {
    FERRY_RETURN_IF_ERROR(stream.Send(*out));
    out->clear();
  }
  const bool keep = !OpIsRepeatable(q.op);
  if (keep) {
    FERRY_ASSIGN_OR_RETURN(auto cached, CachedOrClaim(id, q.op));
    if (cached) {
      out->insert(out->end(), cached->begin(), cached->end());
      return Status::Ok();
    }
  }
  const auto started = std::chrono::steady_clock::now();
  const Response r = Execute(q);
  pacing->Ran(q.op, std::chrono::steady_clock::now() - started);
  std::vector<std::byte> frame;
  const uint8_t version = stream.link_version();
  if (Status st = AppendResponse(&frame, id, q.op, r, version); !st.ok()) {
    // What the backend returned does not fit the wire (an entry the link
    // cannot carry): the request fails, saying so.
    (void)AppendResponse(
        &frame, id, q.op,
        Answer(Status::Internal("link: the answer cannot be sent: " +
                                std::string(st.message()))),
        version);
  }
  if (keep) Remember(id, frame);
  out->insert(out->end(), frame.begin(), frame.end());
  return Status::Ok();
}

Status LinkSession::HandleChunk(uint32_t writer,
                                std::span<const std::byte> payload,
                                uint8_t version, std::vector<std::byte>* out) {
  FERRY_ASSIGN_OR_RETURN(Chunk chunk, Chunk::Decode(payload));
  static thread_local std::vector<std::byte> buffer;
  ChunkAck ack;
  ack.offset = chunk.offset;
  ack.length = chunk.length;
  // Checked before anything is written: a damaged chunk writes nothing.
  auto data = CheckedChunkData(chunk, &buffer);
  if (!data.ok()) {
    ack.status = data.status();
  }
  if (auto slot = writers_->Find(writer); !slot.ok()) {
    // A file committed already: the COMMIT came after this chunk's first
    // copy, which was written (a commit waits for every refused chunk), and
    // this is that copy again, sent after a reconnection.
    if (ack.status.ok() && !writers_->Retired(writer)) {
      ack.status = slot.status();
    }
  } else {
    if (ack.status.ok()) {
      std::shared_lock lock((*slot)->mu);
      ack.status = (*slot)->object->WriteAt(chunk.offset, *data);
    }
    Slot<StagedWriter>& w = **slot;
    std::lock_guard lock(w.refused_mu);
    const std::pair<uint64_t, uint64_t> range(chunk.offset, chunk.length);
    if (ack.status.ok()) {
      w.refused.erase(range);
    } else if (w.refused.size() < kMaxRefusedChunks) {
      w.refused.insert(range);
    } else {
      w.too_many_refused = true;
    }
  }
  return AppendFrame(out, writer, ack, version);
}

Response LinkSession::Execute(const Request& q) {
  Backend& b = *backend_;
  Response r;
  switch (q.op) {
    case Op::kCapabilities:
      r.capabilities = b.capabilities();
      r.capabilities.delta = false;
      return r;
    case Op::kDescribe:
      r.text = b.Describe().substr(0, kMaxDescribeBytes);
      return r;
    case Op::kClockOffset:
      if (auto offset = b.ClockOffset()) r.clock_offset_ns = offset->count();
      r.receiver_wall_ns = WallNanos();
      return r;
    case Op::kStat: {
      auto e = b.Stat(q.path);
      if (!e.ok()) return Answer(e.status());
      r.entry = std::move(*e);
      return r;
    }
    case Op::kListOpen: {
      auto lister = b.List(q.path);
      if (!lister.ok()) return Answer(lister.status());
      auto state = std::make_unique<ListerState>();
      state->lister = std::move(*lister);
      auto id = listers_->Add(std::move(state));
      if (!id.ok()) return Answer(id.status());
      r.handle = *id;
      return r;
    }
    case Op::kListNext:
      return ListNext(q.handle);
    case Op::kListClose:
      listers_->Take(q.handle);
      return r;
    case Op::kOpenWrite: {
      auto writer = b.OpenWrite(q.path, q.hints);
      if (!writer.ok()) return Answer(writer.status());
      auto id = writers_->Add(std::move(*writer));
      if (!id.ok()) return Answer(id.status());
      r.handle = *id;
      return r;
    }
    case Op::kWriterSetXattrs:
    case Op::kWriterSetTags:
    case Op::kCommit:
    case Op::kAbort:
    case Op::kCopyBasis:
      return ExecuteWriter(q);
    case Op::kMakeDirectory:
      return Answer(b.MakeDirectory(q.path));
    case Op::kCreateSymlink:
      return Answer(b.CreateSymlink(q.path, q.entry, q.policy));
    case Op::kCreateSpecial:
      return Answer(b.CreateSpecial(q.path, q.entry, q.policy));
    case Op::kCreateHardLink:
      return Answer(b.CreateHardLink(q.path, q.other_path));
    case Op::kSetMetadata:
      return Answer(b.SetMetadata(q.path, q.entry, q.policy));
    case Op::kGetXattrs: {
      auto x = b.GetXattrs(q.path);
      if (!x.ok()) return Answer(x.status());
      r.xattrs = std::move(*x);
      return r;
    }
    case Op::kSetXattrs:
      return Answer(b.SetXattrs(q.path, q.xattrs, q.xattr_scope, q.acl_scope));
    case Op::kGetTags: {
      auto t = b.GetTags(q.path);
      if (!t.ok()) return Answer(t.status());
      r.tags = std::move(*t);
      return r;
    }
    case Op::kSetTags:
      return Answer(b.SetTags(q.path, q.tags));
    case Op::kRemove:
      return Answer(b.Remove(q.path));
    case Op::kRemoveFiles:
      r.statuses = b.RemoveFiles(q.paths, stop_.get_token());
      if (r.statuses.size() != q.paths.size()) {
        return Answer(Status::Internal("link: RemoveFiles gave " +
                                       std::to_string(r.statuses.size()) +
                                       " statuses"));
      }
      return r;
    case Op::kRemoveTree:
      return Answer(b.RemoveTree(q.path));
    case Op::kSync:
      return Answer(b.Sync());
    case Op::kCleanupStaging:
    case Op::kCleanupStagingEntry:
      return Cleanup(q);
    case Op::kComputeDigest: {
      auto d = b.ComputeDigest(q.path, q.algorithm, stop_.get_token(), {});
      if (!d.ok()) return Answer(d.status());
      r.digest = d->first;
      r.entry = std::move(d->second);
      return r;
    }
    case Op::kOpenRead: {
      auto reader = b.OpenRead(q.path);
      if (!reader.ok()) return Answer(reader.status());
      r.entry = (*reader)->entry();
      r.consistent = (*reader)->consistent();
      auto id = readers_->Add(std::move(*reader));
      if (!id.ok()) return Answer(id.status());
      r.handle = *id;
      return r;
    }
    case Op::kRead:
    case Op::kReadNextData:
    case Op::kReadRestat:
    case Op::kReadXattrs:
    case Op::kReadTags:
    case Op::kCloseRead:
      return ExecuteReader(q);
    case Op::kSignatures:
      return Signatures(q);
    case Op::kPutFile:
      return Answer(PutFile(q));
  }
  return Answer(Status::Internal("link: operation not served"));
}

Response LinkSession::ExecuteWriter(const Request& q) {
  if (q.op == Op::kAbort) {
    // Aborting what is gone already is done.
    if (auto slot = writers_->Take(q.handle)) {
      std::unique_lock lock(slot->mu);
      slot->object->Abort();
    }
    return Response();
  }
  if (q.op == Op::kCopyBasis) return Answer(CopyBasis(q));
  auto slot = writers_->Find(q.handle);
  if (!slot.ok()) return Answer(slot.status());
  std::unique_lock lock((*slot)->mu);
  StagedWriter& w = *(*slot)->object;
  switch (q.op) {
    case Op::kWriterSetXattrs:
      return Answer(w.SetXattrs(q.xattrs, q.xattr_scope, q.acl_scope));
    case Op::kWriterSetTags:
      return Answer(w.SetTags(q.tags));
    case Op::kCommit: {
      // Every chunk sent before the COMMIT came before it on this
      // connection and was handled: the file is whole unless one of them
      // was refused and waits to be sent again (DataLoss: the sender waits
      // for its chunks and commits again).
      {
        Slot<StagedWriter>& ws = **slot;
        std::lock_guard refused_lock(ws.refused_mu);
        if (ws.too_many_refused) {
          return Answer(Status(StatusCode::kResourceExhausted,
                               "link: more than " +
                                   std::to_string(kMaxRefusedChunks) +
                                   " chunks of the file were refused"));
        }
        if (!ws.refused.empty()) {
          return Answer(Status(
              StatusCode::kDataLoss,
              "link: " + std::to_string(ws.refused.size()) +
                  " chunks of the file were refused and are not written"));
        }
      }
      // A writer whose commit failed stays open: it may be written again
      // and committed (a folder in the way, removed), or aborted.
      Status st = w.Commit(q.entry, q.policy);
      if (st.ok()) {
        writers_->Take(q.handle);
        writers_->Retire(q.handle);
      }
      return Answer(std::move(st));
    }
    default:
      return Answer(Status::Internal("link: not a writer operation"));
  }
}

Status LinkSession::PutFile(const Request& q) {
  // Checked before anything is opened: damaged data writes nothing.
  std::span<const std::byte> data;
  static thread_local std::vector<std::byte> buffer;
  if (q.length > 0) {
    Chunk chunk;
    chunk.length = q.length;
    chunk.checksum = q.checksum;
    chunk.encoding = q.encoding;
    chunk.data = q.data;
    FERRY_ASSIGN_OR_RETURN(data, CheckedChunkData(chunk, &buffer));
  }
  FERRY_ASSIGN_OR_RETURN(std::unique_ptr<StagedWriter> writer,
                         backend_->OpenWrite(q.path, q.hints));
  Status st = data.empty() ? Status::Ok() : writer->WriteAt(0, data);
  if (st.ok() && q.with_xattrs) {
    st = writer->SetXattrs(q.xattrs, q.xattr_scope, q.acl_scope);
  }
  if (st.ok() && q.with_tags) st = writer->SetTags(q.tags);
  if (st.ok()) st = writer->Commit(q.entry, q.policy);
  if (!st.ok()) writer->Abort();
  return st;
}

Status LinkSession::CopyBasis(const Request& q) {
  FERRY_ASSIGN_OR_RETURN(auto slot, writers_->Find(q.handle));
  std::shared_lock lock(slot->mu);
  // The backend's own copy (a local file system copies in the kernel), or
  // through this process where it has none.
  Status own = slot->object->CopyFromBasis(q.offset, q.other_path,
                                           q.basis_offset, q.length);
  if (own.code() != StatusCode::kNotSupported) return own;
  FERRY_ASSIGN_OR_RETURN(std::unique_ptr<Reader> basis,
                         backend_->OpenRead(q.other_path));
  std::vector<std::byte> buf(std::min<uint64_t>(q.length, kBlockSize));
  for (uint64_t done = 0; done < q.length;) {
    const size_t n = std::min<uint64_t>(buf.size(), q.length - done);
    auto piece = std::span(buf).first(n);
    FERRY_ASSIGN_OR_RETURN(size_t got,
                           ReadFully(*basis, q.basis_offset + done, piece));
    if (got < n) {
      return Status(StatusCode::kSourceChanged,
                    "link: " + q.other_path.Display() + " ends at " +
                        std::to_string(q.basis_offset + done + got) +
                        ", before the bytes to copy from it");
    }
    FERRY_RETURN_IF_ERROR(slot->object->WriteAt(q.offset + done, piece));
    done += n;
  }
  return Status::Ok();
}

Response LinkSession::ExecuteReader(const Request& q) {
  if (q.op == Op::kCloseRead) {
    readers_->Take(q.handle);
    return Response();
  }
  auto slot = readers_->Find(q.handle);
  if (!slot.ok()) return Answer(slot.status());
  Reader& reader = *(*slot)->object;
  Response r;
  if (q.op == Op::kRead) {
    std::shared_lock lock((*slot)->mu);
    r.data.resize(q.length);
    auto got = ReadFully(reader, q.offset, r.data);
    if (!got.ok()) return Answer(got.status());
    r.data.resize(*got);
    return r;
  }
  std::unique_lock lock((*slot)->mu);
  switch (q.op) {
    case Op::kReadNextData: {
      auto e = reader.NextData(q.offset);
      if (!e.ok()) return Answer(e.status());
      r.extent = *e;
      return r;
    }
    case Op::kReadRestat: {
      auto e = reader.Restat();
      if (!e.ok()) return Answer(e.status());
      r.entry = std::move(*e);
      return r;
    }
    case Op::kReadXattrs: {
      auto x = reader.Xattrs();
      if (!x.ok()) return Answer(x.status());
      r.xattrs = std::move(*x);
      return r;
    }
    case Op::kReadTags: {
      auto t = reader.Tags();
      if (!t.ok()) return Answer(t.status());
      r.tags = std::move(*t);
      return r;
    }
    default:
      return Answer(Status::Internal("link: not a reader operation"));
  }
}

Response LinkSession::ListNext(uint32_t handle) {
  auto slot = listers_->Find(handle);
  if (!slot.ok()) return Answer(slot.status());
  std::unique_lock lock((*slot)->mu);
  ListerState& s = *(*slot)->object;
  Response r;
  size_t bytes = 0;
  while (r.entries.size() < kMaxListBatch && bytes < kListBatchBytes) {
    if (s.next == s.buffered.size()) {
      if (s.exhausted) break;
      s.buffered.clear();
      s.next = 0;
      auto more = s.lister->NextBatch(&s.buffered);
      if (!more.ok()) return Answer(more.status());
      if (!*more) s.exhausted = true;
      continue;
    }
    Entry& e = s.buffered[s.next++];
    bytes += EntryBound(e);
    r.entries.push_back(std::move(e));
  }
  // An empty batch says the listing is over: the lister is forgotten.
  if (r.entries.empty()) listers_->Take(handle);
  return r;
}

Response LinkSession::Signatures(const Request& q) {
  auto reader = backend_->OpenRead(q.path);
  if (!reader.ok()) return Answer(reader.status());
  Reader& basis = **reader;
  const uint64_t size = basis.entry().size;
  const delta::ReadFn read = [&](uint64_t offset, std::span<std::byte> out) {
    return ReadFully(basis, offset, out);
  };
  // The sender waits for the whole page before it matches: the blocks are
  // hashed on every core, in consecutive ranges (a Reader's ReadAt may be
  // called concurrently).
  const uint64_t count = (size + q.block_size - 1) / q.block_size;
  const uint64_t wanted =
      q.first_block < count ? std::min(count - q.first_block, q.max_count) : 0;
  constexpr uint64_t kMinBlocksPerPart = 64;
  const uint64_t parts = std::clamp<uint64_t>(
      std::min<uint64_t>(std::thread::hardware_concurrency(), 4), 1,
      std::max<uint64_t>(1, wanted / kMinBlocksPerPart));
  const uint64_t per_part = (wanted + parts - 1) / parts;
  std::vector<Result<std::vector<delta::BlockSignature>>> results(
      parts, std::vector<delta::BlockSignature>());
  auto compute = [&](uint64_t part) {
    const uint64_t first = part * per_part;
    if (first >= wanted) return;
    results[part] = delta::ComputeSignatures(
        read, size, q.block_size, q.first_block + first,
        static_cast<size_t>(std::min(per_part, wanted - first)));
  };
  std::vector<std::thread> helpers;
  for (uint64_t part = 1; part < parts; ++part) {
    helpers.emplace_back(compute, part);
  }
  compute(0);
  for (std::thread& t : helpers) t.join();
  Response r;
  r.signatures.block_size = q.block_size;
  r.signatures.first_block = q.first_block;
  for (auto& part : results) {
    if (!part.ok()) return Answer(part.status());
    r.signatures.blocks.insert(r.signatures.blocks.end(), part->begin(),
                               part->end());
  }
  return r;
}

Response LinkSession::Cleanup(const Request& q) {
  Response r;
  StagingCleanup cleanup;
  cleanup.now = std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::nanoseconds(q.now_ns)));
  cleanup.max_age = std::chrono::seconds(q.max_age_s);
  cleanup.on_removed = [&](const RelPath& path, const std::string& what) {
    if (r.removed.size() < kMaxCleanupReports) {
      r.removed.push_back(
          CleanupReport{path, what.substr(0, kMaxCleanupWhatBytes)});
    } else {
      ++r.removed_unreported;
    }
  };
  Status st = q.op == Op::kCleanupStaging
                  ? backend_->CleanupStaging(cleanup)
                  : backend_->CleanupStagingEntry(q.entry, cleanup);
  if (!st.ok()) return Answer(std::move(st));
  return r;
}

}  // namespace ferry::link
