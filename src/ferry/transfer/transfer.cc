#include "ferry/transfer/transfer.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <mutex>

namespace ferry {

namespace {

enum DirState : int { kCreating = 0, kReady = 1, kFailed = 2 };

// Commits one worker may have under way (StagedWriter::BeginCommit) before
// it waits for them; a batch of small files (TransferOptions::batch_items)
// is finished as a whole anyway.
constexpr size_t kMaxCommitsUnderWay = 64;

// Items the planner adds while files of several chunks wait to be queued
// (Transfer::chunked_) before it queues them anyway.
constexpr size_t kMaxItemsPastChunked = 1024;

constexpr MetadataPolicy kModeOnly{.mode = true,
                                   .uid = false,
                                   .gid = false,
                                   .mtime = false,
                                   .atime = false,
                                   .dos_attributes = false};

// Whether `now` is still the version `seen` describes (which may be
// Entry::kPartial: then without an mtime).
bool SameVersion(const Entry& now, const Entry& seen) {
  return now.size == seen.size && now.ctime == seen.ctime &&
         now.etag == seen.etag && (seen.partial() || now.mtime == seen.mtime);
}

}  // namespace

struct Transfer::DirNode {
  PlanItem item;
  std::shared_ptr<DirNode> parent;
  std::atomic<int> pending{1};  // the planner's token, plus outstanding work
  std::atomic<int> state{kReady};
  std::atomic<bool> dirty{false};  // something inside was written
  Status failure;                  // set before state becomes kFailed
  bool is_root = false;
  // The destination folder was made owner-writable so that ferry (not root)
  // can change its contents; its mode to put back when no mode is copied.
  std::optional<uint32_t> restore_mode;
};

struct Transfer::FileTask {
  PlanItem item;
  std::shared_ptr<DirNode> parent;
  uint32_t chunks = 1;
  uint64_t chunk_size = 0;  // bytes per chunk, whole destination parts
  bool delta = false;       // sent by CopyDelta
  std::atomic<uint32_t> chunks_left{1};
  std::atomic<bool> failed{false};

  std::mutex mu;
  bool opened = false;      // GUARDED_BY(mu)
  bool sequential = false;  // the size moved since the scan: chunk 0 copies all
  Status status;            // GUARDED_BY(mu): the first failure

  // Set once by OpenFile, then used by the chunk workers.
  // A source listed without its metadata (Entry::kPartial) that proved to
  // be a link (or other non-file) when opened: created as one, not copied.
  std::optional<Entry> not_a_file;
  std::unique_ptr<Reader> reader;
  std::unique_ptr<StagedWriter> writer;
  std::unique_ptr<FileDigestBuilder> digest;
  Entry fresh;  // the source as opened
  std::atomic<uint64_t> bytes{0};
  // Kept while the commit is under way (FinishFile to EndFile).
  ItemResult result;

  void Fail(Status st) {
    std::lock_guard lock(mu);
    if (status.ok()) status = std::move(st);
    failed.store(true);
    if (digest) digest->Abort();
  }
  Status first_failure() {
    std::lock_guard lock(mu);
    return status;
  }
};

struct Transfer::Job {
  enum class Kind : uint8_t { kMkdir, kFile, kLink, kHardLink, kMetadata };
  Kind kind = Kind::kFile;
  std::shared_ptr<DirNode> node;   // kMkdir: the folder; otherwise its parent
  std::shared_ptr<FileTask> file;  // kFile
  uint32_t chunk = 0;
  PlanItem item;  // kLink, kMetadata
};

Transfer::Transfer(Backend* src, Backend* dst, TransferOptions options,
                   TransferObserver* observer)
    : src_(src),
      dst_(dst),
      options_(std::move(options)),
      observer_(observer),
      clock_(options_.clock ? options_.clock : Clock::Real()),
      batch_(std::make_unique<Batch>()),
      queue_(options_.queue_batches) {
  dir_policy_ = options_.metadata;
}

Transfer::~Transfer() {
  queue_.Close();
  workers_.clear();
}

void Transfer::Start(const Entry& root, bool root_differs) {
  auto node = std::make_shared<DirNode>();
  node->item.src = root;
  node->item.action =
      root_differs ? PlanAction::kUpdateMetadata : PlanAction::kUnchanged;
  node->is_root = true;
  stack_.push_back(std::move(node));
  int threads = std::max(1, options_.threads);
  for (int i = 0; i < threads; ++i) {
    workers_.emplace_back([this] { WorkerLoop(); });
  }
}

void Transfer::Flush() {
  if (batch_->empty()) return;
  queue_.Push(std::move(batch_));
  batch_ = std::make_unique<Batch>();
  batch_->reserve(options_.batch_items);
  batch_bytes_ = 0;
}

void Transfer::Push(Job job, uint64_t bytes) {
  batch_->push_back(std::move(job));
  batch_bytes_ += bytes;
  if (batch_->size() >= options_.batch_items ||
      batch_bytes_ >= 8 * kBlockSize) {
    Flush();
  }
}

void Transfer::Add(PlanItem item) {
  const RelPath parent_path = item.src.path.Parent();
  while (stack_.size() > 1 && stack_.back()->item.src.path != parent_path) {
    CloseTop();
  }
  const std::shared_ptr<DirNode>& top = stack_.back();

  if (item.src.is_dir()) {
    auto node = std::make_shared<DirNode>();
    bool create = item.action == PlanAction::kCreate ||
                  item.action == PlanAction::kReplace;
    node->item = std::move(item);
    node->parent = top;
    top->pending.fetch_add(1);
    if (create)
      top->dirty.store(true);  // a new entry changes the parent's mtime
    if (create) {
      node->state.store(kCreating);
      node->pending.fetch_add(1);  // held by the mkdir job
      // The folder's creation travels alone, ahead of its contents (which
      // wait for it): never at the end of a batch of earlier work, which
      // would hold the next batch's worker back until that work is done.
      Flush();
      Job job;
      job.kind = Job::Kind::kMkdir;
      job.node = node;
      Push(std::move(job), 0);
      Flush();
    }
    if (!create) MakeWritable(*node);
    stack_.push_back(std::move(node));
    return;
  }

  top->pending.fetch_add(1);
  if (item.action != PlanAction::kUpdateMetadata) top->dirty.store(true);
  if (!chunked_.empty() && ++items_past_chunked_ >= kMaxItemsPastChunked) {
    QueueChunked();
  }
  Job job;
  job.node = top;
  if (item.action == PlanAction::kUpdateMetadata) {
    job.kind = Job::Kind::kMetadata;
    job.item = std::move(item);
    Push(std::move(job), 0);
    return;
  }
  if (item.action == PlanAction::kLink) {
    // It waits for its first name's file, which must be queued before it.
    QueueChunked();
    job.kind = Job::Kind::kHardLink;
    job.item = std::move(item);
    Push(std::move(job), 0);
    return;
  }
  if (!item.src.is_file()) {
    job.kind = Job::Kind::kLink;
    job.item = std::move(item);
    Push(std::move(job), 0);
    return;
  }
  auto task = std::make_shared<FileTask>();
  uint64_t size = item.src.size;
  const uint64_t chunk = ChunkSize(size);
  task->chunk_size = chunk;
  task->chunks =
      size > chunk ? static_cast<uint32_t>((size + chunk - 1) / chunk) : 1;
  // A delta is worked out over the whole file, in one job.
  task->delta = UseDelta(item);
  if (task->delta) task->chunks = 1;
  task->chunks_left.store(task->chunks);
  task->item = std::move(item);
  task->parent = top;
  job.kind = Job::Kind::kFile;
  if (task->chunks == 1) {
    job.file = std::move(task);
    Push(std::move(job), size);
    return;
  }
  chunked_.push_back(std::move(task));
  if (chunked_.size() >= workers_.size()) QueueChunked();
}

void Transfer::QueueChunked() {
  if (chunked_.empty()) return;
  // What the jobs need, read before the first is queued: a worker may
  // finish a file (and start it over) while the rest are queued.
  struct Queued {
    std::shared_ptr<FileTask> file;
    std::shared_ptr<DirNode> node;
    uint32_t chunks;
    uint64_t chunk_size;
  };
  std::vector<Queued> files;
  files.reserve(chunked_.size());
  uint32_t most = 0;
  for (const std::shared_ptr<FileTask>& task : chunked_) {
    most = std::max(most, task->chunks);
    files.push_back(Queued{task, task->parent, task->chunks, task->chunk_size});
  }
  chunked_.clear();
  items_past_chunked_ = 0;
  Flush();
  for (uint32_t c = 0; c < most; ++c) {
    for (const Queued& q : files) {
      if (c >= q.chunks) continue;
      Job cj;
      cj.kind = Job::Kind::kFile;
      cj.node = q.node;
      cj.file = q.file;
      cj.chunk = c;
      Push(std::move(cj), q.chunk_size);
      Flush();  // one chunk per batch, so that workers share the files
    }
  }
}

uint64_t Transfer::ChunkSize(uint64_t size) const {
  // A source that streams makes a request per chunk: at least its size.
  uint64_t chunk = std::max<uint64_t>(
      kBlockSize,
      std::max(options_.chunk_size, src_->capabilities().read_stream_size) /
          kBlockSize * kBlockSize);
  // An object store takes whole parts: a chunk is a run of them.
  auto part = PartSize(dst_->capabilities(), size);
  if (part.ok() && *part > 0) chunk = (chunk + *part - 1) / *part * *part;
  return chunk;
}

template <typename Op>
auto Transfer::Retried(const RelPath& path, std::string_view operation,
                       Op&& op) {
  for (int outages = 0;; ++outages) {
    auto outcome =
        Retry(options_.retry, clock_, options_.stop, op,
              [&](const Status& failure, int attempt, Clock::duration delay) {
                observer_->OnRetry(path, operation, failure, attempt, delay);
              });
    const Status& st = retry_internal::StatusOf(outcome);
    if (st.ok() || !st.retryable() || !options_.outage ||
        outages >= kMaxOutageRetries) {
      return outcome;
    }
    if (!options_.outage->Recover(st, options_.stop)) {
      // Stopped meanwhile (a location stayed down, say): not this file's
      // failure.
      if (options_.stop.stop_requested()) {
        return decltype(outcome)(Status::Cancelled("cancelled"));
      }
      return outcome;
    }
  }
}

void Transfer::MakeWritable(DirNode& node) {
  const int64_t caller = dst_->capabilities().caller_uid;
  const std::optional<Entry>& dst = node.item.dst;
  if (caller <= 0 || !dst || !dst->is_dir() || (dst->mode & S_IWUSR) ||
      dst->uid != static_cast<uint32_t>(caller))
    return;
  // Like rsync: a read-only folder of ours gets u+w while its contents are
  // updated; its mode is set again once they are done.
  Entry writable = *dst;
  writable.mode |= S_IWUSR;
  if (dst_->SetMetadata(node.item.src.path, writable, kModeOnly).ok()) {
    node.restore_mode = dst->mode;
    node.dirty.store(true);
  }
}

void Transfer::CloseTop() {
  std::shared_ptr<DirNode> node = std::move(stack_.back());
  stack_.pop_back();
  Release(node);
}

void Transfer::Release(const std::shared_ptr<DirNode>& node) {
  if (node->pending.fetch_sub(1) != 1) return;
  // Everything inside is done: now the folder's own metadata.
  const PlanItem& item = node->item;
  ItemResult result;
  result.applied = item.src;
  result.metadata_only = item.action == PlanAction::kUpdateMetadata;
  if (node->state.load() == kFailed) {
    result.status = node->failure;
  } else if (options_.stop.stop_requested()) {
    // Stopped: nothing more is written, but a folder made writable for its
    // contents gets its own mode back.
    if (node->restore_mode) {
      Entry original = item.src;
      original.mode = *node->restore_mode;
      (void)dst_->SetMetadata(item.src.path, original, kModeOnly);
    }
    result.status = Status::Cancelled("cancelled");
  } else if (item.action != PlanAction::kUnchanged || node->dirty.load()) {
    result.status = SetMetadata(item.src.path, item.src, dir_policy_);
    if (result.status.ok() && node->restore_mode && !dir_policy_.mode) {
      Entry original = item.src;
      original.mode = *node->restore_mode;
      result.status = SetMetadata(item.src.path, original, kModeOnly);
    }
    if (result.status.ok() && item.action != PlanAction::kUnchanged) {
      CopyXattrsInto(item.src.path, &result);
    }
  }
  if ((!node->is_root && item.action != PlanAction::kUnchanged) ||
      !result.status.ok()) {
    Report(item, result);
  }
  if (node->parent) {
    std::shared_ptr<DirNode> parent = std::move(node->parent);
    Release(parent);
  }
}

Status Transfer::Finish() {
  QueueChunked();
  while (!stack_.empty()) CloseTop();
  Flush();
  queue_.Close();
  workers_.clear();
  if (options_.stop.stop_requested())
    return Status::Cancelled("transfer cancelled");
  return Status::Ok();
}

void Transfer::Report(const PlanItem& item, const ItemResult& result) {
  observer_->OnItemDone(item, result);
}

void Transfer::WorkerLoop() {
  Committing committing;
  while (std::optional<std::unique_ptr<Batch>> batch = queue_.Pop()) {
    for (Job& job : **batch) {
      // Only a file's chunk never waits for another job's file (a hard
      // link waits for its first name's commit).
      if (job.kind != Job::Kind::kFile) FinishCommits(&committing);
      Run(job, &committing);
    }
    FinishCommits(&committing);
  }
}

void Transfer::FinishCommits(Committing* committing) {
  for (const std::shared_ptr<FileTask>& task : *committing) {
    EndFile(*task, task->writer->FinishCommit(), /*committed=*/true);
  }
  committing->clear();
}

void Transfer::Run(Job& job, Committing* committing) {
  if (!first_work_.load(std::memory_order_relaxed) &&
      !first_work_.exchange(true)) {
    observer_->OnFirstWork();
  }
  switch (job.kind) {
    case Job::Kind::kMkdir:
      RunMkdir(job);
      return;
    case Job::Kind::kFile:
      RunFileChunk(job, committing);
      return;
    case Job::Kind::kLink:
      RunLink(job);
      return;
    case Job::Kind::kHardLink:
      RunHardLink(job);
      return;
    case Job::Kind::kMetadata:
      RunMetadata(job);
      return;
  }
}

Status Transfer::Ready(const Job& job, const RelPath& path) {
  if (options_.stop.stop_requested()) return Status::Cancelled("cancelled");
  if (!WaitForParent(job)) {
    return Status::FailedPrecondition("the folder containing " +
                                      path.Display() + " could not be created");
  }
  return Status::Ok();
}

bool Transfer::WaitForParent(const Job& job) {
  const std::shared_ptr<DirNode>& parent =
      job.kind == Job::Kind::kMkdir ? job.node->parent : job.node;
  if (!parent) return true;
  int s = parent->state.load();
  while (s == kCreating) {
    parent->state.wait(kCreating);
    s = parent->state.load();
  }
  return s != kFailed;
}

void Transfer::RunMkdir(Job& job) {
  DirNode& node = *job.node;
  const RelPath& path = node.item.src.path;
  Status st = Ready(job, path);
  auto make = [&] {
    return Retried(path, "make the folder",
                   [&] { return dst_->MakeDirectory(path); });
  };
  if (st.ok()) {
    if (node.item.dst && !node.item.dst->is_dir()) {
      st = Retried(path, "remove", [&] { return dst_->Remove(path); });
    }
    if (st.ok()) st = make();
    if (st.code() == StatusCode::kAlreadyExists && !node.item.dst) {
      // TransferMode ALL: something else is where the folder goes (or a
      // try that timed out made it after all).
      st = RemoveTree(path);
      if (st.ok()) st = make();
    }
  }
  if (st.ok()) {
    node.state.store(kReady);
  } else {
    node.failure = std::move(st);
    node.state.store(kFailed);
  }
  node.state.notify_all();
  Release(job.node);
}

void Transfer::RunLink(Job& job) {
  const PlanItem& item = job.item;
  ItemResult result;
  result.applied = item.src;
  result.status = Ready(job, item.src.path);
  if (result.status.ok()) result.status = CreateNonFile(item);
  Report(item, result);
  Release(job.node);
}

Status Transfer::CreateNonFile(const PlanItem& item) {
  const RelPath& path = item.src.path;
  auto create = [&] {
    return Retried(path, "create", [&] {
      return item.src.kind == EntryKind::kSymlink
                 ? dst_->CreateSymlink(path, item.src, options_.metadata)
                 : dst_->CreateSpecial(path, item.src, options_.metadata);
    });
  };
  Status st;
  if (item.dst && item.dst->is_dir()) st = RemoveTree(path);
  if (st.ok()) st = create();
  if (st.code() == StatusCode::kFailedPrecondition && !item.dst) {
    st = RemoveTree(path);
    if (st.ok()) st = create();
  }
  return st;
}

Status Transfer::SetMetadata(const RelPath& path, const Entry& src,
                             const MetadataPolicy& policy) {
  return Retried(path, "set the metadata of",
                 [&] { return dst_->SetMetadata(path, src, policy); });
}

Status Transfer::RemoveTree(const RelPath& path) {
  return Retried(path, "remove", [&] { return dst_->RemoveTree(path); });
}

void Transfer::RunHardLink(Job& job) {
  const PlanItem& item = job.item;
  HardLinkGroup& group = *item.link_group;
  ItemResult result;
  result.applied = item.src;
  result.metadata_only = true;
  result.status = Ready(job, item.src.path);
  if (result.status.ok()) {
    // The first name was planned (and queued) before this one.
    int s = group.state.load();
    while (s == HardLinkGroup::kPending) {
      group.state.wait(HardLinkGroup::kPending);
      s = group.state.load();
    }
    if (s == HardLinkGroup::kFailed) {
      result.status = Status::FailedPrecondition(
          item.src.path.Display() + " is a hard link of " +
          group.first.Display() + ", which failed to transfer");
    } else {
      if (item.dst && item.dst->is_dir())
        result.status = RemoveTree(item.src.path);
      if (result.status.ok()) {
        result.status = Retried(item.src.path, "link", [&] {
          return dst_->CreateHardLink(group.first, item.src.path);
        });
      }
    }
  }
  Report(item, result);
  Release(job.node);
}

Result<uint64_t> Transfer::CopyXattrs(const RelPath& path, Reader* reader,
                                      StagedWriter* writer) {
  Result<XattrList> read = Retried(path, "read the attributes of", [&] {
    return reader ? reader->Xattrs() : src_->GetXattrs(path);
  });
  if (!read.ok()) return read.status();
  XattrList list =
      FilterXattrs(std::move(read).value(), options_.xattrs, options_.acls);
  Status st = Retried(path, "write the attributes of", [&] {
    return writer ? writer->SetXattrs(list, options_.xattrs, options_.acls)
                  : dst_->SetXattrs(path, list, options_.xattrs, options_.acls);
  });
  if (!st.ok()) return st;
  return XattrHash(list);
}

void Transfer::CopyXattrsInto(const RelPath& path, ItemResult* result) {
  if (!options_.xattrs && !options_.acls) return;
  auto hash = CopyXattrs(path, nullptr, nullptr);
  if (hash.ok()) {
    result->applied.xattr_hash = *hash;
  } else {
    result->status = hash.status();
  }
}

void Transfer::SignalLinks(const PlanItem& item, bool ok) {
  if (!item.link_group || item.action == PlanAction::kLink) return;
  item.link_group->state.store(ok ? HardLinkGroup::kDone
                                  : HardLinkGroup::kFailed);
  item.link_group->state.notify_all();
}

void Transfer::RunMetadata(Job& job) {
  const PlanItem& item = job.item;
  ItemResult result;
  result.applied = item.src;
  result.metadata_only = true;
  result.status = Ready(job, item.src.path);
  if (result.status.ok()) {
    result.status = SetMetadata(item.src.path, item.src, options_.metadata);
    if (result.status.ok() && item.src.is_file()) {
      CopyXattrsInto(item.src.path, &result);
    }
    if (result.status.ok() && item.src.is_file() && options_.object_tags) {
      result.status = CopyTags(item.src.path, nullptr, nullptr);
    }
  }
  SignalLinks(item, result.status.ok());
  Report(item, result);
  Release(job.node);
}

Status Transfer::CopyTags(const RelPath& path, Reader* reader,
                          StagedWriter* writer) {
  FERRY_ASSIGN_OR_RETURN(ObjectTags tags, Retried(path, "read tags", [&] {
                           return reader ? reader->Tags() : src_->GetTags(path);
                         }));
  if (writer) return writer->SetTags(tags);
  return Retried(path, "write tags", [&] { return dst_->SetTags(path, tags); });
}

Status Transfer::OpenFile(FileTask& task) {
  std::lock_guard lock(task.mu);
  if (task.opened) return task.status;
  task.opened = true;
  const RelPath& path = task.item.src.path;
  // A file empty at the scan need not be opened, if it is still as the scan
  // saw it (one stat instead of open, stat, stat, close): a file is sent as
  // it is when the transfer reaches it.
  bool still_empty = false;
  if (task.item.src.size == 0) {
    auto now = src_->Stat(path);
    if (now.ok() && *now && (*now)->is_file() && (*now)->size == 0 &&
        SameVersion(**now, task.item.src)) {
      still_empty = true;
      task.fresh = std::move(**now);
    }
  }
  if (!still_empty) {
    auto reader =
        Retried(path, "open for reading", [&] { return src_->OpenRead(path); });
    if (!reader.ok() && task.item.src.partial() && task.chunks == 1) {
      auto now = src_->Stat(path);
      if (now.ok() && *now && !(*now)->is_file() && !(*now)->is_dir()) {
        task.not_a_file = std::move(**now);
        if (options_.map_source) options_.map_source(&*task.not_a_file);
        return Status::Ok();
      }
    }
    if (!reader.ok()) {
      task.status = reader.status();
      task.failed.store(true);
      return task.status;
    }
    task.reader = std::move(reader).value();
    task.fresh = task.reader->entry();
  }
  if (task.chunks > 1 && task.fresh.size != task.item.src.size)
    task.sequential = true;
  task.digest =
      std::make_unique<FileDigestBuilder>(options_.digest, task.fresh.size);
  WriteHints hints;
  hints.size = task.fresh.size;
  hints.sparse = task.fresh.MaybeSparse() && dst_->capabilities().sparse_files;
  hints.fsync = options_.fsync;
  hints.may_exist = task.item.dst.has_value() || !task.item.dst_known;
  if (options_.metadata.mode) hints.mode = task.fresh.mode & 07777;
  auto writer = Retried(path, "open for writing",
                        [&] { return dst_->OpenWrite(path, hints); });
  if (!writer.ok()) {
    task.status = writer.status();
    task.failed.store(true);
    return task.status;
  }
  task.writer = std::move(writer).value();
  if (options_.object_tags) {
    // Read with the file, so that a file read again gets its tags again.
    Status tagged = CopyTags(path, task.reader.get(), task.writer.get());
    if (!tagged.ok()) {
      task.status = std::move(tagged);
      task.failed.store(true);
      return task.status;
    }
  }
  return Status::Ok();
}

Status Transfer::CopyRange(FileTask& task, uint64_t offset, uint64_t length) {
  static thread_local std::unique_ptr<std::byte[]> buffer(
      new std::byte[kBlockSize]);
  // Reads of more than a block at once, where the source prefers them (one
  // request each for a network store); allocated, not touched, up front. A
  // source that streams the range in one request is read a block at a time.
  const Capabilities& src_caps = src_->capabilities();
  const bool streamed = src_caps.read_stream_size > 0;
  const uint64_t read_unit =
      streamed ? kBlockSize
               : std::max<uint64_t>(kBlockSize, src_caps.read_size_preferred /
                                                    kBlockSize * kBlockSize);
  static thread_local std::unique_ptr<std::byte[]> window;
  static thread_local uint64_t window_size = 0;
  if (read_unit > kBlockSize && window_size < read_unit) {
    window.reset(new std::byte[read_unit]);
    window_size = read_unit;
  }
  uint64_t win_start = 0, win_len = 0;  // what `window` holds of the file
  const RelPath& path = task.item.src.path;
  if (length == 0 && offset == 0) {
    std::span<const std::byte> empty;
    return task.digest->AddBlock(0, ComputeBlockChecksum(empty), empty);
  }
  Reader& reader = *task.reader;
  const bool sparse = task.fresh.MaybeSparse();
  if (streamed && !sparse) reader.WillRead(offset, length);
  // Holes stay holes where the destination keeps them; elsewhere (an object
  // store) they are written as the zeros they read as.
  const bool skip_holes = sparse && dst_->capabilities().sparse_files;
  Extent ext{0, 0};
  bool have_ext = false;
  std::vector<Extent> writes;
  const uint64_t end = offset + length;
  for (uint64_t pos = offset; pos < end; pos += kBlockSize) {
    if (options_.stop.stop_requested()) return Status::Cancelled("cancelled");
    const uint64_t blen = std::min<uint64_t>(kBlockSize, end - pos);
    const uint64_t bend = pos + blen;
    std::byte* buf = buffer.get();
    std::span<std::byte> block(buf, blen);
    writes.clear();
    if (sparse) {
      uint64_t q = pos;
      bool zeroed = false;
      while (q < bend) {
        if (!have_ext || ext.offset + ext.length <= q) {
          FERRY_ASSIGN_OR_RETURN(
              ext, Retried(path, "read", [&] { return reader.NextData(q); }));
          have_ext = true;
        }
        if (ext.length == 0 || ext.offset >= bend) break;
        uint64_t s = std::max(q, ext.offset);
        uint64_t e = std::min(bend, ext.offset + ext.length);
        if (!zeroed && (s > pos || e < bend)) {
          std::memset(buf, 0, blen);
          zeroed = true;
        }
        FERRY_ASSIGN_OR_RETURN(size_t n, Retried(path, "read", [&] {
                                 return reader.ReadAt(
                                     s, block.subspan(s - pos, e - s));
                               }));
        if (n < e - s) {
          return Status(StatusCode::kSourceChanged,
                        path.Display() + " shrank while it was being read");
        }
        writes.push_back(Extent{s, e - s});
        q = e;
      }
      if (writes.empty() && !zeroed) std::memset(buf, 0, blen);
      if (!skip_holes) {
        writes.clear();
        writes.push_back(Extent{pos, blen});
      }
    } else if (read_unit > kBlockSize) {
      if (pos < win_start || bend > win_start + win_len) {
        const uint64_t want = std::min<uint64_t>(read_unit, end - pos);
        std::span<std::byte> into(window.get(), want);
        FERRY_ASSIGN_OR_RETURN(size_t n, Retried(path, "read", [&] {
                                 return reader.ReadAt(pos, into);
                               }));
        if (n < want) {
          return Status(StatusCode::kSourceChanged,
                        path.Display() + " shrank while it was being read");
        }
        win_start = pos;
        win_len = want;
      }
      buf = window.get() + (pos - win_start);
      block = std::span<std::byte>(buf, blen);
      writes.push_back(Extent{pos, blen});
    } else {
      FERRY_ASSIGN_OR_RETURN(size_t n, Retried(path, "read", [&] {
                               return reader.ReadAt(pos, block);
                             }));
      if (n < blen) {
        return Status(StatusCode::kSourceChanged,
                      path.Display() + " shrank while it was being read");
      }
      writes.push_back(Extent{pos, blen});
    }
    // The block's checksum, taken where it was read, feeds the file's
    // digest; verification compares that digest with one computed from what
    // the destination holds, so damage on the way (or at rest) is found
    // there. (Checking the checksum here again, on the same buffer, could
    // never fail; an agent-to-agent hop will check it where the block lands.)
    BlockChecksum sum = (writes.empty() && blen == kBlockSize)
                            ? ZeroBlockChecksum()
                            : ComputeBlockChecksum(block);
    FERRY_RETURN_IF_ERROR(task.digest->AddBlock(pos / kBlockSize, sum, block));
    // Under a bandwidth limit the block goes out in slices of about 50 ms
    // worth, so that even a low limit is kept smoothly.
    const int64_t rate = options_.limiter ? options_.limiter->rate() : -1;
    const uint64_t slice =
        rate > 0 ? std::clamp<uint64_t>(static_cast<uint64_t>(rate) / 20, 4096,
                                        kBlockSize)
                 : kBlockSize;
    // One write of the whole block: it carries the block's checksum.
    if (writes.size() == 1 && writes[0].offset == pos &&
        writes[0].length == blen && slice >= blen) {
      task.writer->NoteChecksum(pos, blen, sum);
    }
    uint64_t written = 0;
    for (const Extent& w : writes) {
      for (uint64_t off = 0; off < w.length; off += slice) {
        const uint64_t n = std::min(slice, w.length - off);
        if (rate > 0) {
          options_.limiter->Acquire(n, options_.stop);
          if (options_.stop.stop_requested())
            return Status::Cancelled("cancelled");
        }
        const std::span<const std::byte> out(buf + (w.offset + off - pos), n);
        FERRY_RETURN_IF_ERROR(Retried(path, "write", [&] {
          return task.writer->WriteAt(w.offset + off, out);
        }));
        observer_->OnBytes(n);
        written += n;
      }
    }
    task.bytes.fetch_add(blen, std::memory_order_relaxed);
    if (blen > written) observer_->OnBytes(blen - written);  // holes
  }
  return Status::Ok();
}

bool Transfer::UseDelta(const PlanItem& item) const {
  return options_.delta && dst_->capabilities().delta && item.dst &&
         item.dst->is_file() && item.src.is_file() &&
         item.src.size >= options_.delta_min_bytes &&
         item.dst->size >= options_.delta_min_bytes;
}

Status Transfer::CopyDelta(FileTask& task) {
  const RelPath& path = task.item.src.path;
  Reader& reader = *task.reader;
  const uint64_t basis_size = task.item.dst->size;
  const uint32_t block_size = delta::ChooseBlockSize(basis_size);
  const uint64_t blocks = (basis_size + block_size - 1) / block_size;
  // The destination's block signatures, a page at a time.
  std::vector<delta::BlockSignature> signatures;
  signatures.reserve(blocks);
  while (signatures.size() < blocks) {
    auto page = Retried(path, "read block signatures", [&] {
      return dst_->BlockSignatures(path, block_size, signatures.size(),
                                   blocks - signatures.size());
    });
    if (!page.ok() || page->empty()) break;
    signatures.insert(signatures.end(), page->begin(), page->end());
  }
  if (signatures.size() != blocks) {
    // Gone or changed since the scan: the whole file, as any other.
    return CopyRange(task, 0, task.fresh.size);
  }
  static thread_local std::unique_ptr<std::byte[]> literal(
      new std::byte[delta::kMaxLiteralLength]);
  // The match reads the source in order from this thread (but for literal
  // bytes it reads again: ranged reads of their own).
  reader.WillRead(0, task.fresh.size);
  auto read_source = [&](uint64_t offset,
                         std::span<std::byte> out) -> Result<size_t> {
    return Retried(path, "read", [&] { return reader.ReadAt(offset, out); });
  };
  FERRY_RETURN_IF_ERROR(delta::ComputeDelta(
      signatures, block_size, basis_size, read_source, task.fresh.size,
      [&](const delta::Instruction& in) -> Status {
        if (options_.stop.stop_requested())
          return Status::Cancelled("cancelled");
        if (in.kind == delta::Instruction::Kind::kCopy) {
          return Retried(path, "copy from the destination's copy", [&] {
            return task.writer->CopyFromBasis(in.target_offset, path,
                                              in.basis_offset, in.length);
          });
        }
        std::span<std::byte> piece(literal.get(), in.length);
        FERRY_ASSIGN_OR_RETURN(size_t n, read_source(in.target_offset, piece));
        if (n < in.length) {
          return Status(StatusCode::kSourceChanged,
                        path.Display() + " shrank while it was being read");
        }
        if (options_.limiter) {
          options_.limiter->Acquire(n, options_.stop);
          if (options_.stop.stop_requested())
            return Status::Cancelled("cancelled");
        }
        FERRY_RETURN_IF_ERROR(Retried(path, "write", [&] {
          return task.writer->WriteAt(in.target_offset, piece);
        }));
        // Only what was sent counts as transferred.
        observer_->OnBytes(n);
        return Status::Ok();
      }));
  // The content digest, from the source's blocks (the match reads it in
  // windows that overlap, not block by block).
  static thread_local std::unique_ptr<std::byte[]> buffer(
      new std::byte[kBlockSize]);
  reader.WillRead(0, task.fresh.size);
  for (uint64_t pos = 0; pos < task.fresh.size; pos += kBlockSize) {
    if (options_.stop.stop_requested()) return Status::Cancelled("cancelled");
    const uint64_t len = std::min<uint64_t>(kBlockSize, task.fresh.size - pos);
    std::span<std::byte> block(buffer.get(), len);
    FERRY_ASSIGN_OR_RETURN(size_t n, read_source(pos, block));
    if (n < len) {
      return Status(StatusCode::kSourceChanged,
                    path.Display() + " shrank while it was being read");
    }
    FERRY_RETURN_IF_ERROR(task.digest->AddBlock(
        pos / kBlockSize, ComputeBlockChecksum(block), block));
  }
  task.bytes.store(task.fresh.size, std::memory_order_relaxed);
  return Status::Ok();
}

Status Transfer::CopyWhole(FileTask& task) {
  // Start over with fresh handles: the file is read again from the top.
  if (task.writer) task.writer->Abort();
  task.writer.reset();
  task.reader.reset();
  {
    std::lock_guard lock(task.mu);
    task.opened = false;
    task.status = Status::Ok();
  }
  task.failed.store(false);
  task.chunks = 1;
  task.sequential = false;
  task.bytes.store(0);
  FERRY_RETURN_IF_ERROR(OpenFile(task));
  return CopyRange(task, 0, task.fresh.size);
}

void Transfer::RunFileChunk(Job& job, Committing* committing) {
  FileTask& task = *job.file;
  if (!task.failed.load()) {
    if (Status ready = Ready(job, task.item.src.path); !ready.ok()) {
      task.Fail(std::move(ready));
    } else {
      Status st = OpenFile(task);
      if (st.ok() && !task.not_a_file) {
        const uint64_t chunk = task.chunk_size;
        if (task.delta) {
          st = CopyDelta(task);
        } else if (task.chunks == 1 || task.sequential) {
          if (job.chunk == 0) st = CopyRange(task, 0, task.fresh.size);
        } else {
          uint64_t off = job.chunk * chunk;
          uint64_t len = off < task.fresh.size
                             ? std::min<uint64_t>(chunk, task.fresh.size - off)
                             : 0;
          if (len > 0 || off == 0) st = CopyRange(task, off, len);
        }
      }
      if (!st.ok()) task.Fail(std::move(st));
    }
  }
  if (task.chunks_left.fetch_sub(1) == 1) FinishFile(job.file, committing);
}

void Transfer::FinishFile(const std::shared_ptr<FileTask>& task_ptr,
                          Committing* committing) {
  FileTask& task = *task_ptr;
  ItemResult& result = task.result;
  const PlanItem& item = task.item;
  Status st = task.first_failure();
  if (st.ok() && task.not_a_file) {
    PlanItem link = item;
    link.src = std::move(*task.not_a_file);
    result.applied = link.src;
    result.status = CreateNonFile(link);
    SignalLinks(link, result.status.ok());
    Report(link, result);
    std::shared_ptr<DirNode> parent = std::move(task.parent);
    Release(parent);
    return;
  }
  // A file whose size, mtime or ctime moved while it was read is read again.
  for (int attempt = 0; st.ok() || st.code() == StatusCode::kSourceChanged;
       ++attempt) {
    if (st.ok()) {
      if (!task.reader) break;  // empty at the scan: nothing was read
      if (task.reader->consistent()) break;  // no version was mixed in
      auto now = task.reader->Restat();
      if (!now.ok()) {
        st = now.status();
        break;
      }
      if (SameVersion(*now, task.fresh)) break;
    }
    if (attempt >= options_.change_retries) {
      result.changed_while_read = true;
      st = Status::Ok();
      break;
    }
    st = CopyWhole(task);
    if (!st.ok() && st.code() != StatusCode::kSourceChanged) break;
  }
  if (st.ok()) {
    auto digest = task.digest->Finish();
    if (!digest.ok()) {
      st = digest.status();
    } else {
      result.digest = *digest;
    }
  }
  if (st.ok()) {
    Entry meta = task.fresh;
    meta.path = item.src.path;
    meta.digest = result.digest;  // stored where the backend keeps digests
    meta.etag.clear();
    meta.version.clear();
    // As of the scan, before we read it (a listing that did not tell it
    // leaves the atime the open saw).
    if (!item.src.partial()) meta.atime = item.src.atime;
    // A creation time only a listing tells (SMB) comes from the scan.
    if (meta.btime == FileTime{}) meta.btime = item.src.btime;
    if (options_.map_source) options_.map_source(&meta);
    if (options_.xattrs || options_.acls) {
      auto hash =
          CopyXattrs(item.src.path, task.reader.get(), task.writer.get());
      if (hash.ok()) {
        meta.xattr_hash = *hash;
      } else {
        st = hash.status();
      }
    }
    if (st.ok() && item.dst && item.dst->is_dir())
      st = RemoveTree(item.src.path);
    result.applied = std::move(meta);
    if (st.ok()) {
      std::optional<Status> done =
          task.writer->BeginCommit(result.applied, options_.metadata);
      if (!done) {
        // Read in full: the source can go now.
        task.reader.reset();
        committing->push_back(task_ptr);
        // Each holds its file's data until it is answered.
        if (committing->size() >= kMaxCommitsUnderWay) {
          FinishCommits(committing);
        }
        return;
      }
      EndFile(task, std::move(*done), /*committed=*/true);
      return;
    }
  }
  EndFile(task, std::move(st), /*committed=*/false);
}

void Transfer::EndFile(FileTask& task, Status st, bool committed) {
  ItemResult& result = task.result;
  const PlanItem& item = task.item;
  if (committed && st.code() == StatusCode::kFailedPrecondition && !item.dst) {
    // TransferMode ALL and a folder is in the way: replace it.
    st = RemoveTree(item.src.path);
    if (st.ok()) st = CopyWhole(task);
    if (st.ok()) st = task.writer->Commit(result.applied, options_.metadata);
  }
  // A commit (an object store's one PUT, say) that failed for good on a
  // retryable fault: the destination may be out. When it is back, the file
  // goes again from the top.
  for (int outages = 0; committed && !st.ok() && st.retryable() &&
                        options_.outage && outages < kMaxOutageRetries;
       ++outages) {
    if (!options_.outage->Recover(st, options_.stop)) {
      if (options_.stop.stop_requested()) st = Status::Cancelled("cancelled");
      break;
    }
    st = CopyWhole(task);
    if (st.ok()) st = task.writer->Commit(result.applied, options_.metadata);
  }
  if (!st.ok() && task.writer) task.writer->Abort();
  result.status = std::move(st);
  result.bytes = task.bytes.load();
  task.writer.reset();
  task.reader.reset();
  SignalLinks(item, result.status.ok());
  Report(item, result);
  std::shared_ptr<DirNode> parent = std::move(task.parent);
  Release(parent);
}

}  // namespace ferry
