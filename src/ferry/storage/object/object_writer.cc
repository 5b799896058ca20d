// ObjectBackend's readers and staged writers (see object_backend.h).
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "ferry/storage/object/object_internal.h"
#include "ferry/storage/object/object_metadata.h"

namespace ferry {
namespace {

// ObjectStore::OpenStream where the store does not stream: a ranged GET
// per Read.
class RangedObjectStream : public ObjectStream {
 public:
  RangedObjectStream(ObjectStore* store, std::string key, uint64_t offset,
                     uint64_t end, std::string if_match)
      : store_(store),
        key_(std::move(key)),
        next_(offset),
        end_(end),
        if_match_(std::move(if_match)) {}

  Result<size_t> Read(std::span<std::byte> out) override {
    if (!failure_.ok()) return failure_;
    if (next_ >= end_ || out.empty()) return size_t{0};
    out = out.first(std::min<uint64_t>(out.size(), end_ - next_));
    Result<size_t> n = store_->GetObjectRange(key_, next_, out, if_match_);
    if (!n.ok()) {
      failure_ = n.status();
      return failure_;
    }
    next_ += *n;
    if (*n < out.size()) end_ = next_;  // the object ends here
    return *n;
  }

 private:
  ObjectStore* const store_;
  const std::string key_;
  uint64_t next_;
  uint64_t end_;
  const std::string if_match_;
  Status failure_;
};

}  // namespace

Result<std::unique_ptr<ObjectStream>> ObjectStore::OpenStream(
    const std::string& key, uint64_t offset, uint64_t length,
    const std::string& if_match) {
  return std::unique_ptr<ObjectStream>(std::make_unique<RangedObjectStream>(
      this, key, offset, offset + length, if_match));
}

}  // namespace ferry

namespace ferry::object_internal {
namespace {

// The first bytes of an object come with its metadata, in one GET: all of a
// small file.
constexpr size_t kFirstRead = 1 << 20;

class ObjectReader : public Reader {
 public:
  ObjectReader(std::shared_ptr<Context> ctx, std::string key, Entry entry,
               std::vector<std::byte> first)
      : ctx_(std::move(ctx)),
        key_(std::move(key)),
        entry_(std::move(entry)),
        first_(std::move(first)) {}

  const Entry& entry() const override { return entry_; }

  Result<size_t> ReadAt(uint64_t offset, std::span<std::byte> out) override {
    if (offset >= entry_.size || out.empty()) return size_t{0};
    out = out.first(std::min<uint64_t>(out.size(), entry_.size - offset));
    size_t done = 0;
    if (offset < first_.size()) {
      done = std::min<size_t>(out.size(), first_.size() - offset);
      std::memcpy(out.data(), first_.data() + offset, done);
      if (done == out.size()) return done;
    }
    // If-Match pins the version opened: a replaced object is kSourceChanged.
    const uint64_t pos = offset + done;
    FERRY_ASSIGN_OR_RETURN(std::optional<Stream> stream, TakeStream(pos));
    if (!stream) {
      FERRY_ASSIGN_OR_RETURN(
          size_t n, ctx_->store->GetObjectRange(key_, pos, out.subspan(done),
                                                entry_.etag));
      return done + n;
    }
    std::span<std::byte> rest = out.subspan(done);
    size_t got = 0;
    while (got < rest.size()) {
      Result<size_t> n = stream->body->Read(rest.subspan(got));
      if (!n.ok()) {
        // The stream is dropped: the caller's next try opens another from
        // where it is.
        Unstream(stream->start);
        return n.status();
      }
      if (*n == 0) break;  // the object ended early: a short read
      got += *n;
    }
    stream->next += got;
    std::lock_guard lock(mu_);
    if (got == rest.size() && stream->next < stream->end) {
      streams_.emplace(stream->next, std::move(*stream));
    } else {
      ranges_.erase(stream->start);
    }
    return done + got;
  }

  void WillRead(uint64_t offset, uint64_t length) override {
    if (offset >= entry_.size) return;
    const uint64_t end = offset + std::min(length, entry_.size - offset);
    if (end <= first_.size()) return;  // read already
    std::lock_guard lock(mu_);
    ranges_[offset] = Range{end, false};
  }

  Result<Entry> Restat() override {
    FERRY_ASSIGN_OR_RETURN(std::optional<Entry> now,
                           StatPath(*ctx_, entry_.path));
    if (!now || !now->is_file()) {
      return Status(StatusCode::kSourceChanged,
                    ctx_->Where(entry_.path) + " was removed while being read");
    }
    return *std::move(now);
  }

  bool consistent() const override { return true; }

  Result<ObjectTags> Tags() override {
    auto tags = ctx_->store->GetObjectTags(key_);
    if (!tags.ok() && tags.status().IsNotFound()) {
      return Status(StatusCode::kSourceChanged,
                    ctx_->Where(entry_.path) + " was removed while being read");
    }
    return tags;
  }

 private:
  // A range announced by WillRead, being read through one ObjectStream.
  struct Stream {
    std::unique_ptr<ObjectStream> body;
    uint64_t start = 0;  // of the range
    uint64_t next = 0;   // where body's next byte belongs
    uint64_t end = 0;
  };

  struct Range {
    uint64_t end = 0;
    bool streamed = false;  // a stream reads it (idle or in a ReadAt)
  };

  // The range starting at `start` has no stream any more (it failed, or
  // did not open): a later read there opens another.
  void Unstream(uint64_t start) {
    std::lock_guard lock(mu_);
    if (auto r = ranges_.find(start); r != ranges_.end()) {
      r->second.streamed = false;
    }
  }

  // The stream whose next byte is at `pos`: an idle one, or a new one for
  // the rest of the announced range that holds `pos` if none reads that
  // range yet. None (a ranged GET for this read alone): `pos` is in no
  // announced range, or away from where its stream is (a read back over
  // bytes the stream has passed).
  Result<std::optional<Stream>> TakeStream(uint64_t pos) {
    Stream s;
    {
      std::lock_guard lock(mu_);
      if (auto it = streams_.find(pos); it != streams_.end()) {
        s = std::move(it->second);
        streams_.erase(it);
        return std::optional<Stream>(std::move(s));
      }
      auto range = ranges_.upper_bound(pos);
      if (range == ranges_.begin()) return std::optional<Stream>();
      --range;
      if (pos >= range->second.end || range->second.streamed) {
        return std::optional<Stream>();
      }
      range->second.streamed = true;
      s.start = range->first;
      s.end = range->second.end;
    }
    s.next = pos;
    Result<std::unique_ptr<ObjectStream>> body =
        ctx_->store->OpenStream(key_, pos, s.end - pos, entry_.etag);
    if (!body.ok()) {
      Unstream(s.start);
      return body.status();
    }
    s.body = std::move(body).value();
    return std::optional<Stream>(std::move(s));
  }

  std::shared_ptr<Context> ctx_;
  const std::string key_;
  const Entry entry_;
  const std::vector<std::byte> first_;  // the object's first bytes
  std::mutex mu_;
  std::map<uint64_t, Range> ranges_;    // GUARDED_BY(mu_): by start
  std::map<uint64_t, Stream> streams_;  // GUARDED_BY(mu_): idle, by next
};

// One part of a multipart write.
struct Part {
  std::vector<std::byte> buf;  // bytes [0, filled) of the part, until sent
  uint64_t filled = 0;
  uint64_t generation = 0;  // bumped when the part starts over
  bool uploading = false;
  std::string etag;  // set once uploaded
  uint64_t uploaded_len = 0;
};

class ObjectWriter : public StagedWriter {
 public:
  ObjectWriter(std::shared_ptr<Context> ctx, RelPath path, WriteHints hints,
               uint64_t part_size)
      : ctx_(std::move(ctx)),
        path_(std::move(path)),
        key_(ctx_->Key(path_)),
        hints_(hints),
        part_size_(part_size) {
    Entry open;
    open.mode = hints.mode.value_or(0);
    SetPosixMetadata(
        open, EntryKind::kFile,
        MetadataPolicy{hints.mode.has_value(), false, false, false, false},
        &open_metadata_);
  }

  ~ObjectWriter() override { Abort(); }

  Status WriteAt(uint64_t offset, std::span<const std::byte> data) override {
    if (data.empty()) return Status::Ok();
    if (offset > hints_.size || data.size() > hints_.size - offset) {
      return Status::InvalidArgument("write beyond the announced size of " +
                                     ctx_->Where(path_) + " (" +
                                     std::to_string(hints_.size) + " bytes)");
    }
    if (part_size_ == 0) {
      std::lock_guard lock(mu_);
      if (done_) return Finished();
      if (single_.size() < hints_.size) single_.resize(hints_.size);
      std::memcpy(single_.data() + offset, data.data(), data.size());
      return Status::Ok();
    }
    while (!data.empty()) {
      const uint64_t n = offset / part_size_;
      const uint64_t start = n * part_size_;
      const uint64_t len = PartLength(n, hints_.size);
      const size_t take = std::min<uint64_t>(data.size(), start + len - offset);
      FERRY_RETURN_IF_ERROR(WritePart(static_cast<uint32_t>(n), offset - start,
                                      len, data.first(take)));
      data = data.subspan(take);
      offset += take;
    }
    return Status::Ok();
  }

  Status Commit(const Entry& metadata, const MetadataPolicy& policy) override {
    {
      std::lock_guard lock(mu_);
      if (done_) return Finished();
    }
    ObjectMetadata md;
    SetPosixMetadata(metadata, EntryKind::kFile, policy, &md);
    SetDigestMetadata(metadata.digest, &md);
    if (MetadataBytes(md) > ctx_->store->limits().max_metadata_bytes) {
      return Status::InvalidArgument("the metadata of " + ctx_->Where(path_) +
                                     " exceed the store's limit");
    }
    if (metadata.size > hints_.size) {
      return Status::InvalidArgument(ctx_->Where(path_) +
                                     " grew past its announced size (" +
                                     std::to_string(metadata.size) + " > " +
                                     std::to_string(hints_.size) + " bytes)");
    }
    // An object and a folder of one name cannot both be: fail as a file
    // system would, rather than hide one behind the other. (A caller that
    // knows the path is free saves the listing.)
    if (hints_.may_exist) FERRY_RETURN_IF_ERROR(CheckNoFolder(*ctx_, path_));
    if (part_size_ == 0 || metadata.size == 0) {
      return CommitSingle(metadata.size, md);
    }
    return CommitMultipart(metadata.size, md);
  }

  Status SetTags(const ObjectTags& tags) override {
    if (Status st = CheckObjectTags(tags, ctx_->store->limits()); !st.ok()) {
      return st.WithContext(ctx_->Where(path_));
    }
    std::lock_guard lock(mu_);
    if (done_) return Finished();
    tags_ = tags;
    return Status::Ok();
  }

  void Abort() override {
    std::string id;
    {
      std::lock_guard lock(mu_);
      if (done_) return;
      done_ = true;
      single_ = {};
      parts_.clear();
    }
    {
      std::lock_guard lock(create_mu_);
      id = upload_id_;
    }
    if (!id.empty()) {
      // Best effort: what an abort cannot remove, CleanupStaging will.
      (void)ctx_->store->AbortMultipartUpload(key_, id);
      ctx_->RemoveUpload(id);
    }
  }

 private:
  Status Finished() const {
    return Status::FailedPrecondition("the write of " + ctx_->Where(path_) +
                                      " was already committed or aborted");
  }

  uint64_t PartLength(uint64_t n, uint64_t size) const {
    const uint64_t start = n * part_size_;
    return start >= size ? 0 : std::min(part_size_, size - start);
  }

  Status WritePart(uint32_t n, uint64_t at, uint64_t len,
                   std::span<const std::byte> data) {
    std::vector<std::byte> send;
    uint64_t generation = 0;
    {
      std::lock_guard lock(mu_);
      if (done_) return Finished();
      Part& p = parts_[n];
      if (at == 0) {
        // From its start: the part (re)starts, replacing what was there.
        ++p.generation;
        p.buf.assign(data.begin(), data.end());
        p.filled = data.size();
        p.etag.clear();
        p.uploaded_len = 0;
      } else if (p.etag.empty() && at == p.filled) {
        p.buf.insert(p.buf.end(), data.begin(), data.end());
        p.filled += data.size();
      } else if (p.etag.empty() && !p.uploading &&
                 at + data.size() <= p.filled) {
        // A retried write of a range already buffered.
        std::memcpy(p.buf.data() + at, data.data(), data.size());
      } else {
        return Status::FailedPrecondition(
            "part " + std::to_string(n + 1) + " of " + ctx_->Where(path_) +
            " must be written from its start to its end without gaps (write "
            "at " +
            std::to_string(at) + ", " + std::to_string(p.filled) +
            " bytes written)");
      }
      if (p.filled < len || p.uploading) return Status::Ok();
      send = std::move(p.buf);
      p.buf = {};
      p.uploading = true;
      generation = p.generation;
    }
    return Send(n, generation, std::move(send));
  }

  // Uploads part n (its buffer taken out of parts_); on failure the buffer
  // goes back, so that a retried write can complete it again.
  Status Send(uint32_t n, uint64_t generation, std::vector<std::byte> data) {
    Result<std::string> etag = Status::Internal("not sent");
    auto id = EnsureUpload();
    if (id.ok()) etag = ctx_->store->UploadPart(key_, *id, n + 1, data);
    std::lock_guard lock(mu_);
    auto it = parts_.find(n);
    if (it == parts_.end()) return Finished();  // aborted meanwhile
    Part& p = it->second;
    if (p.generation != generation) return Status::Ok();  // started over
    p.uploading = false;
    if (!id.ok()) {
      p.buf = std::move(data);
      return id.status();
    }
    if (!etag.ok()) {
      p.buf = std::move(data);
      return etag.status();
    }
    p.etag = *etag;
    p.uploaded_len = data.size();
    return Status::Ok();
  }

  Result<std::string> EnsureUpload() {
    std::lock_guard lock(create_mu_);
    if (!upload_id_.empty()) return upload_id_;
    {
      std::lock_guard l(mu_);
      if (done_) return Finished();
    }
    PutObjectRequest r;
    r.key = key_;
    r.metadata = open_metadata_;
    r.storage_class = ctx_->options.storage_class;
    FERRY_ASSIGN_OR_RETURN(upload_id_, ctx_->store->CreateMultipartUpload(r));
    ctx_->AddUpload(upload_id_);
    return upload_id_;
  }

  Status CommitSingle(uint64_t size, const ObjectMetadata& md) {
    std::vector<std::byte> data;
    {
      std::lock_guard lock(mu_);
      data = std::move(single_);
    }
    data.resize(size);  // unwritten bytes (holes) are zeros
    PutObjectRequest r;
    r.key = key_;
    r.data = data;
    r.metadata = md;
    r.storage_class = ctx_->options.storage_class;
    {
      std::lock_guard lock(mu_);
      r.tags = tags_;  // stored with the object (x-amz-tagging)
    }
    Status st = ctx_->store->PutObject(r).status();
    if (!st.ok()) {
      std::lock_guard lock(mu_);
      single_ = std::move(data);
      return st;
    }
    Abort();  // nothing to abort but a multipart upload of an empty file
    return Status::Ok();
  }

  Status CommitMultipart(uint64_t size, const ObjectMetadata& md) {
    const uint64_t count = (size + part_size_ - 1) / part_size_;
    std::vector<CompletedPart> done;
    for (uint64_t n = 0; n < count; ++n) {
      const uint64_t len = PartLength(n, size);
      std::vector<std::byte> send;
      uint64_t generation = 0;
      {
        std::lock_guard lock(mu_);
        Part& p = parts_[static_cast<uint32_t>(n)];
        if (p.uploading) {
          return Status::FailedPrecondition(
              "commit of " + ctx_->Where(path_) + " while part " +
              std::to_string(n + 1) + " is still being written");
        }
        if (!p.etag.empty()) {
          if (p.uploaded_len != len) {
            return Status::InvalidArgument(
                "part " + std::to_string(n + 1) + " of " + ctx_->Where(path_) +
                " holds " + std::to_string(p.uploaded_len) + " bytes, not " +
                std::to_string(len));
          }
          done.push_back(CompletedPart{static_cast<uint32_t>(n + 1), p.etag});
          continue;
        }
        // Never (fully) written: the rest of it is a hole, stored as zeros.
        send = std::move(p.buf);
        send.resize(len);
        p.buf = {};
        p.uploading = true;
        generation = p.generation;
      }
      FERRY_RETURN_IF_ERROR(
          Send(static_cast<uint32_t>(n), generation, std::move(send)));
      std::lock_guard lock(mu_);
      done.push_back(CompletedPart{static_cast<uint32_t>(n + 1),
                                   parts_[static_cast<uint32_t>(n)].etag});
    }
    FERRY_ASSIGN_OR_RETURN(std::string id, EnsureUpload());
    FERRY_ASSIGN_OR_RETURN(
        std::string etag, ctx_->store->CompleteMultipartUpload(key_, id, done));
    ctx_->RemoveUpload(id);
    ObjectTags tags;
    {
      std::lock_guard lock(mu_);
      done_ = true;
      parts_.clear();
      tags = std::move(tags_);
    }
    if (md != open_metadata_) {
      ObjectHead head;
      head.size = size;
      head.etag = etag;
      head.metadata = open_metadata_;
      head.storage_class = ctx_->options.storage_class;
      FERRY_RETURN_IF_ERROR(ReplaceObjectMetadata(*ctx_, key_, head, md));
    }
    return PutTagsOfComplete(tags);
  }

  // A multipart object's tags go on once it is complete and has its final
  // metadata (the copy that replaces them drops tags on radosgw 16, and
  // tags given at CreateMultipartUpload are not read back there). Should
  // that fail, the object, which would look complete and never be sent
  // again for its tags alone, is removed.
  Status PutTagsOfComplete(const ObjectTags& tags) {
    if (tags.empty()) return Status::Ok();
    Status st = ctx_->store->PutObjectTags(key_, tags);
    if (st.ok()) return st;
    (void)ctx_->store->DeleteObject(key_);
    return st.WithContext("tagging " + ctx_->Where(path_));
  }

  const std::shared_ptr<Context> ctx_;
  const RelPath path_;
  const std::string key_;
  const WriteHints hints_;
  const uint64_t part_size_;  // 0: one PUT at Commit
  ObjectMetadata open_metadata_;

  std::mutex mu_;
  bool done_ = false;               // GUARDED_BY(mu_)
  ObjectTags tags_;                 // GUARDED_BY(mu_): stored at Commit
  std::vector<std::byte> single_;   // GUARDED_BY(mu_)
  std::map<uint32_t, Part> parts_;  // GUARDED_BY(mu_): by index from 0
  std::mutex create_mu_;            // held while the upload is created
  std::string upload_id_;           // GUARDED_BY(create_mu_)
};

}  // namespace

Status ReplaceObjectMetadata(Context& ctx, const std::string& key,
                             const ObjectHead& head,
                             const ObjectMetadata& metadata) {
  ObjectStore& store = *ctx.store;
  if (head.size <= store.limits().max_copy_size) {
    return store.ReplaceMetadata(key, metadata, head.storage_class, head.etag)
        .status();
  }
  // Beyond one copy: a multipart upload of part copies of itself.
  FERRY_ASSIGN_OR_RETURN(uint64_t part, PartSize(ctx.caps, head.size));
  part = std::min(part, store.limits().max_copy_size);
  PutObjectRequest r;
  r.key = key;
  r.metadata = metadata;
  r.storage_class = head.storage_class;
  FERRY_ASSIGN_OR_RETURN(std::string id, store.CreateMultipartUpload(r));
  ctx.AddUpload(id);
  std::vector<CompletedPart> parts;
  Status st;
  for (uint64_t off = 0; st.ok() && off < head.size; off += part) {
    const uint32_t number = static_cast<uint32_t>(parts.size() + 1);
    auto etag = store.UploadPartCopy(
        key, id, number, key, off, std::min(part, head.size - off), head.etag);
    if (etag.ok()) {
      parts.push_back(CompletedPart{number, *etag});
    } else {
      st = etag.status();
    }
  }
  if (st.ok()) st = store.CompleteMultipartUpload(key, id, parts).status();
  if (!st.ok()) (void)store.AbortMultipartUpload(key, id);
  ctx.RemoveUpload(id);
  return st;
}

Result<std::unique_ptr<Reader>> OpenObjectReader(
    const std::shared_ptr<Context>& ctx, const RelPath& path) {
  if (path.IsRoot()) {
    return Status::InvalidArgument(ctx->Where(path) + " is a folder");
  }
  const std::string key = ctx->Key(path);
  static thread_local std::unique_ptr<std::byte[]> scratch(
      new std::byte[kFirstRead]);
  ObjectHead head;
  auto n = ctx->store->GetObjectRangeWithHead(
      key, 0, std::span<std::byte>(scratch.get(), kFirstRead), &head);
  if (!n.ok()) {
    if (n.status().IsNotFound()) {
      return Status::NotFound("no file " + ctx->Where(path));
    }
    return n.status();
  }
  if (*n > head.size || (*n < kFirstRead && *n != head.size)) {
    return Status::DataLoss(ctx->Where(path) + ": the store sent " +
                            std::to_string(*n) + " bytes of an object of " +
                            std::to_string(head.size));
  }
  Entry e = EntryFromObject(path, false, head.size, head.etag,
                            head.last_modified, head.metadata);
  if (!e.is_file()) {
    return Status::InvalidArgument(ctx->Where(path) +
                                   " is a symbolic link, not a file");
  }
  return std::unique_ptr<Reader>(std::make_unique<ObjectReader>(
      ctx, key, std::move(e),
      std::vector<std::byte>(scratch.get(), scratch.get() + *n)));
}

Result<std::unique_ptr<StagedWriter>> OpenObjectWriter(
    const std::shared_ptr<Context>& ctx, const RelPath& path,
    const WriteHints& hints) {
  if (path.IsRoot()) {
    return Status::InvalidArgument("cannot write a file at the root of " +
                                   ctx->name);
  }
  FERRY_ASSIGN_OR_RETURN(uint64_t part, PartSize(ctx->caps, hints.size));
  if (hints.size <= part) part = 0;  // one PUT
  if (part == 0 && hints.size > ctx->store->limits().max_put_size) {
    return Status::InvalidArgument("a file of " + std::to_string(hints.size) +
                                   " bytes is too large for one PUT");
  }
  return std::unique_ptr<StagedWriter>(
      std::make_unique<ObjectWriter>(ctx, path, hints, part));
}

}  // namespace ferry::object_internal
