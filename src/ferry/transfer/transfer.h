// Transfer: the worker pool that carries out a plan.
//
// The planner thread hands plan items over in plan order (Add); they are
// batched onto a bounded queue that a pool of workers drains, so transfers
// start while the scan is still running and the planner can never run far
// ahead. Small files move whole, one per job; files above chunk_size are cut
// into chunks that different workers move at once, the chunks of up to one
// such file per worker interleaved (so that workers write different files).
// Every block is checksummed where it is read, and the checksums make the
// file's digest, which verification compares with what the destination
// holds; a file is written under a temporary name and renamed into place
// only when complete, with its metadata applied just before. Opening a file and
// reading or writing a block are retried (options.retry, on options.clock) when
// they fail with a retryable status; any other failure fails the file at once.
// Folders are created ahead of their contents and get their metadata (mtime
// above all) once everything inside them is done, which a per-folder count of
// outstanding work tells.
//
// Outcomes go to a TransferObserver, called from the worker threads. Add()
// and Finish() are for the planner thread only.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <stop_token>
#include <string_view>
#include <thread>
#include <vector>

#include "ferry/base/bounded_queue.h"
#include "ferry/base/clock.h"
#include "ferry/base/digest.h"
#include "ferry/base/outage_watch.h"
#include "ferry/base/retry.h"
#include "ferry/diff/differ.h"
#include "ferry/storage/backend.h"
#include "ferry/transfer/rate_limiter.h"

namespace ferry {

struct TransferOptions {
  int threads = 4;
  MetadataPolicy metadata;  // what to apply at the destination
  bool xattrs = false;      // copy extended attributes of files and folders
  bool acls = false;        // copy POSIX ACLs
  // Copy the object tags of files (both sides have Capabilities::
  // object_tags): a file written gets exactly its source's tags, read when
  // it is opened; a metadata-only update gives them again (SetMetadata may
  // drop them). Without it, files are written without tags and a metadata
  // update leaves the destination's as the store does.
  bool object_tags = false;
  DigestAlgorithm digest = DigestAlgorithm::kXxh3_128;
  bool fsync = false;
  // Files larger than this are cut into chunks of this size (a multiple of
  // kBlockSize) moved in parallel.
  uint64_t chunk_size = 16 * kBlockSize;
  // How many times a file that changes while it is read is read again.
  int change_retries = 3;
  // Delta transfer where the destination offers it (Capabilities::delta):
  // a changed file of at least delta_min_bytes that the destination holds
  // (at least that large too) is sent as what differs from that file
  // (docs/link.md, "Delta transfer").
  bool delta = true;
  uint64_t delta_min_bytes = uint64_t{8} << 20;
  RateLimiter* limiter = nullptr;  // not owned; null = unlimited
  // Retries of retryable failures (open, block read, block write), with
  // backoff sleeps on `clock` (not owned; null = the real clock).
  RetryPolicy retry;
  Clock* clock = nullptr;
  // Asked when an operation used up its retries on a retryable failure:
  // the location may be out, and the operation is tried again when it is
  // back (not owned; null = the failure stands).
  OutageWatch* outage = nullptr;
  std::stop_token stop;
  // Adjusts source metadata read at transfer time (owner mapping).
  std::function<void(Entry*)> map_source;
  size_t batch_items = 64;
  size_t queue_batches = 32;
};

// What happened to one plan item.
struct ItemResult {
  Status status;       // OK: transferred
  Entry applied;       // the metadata written at the destination
  Digest digest;       // files: the source content digest
  uint64_t bytes = 0;  // file content bytes moved
  bool changed_while_read = false;
  bool metadata_only = false;  // only metadata was applied
};

class TransferObserver {
 public:
  virtual ~TransferObserver() = default;
  // Called once per item passed to Add() (for folders: once everything in
  // them is done), from any thread.
  virtual void OnItemDone(const PlanItem& item, const ItemResult& result) = 0;
  // Content bytes read and written so far, as they move.
  virtual void OnBytes(uint64_t bytes) = 0;
  // The first time a worker starts on anything.
  virtual void OnFirstWork() {}
  // `operation` on `path` failed with the retryable `failure` (attempt
  // `attempt`, 1-based) and is tried again after `delay`.
  virtual void OnRetry(const RelPath& path, std::string_view operation,
                       const Status& failure, int attempt,
                       Clock::duration delay) {
    (void)path, (void)operation, (void)failure, (void)attempt, (void)delay;
  }
};

class Transfer {
 public:
  Transfer(Backend* src, Backend* dst, TransferOptions options,
           TransferObserver* observer);
  ~Transfer();
  Transfer(const Transfer&) = delete;
  Transfer& operator=(const Transfer&) = delete;

  // `root` is the (mapped) source root; its metadata is applied at the end
  // if `root_differs` or anything beneath it changed.
  void Start(const Entry& root, bool root_differs);

  // Items in plan order: every source folder (kUnchanged ones included), and
  // the kCreate, kReplace, kUpdateMetadata and kLink items.
  void Add(PlanItem item);

  // Waits for everything to finish. Non-OK only when cancelled.
  Status Finish();

  struct DirNode;
  struct FileTask;
  struct Job;

 private:
  using Batch = std::vector<Job>;
  // A worker's files whose commits are under way
  // (StagedWriter::BeginCommit), finished by FinishCommits.
  using Committing = std::vector<std::shared_ptr<FileTask>>;

  void Flush();
  void Push(Job job, uint64_t bytes);
  // Queues the chunks of the files held in chunked_, interleaved: the first
  // chunk of each, then the second of each, and so on.
  void QueueChunked();
  void CloseTop();
  void MakeWritable(DirNode& node);
  // Bytes per chunk of a file of `size`: options.chunk_size (or the
  // source's read_stream_size, if larger), rounded up to whole parts where
  // the destination takes parts.
  uint64_t ChunkSize(uint64_t size) const;
  void Release(const std::shared_ptr<DirNode>& node);
  void WorkerLoop();
  void Run(Job& job, Committing* committing);
  void RunMkdir(Job& job);
  void RunFileChunk(Job& job, Committing* committing);
  void RunLink(Job& job);
  // Creates the link or special file item.src describes in place of what
  // the destination holds.
  Status CreateNonFile(const PlanItem& item);
  // The destination's SetMetadata and RemoveTree, retried as a file's
  // operations are (and waiting out an outage of either location).
  Status SetMetadata(const RelPath& path, const Entry& src,
                     const MetadataPolicy& policy);
  Status RemoveTree(const RelPath& path);
  void RunMetadata(Job& job);
  void RunHardLink(Job& job);
  void SignalLinks(const PlanItem& item, bool ok);
  // Copies the attributes of `path` (read through `reader` when given) to
  // the destination, through `writer` when given; returns their hash.
  Result<uint64_t> CopyXattrs(const RelPath& path, Reader* reader,
                              StagedWriter* writer);
  // The same, path to path, noted in `result` (its hash, or the failure).
  void CopyXattrsInto(const RelPath& path, ItemResult* result);
  // Copies the object tags of `path` (read through `reader` when given) to
  // the destination, through `writer` when given.
  Status CopyTags(const RelPath& path, Reader* reader, StagedWriter* writer);
  // Whether item goes by delta transfer (TransferOptions::delta).
  bool UseDelta(const PlanItem& item) const;
  // Sends task's file as its differences from the destination's copy; the
  // whole file when the destination's changed since the scan.
  Status CopyDelta(FileTask& task);
  bool WaitForParent(const Job& job);
  // OK once the job may start: not cancelled, and its folder exists.
  Status Ready(const Job& job, const RelPath& path);
  // Commits a file whose chunks are all done. A commit that is under way
  // when its call returns is added to `committing`, to be finished later.
  void FinishFile(const std::shared_ptr<FileTask>& task,
                  Committing* committing);
  // Waits for the commits under way and finishes their files.
  void FinishCommits(Committing* committing);
  // The rest of FinishFile once its result `st` is known; `committed`: st
  // is the commit's.
  void EndFile(FileTask& task, Status st, bool committed);
  void Report(const PlanItem& item, const ItemResult& result);

  // Runs `op` under options_.retry, reporting each retry of `operation` on
  // `path` to the observer; when the retries are used up on a retryable
  // failure, once more each time options_.outage saw the location out and
  // back (kMaxOutageRetries times at most).
  template <typename Op>
  auto Retried(const RelPath& path, std::string_view operation, Op&& op);

  Status OpenFile(FileTask& task);
  Status CopyRange(FileTask& task, uint64_t offset, uint64_t length);
  Status CopyWhole(FileTask& task);

  Backend* const src_;
  Backend* const dst_;
  const TransferOptions options_;
  TransferObserver* const observer_;
  Clock* const clock_;
  MetadataPolicy dir_policy_;

  std::vector<std::shared_ptr<DirNode>> stack_;  // planner thread only
  std::unique_ptr<Batch> batch_;                 // planner thread only
  uint64_t batch_bytes_ = 0;
  // Files of several chunks not queued yet (planner thread only), and the
  // items added since the first of them. Queued as soon as there is one per
  // worker (or kMaxItemsPastChunked items later, or before anything that
  // waits for a file), their chunks interleaved: the workers then write
  // different files, where the chunks of one file after another would have
  // every worker writing the same file, and a local file system lets one
  // write into a file at a time (the others spin on its lock in the
  // kernel). One large file alone still has every worker on its chunks.
  std::vector<std::shared_ptr<FileTask>> chunked_;
  size_t items_past_chunked_ = 0;

  BoundedQueue<std::unique_ptr<Batch>> queue_;
  std::atomic<bool> first_work_{false};
  std::vector<std::jthread> workers_;
};

}  // namespace ferry
