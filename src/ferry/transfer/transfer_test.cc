#include "ferry/transfer/transfer.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/base/clock.h"
#include "ferry/base/digest.h"
#include "ferry/delta/delta.h"
#include "ferry/diff/differ.h"
#include "ferry/storage/decorators/fault_injecting_backend.h"
#include "ferry/storage/memory/memory_backend.h"
#include "ferry/storage/object/memory_object_store.h"
#include "ferry/storage/object/object_backend.h"
#include "ferry/storage/posix/posix_backend.h"
#include "ferry/storage/testing.h"

namespace ferry {
namespace {

namespace fs = std::filesystem;
using testing::AsBytes;
using testing::P;
using testing::RandomBytes;
using testing::ReadFile;
using testing::WalkTree;

class RecordingObserver : public TransferObserver {
 public:
  void OnItemDone(const PlanItem& item, const ItemResult& result) override {
    std::lock_guard lock(mu_);
    const std::string path = item.src.path.str();
    results[path] = result;
    ++reports[path];
  }
  void OnBytes(uint64_t bytes) override {
    std::lock_guard lock(mu_);
    this->bytes += bytes;
  }
  void OnFirstWork() override {
    std::lock_guard lock(mu_);
    ++first_work;
  }
  void OnRetry(const RelPath& path, std::string_view operation,
               const Status& failure, int attempt,
               Clock::duration delay) override {
    std::lock_guard lock(mu_);
    EXPECT_TRUE(failure.retryable()) << failure.ToString();
    EXPECT_GE(attempt, 1);
    EXPECT_LE(delay, std::chrono::seconds(2));
    retries[path.str()].push_back(std::string(operation));
  }

  std::map<std::string, ItemResult> results;
  std::map<std::string, int> reports;
  std::map<std::string, std::vector<std::string>> retries;  // operations
  uint64_t bytes = 0;
  int first_work = 0;

 private:
  std::mutex mu_;
};

struct Run {
  RecordingObserver observer;
  Status finish;
  std::vector<std::string> planned;
};

// What an execution does between the scans and the deletes: diff the two
// locations (the destination is not looked at when `dst_scanned` is false,
// TransferMode ALL) and hand every actionable item to a Transfer.
std::unique_ptr<Run> RunTransfer(Backend* src, Backend* dst,
                                 TransferOptions options,
                                 DiffOptions diff = DiffOptions(),
                                 bool dst_scanned = true) {
  auto run = std::make_unique<Run>();
  diff.compare.atime = false;
  ScanOptions so;
  so.threads = 2;
  Scanner src_scan(src, so);
  Scanner dst_scan(dst, so);
  EXPECT_OK(src_scan.Start());
  if (dst_scanned) {
    EXPECT_OK(dst_scan.Start());
  }
  Transfer transfer(src, dst, std::move(options), &run->observer);
  transfer.Start(src_scan.root(), true);
  Differ differ(&src_scan, dst_scanned ? &dst_scan : nullptr, diff);
  while (true) {
    PlanItem item;
    auto more = differ.Next(&item);
    EXPECT_OK(more);
    if (!more.ok() || !*more) break;
    switch (item.action) {
      case PlanAction::kCreate:
      case PlanAction::kReplace:
      case PlanAction::kUpdateMetadata:
      case PlanAction::kLink:
      case PlanAction::kUnchanged:
        run->planned.push_back(item.src.path.str());
        transfer.Add(std::move(item));
        break;
      default:
        break;
    }
  }
  run->finish = transfer.Finish();
  return run;
}

TransferOptions Options(int threads = 3) {
  TransferOptions o;
  o.threads = threads;
  return o;
}

using testing::MemoryTree;

TEST(TransferTest, CopiesATreeWithEveryKindOfEntry) {
  MemoryTree src;
  MemoryTree dst;
  src.Dir("d");
  src.Dir("d/e", 0700);
  src.File("a", "small", 0640);
  src.File("d/empty", "");
  src.File("d/e/medium", RandomBytes(300000, 1), 0600);
  src.Link("d/l", "../a");
  src.Special("p", EntryKind::kFifo, 0, 0604);

  auto run = RunTransfer(src.backend(), dst.backend(), Options());
  ASSERT_OK(run->finish);
  EXPECT_EQ(testing::TreeSignature(dst.backend()),
            testing::TreeSignature(src.backend()));

  const auto& results = run->observer.results;
  for (const char* path :
       {"a", "d", "d/e", "d/empty", "d/e/medium", "d/l", "p"}) {
    ASSERT_EQ(run->observer.reports[path], 1) << path;
    EXPECT_OK(results.at(path).status);
    EXPECT_FALSE(results.at(path).metadata_only) << path;
  }
  EXPECT_EQ(results.size(), 7u) << "the root is not an item";
  EXPECT_EQ(results.at("d/e/medium").bytes, 300000u);
  EXPECT_EQ(results.at("a").bytes, 5u);
  EXPECT_EQ(run->observer.bytes, 300005u);
  EXPECT_EQ(run->observer.first_work, 1);
  EXPECT_EQ(results.at("a").digest,
            DigestOfBuffer(DigestAlgorithm::kXxh3_128, AsBytes("small")));
  EXPECT_EQ(results.at("d/empty").digest,
            DigestOfBuffer(DigestAlgorithm::kXxh3_128, {}));
  EXPECT_EQ(results.at("a").applied.mode, 0640u);
  EXPECT_EQ(results.at("a").applied.path, P("a"));
}

TEST(TransferTest, LargeFilesMoveInChunksAcrossWorkers) {
  for (DigestAlgorithm algo :
       {DigestAlgorithm::kXxh3_128, DigestAlgorithm::kSha256}) {
    SCOPED_TRACE(DigestAlgorithmName(algo));
    MemoryTree src;
    MemoryTree dst;
    const std::string big = RandomBytes(7 * kBlockSize + kBlockSize / 2, 2);
    const std::string exact = RandomBytes(4 * kBlockSize, 3);
    src.File("big", big);
    src.File("exact", exact);
    src.File("small", "s");
    TransferOptions o = Options(4);
    o.chunk_size = 2 * kBlockSize;
    o.digest = algo;
    auto run = RunTransfer(src.backend(), dst.backend(), o);
    ASSERT_OK(run->finish);
    EXPECT_TRUE(dst.Content("big") == big) << "content differs";
    EXPECT_TRUE(dst.Content("exact") == exact) << "content differs";
    const auto& r = run->observer.results;
    EXPECT_OK(r.at("big").status);
    EXPECT_EQ(r.at("big").bytes, big.size());
    EXPECT_EQ(r.at("big").digest, DigestOfBuffer(algo, AsBytes(big)));
    EXPECT_EQ(r.at("exact").digest, DigestOfBuffer(algo, AsBytes(exact)));
    EXPECT_EQ(run->observer.reports.at("big"), 1);
    EXPECT_EQ(testing::TreeSignature(dst.backend()),
              testing::TreeSignature(src.backend()));
  }
}

TEST(TransferTest, AStreamingSourceIsReadAChunkAStream) {
  ObjectStoreLimits limits;
  limits.part_size_min = 64 * 1024;
  auto store = std::make_shared<MemoryObjectStore>(limits);
  const std::string big = RandomBytes(10 * kBlockSize + kBlockSize / 2, 4);
  store->PutRaw("big", big);
  store->PutRaw("small", "s");
  ObjectBackendOptions options;
  options.read_stream_size = 3 * kBlockSize;
  auto src = OpenObjectBackend(store, options);
  ASSERT_OK(src.status());
  MemoryTree dst;
  TransferOptions o = Options(3);
  o.chunk_size = 2 * kBlockSize;  // the stream's size wins
  auto run = RunTransfer(src->get(), dst.backend(), o);
  ASSERT_OK(run->finish);
  EXPECT_TRUE(dst.Content("big") == big) << "content differs";
  EXPECT_EQ(dst.Content("small"), "s");
  // Chunks of 3 MiB, a stream each (the first from 1 MiB on: its first
  // block came with the object's metadata); none for the small file.
  EXPECT_EQ(store->streams(), 4);
}

// Holds the first two writes of the transfer until both are under way, and
// notes the files they are for.
class FirstWritesMeet : public testing::ForwardingBackend {
 public:
  using ForwardingBackend::ForwardingBackend;

  Result<std::unique_ptr<StagedWriter>> OpenWrite(
      const RelPath& path, const WriteHints& hints) override {
    FERRY_ASSIGN_OR_RETURN(std::unique_ptr<StagedWriter> inner,
                           ForwardingBackend::OpenWrite(path, hints));
    return std::unique_ptr<StagedWriter>(
        new Writer(this, path.str(), std::move(inner)));
  }

  std::vector<std::string> first_two() {
    std::lock_guard lock(mu_);
    return first_;
  }

  // Whether the second write began while the first waited (two workers
  // writing at once), not after the first gave up waiting.
  bool met() {
    std::lock_guard lock(mu_);
    return met_;
  }

 private:
  class Writer : public StagedWriter {
   public:
    Writer(FirstWritesMeet* owner, std::string path,
           std::unique_ptr<StagedWriter> inner)
        : owner_(owner), path_(std::move(path)), inner_(std::move(inner)) {}
    Status WriteAt(uint64_t offset, std::span<const std::byte> data) override {
      owner_->Meet(path_);
      return inner_->WriteAt(offset, data);
    }
    Status Commit(const Entry& metadata,
                  const MetadataPolicy& policy) override {
      return inner_->Commit(metadata, policy);
    }
    void Abort() override { inner_->Abort(); }

   private:
    FirstWritesMeet* const owner_;
    const std::string path_;
    const std::unique_ptr<StagedWriter> inner_;
  };

  void Meet(const std::string& path) {
    std::unique_lock lock(mu_);
    if (first_.size() >= 2) return;
    first_.push_back(path);
    cv_.notify_all();
    if (first_.size() > 1) return;
    // Bounded: a second write that never comes fails the test, not hangs it.
    met_ = cv_.wait_for(lock, std::chrono::seconds(10),
                        [&] { return first_.size() >= 2; });
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> first_;  // GUARDED_BY(mu_)
  bool met_ = false;                // GUARDED_BY(mu_)
};

TEST(TransferTest, WorkersTakeChunksOfDifferentFiles) {
  // Two workers and four files of four chunks each: the first chunks of two
  // files go first, not two chunks of one file (which a local file system
  // would write one at a time).
  MemoryTree src;
  MemoryTree dst;
  std::map<std::string, std::string> content;
  for (int f = 0; f < 4; ++f) {
    const std::string name = "big" + std::to_string(f);
    content[name] = RandomBytes(4 * kBlockSize, 10 + f);
    src.File(name, content[name]);
  }
  FirstWritesMeet meeting(dst.backend());
  TransferOptions o = Options(2);
  o.chunk_size = kBlockSize;
  auto run = RunTransfer(src.backend(), &meeting, o);
  ASSERT_OK(run->finish);
  EXPECT_TRUE(meeting.met());
  const std::vector<std::string> first = meeting.first_two();
  ASSERT_EQ(first.size(), 2u);
  EXPECT_NE(first[0], first[1]);
  for (const auto& [name, bytes] : content) {
    EXPECT_OK(run->observer.results.at(name).status) << name;
    EXPECT_TRUE(dst.Content(name) == bytes) << name << ": content differs";
  }
}

TEST(TransferTest, OneLargeFileStillHasEveryWorker) {
  // Alone, it waits for no other (it is queued at the end) and both workers
  // write its chunks at once.
  MemoryTree src;
  MemoryTree dst;
  const std::string big = RandomBytes(4 * kBlockSize, 20);
  src.File("big", big);
  FirstWritesMeet meeting(dst.backend());
  TransferOptions o = Options(2);
  o.chunk_size = kBlockSize;
  auto run = RunTransfer(src.backend(), &meeting, o);
  ASSERT_OK(run->finish);
  EXPECT_TRUE(meeting.met());
  EXPECT_EQ(meeting.first_two(), (std::vector<std::string>{"big", "big"}));
  EXPECT_TRUE(dst.Content("big") == big) << "content differs";
}

TEST(TransferTest, ChunkSizesThatAreNotWholeBlocksStillCopyExactly) {
  for (uint64_t chunk : {uint64_t{100}, kBlockSize + kBlockSize / 2}) {
    MemoryTree src;
    MemoryTree dst;
    const std::string data = RandomBytes(3 * kBlockSize + 77, 4);
    src.File("f", data);
    TransferOptions o = Options(2);
    o.chunk_size = chunk;
    auto run = RunTransfer(src.backend(), dst.backend(), o);
    ASSERT_OK(run->finish);
    EXPECT_TRUE(dst.Content("f") == data) << "chunk " << chunk;
  }
}

TEST(TransferTest, AReadErrorFailsOnlyThatFile) {
  MemoryTree src;
  MemoryTree dst;
  src.Dir("d");
  src.File("d/bad", "unreadable");
  src.File("d/good", "fine");
  src.File("d/big-bad", RandomBytes(5 * kBlockSize, 5));
  src.File("other", "fine too");
  FaultInjectingBackend faulty(
      src.Open(),
      {{FaultOp::kRead, "d/bad", Status::IoError("bad sector")},
       {FaultOp::kRead, "d/big-bad", Status::IoError("bad sector"), 1},
       {FaultOp::kOpenRead, "other",
        Status(StatusCode::kPermissionDenied, "locked")}});
  TransferOptions o = Options(3);
  o.chunk_size = kBlockSize;
  auto run = RunTransfer(&faulty, dst.backend(), o);
  ASSERT_OK(run->finish);
  const auto& r = run->observer.results;
  EXPECT_EQ(r.at("d/bad").status.code(), StatusCode::kIoError);
  EXPECT_EQ(r.at("d/big-bad").status.code(), StatusCode::kIoError);
  EXPECT_EQ(r.at("other").status.code(), StatusCode::kPermissionDenied);
  EXPECT_OK(r.at("d/good").status);
  EXPECT_OK(r.at("d").status);
  EXPECT_EQ(dst.Content("d/good"), "fine");
  // Failed files leave nothing behind.
  ASSERT_OK_AND_ASSIGN(auto names, testing::ListNames(dst.backend(), P("d")));
  EXPECT_EQ(names, std::vector<std::string>{"good"});
  ASSERT_OK_AND_ASSIGN(auto top, testing::ListNames(dst.backend(), RelPath()));
  EXPECT_EQ(top, std::vector<std::string>{"d"});
}

TEST(TransferTest, AWriteErrorFailsOnlyThatFile) {
  MemoryTree src;
  MemoryTree dst;
  src.File("x", "x");
  src.File("y", "y");
  src.File("z", "z");
  FaultInjectingBackend faulty(
      dst.Open(),
      {{FaultOp::kCommit, "x", Status(StatusCode::kResourceExhausted, "full")},
       {FaultOp::kWrite, "z", Status::IoError("write failed")}});
  auto run = RunTransfer(src.backend(), &faulty, Options());
  ASSERT_OK(run->finish);
  const auto& r = run->observer.results;
  EXPECT_EQ(r.at("x").status.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(r.at("z").status.code(), StatusCode::kIoError);
  EXPECT_OK(r.at("y").status);
  ASSERT_OK_AND_ASSIGN(auto names,
                       testing::ListNames(dst.backend(), RelPath()));
  EXPECT_EQ(names, std::vector<std::string>{"y"});
}

TEST(TransferTest, AFileThatChangedOnceIsReadAgain) {
  MemoryTree src;
  MemoryTree dst;
  const std::string data = RandomBytes(3 * kBlockSize, 6);
  src.File("f", data);
  FaultInjectingBackend faulty(src.Open(),
                               {{FaultOp::kChangeWhileRead, "f", Status(), 1}});
  TransferOptions o = Options(2);
  o.chunk_size = kBlockSize;
  auto run = RunTransfer(&faulty, dst.backend(), o);
  ASSERT_OK(run->finish);
  const ItemResult& r = run->observer.results.at("f");
  EXPECT_OK(r.status);
  EXPECT_FALSE(r.changed_while_read);
  EXPECT_EQ(r.digest,
            DigestOfBuffer(DigestAlgorithm::kXxh3_128, AsBytes(data)));
  EXPECT_TRUE(dst.Content("f") == data);
  // The one-shot change was consumed: the file was restatted after a read.
  EXPECT_OK(faulty.Check(FaultOp::kChangeWhileRead, P("f")));
}

TEST(TransferTest, AFileThatKeepsChangingIsFlaggedAfterTheRetries) {
  for (uint64_t size : {uint64_t{10}, 3 * kBlockSize}) {
    SCOPED_TRACE(size);
    MemoryTree src;
    MemoryTree dst;
    const std::string data = RandomBytes(size, 7);
    src.File("busy", data);
    src.File("calm", "calm");
    // Fires for the first read and for each of the 3 retries, then stops.
    FaultInjectingBackend faulty(
        src.Open(), {{FaultOp::kChangeWhileRead, "busy", Status(), 4},
                     {FaultOp::kChangeWhileRead, "calm", Status(), 3}});
    TransferOptions o = Options(2);
    o.chunk_size = kBlockSize;
    o.change_retries = 3;
    auto run = RunTransfer(&faulty, dst.backend(), o);
    ASSERT_OK(run->finish);
    const auto& r = run->observer.results;
    EXPECT_OK(r.at("busy").status);
    EXPECT_TRUE(r.at("busy").changed_while_read);
    EXPECT_TRUE(dst.Content("busy") == data);
    // Three changes are within the retries.
    EXPECT_OK(r.at("calm").status);
    EXPECT_FALSE(r.at("calm").changed_while_read);
    // Exactly 1 + change_retries reads of each.
    EXPECT_OK(faulty.Check(FaultOp::kChangeWhileRead, P("busy")));
  }
}

TEST(TransferTest, MetadataOnlyChangesLeaveTheContentInPlace) {
  MemoryTree src;
  MemoryTree dst;
  src.File("f", "same", 0640);
  dst.File("f", "same", 0600);  // same size and mtime, another mode
  dst.Edit("f", [](Entry& e) { e.uid = 5; });
  ASSERT_OK_AND_ASSIGN(auto before, dst.backend()->Stat(P("f")));
  auto run = RunTransfer(src.backend(), dst.backend(), Options());
  ASSERT_OK(run->finish);
  const ItemResult& r = run->observer.results.at("f");
  EXPECT_OK(r.status);
  EXPECT_TRUE(r.metadata_only);
  EXPECT_EQ(r.bytes, 0u);
  ASSERT_OK_AND_ASSIGN(auto after, dst.backend()->Stat(P("f")));
  EXPECT_EQ(after->ino, before->ino) << "the file was rewritten";
  EXPECT_EQ(after->mode, 0640u);
  EXPECT_EQ(after->uid, src.backend()->Stat(P("f")).value()->uid);
  EXPECT_EQ(dst.Content("f"), "same");
}

TEST(TransferTest, TypesSwapBetweenFilesFoldersAndLinks) {
  MemoryTree src;
  MemoryTree dst;
  src.File("was-dir", "now a file");
  src.Dir("was-file");
  src.File("was-file/inner", "x");
  src.Link("was-dir2", "target");
  dst.Dir("was-dir");
  dst.File("was-dir/old", "old");
  dst.Dir("was-dir/deeper");
  dst.File("was-dir/deeper/old", "old");
  dst.File("was-file", "a file");
  dst.Dir("was-dir2");
  dst.File("was-dir2/x", "x");
  auto run = RunTransfer(src.backend(), dst.backend(), Options());
  ASSERT_OK(run->finish);
  for (const auto& [path, r] : run->observer.results)
    EXPECT_OK(r.status) << path;
  EXPECT_EQ(testing::TreeSignature(dst.backend()),
            testing::TreeSignature(src.backend()));
}

TEST(TransferTest, ContentsOfAFolderThatCannotBeCreatedFail) {
  MemoryTree src;
  MemoryTree dst;
  src.Dir("d");
  src.File("d/x", "x");
  src.Dir("d/sub");
  src.File("d/sub/y", "y");
  src.File("z", "z");
  dst.File("d", "a file in the way");
  // The file cannot be removed, so the folder cannot be made.
  FaultInjectingBackend faulty(
      dst.Open(),
      {{FaultOp::kRemove, "d", Status(StatusCode::kPermissionDenied, "no")}});
  auto run = RunTransfer(src.backend(), &faulty, Options());
  ASSERT_OK(run->finish);
  const auto& r = run->observer.results;
  EXPECT_EQ(r.at("d").status.code(), StatusCode::kPermissionDenied);
  for (const char* path : {"d/x", "d/sub", "d/sub/y"}) {
    EXPECT_FALSE(r.at(path).status.ok()) << path;
    EXPECT_EQ(run->observer.reports.at(path), 1) << path;
  }
  EXPECT_OK(r.at("z").status);
  EXPECT_EQ(dst.Content("d"), "a file in the way");
}

TEST(TransferTest, CancelledBeforeItStartsWritesNothing) {
  MemoryTree src;
  MemoryTree dst;
  src.Dir("d");
  src.File("d/x", "x");
  src.File("y", RandomBytes(3 * kBlockSize, 8));
  std::stop_source stop;
  stop.request_stop();
  TransferOptions o = Options();
  o.stop = stop.get_token();
  auto run = RunTransfer(src.backend(), dst.backend(), o);
  EXPECT_TRUE(run->finish.IsCancelled()) << run->finish.ToString();
  for (const auto& [path, r] : run->observer.results) {
    EXPECT_FALSE(r.status.ok()) << path;
  }
  ASSERT_OK_AND_ASSIGN(auto names,
                       testing::ListNames(dst.backend(), RelPath()));
  EXPECT_TRUE(names.empty());
}

TEST(TransferTest, TransferModeAllReplacesWhateverIsInTheWay) {
  MemoryTree src;
  MemoryTree dst;
  src.File("f", "file");
  src.Dir("d");
  src.File("d/x", "x");
  dst.Dir("f");
  dst.File("f/old", "old");
  dst.File("d", "file where a folder goes");
  dst.File("keep", "not at the source");
  auto run = RunTransfer(src.backend(), dst.backend(), Options(), DiffOptions(),
                         /*dst_scanned=*/false);
  ASSERT_OK(run->finish);
  for (const auto& [path, r] : run->observer.results)
    EXPECT_OK(r.status) << path;
  EXPECT_EQ(dst.Content("f"), "file");
  EXPECT_EQ(dst.Content("d/x"), "x");
  EXPECT_EQ(dst.Content("keep"), "not at the source");
}

TEST(TransferTest, CommitsLeftUnderWayEndAsCommitsDo) {
  MemoryTree src;
  MemoryTree dst;
  for (int d = 0; d < 4; ++d) {
    src.Dir("d" + std::to_string(d));
    for (int f = 0; f < 70; ++f) {
      src.File("d" + std::to_string(d) + "/f" + std::to_string(f),
               RandomBytes(100 + 37 * f, d * 100 + f));
    }
  }
  src.File("big", RandomBytes(3 << 20, 7));  // in chunks across workers
  src.File("in-the-way", "file");
  dst.Dir("in-the-way");
  dst.File("in-the-way/old", "old");
  FaultInjectingBackend faulty(
      dst.Open(), {{FaultOp::kCommit, "d2/f5",
                    Status(StatusCode::kResourceExhausted, "full")}});
  faulty.set_defer_commits(true);
  TransferOptions options = Options(2);
  options.chunk_size = 1 << 20;
  // TransferMode ALL: the folder in the way fails the commit under way,
  // which is made again once it is removed.
  auto run = RunTransfer(src.backend(), &faulty, options, DiffOptions(),
                         /*dst_scanned=*/false);
  ASSERT_OK(run->finish);
  const auto& r = run->observer.results;
  ASSERT_EQ(r.size(), 4u + 4 * 70 + 2);
  for (const auto& [path, result] : r) {
    EXPECT_EQ(run->observer.reports.at(path), 1) << path;
    if (path == "d2/f5") {
      EXPECT_EQ(result.status.code(), StatusCode::kResourceExhausted);
    } else {
      EXPECT_OK(result.status) << path;
    }
  }
  EXPECT_EQ(dst.Content("in-the-way"), "file");
  EXPECT_EQ(dst.Content("d3/f69"), src.Content("d3/f69"));
  EXPECT_EQ(dst.Content("big"), src.Content("big"));
  ASSERT_OK_AND_ASSIGN(auto names, testing::ListNames(dst.backend(), P("d2")));
  EXPECT_EQ(names.size(), 69u);
  EXPECT_EQ(std::count(names.begin(), names.end(), "f5"), 0);
}

TEST(TransferTest, TheRateLimiterSlowsTheTransfer) {
  MemoryTree src;
  MemoryTree dst;
  src.File("f", RandomBytes(2 * kBlockSize, 9));
  ManualClock clock;
  clock.set_auto_advance(true);  // simulated time: the waits end at once
  const Clock::time_point start = clock.Now();
  RateLimiter limiter(8 * kBlockSize, &clock);  // 8 MiB/s: 2 MiB take 0.25 s
  TransferOptions o = Options();
  o.limiter = &limiter;
  auto run = RunTransfer(src.backend(), dst.backend(), o);
  ASSERT_OK(run->finish);
  EXPECT_OK(run->observer.results.at("f").status);
  // 0.25 s less the limiter's burst of 0.1 s (bookings are rounded down to
  // the nanosecond).
  const auto elapsed = std::chrono::duration_cast<std::chrono::microseconds>(
      clock.Now() - start);
  EXPECT_NEAR(static_cast<double>(elapsed.count()), 150000.0, 10.0);
  EXPECT_EQ(dst.Content("f"), src.Content("f"));
}

Status Transient(std::string what) {
  return Status(StatusCode::kUnavailable, std::move(what), 0,
                /*retryable=*/true);
}

// Retryable failures of opening, reading and writing are retried with
// backoff (on a simulated clock here, so nobody waits) and the file arrives
// whole; each retry is reported.
TEST(TransferTest, RetryableFailuresAreRetriedAndTheFileArrives) {
  MemoryTree src;
  MemoryTree dst;
  const std::string big = RandomBytes(3 * kBlockSize + 7, 21);
  src.File("read", "read me").File("big", big).File("open", "open me");
  src.File("write", "write me").File("create", "create me");
  FaultInjectingBackend faulty_src(
      src.Open(), {{FaultOp::kRead, "read", Transient("blip"), 3},
                   {FaultOp::kRead, "big", Transient("blip"), 2},
                   {FaultOp::kOpenRead, "open", Transient("EMFILE"), 1}});
  FaultInjectingBackend faulty_dst(
      dst.Open(), {{FaultOp::kWrite, "write", Transient("timeout"), 2},
                   {FaultOp::kOpenWrite, "create", Transient("EAGAIN"), 1}});
  ManualClock clock;
  clock.set_auto_advance(true);
  TransferOptions o = Options(3);
  o.chunk_size = kBlockSize;  // "big" moves in chunks, on several workers
  o.clock = &clock;
  auto run = RunTransfer(&faulty_src, &faulty_dst, o);
  ASSERT_OK(run->finish);
  const auto& r = run->observer.results;
  for (const char* f : {"read", "big", "open", "write", "create"}) {
    SCOPED_TRACE(f);
    EXPECT_OK(r.at(f).status);
    EXPECT_EQ(dst.Content(f), src.Content(f));
  }
  using Ops = std::vector<std::string>;
  auto& retries = run->observer.retries;
  EXPECT_EQ(retries["read"], (Ops{"read", "read", "read"}));
  EXPECT_EQ(retries["big"], (Ops{"read", "read"}));
  EXPECT_EQ(retries["open"], (Ops{"open for reading"}));
  EXPECT_EQ(retries["write"], (Ops{"write", "write"}));
  EXPECT_EQ(retries["create"], (Ops{"open for writing"}));
  EXPECT_EQ(clock.sleeps(), 9);
  EXPECT_GT(clock.total_slept(), Clock::duration::zero());
}

TEST(TransferTest, ARetryableFailureThatPersistsFailsTheFileAfterTheLimit) {
  MemoryTree src;
  MemoryTree dst;
  src.File("flaky", "never readable").File("fine", "fine");
  FaultInjectingBackend faulty(src.Open(),
                               {{FaultOp::kRead, "flaky", Transient("down")}});
  ManualClock clock;
  clock.set_auto_advance(true);
  TransferOptions o = Options();
  o.clock = &clock;
  auto run = RunTransfer(&faulty, dst.backend(), o);
  ASSERT_OK(run->finish);
  const auto& r = run->observer.results;
  EXPECT_EQ(r.at("flaky").status.code(), StatusCode::kUnavailable);
  EXPECT_EQ(run->observer.retries["flaky"].size(),
            static_cast<size_t>(o.retry.max_attempts - 1));
  EXPECT_EQ(clock.sleeps(), o.retry.max_attempts - 1);
  EXPECT_OK(r.at("fine").status);
  EXPECT_FALSE(dst.Content("flaky").has_value());
}

TEST(TransferTest, ANonRetryableFailureFailsTheFileAtOnce) {
  MemoryTree src;
  MemoryTree dst;
  src.File("bad", "unreadable").File("locked", "locked");
  FaultInjectingBackend faulty(
      src.Open(), {{FaultOp::kRead, "bad", Status::IoError("bad sector"), 1},
                   {FaultOp::kOpenRead, "locked",
                    Status(StatusCode::kPermissionDenied, "locked"), 1}});
  ManualClock clock;  // stands still: a backoff here would hang the test
  TransferOptions o = Options();
  o.clock = &clock;
  auto run = RunTransfer(&faulty, dst.backend(), o);
  ASSERT_OK(run->finish);
  const auto& r = run->observer.results;
  // Each rule fired once only: had the operation been tried again, the
  // second try would have succeeded.
  EXPECT_EQ(r.at("bad").status.code(), StatusCode::kIoError);
  EXPECT_EQ(r.at("locked").status.code(), StatusCode::kPermissionDenied);
  EXPECT_TRUE(run->observer.retries.empty());
  EXPECT_EQ(clock.sleeps(), 0);
  EXPECT_FALSE(dst.Content("bad").has_value());
}

TEST(TransferTest, CancelEndsARetryBackoff) {
  MemoryTree src;
  MemoryTree dst;
  src.File("flaky", "x");
  FaultInjectingBackend faulty(src.Open(),
                               {{FaultOp::kRead, "flaky", Transient("down")}});
  ManualClock clock;  // stands still: only the cancel ends the backoff
  std::stop_source stop;
  TransferOptions o = Options(1);
  o.clock = &clock;
  o.stop = stop.get_token();
  o.retry.jitter = [] { return uint64_t{1} << 40; };  // never a zero delay
  std::jthread canceller([&] {
    if (clock.AwaitSleepers(1)) stop.request_stop();
  });
  auto run = RunTransfer(&faulty, dst.backend(), o);
  canceller.join();
  EXPECT_TRUE(stop.stop_requested()) << "the transfer never backed off";
  EXPECT_EQ(run->finish.code(), StatusCode::kCancelled);
  EXPECT_FALSE(run->observer.results.at("flaky").status.ok());
  EXPECT_EQ(run->observer.retries["flaky"].size(), 1u);
  EXPECT_FALSE(dst.Content("flaky").has_value());
}

// A file is sent as it is when the transfer reaches it, not as the scan saw
// it: what changed in between arrives (the next run is not needed for it).
TEST(TransferTest, FilesAreSentAsTheyAreWhenReached) {
  for (const std::string& at_scan : {std::string("abc"), std::string()}) {
    SCOPED_TRACE(at_scan.empty() ? "empty at the scan" : "3 bytes at the scan");
    MemoryTree src;
    MemoryTree dst;
    src.File("f", at_scan);
    ScanOptions so;
    Scanner src_scan(src.backend(), so);
    Scanner dst_scan(dst.backend(), so);
    ASSERT_OK(src_scan.Start());
    ASSERT_OK(dst_scan.Start());
    DiffOptions diff;
    Differ differ(&src_scan, &dst_scan, diff);
    std::vector<PlanItem> plan;
    PlanItem item;
    while (differ.Next(&item).value()) plan.push_back(item);
    ASSERT_EQ(plan.size(), 1u);
    ASSERT_EQ(plan[0].src.size, at_scan.size());

    src.File("f", "grown since");  // between the scan and the transfer
    RecordingObserver observer;
    {
      Transfer transfer(src.backend(), dst.backend(), Options(), &observer);
      transfer.Start(src_scan.root(), false);
      transfer.Add(std::move(plan[0]));
      ASSERT_OK(transfer.Finish());
    }
    const ItemResult& r = observer.results.at("f");
    ASSERT_OK(r.status);
    EXPECT_EQ(dst.Content("f"), "grown since");
    EXPECT_EQ(r.applied.size, 11u);
    EXPECT_EQ(r.digest, DigestOfBuffer(DigestAlgorithm::kXxh3_128,
                                       AsBytes("grown since")));
  }
}

// ------------------------------------------------------ Between POSIX trees

struct PosixPair {
  testing::TempDir tmp;
  std::string src_root = tmp.Sub("src");
  std::string dst_root = tmp.Sub("dst");
  std::unique_ptr<Backend> src;
  std::unique_ptr<Backend> dst;

  PosixPair() {
    fs::create_directories(src_root);
    fs::create_directories(dst_root);
  }
  void Open() {
    src = OpenPosixBackend(src_root).value();
    dst = OpenPosixBackend(dst_root).value();
  }
};

void SetTimes(const std::string& path, int64_t sec) {
  struct timespec ts[2] = {{sec, 0}, {sec, 123}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), ts, AT_SYMLINK_NOFOLLOW), 0)
      << path;
}

// A POSIX destination that takes delta transfers, as the link's receiver
// does: it gives block signatures of the files it holds, and its writers
// copy from them.
class DeltaDestination : public testing::ForwardingBackend {
 public:
  explicit DeltaDestination(Backend* inner)
      : ForwardingBackend(inner), caps_(inner->capabilities()) {
    caps_.delta = true;
  }
  const Capabilities& capabilities() const override { return caps_; }
  Result<std::vector<delta::BlockSignature>> BlockSignatures(
      const RelPath& path, uint32_t block_size, uint64_t first_block,
      uint64_t max_count) override {
    FERRY_ASSIGN_OR_RETURN(std::unique_ptr<Reader> reader,
                           ForwardingBackend::OpenRead(path));
    ++signature_calls;
    return delta::ComputeSignatures(
        [&](uint64_t offset, std::span<std::byte> out) {
          return reader->ReadAt(offset, out);
        },
        reader->entry().size, block_size, first_block, max_count);
  }
  int signature_calls = 0;

 private:
  Capabilities caps_;
};

TEST(TransferPosixTest, AStreamingSourceOfADeltaIsStreamedNotReadInPieces) {
  testing::TempDir tmp;
  const std::string dst_root = tmp.Sub("dst");
  fs::create_directories(dst_root);
  std::string old_content = RandomBytes(9 * kBlockSize, 5);
  std::string content = old_content;
  content.replace(4 * kBlockSize + 10, 1000, RandomBytes(1000, 6));
  std::ofstream(dst_root + "/f", std::ios::binary) << old_content;
  ObjectStoreLimits limits;
  limits.part_size_min = 64 * 1024;
  auto store = std::make_shared<MemoryObjectStore>(limits);
  store->PutRaw("f", content);
  ObjectBackendOptions options;
  options.read_stream_size = 2 * kBlockSize;
  auto src = OpenObjectBackend(store, options);
  ASSERT_OK(src.status());
  auto posix = OpenPosixBackend(dst_root);
  ASSERT_OK(posix.status());
  DeltaDestination dst(posix->get());
  auto run = RunTransfer(src->get(), &dst, Options(2));
  ASSERT_OK(run->finish);
  ASSERT_OK(run->observer.results.at("f").status);
  EXPECT_GT(dst.signature_calls, 0) << "not sent as a delta";
  std::ifstream in(dst_root + "/f", std::ios::binary);
  const std::string got((std::istreambuf_iterator<char>(in)),
                        std::istreambuf_iterator<char>());
  EXPECT_TRUE(got == content) << "content differs";
  // One stream for the match and one for the digest, each for all but the
  // first block (which came with the metadata).
  EXPECT_EQ(store->streams(), 2);
}

TEST(TransferPosixTest, FolderTimesSurviveTheirContentsBeingWritten) {
  PosixPair p;
  fs::create_directories(p.src_root + "/d/e");
  std::ofstream(p.src_root + "/d/e/f") << "f";
  std::ofstream(p.src_root + "/d/g") << "g";
  SetTimes(p.src_root + "/d/e", 1100000000);
  SetTimes(p.src_root + "/d", 1200000000);
  SetTimes(p.src_root, 1300000000);
  p.Open();
  auto run = RunTransfer(p.src.get(), p.dst.get(), Options());
  ASSERT_OK(run->finish);
  EXPECT_EQ(testing::TreeSignature(p.dst.get()),
            testing::TreeSignature(p.src.get()));
  EXPECT_EQ(p.dst->Stat(RelPath()).value()->mtime,
            p.src->Stat(RelPath()).value()->mtime);
}

TEST(TransferPosixTest, ANewSubfolderLeavesItsUnchangedParentsTimeAlone) {
  PosixPair p;
  for (const std::string& root : {p.src_root, p.dst_root}) {
    fs::create_directories(root + "/a");
    std::ofstream(root + "/a/same") << "same";
    SetTimes(root + "/a/same", 1000000000);
  }
  fs::create_directories(p.src_root + "/a/new");
  std::ofstream(p.src_root + "/a/new/f") << "f";
  for (const std::string& root : {p.src_root, p.dst_root}) {
    SetTimes(root + "/a", 1200000000);
    SetTimes(root, 1300000000);
  }
  p.Open();
  auto run = RunTransfer(p.src.get(), p.dst.get(), Options());
  ASSERT_OK(run->finish);
  ASSERT_EQ(run->observer.results.count("a"), 0u) << "a was unchanged";
  auto src_a = p.src->Stat(P("a")).value();
  auto dst_a = p.dst->Stat(P("a")).value();
  EXPECT_EQ(dst_a->mtime, src_a->mtime)
      << "creating a/new changed a's mtime and it was not restored";
  EXPECT_EQ(testing::TreeSignature(p.dst.get()),
            testing::TreeSignature(p.src.get()));
}

TEST(TransferPosixTest, HolesStayHoles) {
  PosixPair p;
  {
    int fd = ::open((p.src_root + "/sparse").c_str(), O_WRONLY | O_CREAT, 0644);
    ASSERT_GE(fd, 0);
    const std::string data = RandomBytes(4096, 10);
    ASSERT_EQ(::pwrite(fd, data.data(), data.size(), 3 * kBlockSize),
              static_cast<ssize_t>(data.size()));
    ASSERT_EQ(::ftruncate(fd, 6 * kBlockSize), 0);
    ::close(fd);
  }
  p.Open();
  ASSERT_OK_AND_ASSIGN(auto src_entry, p.src->Stat(P("sparse")));
  if (!src_entry->MaybeSparse()) GTEST_SKIP() << "no holes on this file system";
  TransferOptions o = Options(2);
  o.chunk_size = 2 * kBlockSize;
  auto run = RunTransfer(p.src.get(), p.dst.get(), o);
  ASSERT_OK(run->finish);
  EXPECT_OK(run->observer.results.at("sparse").status);
  ASSERT_OK_AND_ASSIGN(auto dst_entry, p.dst->Stat(P("sparse")));
  EXPECT_EQ(dst_entry->size, 6 * kBlockSize);
  EXPECT_LT(dst_entry->allocated, 2 * kBlockSize) << "holes were filled";
  EXPECT_EQ(ReadFile(p.dst.get(), P("sparse")).value(),
            ReadFile(p.src.get(), P("sparse")).value());
  EXPECT_EQ(
      run->observer.results.at("sparse").digest,
      DigestOfBuffer(DigestAlgorithm::kXxh3_128,
                     AsBytes(ReadFile(p.src.get(), P("sparse")).value())));
}

TEST(TransferPosixTest, HardLinkedFilesStayLinked) {
  PosixPair p;
  std::ofstream(p.src_root + "/a") << "shared";
  ASSERT_EQ(::link((p.src_root + "/a").c_str(), (p.src_root + "/b").c_str()),
            0);
  std::ofstream(p.src_root + "/c") << "alone";
  p.Open();
  DiffOptions diff;
  diff.hard_links = true;
  auto run = RunTransfer(p.src.get(), p.dst.get(), Options(), diff);
  ASSERT_OK(run->finish);
  EXPECT_OK(run->observer.results.at("b").status);
  auto a = p.dst->Stat(P("a")).value();
  auto b = p.dst->Stat(P("b")).value();
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->ino, b->ino);
  EXPECT_EQ(a->nlink, 2u);
  EXPECT_EQ(ReadFile(p.dst.get(), P("b")).value(), "shared");
}

TEST(TransferPosixTest, HardLinksToALargeFileDoNotHoldEveryWorker) {
  // Two workers, a file of several chunks and two more names of it, in
  // folders of their own (so in batches of their own): each link waits for
  // the file, so the file's chunks must be queued before the links, or both
  // workers wait for chunks that nobody runs.
  PosixPair p;
  const std::string big = RandomBytes(3 * kBlockSize, 30);
  std::ofstream(p.src_root + "/a") << big;
  for (const char* dir : {"d1", "d2"}) {
    fs::create_directories(p.src_root + "/" + dir);
  }
  ASSERT_EQ(::link((p.src_root + "/a").c_str(), (p.src_root + "/d1/b").c_str()),
            0);
  ASSERT_EQ(::link((p.src_root + "/a").c_str(), (p.src_root + "/d2/c").c_str()),
            0);
  p.Open();
  DiffOptions diff;
  diff.hard_links = true;
  TransferOptions o = Options(2);
  o.chunk_size = kBlockSize;
  auto run = RunTransfer(p.src.get(), p.dst.get(), o, diff);
  ASSERT_OK(run->finish);
  for (const char* name : {"a", "d1/b", "d2/c"}) {
    EXPECT_OK(run->observer.results.at(name).status) << name;
  }
  auto a = p.dst->Stat(P("a")).value();
  auto c = p.dst->Stat(P("d2/c")).value();
  ASSERT_TRUE(a && c);
  EXPECT_EQ(a->ino, c->ino);
  EXPECT_EQ(a->nlink, 3u);
  EXPECT_TRUE(ReadFile(p.dst.get(), P("d2/c")).value() == big);
}

TEST(TransferPosixTest, AHardLinkWaitsForItsFirstNamesCommitUnderWay) {
  PosixPair p;
  for (int i = 0; i < 20; ++i) {
    const std::string name = p.src_root + "/f" + std::to_string(i);
    std::ofstream(name) << "content " << i;
    ASSERT_EQ(::link(name.c_str(), (name + "-link").c_str()), 0);
  }
  p.Open();
  FaultInjectingBackend faulty(std::move(p.dst), {});
  faulty.set_defer_commits(true);
  DiffOptions diff;
  diff.hard_links = true;
  // One worker: a link in the batch that holds its first name's commit
  // under way must not wait for a commit only that worker can finish.
  auto run = RunTransfer(p.src.get(), &faulty, Options(1), diff);
  ASSERT_OK(run->finish);
  for (int i = 0; i < 20; ++i) {
    const std::string name = "f" + std::to_string(i);
    EXPECT_OK(run->observer.results.at(name + "-link").status) << name;
    struct stat a, b;
    ASSERT_EQ(::stat((p.dst_root + "/" + name).c_str(), &a), 0);
    ASSERT_EQ(::stat((p.dst_root + "/" + name + "-link").c_str(), &b), 0);
    EXPECT_EQ(a.st_ino, b.st_ino) << name;
  }
}

}  // namespace
}  // namespace ferry
