#include "ferry/link/remote_backend.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <limits>

#include "ferry/base/clock.h"
#include "ferry/base/digest.h"
#include "ferry/link/chunk_coding.h"

namespace ferry::link {
namespace {

constexpr uint64_t kU64Max = std::numeric_limits<uint64_t>::max();

// The receiver's answer as a Result: its status, if not OK, is the error.
Result<Response> Answer(Result<Response> r) {
  if (!r.ok()) return r;
  if (!r->status.ok()) return r->status;
  return r;
}

Request Req(Op op) {
  Request q;
  q.op = op;
  return q;
}

Request PathReq(Op op, const RelPath& path) {
  Request q = Req(op);
  q.path = path;
  return q;
}

Request HandleReq(Op op, uint32_t handle) {
  Request q = Req(op);
  q.handle = handle;
  return q;
}

class LinkLister : public Lister {
 public:
  LinkLister(LinkClient* client, uint32_t handle)
      : client_(client), handle_(handle) {}
  ~LinkLister() override {
    // The receiver forgets a lister once it is exhausted.
    if (!exhausted_) {
      (void)client_->Call(client_->PickConnection(),
                          HandleReq(Op::kListClose, handle_));
    }
  }

  Result<bool> NextBatch(std::vector<Entry>* out) override {
    if (exhausted_) return false;
    FERRY_ASSIGN_OR_RETURN(
        Response r, Answer(client_->Call(client_->PickConnection(),
                                         HandleReq(Op::kListNext, handle_))));
    if (r.entries.empty()) {
      exhausted_ = true;
      return false;
    }
    out->insert(out->end(), std::make_move_iterator(r.entries.begin()),
                std::make_move_iterator(r.entries.end()));
    return true;
  }

 private:
  LinkClient* const client_;
  const uint32_t handle_;
  bool exhausted_ = false;
};

class LinkReader : public Reader {
 public:
  LinkReader(LinkClient* client, uint32_t handle, Entry entry, bool consistent)
      : client_(client),
        handle_(handle),
        entry_(std::move(entry)),
        consistent_(consistent) {}
  // Best effort: over a link that is down, the receiver closes it when the
  // link ends.
  ~LinkReader() override {
    (void)client_->CallIfUp(client_->PickConnection(),
                            HandleReq(Op::kCloseRead, handle_));
  }

  const Entry& entry() const override { return entry_; }
  bool consistent() const override { return consistent_; }

  Result<size_t> ReadAt(uint64_t offset, std::span<std::byte> out) override {
    size_t total = 0;
    while (total < out.size()) {
      const uint64_t at = offset + total;
      if (at < offset) break;  // past 2^64: nothing there
      const uint64_t len =
          std::min({uint64_t{out.size() - total}, kMaxReadBytes, kU64Max - at});
      if (len == 0) break;
      Request q = HandleReq(Op::kRead, handle_);
      q.offset = at;
      q.length = len;
      FERRY_ASSIGN_OR_RETURN(Response r, Call(q));
      if (r.data.size() > len) {
        return Status::InvalidArgument(
            "link: READ answered " + std::to_string(r.data.size()) +
            " bytes to a request of " + std::to_string(len));
      }
      if (!r.data.empty()) {
        std::memcpy(out.data() + total, r.data.data(), r.data.size());
      }
      total += r.data.size();
      if (r.data.size() < len) break;  // end of file
    }
    return total;
  }

  Result<Extent> NextData(uint64_t offset) override {
    Request q = HandleReq(Op::kReadNextData, handle_);
    q.offset = offset;
    FERRY_ASSIGN_OR_RETURN(Response r, Call(q));
    return r.extent;
  }

  Result<Entry> Restat() override {
    FERRY_ASSIGN_OR_RETURN(Response r,
                           Call(HandleReq(Op::kReadRestat, handle_)));
    return std::move(*r.entry);
  }

  Result<XattrList> Xattrs() override {
    FERRY_ASSIGN_OR_RETURN(Response r,
                           Call(HandleReq(Op::kReadXattrs, handle_)));
    return std::move(r.xattrs);
  }

  Result<ObjectTags> Tags() override {
    FERRY_ASSIGN_OR_RETURN(Response r, Call(HandleReq(Op::kReadTags, handle_)));
    return std::move(r.tags);
  }

 private:
  Result<Response> Call(const Request& q) {
    return Answer(client_->Call(client_->PickConnection(), q));
  }

  LinkClient* const client_;
  const uint32_t handle_;
  const Entry entry_;
  const bool consistent_;
};

// What a writer's NoteChecksum told, for the same thread's next WriteAt
// (chunks of one file are written from several threads at once). Writers
// are told apart by a number never used twice, so that a note a writer left
// unused can never be taken by another.
struct NotedChecksum {
  uint64_t writer = 0;  // 0: none
  uint64_t offset = 0;
  uint64_t length = 0;
  BlockChecksum sum;
};
thread_local NotedChecksum noted;
std::atomic<uint64_t> next_writer_number{1};

uint64_t NewWriterNumber() { return next_writer_number.fetch_add(1); }

void Note(uint64_t writer, uint64_t offset, uint64_t length,
          const BlockChecksum& sum) {
  noted = NotedChecksum{writer, offset, length, sum};
}

// The checksum noted for exactly this write, taken once.
std::optional<BlockChecksum> TakeNoted(uint64_t writer, uint64_t offset,
                                       uint64_t length) {
  const bool match = noted.writer == writer && noted.offset == offset &&
                     noted.length == length;
  noted.writer = 0;
  if (!match) return std::nullopt;
  return noted.sum;
}

class LinkWriter : public RemoteWriter {
 public:
  LinkWriter(LinkClient* client, uint32_t conn, uint32_t handle)
      : client_(client),
        conn_(conn),
        handle_(handle),
        channel_(client->OpenChannel(conn, handle)) {}
  ~LinkWriter() override {
    if (state_.load() == State::kOpen) Abort();
  }

  void NoteChecksum(uint64_t offset, uint64_t length,
                    const BlockChecksum& sum) override {
    Note(number_, offset, length, sum);
  }

  Status WriteAt(uint64_t offset, std::span<const std::byte> data) override {
    FERRY_RETURN_IF_ERROR(CheckOpen());
    const uint64_t piece = client_->max_chunk_bytes();
    const std::optional<BlockChecksum> sum =
        TakeNoted(number_, offset, data.size());
    if (sum && !data.empty() && data.size() <= piece) {
      return client_->SendChunk(channel_, offset, data, &*sum);
    }
    for (size_t done = 0; done < data.size();) {
      const size_t n = std::min<uint64_t>(piece, data.size() - done);
      FERRY_RETURN_IF_ERROR(
          client_->SendChunk(channel_, offset + done, data.subspan(done, n)));
      done += n;
    }
    return Status::Ok();
  }

  Status Commit(const Entry& metadata, const MetadataPolicy& policy) override {
    FERRY_RETURN_IF_ERROR(CheckOpen());
    // Sent behind the chunks without waiting for their acknowledgements
    // (one round trip per file, not two): the receiver handles a
    // connection's frames in order and commits only when every chunk
    // before the COMMIT was written. One that was refused (damaged on the
    // way) makes it answer DataLoss; then the chunks are waited for (sent
    // again) and the COMMIT with them.
    for (int attempt = 0;; ++attempt) {
      Request q = HandleReq(Op::kCommit, handle_);
      q.entry = metadata;
      q.policy = policy;
      Status committed = CallStatus(q);
      if (committed.ok()) {
        state_ = State::kCommitted;
        // The acknowledgements came before the answer: this does not wait,
        // and reports a peer that broke the protocol on the way.
        return client_->WaitAcknowledged(*channel_);
      }
      FERRY_RETURN_IF_ERROR(client_->WaitAcknowledged(*channel_));
      if (committed.code() != StatusCode::kDataLoss ||
          attempt >= client_->options().max_chunk_retries) {
        return committed;
      }
    }
  }

  void Abort() override {
    State open = State::kOpen;
    if (!state_.compare_exchange_strong(open, State::kAborted)) return;
    client_->CancelChannel(*channel_);
    // Best effort: over a link that is down, the receiver aborts it when the
    // link ends.
    (void)client_->CallIfUp(conn_, HandleReq(Op::kAbort, handle_));
  }

  Status SetXattrs(const XattrList& xattrs, bool xattr_scope,
                   bool acl_scope) override {
    FERRY_RETURN_IF_ERROR(CheckOpen());
    Request q = HandleReq(Op::kWriterSetXattrs, handle_);
    q.xattrs = xattrs;
    q.xattr_scope = xattr_scope;
    q.acl_scope = acl_scope;
    return CallStatus(q);
  }

  Status SetTags(const ObjectTags& tags) override {
    FERRY_RETURN_IF_ERROR(CheckOpen());
    Request q = HandleReq(Op::kWriterSetTags, handle_);
    q.tags = tags;
    return CallStatus(q);
  }

  Status CopyFromBasis(uint64_t target_offset, const RelPath& basis,
                       uint64_t basis_offset, uint64_t length) override {
    FERRY_RETURN_IF_ERROR(CheckOpen());
    for (uint64_t done = 0; done < length;) {
      Request q = HandleReq(Op::kCopyBasis, handle_);
      q.offset = target_offset + done;
      q.other_path = basis;
      q.basis_offset = basis_offset + done;
      q.length = std::min(kMaxCopyBasisBytes, length - done);
      // Chunks sent before travel on the same connection, ahead of it.
      FERRY_RETURN_IF_ERROR(CallStatus(q));
      done += q.length;
    }
    return Status::Ok();
  }

 private:
  enum class State { kOpen, kCommitted, kAborted };

  Status CheckOpen() const {
    switch (state_.load()) {
      case State::kOpen:
        return Status::Ok();
      case State::kCommitted:
        return Status::FailedPrecondition("link: the file is committed");
      case State::kAborted:
        return Status::FailedPrecondition("link: the write was aborted");
    }
    return Status::Internal("link: writer state");
  }

  // On the writer's connection, behind its chunks.
  Status CallStatus(const Request& q) {
    auto r = Answer(client_->Call(conn_, q));
    return r.ok() ? Status::Ok() : r.status();
  }

  LinkClient* const client_;
  const uint32_t conn_;
  const uint32_t handle_;
  const std::shared_ptr<LinkClient::Channel> channel_;
  const uint64_t number_ = NewWriterNumber();  // for NoteChecksum
  std::atomic<State> state_{State::kOpen};
};

// A file of at most kMaxPutFileBytes: its writes, xattrs and tags are kept
// here and the whole file goes in one PUT_FILE request at Commit (one round
// trip per small file instead of OPEN_WRITE, chunks, WRITER_SET_XATTRS and
// COMMIT). Anything else asked of it (a write beyond that size, a copy from
// a basis) opens a LinkWriter at the receiver, hands it what was written
// and set, and goes on through it.
class PutWriter : public RemoteWriter {
 public:
  using Opener = std::function<Result<std::unique_ptr<RemoteWriter>>()>;
  PutWriter(LinkClient* client, const Capabilities& caps, Opener open,
            RelPath path, WriteHints hints)
      : client_(client),
        caps_(caps),
        open_(std::move(open)),
        path_(std::move(path)),
        hints_(hints) {}

  void NoteChecksum(uint64_t offset, uint64_t length,
                    const BlockChecksum& sum) override {
    Note(number_, offset, length, sum);
  }

  Status WriteAt(uint64_t offset, std::span<const std::byte> data) override {
    FERRY_RETURN_IF_ERROR(CheckOpen());
    const std::optional<BlockChecksum> sum =
        TakeNoted(number_, offset, data.size());
    if (!inner_ && offset <= kMaxPutFileBytes &&
        data.size() <= kMaxPutFileBytes - offset) {
      // The whole file in one write: its checksum is the PUT_FILE's.
      const bool whole = offset == 0 && buffer_.empty();
      const uint64_t end = offset + data.size();
      if (offset == buffer_.size()) {
        // In order (the usual case): appended, not zeroed first.
        if (buffer_.empty() && hints_.size <= kMaxPutFileBytes) {
          buffer_.reserve(std::max<uint64_t>(hints_.size, end));
        }
        buffer_.insert(buffer_.end(), data.begin(), data.end());
      } else {
        if (end > buffer_.size()) buffer_.resize(end);
        std::copy(data.begin(), data.end(), buffer_.begin() + offset);
      }
      whole_sum_ = whole ? sum : std::nullopt;
      return Status::Ok();
    }
    whole_sum_.reset();
    FERRY_RETURN_IF_ERROR(Open());
    if (sum) inner_->NoteChecksum(offset, data.size(), *sum);
    return inner_->WriteAt(offset, data);
  }

  Status Commit(const Entry& metadata, const MetadataPolicy& policy) override {
    if (std::optional<Status> done = BeginCommit(metadata, policy)) {
      return *done;
    }
    return FinishCommit();
  }

  // The PUT_FILE is queued on a connection, to go out with others.
  std::optional<Status> BeginCommit(const Entry& metadata,
                                    const MetadataPolicy& policy) override {
    FERRY_RETURN_IF_ERROR(CheckOpen());
    if (started_) {
      return Status::FailedPrecondition("link: a commit is under way");
    }
    if (inner_) {
      FERRY_RETURN_IF_ERROR(inner_->Commit(metadata, policy));
      committed_ = true;
      return Status::Ok();
    }
    Request& q = put_;
    q.op = Op::kPutFile;
    q.path = path_;
    q.hints = hints_;
    q.entry = metadata;
    q.policy = policy;
    q.length = buffer_.size();
    q.checksum = whole_sum_ ? *whole_sum_ : ComputeBlockChecksum(buffer_);
    // Small files learn together whether compressing pays.
    CompressionBackoff& backoff = client_->small_file_compression();
    bool compressed = false;
    if (client_->options().compression && !buffer_.empty() && backoff.Try()) {
      compressed = CompressChunk(buffer_, &q.data) == ChunkEncoding::kZstd;
      backoff.Compressed(compressed);
    }
    if (compressed) {
      q.encoding = ChunkEncoding::kZstd;
    } else {
      q.data = std::move(buffer_);
    }
    buffer_ = {};
    return Send(/*attempt=*/0);
  }

  // The receiver checks the data against its checksum before it writes
  // anything: DataLoss sends it again, as a damaged chunk would be.
  Status FinishCommit() override {
    for (int attempt = 0;; ++attempt) {
      if (!started_) {
        return Status::FailedPrecondition("link: no commit is under way");
      }
      auto r = client_->Await(*started_);
      started_.reset();
      Status st = r.ok() ? r->status : r.status();
      if (st.ok()) {
        committed_ = true;
        put_ = Request();
        return Status::Ok();
      }
      if (st.code() != StatusCode::kDataLoss ||
          attempt >= client_->options().max_chunk_retries) {
        // Nothing was committed; the file cannot be written again (its data
        // went with the request), only aborted.
        aborted_ = true;
        return st;
      }
      ++client_->counters().chunk_retries;
      if (std::optional<Status> sent = Send(attempt + 1)) return *sent;
    }
  }
  void Abort() override {
    if (committed_ || aborted_) return;
    aborted_ = true;
    if (inner_) inner_->Abort();
  }

  // Kept for the PUT_FILE (applied before its commit, as a writer at the
  // receiver would), or passed to the writer at the receiver if there is
  // one.
  Status SetXattrs(const XattrList& xattrs, bool xattr_scope,
                   bool acl_scope) override {
    FERRY_RETURN_IF_ERROR(CheckOpen());
    // Where the receiver keeps none, its writer says so now.
    if (!caps_.xattrs && !caps_.acls) FERRY_RETURN_IF_ERROR(Open());
    if (inner_) return inner_->SetXattrs(xattrs, xattr_scope, acl_scope);
    put_.with_xattrs = true;
    put_.xattrs = xattrs;
    put_.xattr_scope = xattr_scope;
    put_.acl_scope = acl_scope;
    return Status::Ok();
  }

  Status SetTags(const ObjectTags& tags) override {
    FERRY_RETURN_IF_ERROR(CheckOpen());
    if (!caps_.object_tags) FERRY_RETURN_IF_ERROR(Open());
    if (inner_) return inner_->SetTags(tags);
    put_.with_tags = true;
    put_.tags = tags;
    return Status::Ok();
  }

  Status CopyFromBasis(uint64_t target_offset, const RelPath& basis,
                       uint64_t basis_offset, uint64_t length) override {
    FERRY_RETURN_IF_ERROR(CheckOpen());
    FERRY_RETURN_IF_ERROR(Open());
    return inner_->CopyFromBasis(target_offset, basis, basis_offset, length);
  }

 private:
  Status CheckOpen() const {
    if (committed_) {
      return Status::FailedPrecondition("link: the file is committed");
    }
    if (aborted_) {
      return Status::FailedPrecondition("link: the write was aborted");
    }
    return Status::Ok();
  }

  // Queues put_ (attempt 0 counts its data as read): nullopt once it is
  // under way.
  std::optional<Status> Send(int attempt) {
    client_->CountData(attempt == 0 ? put_.length : 0, put_.data.size());
    auto started = client_->Start(client_->PickConnection(), put_);
    if (!started.ok()) {
      aborted_ = true;
      return started.status();
    }
    started_ = std::move(started).value();
    return std::nullopt;
  }

  // The writer at the receiver, made once, with what was written and set
  // so far.
  Status Open() {
    if (inner_) return Status::Ok();
    FERRY_ASSIGN_OR_RETURN(inner_, open_());
    if (!buffer_.empty()) {
      FERRY_RETURN_IF_ERROR(inner_->WriteAt(0, buffer_));
    }
    buffer_ = {};
    if (put_.with_xattrs) {
      FERRY_RETURN_IF_ERROR(
          inner_->SetXattrs(put_.xattrs, put_.xattr_scope, put_.acl_scope));
    }
    if (put_.with_tags) FERRY_RETURN_IF_ERROR(inner_->SetTags(put_.tags));
    put_ = Request();
    return Status::Ok();
  }

  LinkClient* const client_;
  const uint64_t number_ = NewWriterNumber();  // for NoteChecksum
  const Capabilities& caps_;                   // the receiver's
  const Opener open_;
  const RelPath path_;
  const WriteHints hints_;
  std::vector<std::byte> buffer_;  // bytes [0, size) as written
  Request put_;                    // the xattrs and tags set, if any
  std::unique_ptr<RemoteWriter> inner_;
  // The checksum noted for the one write that made buffer_, if it did.
  std::optional<BlockChecksum> whole_sum_;
  std::unique_ptr<LinkClient::Started> started_;  // the PUT_FILE under way
  bool committed_ = false;
  bool aborted_ = false;
};

// a + b, or nullopt past the range of int64_t.
std::optional<int64_t> Add(int64_t a, int64_t b) {
  int64_t sum = 0;
  if (__builtin_add_overflow(a, b, &sum)) return std::nullopt;
  return sum;
}

}  // namespace

Result<std::unique_ptr<RemoteBackend>> RemoteBackend::Open(
    Connector connector, uint32_t connections, LinkOptions options) {
  FERRY_ASSIGN_OR_RETURN(
      std::unique_ptr<LinkClient> client,
      LinkClient::Start(std::move(connector), connections, std::move(options)));
  std::unique_ptr<RemoteBackend> backend(new RemoteBackend(std::move(client)));
  FERRY_RETURN_IF_ERROR(backend->Init());
  return backend;
}

RemoteBackend::RemoteBackend(std::unique_ptr<LinkClient> client)
    : client_(std::move(client)) {}

RemoteBackend::~RemoteBackend() = default;

Status RemoteBackend::Init() {
  // On the first connection: the others may still be connecting.
  FERRY_ASSIGN_OR_RETURN(Response caps,
                         Answer(client_->Call(0, Req(Op::kCapabilities))));
  caps_ = caps.capabilities;
  caps_.delta = true;
  // Every call waits for a round trip to the receiver: keep enough of them
  // in flight that the link, not the waiting, bounds small files.
  caps_.io_concurrency = std::max(caps_.io_concurrency, kLinkIoConcurrency);
  FERRY_ASSIGN_OR_RETURN(Response describe,
                         Answer(client_->Call(0, Req(Op::kDescribe))));
  describe_ = describe.text + " (through " + client_->options().peer + ")";
  const int64_t sent = WallNanos();
  FERRY_ASSIGN_OR_RETURN(Response clock,
                         Answer(client_->Call(0, Req(Op::kClockOffset))));
  const int64_t received = WallNanos();
  // The receiver's clock read half way through the exchange: known to
  // within half the round trip, which must be well within the second the
  // offset promises.
  if (clock.clock_offset_ns && received - sent >= 0 &&
      received - sent < 500'000'000) {
    const int64_t midpoint = sent + (received - sent) / 2;
    std::optional<int64_t> ahead;
    if (int64_t d = 0;
        !__builtin_sub_overflow(clock.receiver_wall_ns, midpoint, &d)) {
      ahead = Add(*clock.clock_offset_ns, d);
    }
    if (ahead) clock_offset_ = std::chrono::nanoseconds(*ahead);
  }
  return Status::Ok();
}

void RemoteBackend::SetObserver(StorageObserver* observer) {
  client_->SetObserver(observer);
}

Result<Response> RemoteBackend::Call(const Request& request) {
  return Answer(client_->Call(client_->PickConnection(), request));
}

std::vector<Result<Response>> RemoteBackend::CallMany(
    std::span<const Request> requests) {
  const uint32_t conn = client_->PickConnection();
  std::vector<Result<std::unique_ptr<LinkClient::Started>>> started;
  started.reserve(requests.size());
  for (const Request& q : requests) started.push_back(client_->Start(conn, q));
  std::vector<Result<Response>> out;
  out.reserve(requests.size());
  for (auto& s : started) {
    out.push_back(s.ok() ? Answer(client_->Await(**s))
                         : Result<Response>(s.status()));
  }
  return out;
}

Status RemoteBackend::CallStatus(const Request& request) {
  auto r = Call(request);
  return r.ok() ? Status::Ok() : r.status();
}

Result<std::optional<Entry>> RemoteBackend::Stat(const RelPath& path) {
  FERRY_ASSIGN_OR_RETURN(Response r, Call(PathReq(Op::kStat, path)));
  return std::move(r.entry);
}

Result<std::unique_ptr<Lister>> RemoteBackend::List(const RelPath& dir) {
  FERRY_ASSIGN_OR_RETURN(Response r, Call(PathReq(Op::kListOpen, dir)));
  return std::unique_ptr<Lister>(
      std::make_unique<LinkLister>(client_.get(), r.handle));
}

Result<std::unique_ptr<Reader>> RemoteBackend::OpenRead(const RelPath& path) {
  FERRY_ASSIGN_OR_RETURN(Response r, Call(PathReq(Op::kOpenRead, path)));
  return std::unique_ptr<Reader>(std::make_unique<LinkReader>(
      client_.get(), r.handle, std::move(*r.entry), r.consistent));
}

Result<std::unique_ptr<RemoteWriter>> RemoteBackend::OpenRemoteWrite(
    const RelPath& path, const WriteHints& hints) {
  // A small file goes whole at its commit (holes are skipped by writing
  // nothing, which only a writer at the receiver can keep as holes; the
  // root, which no file can be, is refused by the receiver at once).
  if (hints.size <= kMaxPutFileBytes && !hints.sparse && !path.IsRoot()) {
    return std::unique_ptr<RemoteWriter>(std::make_unique<PutWriter>(
        client_.get(), caps_,
        [this, path, hints] { return OpenLinkWrite(path, hints); }, path,
        hints));
  }
  return OpenLinkWrite(path, hints);
}

Result<std::unique_ptr<RemoteWriter>> RemoteBackend::OpenLinkWrite(
    const RelPath& path, const WriteHints& hints) {
  Request q = PathReq(Op::kOpenWrite, path);
  q.hints = hints;
  // The writer's chunks and calls all go on this connection.
  const uint32_t conn = client_->PickConnection();
  FERRY_ASSIGN_OR_RETURN(Response r, Answer(client_->Call(conn, q)));
  return std::unique_ptr<RemoteWriter>(
      std::make_unique<LinkWriter>(client_.get(), conn, r.handle));
}

Result<std::unique_ptr<StagedWriter>> RemoteBackend::OpenWrite(
    const RelPath& path, const WriteHints& hints) {
  FERRY_ASSIGN_OR_RETURN(std::unique_ptr<RemoteWriter> w,
                         OpenRemoteWrite(path, hints));
  return std::unique_ptr<StagedWriter>(std::move(w));
}

Status RemoteBackend::MakeDirectory(const RelPath& path) {
  return CallStatus(PathReq(Op::kMakeDirectory, path));
}

Status RemoteBackend::EntryCall(Op op, const RelPath& path, const Entry& src,
                                const MetadataPolicy& policy) {
  Request q = PathReq(op, path);
  q.entry = src;
  q.policy = policy;
  return CallStatus(q);
}

Status RemoteBackend::CreateSymlink(const RelPath& path, const Entry& src,
                                    const MetadataPolicy& policy) {
  return EntryCall(Op::kCreateSymlink, path, src, policy);
}

Status RemoteBackend::CreateSpecial(const RelPath& path, const Entry& src,
                                    const MetadataPolicy& policy) {
  return EntryCall(Op::kCreateSpecial, path, src, policy);
}

Status RemoteBackend::CreateHardLink(const RelPath& existing,
                                     const RelPath& link) {
  Request q = PathReq(Op::kCreateHardLink, existing);
  q.other_path = link;
  return CallStatus(q);
}

Status RemoteBackend::SetMetadata(const RelPath& path, const Entry& src,
                                  const MetadataPolicy& policy) {
  return EntryCall(Op::kSetMetadata, path, src, policy);
}

Result<XattrList> RemoteBackend::GetXattrs(const RelPath& path) {
  FERRY_ASSIGN_OR_RETURN(Response r, Call(PathReq(Op::kGetXattrs, path)));
  return std::move(r.xattrs);
}

Status RemoteBackend::SetXattrs(const RelPath& path, const XattrList& xattrs,
                                bool xattr_scope, bool acl_scope) {
  Request q = PathReq(Op::kSetXattrs, path);
  q.xattrs = xattrs;
  q.xattr_scope = xattr_scope;
  q.acl_scope = acl_scope;
  return CallStatus(q);
}

Result<ObjectTags> RemoteBackend::GetTags(const RelPath& path) {
  FERRY_ASSIGN_OR_RETURN(Response r, Call(PathReq(Op::kGetTags, path)));
  return std::move(r.tags);
}

Status RemoteBackend::SetTags(const RelPath& path, const ObjectTags& tags) {
  Request q = PathReq(Op::kSetTags, path);
  q.tags = tags;
  return CallStatus(q);
}

Status RemoteBackend::Remove(const RelPath& path) {
  return CallStatus(PathReq(Op::kRemove, path));
}

std::vector<Status> RemoteBackend::RemoveFiles(std::span<const RelPath> paths,
                                               std::stop_token stop) {
  std::vector<Status> out;
  out.reserve(paths.size());
  size_t next = 0;
  while (next < paths.size()) {
    if (stop.stop_requested()) {
      out.resize(paths.size(), Status::Cancelled("cancelled"));
      break;
    }
    Request q = Req(Op::kRemoveFiles);
    size_t bytes = 0;
    while (next < paths.size() && q.paths.size() < kMaxRemoveBatch &&
           (q.paths.empty() ||
            bytes + paths[next].str().size() + 2 <= kRemoveBatchBytes)) {
      bytes += paths[next].str().size() + 2;
      q.paths.push_back(paths[next++]);
    }
    auto r = Call(q);
    if (r.ok() && r->statuses.size() != q.paths.size()) {
      r = Status::InvalidArgument(
          "link: REMOVE_FILES answered " + std::to_string(r->statuses.size()) +
          " statuses for " + std::to_string(q.paths.size()) + " paths");
    }
    if (!r.ok()) {
      out.resize(out.size() + q.paths.size(), r.status());
      continue;
    }
    for (Status& st : r->statuses) out.push_back(std::move(st));
  }
  return out;
}

Status RemoteBackend::RemoveTree(const RelPath& path) {
  return CallStatus(PathReq(Op::kRemoveTree, path));
}

Status RemoteBackend::Sync() { return CallStatus(Req(Op::kSync)); }

Result<std::vector<CleanupReport>> RemoteBackend::Cleanup(
    const Request& request, const StagingCleanup& cleanup) {
  Request q = request;
  q.now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                 cleanup.now.time_since_epoch())
                 .count();
  q.max_age_s = static_cast<uint64_t>(std::clamp<int64_t>(
      cleanup.max_age.count(), 0, static_cast<int64_t>(kMaxCleanupAgeSeconds)));
  FERRY_ASSIGN_OR_RETURN(Response r, Call(q));
  if (cleanup.on_removed) {
    for (const CleanupReport& item : r.removed) {
      cleanup.on_removed(item.path, item.what);
    }
    if (r.removed_unreported > 0) {
      cleanup.on_removed(RelPath(), std::to_string(r.removed_unreported) +
                                        " more staging items");
    }
  }
  return std::move(r.removed);
}

Status RemoteBackend::CleanupStaging(const StagingCleanup& cleanup) {
  auto r = Cleanup(Req(Op::kCleanupStaging), cleanup);
  return r.ok() ? Status::Ok() : r.status();
}

Status RemoteBackend::CleanupStagingEntry(const Entry& staging,
                                          const StagingCleanup& cleanup) {
  Request q = Req(Op::kCleanupStagingEntry);
  q.entry = staging;
  auto r = Cleanup(q, cleanup);
  return r.ok() ? Status::Ok() : r.status();
}

namespace {

// The request `ask` makes for each path, asked together (CallMany); each
// answer as `take` makes it a T, or the call's failure.
template <typename T, typename Ask, typename Take>
std::vector<Result<T>> AskMany(
    const std::function<
        std::vector<Result<Response>>(std::span<const Request>)>& call_many,
    std::span<const RelPath> paths, Ask ask, Take take) {
  std::vector<Request> requests;
  requests.reserve(paths.size());
  for (const RelPath& p : paths) requests.push_back(ask(p));
  std::vector<Result<T>> out;
  out.reserve(paths.size());
  for (Result<Response>& r : call_many(requests)) {
    if (r.ok()) {
      out.push_back(take(*r));
    } else {
      out.push_back(r.status());
    }
  }
  return out;
}

}  // namespace

std::vector<Result<std::optional<Entry>>> RemoteBackend::StatMany(
    std::span<const RelPath> paths) {
  return AskMany<std::optional<Entry>>(
      [this](std::span<const Request> q) { return CallMany(q); }, paths,
      [](const RelPath& p) { return PathReq(Op::kStat, p); },
      [](Response& r) { return std::move(r.entry); });
}

std::vector<Result<XattrList>> RemoteBackend::GetXattrsMany(
    std::span<const RelPath> paths) {
  return AskMany<XattrList>(
      [this](std::span<const Request> q) { return CallMany(q); }, paths,
      [](const RelPath& p) { return PathReq(Op::kGetXattrs, p); },
      [](Response& r) { return std::move(r.xattrs); });
}

std::vector<Result<std::pair<Digest, Entry>>> RemoteBackend::ComputeDigestMany(
    std::span<const RelPath> paths, DigestAlgorithm algorithm,
    const std::stop_token& stop,
    const std::function<void(uint64_t bytes)>& on_bytes) {
  if (stop.stop_requested()) {
    return std::vector<Result<std::pair<Digest, Entry>>>(
        paths.size(), Status::Cancelled("verification cancelled"));
  }
  return AskMany<std::pair<Digest, Entry>>(
      [this](std::span<const Request> q) { return CallMany(q); }, paths,
      [algorithm](const RelPath& p) {
        Request q = PathReq(Op::kComputeDigest, p);
        q.algorithm = algorithm;
        return q;
      },
      [&on_bytes](Response& r) {
        if (on_bytes) on_bytes(r.entry->size);
        return std::make_pair(r.digest, std::move(*r.entry));
      });
}

Result<std::pair<Digest, Entry>> RemoteBackend::ComputeDigest(
    const RelPath& path, DigestAlgorithm algorithm, const std::stop_token& stop,
    const std::function<void(uint64_t bytes)>& on_bytes) {
  if (stop.stop_requested()) {
    return Status::Cancelled("verification cancelled");
  }
  Request q = PathReq(Op::kComputeDigest, path);
  q.algorithm = algorithm;
  FERRY_ASSIGN_OR_RETURN(Response r, Call(q));
  if (on_bytes) on_bytes(r.entry->size);
  return std::make_pair(r.digest, std::move(*r.entry));
}

Result<SignatureList> RemoteBackend::Signatures(const RelPath& path,
                                                uint32_t block_size,
                                                uint64_t first_block,
                                                uint64_t max_count) {
  Request q = PathReq(Op::kSignatures, path);
  q.block_size = block_size;
  q.first_block = first_block;
  q.max_count = max_count;
  FERRY_ASSIGN_OR_RETURN(Response r, Call(q));
  const SignatureList& s = r.signatures;
  if (s.block_size != block_size || s.first_block != first_block ||
      s.blocks.size() > max_count) {
    return Status::InvalidArgument(
        "link: SIGNATURES answered blocks other than those asked for");
  }
  return std::move(r.signatures);
}

Result<std::vector<delta::BlockSignature>> RemoteBackend::BlockSignatures(
    const RelPath& path, uint32_t block_size, uint64_t first_block,
    uint64_t max_count) {
  FERRY_ASSIGN_OR_RETURN(
      SignatureList list,
      Signatures(path, block_size, first_block,
                 std::min<uint64_t>(max_count, kMaxSignatureCount)));
  return std::move(list.blocks);
}

}  // namespace ferry::link
