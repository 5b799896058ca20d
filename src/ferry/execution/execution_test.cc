#include "ferry/execution/execution.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ferry/base/clock.h"
#include "ferry/diff/differ.h"
#include "ferry/storage/decorators/fault_injecting_backend.h"
#include "ferry/storage/object/memory_object_store.h"
#include "ferry/storage/object/object_backend.h"
#include "ferry/storage/testing.h"

namespace ferry {
namespace {

using testing::MemoryTree;
using testing::P;
using testing::TreeSignature;

struct Outcome {
  ExecutionResult result;
  nlohmann::json describe;
  std::vector<std::string> log;
  const CounterSnapshot& c() const { return result.counters; }
};

ExecutionConfig Config() {
  ExecutionConfig config;
  config.threads = 3;
  config.scan_threads = 2;
  return config;
}

Outcome RunSync(std::unique_ptr<Backend> src, std::unique_ptr<Backend> dst,
                const ExecutionConfig& config = Config()) {
  Outcome out;
  ExecutionLog log(LogLevel::kBasic);
  std::mutex mu;
  log.set_text_sink([&](std::string_view line) {
    std::lock_guard lock(mu);
    out.log.emplace_back(line);
  });
  Execution execution(std::move(src), std::move(dst), config, &log);
  out.result = execution.Run();
  out.describe = execution.Describe(out.result);
  EXPECT_EQ(execution.status(), out.result.status);
  return out;
}

Outcome RunSync(MemoryTree& src, MemoryTree& dst,
                const ExecutionConfig& config = Config()) {
  return RunSync(src.Open(), dst.Open(), config);
}

std::string Joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& l : lines) out += l + "\n";
  return out;
}

// 5 non-folders (1008 bytes) in 2 folders.
void BuildSource(MemoryTree* src) {
  src->Dir("d")
      .Dir("d/e")
      .File("a", "alpha")
      .File("d/b", "bbb")
      .File("d/e/c", std::string(1000, 'c'))
      .File("d/empty", "")
      .Link("l", "a");
}

TEST(ExecutionTest, TheFirstRunCopiesEverything) {
  MemoryTree src, dst;
  BuildSource(&src);
  Outcome run = RunSync(src, dst);
  ASSERT_EQ(run.result.status, ExecutionStatus::kSuccess)
      << run.result.error_code << ": " << run.result.error_detail << "\n"
      << Joined(run.log);
  EXPECT_EQ(TreeSignature(dst.backend()), TreeSignature(src.backend()));
  const CounterSnapshot& c = run.c();
  EXPECT_EQ(c.estimated_files_to_transfer, 5u);
  EXPECT_EQ(c.estimated_folders_to_transfer, 2u);
  EXPECT_EQ(c.estimated_bytes_to_transfer, 1008u);
  EXPECT_EQ(c.files_prepared, 5u);
  EXPECT_EQ(c.folders_prepared, 2u);
  EXPECT_EQ(c.files_transferred, 5u);
  EXPECT_EQ(c.folders_transferred, 2u);
  EXPECT_EQ(c.bytes_written, 1008u);
  EXPECT_EQ(c.bytes_transferred, 1008u);
  EXPECT_EQ(c.files_listed_at_source, 5u);
  EXPECT_EQ(c.folders_listed_at_source, 2u);
  EXPECT_EQ(c.files_verified, 5u);
  EXPECT_EQ(c.folders_verified, 2u);
  EXPECT_EQ(c.files_deleted, 0u);
  EXPECT_EQ(c.failures(), 0u);
  EXPECT_EQ(run.result.prepare_status, PhaseStatus::kSuccess);
  EXPECT_EQ(run.result.transfer_status, PhaseStatus::kSuccess);
  EXPECT_EQ(run.result.verify_status, PhaseStatus::kSuccess);
  EXPECT_EQ(run.result.error_code, "");
  EXPECT_GE(run.result.end_time_ns, run.result.start_time_ns);
  EXPECT_GE(run.result.launch_time_ns, run.result.start_time_ns);
}

TEST(ExecutionTest, TheRootsMetadataFollows) {
  MemoryTree src, dst;
  BuildSource(&src);
  src.Edit("", [](Entry& e) {
    e.mode = 0700;
    e.mtime = FileTime{1234567890, 42};
  });
  Outcome run = RunSync(src, dst);
  ASSERT_EQ(run.result.status, ExecutionStatus::kSuccess);
  auto root = dst.backend()->Stat(RelPath()).value();
  EXPECT_EQ(root->mode, 0700u);
  EXPECT_EQ(root->mtime, (FileTime{1234567890, 42}));
}

TEST(ExecutionTest, ASecondRunTransfersNothing) {
  MemoryTree src, dst;
  BuildSource(&src);
  ASSERT_EQ(RunSync(src, dst).result.status, ExecutionStatus::kSuccess);
  Outcome again = RunSync(src, dst);
  ASSERT_EQ(again.result.status, ExecutionStatus::kSuccess)
      << Joined(again.log);
  const CounterSnapshot& c = again.c();
  EXPECT_EQ(c.estimated_files_to_transfer, 0u);
  EXPECT_EQ(c.estimated_folders_to_transfer, 0u);
  EXPECT_EQ(c.estimated_bytes_to_transfer, 0u);
  EXPECT_EQ(c.files_transferred, 0u);
  EXPECT_EQ(c.folders_transferred, 0u);
  EXPECT_EQ(c.bytes_written, 0u);
  EXPECT_EQ(c.files_listed_at_source, 5u);
  // Point in time verifies everything, transferred or not.
  EXPECT_EQ(c.files_verified, 5u);
  EXPECT_EQ(c.folders_verified, 2u);
}

TEST(ExecutionTest, AChangeTransfersExactlyIt) {
  MemoryTree src, dst;
  BuildSource(&src);
  ASSERT_EQ(RunSync(src, dst).result.status, ExecutionStatus::kSuccess);
  src.File("d/b", "now longer");
  Outcome run = RunSync(src, dst);
  ASSERT_EQ(run.result.status, ExecutionStatus::kSuccess) << Joined(run.log);
  EXPECT_EQ(run.c().estimated_files_to_transfer, 1u);
  EXPECT_EQ(run.c().files_transferred, 1u);
  EXPECT_EQ(run.c().bytes_written, 10u);
  EXPECT_EQ(run.c().folders_transferred, 0u);
  EXPECT_EQ(dst.Content("d/b"), "now longer");
  EXPECT_EQ(TreeSignature(dst.backend()), TreeSignature(src.backend()));

  src.Edit("a", [](Entry& e) { e.mode = 0600; });
  Outcome meta = RunSync(src, dst);
  ASSERT_EQ(meta.result.status, ExecutionStatus::kSuccess);
  EXPECT_EQ(meta.c().files_transferred, 1u);
  EXPECT_EQ(meta.c().bytes_written, 0u) << "only metadata changed";
  EXPECT_EQ(meta.c().estimated_bytes_to_transfer, 0u);
  EXPECT_EQ(dst.backend()->Stat(P("a")).value()->mode, 0600u);
}

TEST(ExecutionTest, RemoveDeletesWhatTheSourceNoLongerHas) {
  for (bool remove : {false, true}) {
    SCOPED_TRACE(remove ? "REMOVE" : "PRESERVE");
    MemoryTree src, dst;
    BuildSource(&src);
    ASSERT_EQ(RunSync(src, dst).result.status, ExecutionStatus::kSuccess);
    dst.File("extra", "x")
        .Dir("old")
        .File("old/y", "y")
        .Dir("old/z")
        .File("old/z/w", "w");
    ExecutionConfig config = Config();
    if (remove) {
      ASSERT_OK(config.options.Set("PreserveDeletedFiles", "REMOVE"));
    }
    Outcome run = RunSync(src, dst, config);
    ASSERT_EQ(run.result.status, ExecutionStatus::kSuccess) << Joined(run.log);
    const CounterSnapshot& c = run.c();
    if (remove) {
      EXPECT_EQ(c.estimated_files_to_delete, 3u);
      EXPECT_EQ(c.estimated_folders_to_delete, 2u);
      EXPECT_EQ(c.files_deleted, 3u);
      EXPECT_EQ(c.folders_deleted, 2u);
      EXPECT_EQ(c.files_listed_at_destination_for_delete, 8u);
      EXPECT_EQ(c.folders_listed_at_destination_for_delete, 4u);
      EXPECT_EQ(TreeSignature(dst.backend()), TreeSignature(src.backend()));
    } else {
      EXPECT_EQ(c.files_deleted + c.folders_deleted, 0u);
      EXPECT_EQ(dst.Content("old/z/w"), "w");
      EXPECT_EQ(dst.Content("extra"), "x");
    }
  }
}

TEST(ExecutionTest, OnlyFilesTransferredVerifiesWhatMoved) {
  MemoryTree src, dst;
  BuildSource(&src);
  ASSERT_EQ(RunSync(src, dst).result.status, ExecutionStatus::kSuccess);
  src.File("a", "changed!");
  ExecutionConfig config = Config();
  ASSERT_OK(config.options.Set("VerifyMode", "ONLY_FILES_TRANSFERRED"));
  Outcome run = RunSync(src, dst, config);
  ASSERT_EQ(run.result.status, ExecutionStatus::kSuccess) << Joined(run.log);
  EXPECT_EQ(run.c().files_transferred, 1u);
  EXPECT_EQ(run.c().files_verified, 1u);
  EXPECT_EQ(run.c().folders_verified, 0u);
  EXPECT_EQ(run.result.verify_status, PhaseStatus::kSuccess);
}

TEST(ExecutionTest, VerifyModeNoneVerifiesNothing) {
  MemoryTree src, dst;
  BuildSource(&src);
  ExecutionConfig config = Config();
  ASSERT_OK(config.options.Set("VerifyMode", "NONE"));
  Outcome run = RunSync(src, dst, config);
  ASSERT_EQ(run.result.status, ExecutionStatus::kSuccess);
  EXPECT_EQ(run.c().files_transferred, 5u);
  EXPECT_EQ(run.c().files_verified + run.c().folders_verified, 0u);
}

TEST(ExecutionTest, InvalidOptionsFailBeforeAnythingMoves) {
  MemoryTree src, dst;
  BuildSource(&src);
  ExecutionConfig config = Config();
  ASSERT_OK(config.options.SetFromShorthand(
      "TransferMode=ALL,PreserveDeletedFiles=REMOVE"));
  Outcome run = RunSync(src, dst, config);
  EXPECT_EQ(run.result.status, ExecutionStatus::kError);
  EXPECT_EQ(run.result.error_code, "InvalidRequestException");
  EXPECT_EQ(run.result.error_detail,
            "Invalid SyncOption value. Option: "
            "TransferMode,PreserveDeletedFiles, Value: ALL,REMOVE.");
  EXPECT_EQ(run.result.prepare_status, PhaseStatus::kError);
  EXPECT_EQ(run.result.transfer_status, PhaseStatus::kPending);
  ASSERT_OK_AND_ASSIGN(auto names,
                       testing::ListNames(dst.backend(), RelPath()));
  EXPECT_TRUE(names.empty());
}

TEST(ExecutionTest, AnInvalidFilterFailsBeforeAnythingMoves) {
  MemoryTree src, dst;
  BuildSource(&src);
  ExecutionConfig config = Config();
  config.includes = "*.txt";
  Outcome run = RunSync(src, dst, config);
  EXPECT_EQ(run.result.status, ExecutionStatus::kError);
  EXPECT_EQ(run.result.error_code, "InvalidRequestException");
  EXPECT_NE(run.result.error_detail.find("*.txt"), std::string::npos);
  EXPECT_EQ(run.c().files_transferred, 0u);
  EXPECT_TRUE(testing::ListNames(dst.backend(), RelPath()).value().empty());
}

TEST(ExecutionTest, ExcludedItemsAreNeitherCopiedNorDeleted) {
  MemoryTree src, dst;
  BuildSource(&src);
  src.File("skip/new", "not copied");
  dst.File("skip/old", "not deleted");
  ExecutionConfig config = Config();
  config.excludes = "/skip|*/c";
  ASSERT_OK(config.options.Set("PreserveDeletedFiles", "REMOVE"));
  Outcome run = RunSync(src, dst, config);
  ASSERT_EQ(run.result.status, ExecutionStatus::kSuccess) << Joined(run.log);
  EXPECT_EQ(run.c().files_transferred, 4u);
  EXPECT_EQ(run.c().files_deleted, 0u);
  EXPECT_FALSE(dst.Content("skip/new").has_value());
  EXPECT_FALSE(dst.Content("d/e/c").has_value());
  EXPECT_EQ(dst.Content("skip/old"), "not deleted");
}

TEST(ExecutionTest, AnUnreadableFileFailsAloneAndStopsDeletes) {
  MemoryTree src, dst;
  BuildSource(&src);
  dst.File("extra", "kept: deletes wait for a clean run");
  ExecutionConfig config = Config();
  ASSERT_OK(config.options.SetFromShorthand(
      "VerifyMode=NONE,PreserveDeletedFiles=REMOVE"));
  auto faulty = std::make_unique<FaultInjectingBackend>(
      src.Open(), std::vector<FaultRule>{{FaultOp::kOpenRead, "d/b",
                                          Status::IoError("bad sector")}});
  Outcome run = RunSync(std::move(faulty), dst.Open(), config);
  EXPECT_EQ(run.result.status, ExecutionStatus::kError);
  EXPECT_EQ(run.result.error_code, "FilesSkippedDueToErrors");
  EXPECT_EQ(run.result.transfer_status, PhaseStatus::kError);
  EXPECT_EQ(run.c().files_failed_transfer, 1u);
  EXPECT_EQ(run.c().files_transferred, 4u);
  EXPECT_EQ(run.c().files_deleted, 0u);
  EXPECT_EQ(dst.Content("extra"), "kept: deletes wait for a clean run");
  EXPECT_FALSE(dst.Content("d/b").has_value());
  EXPECT_EQ(dst.Content("d/e/c"), std::string(1000, 'c'));
  EXPECT_NE(Joined(run.log).find("bad sector"), std::string::npos)
      << Joined(run.log);
}

TEST(ExecutionTest, NothingIsDeletedBeneathAFolderThatCouldNotBeListed) {
  MemoryTree src, dst;
  BuildSource(&src);
  ASSERT_EQ(RunSync(src, dst).result.status, ExecutionStatus::kSuccess);
  ExecutionConfig config = Config();
  ASSERT_OK(config.options.Set("PreserveDeletedFiles", "REMOVE"));
  auto faulty = std::make_unique<FaultInjectingBackend>(
      src.Open(), std::vector<FaultRule>{
                      {FaultOp::kList, "d", Status::IoError("no access")}});
  Outcome run = RunSync(std::move(faulty), dst.Open(), config);
  EXPECT_EQ(run.result.status, ExecutionStatus::kError);
  EXPECT_EQ(run.c().folders_failed_list, 1u);
  EXPECT_EQ(run.c().files_deleted + run.c().folders_deleted, 0u);
  EXPECT_EQ(dst.Content("d/b"), "bbb");
  EXPECT_EQ(dst.Content("d/e/c"), std::string(1000, 'c'));
}

TEST(ExecutionTest, OverwriteNeverKeepsChangedDestinationFiles) {
  MemoryTree src, dst;
  BuildSource(&src);
  ASSERT_EQ(RunSync(src, dst).result.status, ExecutionStatus::kSuccess);
  dst.File("a", "edited at the destination");
  ExecutionConfig config = Config();
  ASSERT_OK(
      config.options.SetFromShorthand("OverwriteMode=NEVER,VerifyMode=NONE"));
  Outcome run = RunSync(src, dst, config);
  ASSERT_EQ(run.result.status, ExecutionStatus::kSuccess);
  EXPECT_EQ(run.c().files_skipped, 1u);
  EXPECT_EQ(run.c().files_transferred, 0u);
  EXPECT_EQ(dst.Content("a"), "edited at the destination");
}

TEST(ExecutionTest, TransferModeAllCopiesEverythingAgain) {
  MemoryTree src, dst;
  BuildSource(&src);
  ASSERT_EQ(RunSync(src, dst).result.status, ExecutionStatus::kSuccess);
  ExecutionConfig config = Config();
  ASSERT_OK(config.options.Set("TransferMode", "ALL"));
  Outcome run = RunSync(src, dst, config);
  ASSERT_EQ(run.result.status, ExecutionStatus::kSuccess) << Joined(run.log);
  EXPECT_EQ(run.c().files_transferred, 5u);
  EXPECT_EQ(run.c().bytes_written, 1008u);
  EXPECT_EQ(TreeSignature(dst.backend()), TreeSignature(src.backend()));
}

TEST(ExecutionTest, FilesThatKeepChangingAreReported) {
  MemoryTree src, dst;
  BuildSource(&src);
  auto faulty = std::make_unique<FaultInjectingBackend>(
      src.Open(),
      std::vector<FaultRule>{{FaultOp::kChangeWhileRead, "d/b", Status()}});
  ExecutionConfig config = Config();
  ASSERT_OK(config.options.Set("VerifyMode", "NONE"));
  Outcome run = RunSync(std::move(faulty), dst.Open(), config);
  EXPECT_EQ(run.result.changed_file_count, 1u);
  EXPECT_EQ(run.result.changed_files, std::vector<std::string>{"/d/b"});
  EXPECT_EQ(dst.Content("d/b"), "bbb");
  EXPECT_NE(Joined(run.log).find("/d/b"), std::string::npos);
}

TEST(ExecutionTest, AnUnreadableSourceRootIsASourceLocationError) {
  MemoryTree src, dst;
  BuildSource(&src);
  auto faulty = std::make_unique<FaultInjectingBackend>(
      src.Open(), std::vector<FaultRule>{
                      {FaultOp::kStat, "", Status::IoError("unmounted")}});
  Outcome run = RunSync(std::move(faulty), dst.Open());
  EXPECT_EQ(run.result.status, ExecutionStatus::kError);
  EXPECT_EQ(run.result.error_code, "SourceLocationError");
  EXPECT_NE(run.result.error_detail.find("unmounted"), std::string::npos);
  EXPECT_TRUE(testing::ListNames(dst.backend(), RelPath()).value().empty());
}

// A point an operation stops at until the test lets it go on: the hook of
// a FaultRule. The test waits for reached(), looks, then calls Release().
class Pause {
 public:
  std::function<void()> Hook() {
    return [this] {
      reached_.set_value();
      release_.wait();
    };
  }
  // False if the operation never got there (within 30 s of real time).
  bool AwaitReached() {
    return reached_future_.wait_for(std::chrono::seconds(30)) ==
           std::future_status::ready;
  }
  void Release() {
    if (!released_.exchange(true)) release_promise_.set_value();
  }
  ~Pause() { Release(); }

 private:
  std::promise<void> reached_;
  std::future<void> reached_future_ = reached_.get_future();
  std::promise<void> release_promise_;
  std::shared_future<void> release_ = release_promise_.get_future().share();
  std::atomic<bool> released_{false};
};

// Runs `execution` on its own thread (Run blocks, as on the planner thread).
class Runner {
 public:
  explicit Runner(Execution* execution)
      : thread_([this, execution] { result_ = execution->Run(); }) {}
  ExecutionResult Join() {
    thread_.join();
    return result_;
  }

 private:
  ExecutionResult result_;
  std::jthread thread_;
};

TEST(ExecutionTest, CancelStopsARunningExecution) {
  MemoryTree src, dst;
  src.File("big", testing::RandomBytes(8 * kBlockSize, 1));
  ExecutionConfig config = Config();
  ManualClock clock;  // stands still: the limiter waits until cancelled
  config.clock = &clock;
  ASSERT_OK(config.options.Set("BytesPerSecond", std::to_string(kBlockSize)));
  ExecutionLog log(LogLevel::kOff);
  Execution execution(src.Open(), dst.Open(), config, &log);
  Runner runner(&execution);
  const bool waiting = clock.AwaitSleepers(1);
  execution.Cancel();
  ExecutionResult result = runner.Join();
  ASSERT_TRUE(waiting) << "the transfer never waited on the rate limiter";
  EXPECT_EQ(result.status, ExecutionStatus::kError);
  EXPECT_EQ(result.error_code, "OperationCanceled");
  EXPECT_EQ(result.transfer_status, PhaseStatus::kError);
  EXPECT_FALSE(dst.Content("big").has_value())
      << "a file in flight was committed";
}

TEST(ExecutionTest, TheBandwidthLimitChangesWhileRunning) {
  MemoryTree src, dst;
  src.File("big", testing::RandomBytes(8 * kBlockSize, 2));
  ExecutionConfig config = Config();
  ManualClock clock;  // stands still: only the new limit can end the wait
  config.clock = &clock;
  ASSERT_OK(config.options.Set("BytesPerSecond", std::to_string(kBlockSize)));
  ExecutionLog log(LogLevel::kOff);
  Execution execution(src.Open(), dst.Open(), config, &log);
  EXPECT_EQ(execution.bytes_per_second(), static_cast<int64_t>(kBlockSize));
  const Clock::time_point start = clock.Now();
  Runner runner(&execution);
  const bool waiting = clock.AwaitSleepers(1);
  execution.SetBytesPerSecond(-1);
  ExecutionResult result = runner.Join();
  ASSERT_TRUE(waiting) << "the transfer never waited on the rate limiter";
  EXPECT_EQ(result.status, ExecutionStatus::kSuccess) << result.error_detail;
  EXPECT_EQ(clock.Now(), start) << "no time passed: the new limit let it go";
  EXPECT_EQ(dst.Content("big"), src.Content("big"));
  EXPECT_EQ(execution.Describe(result)["Options"]["BytesPerSecond"], -1);
}

TEST(ExecutionTest, ALowerLimitSlowsARunningExecution) {
  MemoryTree src, dst;
  src.File("big", testing::RandomBytes(4 * kBlockSize, 3));
  ExecutionConfig config = Config();
  ManualClock clock;
  clock.set_auto_advance(true);  // simulated time: waits end at once
  config.clock = &clock;
  ExecutionLog log(LogLevel::kOff);
  Execution execution(src.Open(), dst.Open(), config, &log);
  execution.SetBytesPerSecond(
      static_cast<int64_t>(2 * kBlockSize));  // before Run: 4 MiB take ~2 s
  const Clock::time_point start = clock.Now();
  ExecutionResult result = execution.Run();
  EXPECT_EQ(result.status, ExecutionStatus::kSuccess) << result.error_detail;
  // 4 MiB at 2 MiB/s, less the limiter's burst of 0.1 s.
  EXPECT_GE(clock.Now() - start, std::chrono::milliseconds(1890));
  EXPECT_GE(result.total_ms, 1890);
  EXPECT_GE(result.transfer_ms, 1890);
  EXPECT_EQ(execution.Describe(result)["Options"]["BytesPerSecond"],
            2 * kBlockSize);
}

// Every way Run can end early goes through the one exit: the result has its
// end time, its total duration and a final status, like a full run. (The
// report-folder exit once returned without setting TotalDuration.) The
// clock ticks on every reading, so a duration that was never measured reads
// 0 while a measured one cannot.
TEST(ExecutionTest, EveryEarlyExitIsFinishedTheSameWay) {
  testing::TempDir tmp;
  std::ofstream(tmp.Sub("not-a-folder")) << "x";
  struct Case {
    const char* name;
    std::string code;
    std::function<void(ExecutionConfig*)> configure;
    std::vector<FaultRule> src_faults;
    std::vector<FaultRule> dst_faults;
  };
  const std::vector<Case> cases = {
      {"invalid options", "InvalidRequestException",
       [](ExecutionConfig* c) {
         ASSERT_OK(c->options.SetFromShorthand(
             "TransferMode=ALL,PreserveDeletedFiles=REMOVE"));
       }},
      {"invalid filter", "InvalidRequestException",
       [](ExecutionConfig* c) { c->includes = "*.txt"; }},
      {"manifest with a filter", "InvalidRequestException",
       [](ExecutionConfig* c) {
         c->manifest = std::make_shared<std::vector<RelPath>>(
             std::vector<RelPath>{P("a")});
         c->excludes = "/d";
       }},
      {"bad report folder", "TaskReportError",
       [&](ExecutionConfig* c) {
         c->report = TaskReportConfig{tmp.Sub("not-a-folder/reports")};
       }},
      {"unreadable source",
       "SourceLocationError",
       [&](ExecutionConfig* c) {
         c->report = TaskReportConfig{tmp.Sub("reports-src")};
       },
       {{FaultOp::kStat, "", Status::IoError("unmounted")}}},
      {"unreadable destination",
       "DestinationLocationError",
       [&](ExecutionConfig* c) {
         c->report = TaskReportConfig{tmp.Sub("reports-dst")};
       },
       {},
       {{FaultOp::kStat, "", Status::IoError("unmounted")}}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    MemoryTree src, dst;
    BuildSource(&src);
    ExecutionConfig config = Config();
    ManualClock clock;
    clock.set_tick(std::chrono::milliseconds(1));
    config.clock = &clock;
    c.configure(&config);
    std::vector<std::string> lines;
    ExecutionLog log(LogLevel::kBasic);
    log.set_text_sink([&](std::string_view line) { lines.emplace_back(line); });
    Execution execution(
        std::make_unique<FaultInjectingBackend>(src.Open(), c.src_faults),
        std::make_unique<FaultInjectingBackend>(dst.Open(), c.dst_faults),
        config, &log);
    ExecutionResult r = execution.Run();
    EXPECT_EQ(r.status, ExecutionStatus::kError);
    EXPECT_EQ(execution.status(), ExecutionStatus::kError);
    EXPECT_EQ(r.error_code, c.code) << r.error_detail;
    EXPECT_EQ(r.prepare_status, PhaseStatus::kError);
    EXPECT_EQ(r.transfer_status, PhaseStatus::kPending);
    EXPECT_EQ(r.verify_status, PhaseStatus::kPending);
    EXPECT_GT(r.start_time_ns, 0);
    EXPECT_GE(r.launch_time_ns, r.start_time_ns);
    EXPECT_GE(r.end_time_ns, r.launch_time_ns);
    EXPECT_GT(r.total_ms, 0) << "TotalDuration was never measured";
    nlohmann::json d = execution.Describe(r);
    EXPECT_TRUE(d.contains("EndTime"));
    EXPECT_EQ(d["Result"]["TotalDuration"], r.total_ms);
    EXPECT_EQ(d["Result"]["ErrorCode"], c.code);
    EXPECT_NE(Joined(lines).find(" finished: ERROR"), std::string::npos)
        << Joined(lines);
    if (config.report && c.code != "TaskReportError") {
      // Once the report was opened, it is finished too, with the error.
      EXPECT_EQ(r.report_status, "SUCCESS") << r.report_error;
      ASSERT_FALSE(r.report_folder.empty());
      const std::string id = execution.execution_arn().substr(
          execution.execution_arn().rfind('/') + 1);
      std::ifstream in(r.report_folder + "/" + id + ".summary-v1.json");
      ASSERT_TRUE(in.good());
      EXPECT_EQ(nlohmann::json::parse(in)["Result"]["ErrorCode"], c.code);
    }
    EXPECT_TRUE(testing::ListNames(dst.backend(), RelPath()).value().empty());
  }
}

TEST(ExecutionTest, APreparationThatFailsFailsTheTransferItCutShort) {
  MemoryTree src, dst;
  BuildSource(&src);
  // The root can be looked at but not listed: the comparison cannot go on.
  Outcome out = RunSync(
      std::make_unique<FaultInjectingBackend>(
          src.Open(), std::vector<FaultRule>{{FaultOp::kList, "",
                                              Status::IoError("gone")}}),
      dst.Open());
  const ExecutionResult& r = out.result;
  EXPECT_EQ(r.status, ExecutionStatus::kError);
  EXPECT_EQ(r.error_code, "PrepareError") << r.error_detail;
  EXPECT_EQ(r.prepare_status, PhaseStatus::kError);
  EXPECT_EQ(r.transfer_status, PhaseStatus::kError);
  EXPECT_EQ(r.verify_status, PhaseStatus::kPending);
}

TEST(ExecutionTest, CancelAfterTheEndChangesNothing) {
  MemoryTree src, dst;
  BuildSource(&src);
  ExecutionLog log(LogLevel::kOff);
  Execution execution(src.Open(), dst.Open(), Config(), &log);
  ExecutionResult result = execution.Run();
  ASSERT_EQ(result.status, ExecutionStatus::kSuccess);
  execution.Cancel();
  EXPECT_EQ(execution.status(), ExecutionStatus::kSuccess);
  EXPECT_EQ(execution.Describe(result)["Status"], "SUCCESS");
}

TEST(ExecutionTest, AFailedExecutionStaysFailedWhenCancelled) {
  MemoryTree src, dst;
  ExecutionConfig config = Config();
  config.includes = "*.txt";  // invalid
  ExecutionLog log(LogLevel::kOff);
  Execution execution(src.Open(), dst.Open(), config, &log);
  ASSERT_EQ(execution.Run().error_code, "InvalidRequestException");
  execution.Cancel();
  EXPECT_EQ(execution.status(), ExecutionStatus::kError);
}

TEST(ExecutionTest, CancelBeforeRunEndsItCancelled) {
  MemoryTree src, dst;
  BuildSource(&src);
  ExecutionLog log(LogLevel::kOff);
  Execution execution(src.Open(), dst.Open(), Config(), &log);
  execution.Cancel();
  EXPECT_EQ(execution.status(), ExecutionStatus::kCancelling);
  ExecutionResult result = execution.Run();
  EXPECT_EQ(result.status, ExecutionStatus::kError);
  EXPECT_EQ(result.error_code, "OperationCanceled");
  EXPECT_EQ(execution.status(), ExecutionStatus::kError);
  EXPECT_FALSE(dst.Content("a").has_value());
}

// Cancel while each phase is under way, paused at an operation only that
// phase performs: the status is the phase's, then CANCELLING at once (and
// stays so: the phase's own status changes may not overwrite it), then
// ERROR OperationCanceled when Run returns.
TEST(ExecutionTest, CancelDuringEachPhaseEndsCancellingThenError) {
  struct Case {
    const char* phase;
    ExecutionStatus during;
    bool on_source;  // the paused operation is at the source
    FaultOp op;
    const char* path;
  };
  const Case cases[] = {
      // Listing the source root: nothing is planned yet.
      {"prepare", ExecutionStatus::kPreparing, true, FaultOp::kList, ""},
      // Reading the file to copy.
      {"transfer", ExecutionStatus::kTransferring, true, FaultOp::kRead, "big"},
      // Deleting what the source no longer has.
      {"delete", ExecutionStatus::kTransferring, false, FaultOp::kRemove,
       "extra1"},
      // Reading the destination's copy back: only verification does that.
      {"verify", ExecutionStatus::kVerifying, false, FaultOp::kRead, "big"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.phase);
    MemoryTree src, dst;
    src.File("big", testing::RandomBytes(3 * kBlockSize, 7)).File("small", "s");
    dst.File("extra1", "1").File("extra2", "2");
    ExecutionConfig config = Config();
    ASSERT_OK(config.options.Set("PreserveDeletedFiles", "REMOVE"));
    Pause pause;
    std::vector<FaultRule> rules = {
        {c.op, c.path, Status::Ok(), /*times=*/1, pause.Hook()}};
    ExecutionLog log(LogLevel::kOff);
    Execution execution(
        std::make_unique<FaultInjectingBackend>(
            src.Open(), c.on_source ? rules : std::vector<FaultRule>{}),
        std::make_unique<FaultInjectingBackend>(
            dst.Open(), c.on_source ? std::vector<FaultRule>{} : rules),
        config, &log);
    Runner runner(&execution);
    const bool reached = pause.AwaitReached();
    const ExecutionStatus during = execution.status();
    execution.Cancel();
    const ExecutionStatus after_cancel = execution.status();
    pause.Release();
    ExecutionResult result = runner.Join();
    ASSERT_TRUE(reached) << "the run never reached the paused operation";
    EXPECT_EQ(ExecutionStatusName(during), ExecutionStatusName(c.during));
    EXPECT_EQ(after_cancel, ExecutionStatus::kCancelling);
    EXPECT_EQ(result.status, ExecutionStatus::kError);
    EXPECT_EQ(result.error_code, "OperationCanceled") << result.error_detail;
    EXPECT_EQ(execution.status(), ExecutionStatus::kError);
    // Nothing after the pause was done: no deletes after the paused one
    // (nor at all when cancelled before them), and a transfer paused
    // mid-file committed nothing.
    const std::string_view phase = c.phase;
    if (phase != "verify") {
      EXPECT_EQ(dst.Content("extra2"), "2");
    }
    if (phase == "prepare" || phase == "transfer") {
      EXPECT_FALSE(dst.Content("big").has_value());
    }
    // The phase that was running fails; one that had ended keeps its
    // status, one that never started stays PENDING. (Whether the listing
    // had ended when the transfer was paused is a race.)
    const PhaseStatus want_prepare =
        phase == "prepare" ? PhaseStatus::kError : PhaseStatus::kSuccess;
    if (phase != "transfer") {
      EXPECT_EQ(PhaseStatusName(result.prepare_status),
                PhaseStatusName(want_prepare));
    }
    EXPECT_EQ(PhaseStatusName(result.transfer_status),
              PhaseStatusName(phase == "verify" ? PhaseStatus::kSuccess
                                                : PhaseStatus::kError));
    EXPECT_EQ(PhaseStatusName(result.verify_status),
              PhaseStatusName(phase == "verify" ? PhaseStatus::kError
                                                : PhaseStatus::kPending));
  }
}

// Polls `done` until it holds; false if it did not within 30 s.
bool Eventually(const std::function<bool()>& done) {
  const auto until =
      std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

std::unique_ptr<Backend> Faulty(std::unique_ptr<Backend> inner, FaultOp op,
                                const std::string& path, Pause* pause) {
  return std::make_unique<FaultInjectingBackend>(
      std::move(inner), std::vector<FaultRule>{{op, path, Status::Ok(),
                                                /*times=*/1, pause->Hook()}});
}

// Until the transfer starts on a first item the execution is PREPARING,
// with every phase PENDING and nothing estimated yet. Once Run has
// returned, LiveResult is its result.
TEST(ExecutionTest, PreparingLastsUntilTheTransferStarts) {
  MemoryTree src, dst;
  BuildSource(&src);
  Pause listing;  // the source root's listing
  ExecutionLog log(LogLevel::kOff);
  Execution execution(Faulty(src.Open(), FaultOp::kList, "", &listing),
                      dst.Open(), Config(), &log);
  Runner runner(&execution);
  const bool reached = listing.AwaitReached();
  const ExecutionResult live = execution.LiveResult();
  listing.Release();
  const ExecutionResult result = runner.Join();
  ASSERT_TRUE(reached) << "the source root was never listed";
  EXPECT_EQ(ExecutionStatusName(live.status), "PREPARING");
  EXPECT_EQ(live.prepare_status, PhaseStatus::kPending);
  EXPECT_EQ(live.transfer_status, PhaseStatus::kPending);
  EXPECT_EQ(live.verify_status, PhaseStatus::kPending);
  EXPECT_EQ(live.prepare_ms, 0);
  EXPECT_EQ(live.counters.estimated_files_to_transfer, 0u);
  EXPECT_EQ(live.counters.files_transferred, 0u);
  EXPECT_GT(live.start_time_ns, 0);
  ASSERT_EQ(result.status, ExecutionStatus::kSuccess) << result.error_detail;

  const ExecutionResult after = execution.LiveResult();
  EXPECT_EQ(after.status, result.status);
  EXPECT_EQ(after.prepare_status, result.prepare_status);
  EXPECT_EQ(after.transfer_status, result.transfer_status);
  EXPECT_EQ(after.verify_status, result.verify_status);
  EXPECT_EQ(after.prepare_ms, result.prepare_ms);
  EXPECT_EQ(after.transfer_ms, result.transfer_ms);
  EXPECT_EQ(after.verify_ms, result.verify_ms);
  EXPECT_EQ(after.total_ms, result.total_ms);
  EXPECT_EQ(after.counters.files_transferred,
            result.counters.files_transferred);
}

// While the listing runs, the estimates grow with what it has found so far
// (the comparison hands on a window of items at a time).
TEST(ExecutionTest, EstimatesGrowWhileTheListingRuns) {
  MemoryTree src, dst;
  const size_t files = Differ::kWindowItems + 100;
  for (size_t i = 0; i < files; ++i) {
    char name[16];
    std::snprintf(name, sizeof(name), "f%05zu", i);
    src.store()->PutFile(name, "x", 0644);  // stamped with z, all at once
  }
  src.Dir("z").File("z/c", "ccc").File("z/d", "dddd");
  Pause listing;  // z's listing: a window of the files before it is planned
  ExecutionLog log(LogLevel::kOff);
  Execution execution(Faulty(src.Open(), FaultOp::kList, "z", &listing),
                      dst.Open(), Config(), &log);
  Runner runner(&execution);
  const bool reached = listing.AwaitReached();
  ExecutionResult growing;
  // The counters are each exact but not read as one: a snapshot taken while
  // the planner counts an item may show it in one and not yet the other.
  // The planner stops at z's listing, so the counters come to agree.
  const bool planned =
      reached && Eventually([&] {
        growing = execution.LiveResult();
        return growing.counters.estimated_files_to_transfer > 0 &&
               growing.counters.files_prepared ==
                   growing.counters.estimated_files_to_transfer;
      });
  listing.Release();
  const ExecutionResult result = runner.Join();
  ASSERT_TRUE(reached) << "z was never listed";
  ASSERT_TRUE(planned) << "nothing was planned while z's listing waited";
  ASSERT_EQ(result.status, ExecutionStatus::kSuccess) << result.error_detail;
  EXPECT_EQ(growing.prepare_status, PhaseStatus::kPending);
  EXPECT_EQ(result.prepare_status, PhaseStatus::kSuccess);
  EXPECT_EQ(result.counters.estimated_files_to_transfer, files + 2);
  EXPECT_EQ(result.counters.estimated_bytes_to_transfer, files + 7);
  EXPECT_EQ(result.counters.files_prepared, files + 2);
  EXPECT_LT(growing.counters.estimated_files_to_transfer, files);
  EXPECT_LT(growing.counters.estimated_bytes_to_transfer, files);
  EXPECT_EQ(growing.counters.files_prepared,
            growing.counters.estimated_files_to_transfer);
}

// PrepareStatus turns SUCCESS the moment the listing and comparison end,
// while the transfer they overlap goes on, and the estimates are final from
// then on; TransferStatus follows when the transfer ends, before
// verification; VerifyStatus at the end.
TEST(ExecutionTest, EachPhaseShowsItsEndAsItEnds) {
  MemoryTree src, dst;
  BuildSource(&src);
  src.File("big", testing::RandomBytes(3 * kBlockSize, 11));
  Pause reading;    // the transfer's read of big
  Pause verifying;  // verification's read of the copy
  ExecutionLog log(LogLevel::kOff);
  Execution execution(Faulty(src.Open(), FaultOp::kRead, "big", &reading),
                      Faulty(dst.Open(), FaultOp::kRead, "big", &verifying),
                      Config(), &log);
  Runner runner(&execution);
  const bool read_reached = reading.AwaitReached();
  // The transfer is held on big; the listing of the rest ends meanwhile.
  ExecutionResult prepared;
  const bool prepare_ended =
      read_reached && Eventually([&] {
        prepared = execution.LiveResult();
        return prepared.prepare_status != PhaseStatus::kPending;
      });
  const nlohmann::json prepared_describe = execution.Describe(prepared);
  reading.Release();
  const bool verify_reached = verifying.AwaitReached();
  const ExecutionResult transferred = execution.LiveResult();
  verifying.Release();
  const ExecutionResult result = runner.Join();
  ASSERT_TRUE(read_reached) << "big was never read";
  ASSERT_TRUE(prepare_ended) << "PrepareStatus stayed PENDING";
  ASSERT_TRUE(verify_reached) << "the copy was never verified";
  ASSERT_EQ(result.status, ExecutionStatus::kSuccess) << result.error_detail;

  EXPECT_EQ(prepared.prepare_status, PhaseStatus::kSuccess);
  EXPECT_EQ(ExecutionStatusName(prepared.status), "TRANSFERRING");
  EXPECT_EQ(prepared.transfer_status, PhaseStatus::kPending);
  EXPECT_EQ(prepared.verify_status, PhaseStatus::kPending);
  EXPECT_EQ(prepared.transfer_ms, 0);
  EXPECT_EQ(prepared.prepare_ms, result.prepare_ms);
  EXPECT_LT(prepared.counters.files_transferred,
            result.counters.files_transferred)
      << "big is still being read";
  const CounterSnapshot& p = prepared.counters;
  const CounterSnapshot& f = result.counters;
  EXPECT_EQ(f.estimated_files_to_transfer, 6u);
  EXPECT_EQ(p.estimated_files_to_transfer, f.estimated_files_to_transfer);
  EXPECT_EQ(p.estimated_bytes_to_transfer, f.estimated_bytes_to_transfer);
  EXPECT_EQ(p.estimated_folders_to_transfer, f.estimated_folders_to_transfer);
  EXPECT_EQ(p.files_prepared, f.files_prepared);
  EXPECT_EQ(p.folders_prepared, f.folders_prepared);
  EXPECT_EQ(p.files_listed_at_source, f.files_listed_at_source);
  EXPECT_EQ(p.folders_listed_at_source, f.folders_listed_at_source);
  const nlohmann::json& r = prepared_describe["Result"];
  EXPECT_EQ(r["PrepareStatus"], "SUCCESS");
  EXPECT_EQ(r["TransferStatus"], "PENDING");
  EXPECT_EQ(r["PrepareDuration"], result.prepare_ms);
  EXPECT_FALSE(r.contains("ErrorCode"));
  EXPECT_FALSE(prepared_describe.contains("EndTime"));

  EXPECT_EQ(ExecutionStatusName(transferred.status), "VERIFYING");
  EXPECT_EQ(transferred.prepare_status, PhaseStatus::kSuccess);
  EXPECT_EQ(transferred.transfer_status, PhaseStatus::kSuccess);
  EXPECT_EQ(transferred.verify_status, PhaseStatus::kPending);
  EXPECT_EQ(transferred.transfer_ms, result.transfer_ms);
  EXPECT_EQ(transferred.verify_ms, 0);
  EXPECT_EQ(transferred.counters.files_transferred, 6u);

  EXPECT_EQ(result.prepare_status, PhaseStatus::kSuccess);
  EXPECT_EQ(result.transfer_status, PhaseStatus::kSuccess);
  EXPECT_EQ(result.verify_status, PhaseStatus::kSuccess);
}

TEST(ExecutionTest, RetryableFailuresAreRetriedLoggedAndCounted) {
  MemoryTree src, dst;
  BuildSource(&src);
  ExecutionConfig config = Config();
  ManualClock clock;
  clock.set_auto_advance(true);  // backoff sleeps end at once
  config.clock = &clock;
  const Status blip(StatusCode::kUnavailable, "connection reset", 0,
                    /*retryable=*/true);
  auto faulty = std::make_unique<FaultInjectingBackend>(
      src.Open(),
      std::vector<FaultRule>{{FaultOp::kRead, "d/b", blip, /*times=*/2}});
  Outcome run = RunSync(std::move(faulty), dst.Open(), config);
  ASSERT_EQ(run.result.status, ExecutionStatus::kSuccess)
      << run.result.error_detail << "\n"
      << Joined(run.log);
  EXPECT_EQ(run.result.retries, 2u);
  EXPECT_EQ(clock.sleeps(), 2);
  EXPECT_EQ(dst.Content("d/b"), "bbb");
  EXPECT_NE(Joined(run.log).find("Retrying read of /d/b"), std::string::npos)
      << Joined(run.log);
}

// A destination that stops answering mid-transfer: every write fails, and
// so does a look at its root. Turned on when the transfer opens `at`, off
// again after `probes_down` looks at the root (-1: never).
struct Outage {
  std::atomic<bool> down{false};
  std::atomic<int> probes{0};
  int probes_down = -1;

  // `op` on `at` starts the outage (kOpenWrite or kCommit).
  std::vector<FaultRule> Rules(const std::string& at,
                               FaultOp op = FaultOp::kOpenWrite) {
    const Status refused(StatusCode::kUnavailable, "connection refused",
                         ECONNREFUSED, /*retryable=*/true);
    auto active = [this] { return down.load(); };
    return {
        {op, at, Status(), 1, [this] { down = true; }},
        {FaultOp::kOpenWrite, "*", refused, -1, nullptr, active},
        {FaultOp::kCommit, "*", refused, -1, nullptr, active},
        {FaultOp::kStat, "", refused, -1,
         [this] {
           if (++probes == probes_down) down = false;
         },
         active},
    };
  }
};

void BuildManyFiles(MemoryTree* src, int n) {
  for (int i = 0; i < n; ++i) {
    char name[16];
    std::snprintf(name, sizeof(name), "f%03d", i);
    src->File(name, std::string(name) + " content");
  }
}

// `files` files synced through an Outage of the destination that begins
// when f010 is opened for writing (or committed), with a limit of 60 s, on
// a clock that runs ahead to each sleep's end.
struct OutageRun {
  MemoryTree src, dst;
  ManualClock clock;
  Outage outage;
  std::string where;  // the destination, as it describes itself

  Outcome Run(int files, FaultOp starts = FaultOp::kOpenWrite) {
    BuildManyFiles(&src, files);
    ExecutionConfig config = Config();
    config.threads = 2;
    config.outage_limit = std::chrono::seconds(60);
    clock.set_auto_advance(true);
    config.clock = &clock;
    auto faulty = std::make_unique<FaultInjectingBackend>(
        dst.Open(), outage.Rules("f010", starts));
    where = faulty->Describe();
    return RunSync(src.Open(), std::move(faulty), config);
  }
};

TEST(ExecutionTest, ADestinationThatStaysDownStopsTheRunNamingIt) {
  OutageRun o;
  const auto t0 = o.clock.Now();
  Outcome run = o.Run(200);
  const std::string log = Joined(run.log);
  EXPECT_EQ(run.result.status, ExecutionStatus::kError);
  EXPECT_EQ(run.result.error_code, "DestinationLocationError") << log;
  EXPECT_NE(run.result.error_detail.find(o.where), std::string::npos)
      << run.result.error_detail;
  EXPECT_NE(run.result.error_detail.find("does not answer"), std::string::npos)
      << run.result.error_detail;
  EXPECT_NE(run.result.error_detail.find("connection refused"),
            std::string::npos)
      << run.result.error_detail;
  EXPECT_EQ(run.result.transfer_status, PhaseStatus::kError);
  EXPECT_EQ(run.result.verify_status, PhaseStatus::kPending);
  // The workers waited for it instead of failing the tree file by file:
  // only what was in flight failed, and the run ended once the limit passed.
  const CounterSnapshot& c = run.c();
  EXPECT_LE(c.files_failed_transfer, 2u) << log;
  EXPECT_LT(c.files_transferred + c.files_failed_transfer, 100u);
  EXPECT_GE(o.clock.Now() - t0, std::chrono::seconds(60));
  EXPECT_LT(o.clock.Now() - t0, std::chrono::seconds(120));
  EXPECT_NE(log.find("The transfer waits for it, up to 60 s"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("and has not for 60 s"), std::string::npos) << log;
  // Nothing partial at the destination: every file there is whole.
  for (int i = 0; i < 200; ++i) {
    char name[16];
    std::snprintf(name, sizeof(name), "f%03d", i);
    auto content = o.dst.Content(name);
    if (content) EXPECT_EQ(*content, std::string(name) + " content");
  }
}

TEST(ExecutionTest, ADestinationThatComesBackIsWaitedForAndTheRunSucceeds) {
  OutageRun o;
  o.outage.probes_down = 4;
  Outcome run = o.Run(200);
  const std::string log = Joined(run.log);
  ASSERT_EQ(run.result.status, ExecutionStatus::kSuccess)
      << run.result.error_code << ": " << run.result.error_detail << "\n"
      << log;
  EXPECT_EQ(run.c().files_transferred, 200u);
  EXPECT_EQ(run.c().files_failed_transfer, 0u);
  EXPECT_EQ(o.dst.Content("f010"), "f010 content");
  EXPECT_EQ(o.dst.Content("f199"), "f199 content");
  EXPECT_NE(log.find("The transfer waits for it, up to 60 s"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("answers again"), std::string::npos) << log;
}

// An object store's one PUT is its commit: a commit that fails while the
// destination is out sends the file again once it is back.
TEST(ExecutionTest, AFileWhoseCommitFailedInAnOutageGoesAgainWhenItIsBack) {
  OutageRun o;
  o.outage.probes_down = 3;
  Outcome run = o.Run(50, FaultOp::kCommit);
  const std::string log = Joined(run.log);
  ASSERT_EQ(run.result.status, ExecutionStatus::kSuccess)
      << run.result.error_code << ": " << run.result.error_detail << "\n"
      << log;
  EXPECT_EQ(run.c().files_transferred, 50u);
  EXPECT_EQ(o.dst.Content("f010"), "f010 content");
  EXPECT_NE(log.find("answers again"), std::string::npos) << log;
}

// Folders, links and folders' metadata made while the destination is out
// are waited for as files are: an outage that begins at a folder's mkdir
// fails nothing once the destination is back.
TEST(ExecutionTest, FoldersAndLinksMadeInAnOutageAreWaitedFor) {
  MemoryTree src, dst;
  for (int i = 0; i < 30; ++i) {
    const std::string d = "d" + std::to_string(10 + i);
    src.Dir(d).File(d + "/f", d).Link(d + "/l", "f");
  }
  ManualClock clock;
  clock.set_auto_advance(true);
  Outage outage;
  outage.probes_down = 3;
  const Status refused(StatusCode::kUnavailable, "connection refused",
                       ECONNREFUSED, /*retryable=*/true);
  std::vector<FaultRule> rules = outage.Rules("d15", FaultOp::kMakeDirectory);
  auto active = [&outage] { return outage.down.load(); };
  for (FaultOp op :
       {FaultOp::kMakeDirectory, FaultOp::kCreateLink, FaultOp::kSetMetadata}) {
    rules.push_back({op, "*", refused, -1, nullptr, active});
  }
  ExecutionConfig config = Config();
  config.threads = 2;
  config.outage_limit = std::chrono::seconds(60);
  config.clock = &clock;
  Outcome run = RunSync(
      src.Open(),
      std::make_unique<FaultInjectingBackend>(dst.Open(), std::move(rules)),
      config);
  const std::string log = Joined(run.log);
  ASSERT_EQ(run.result.status, ExecutionStatus::kSuccess)
      << run.result.error_code << ": " << run.result.error_detail << "\n"
      << log;
  EXPECT_GE(outage.probes.load(), 3) << log;
  EXPECT_NE(log.find("answers again"), std::string::npos) << log;
  EXPECT_EQ(run.c().files_failed_transfer, 0u) << log;
  for (int i = 0; i < 30; ++i) {
    const std::string d = "d" + std::to_string(10 + i);
    EXPECT_EQ(dst.Content(d + "/f"), d);
    auto link = dst.backend()->Stat(P(d + "/l"));
    ASSERT_TRUE(link.ok() && link->has_value()) << d;
    EXPECT_EQ((*link)->link_target, "f") << d;
  }
}

// The block checksums feed the file digest, which verification compares
// with the destination's content: a byte damaged between the read and the
// storage is found, in both verify modes.
TEST(ExecutionTest, DamageBetweenReadAndWriteFailsVerification) {
  for (const char* mode :
       {"ONLY_FILES_TRANSFERRED", "POINT_IN_TIME_CONSISTENT"}) {
    for (uint64_t size : {uint64_t{1000}, uint64_t{3 * kBlockSize + 5}}) {
      SCOPED_TRACE(std::string(mode) + " " + std::to_string(size));
      MemoryTree src, dst;
      BuildSource(&src);
      src.File("f", testing::RandomBytes(size, 11));
      ExecutionConfig config = Config();
      ASSERT_OK(config.options.Set("VerifyMode", mode));
      auto faulty = std::make_unique<FaultInjectingBackend>(
          dst.Open(), std::vector<FaultRule>{{FaultOp::kCorruptWrite, "f",
                                              Status(), /*times=*/1}});
      Outcome run = RunSync(src.Open(), std::move(faulty), config);
      EXPECT_EQ(run.result.status, ExecutionStatus::kError);
      EXPECT_EQ(run.result.error_code, "VerificationFailed")
          << run.result.error_detail << "\n"
          << Joined(run.log);
      EXPECT_EQ(run.c().files_failed_verify, 1u);
      EXPECT_EQ(run.result.verify_status, PhaseStatus::kError);
      ASSERT_TRUE(dst.Content("f").has_value());
      EXPECT_NE(dst.Content("f"), src.Content("f")) << "nothing was damaged";
      EXPECT_NE(Joined(run.log).find("/f"), std::string::npos);
    }
  }
}

// "arn:aws:datasync:REGION:ACCOUNT:task/task-HEX17/execution/exec-HEX17".
bool LooksLikeExecutionArn(const std::string& arn) {
  auto hex17 = [](std::string_view s) {
    return s.size() == 17 &&
           s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
  };
  const std::string_view prefix = "arn:aws:datasync:";
  size_t task = arn.find(":task/task-");
  size_t exec = arn.find("/execution/exec-");
  if (arn.rfind(prefix, 0) != 0 || task == std::string::npos ||
      exec == std::string::npos) {
    return false;
  }
  std::string_view a(arn);
  return hex17(a.substr(task + 11, exec - task - 11)) &&
         hex17(a.substr(exec + 16));
}

TEST(ExecutionTest, DescribeSpeaksDataSync) {
  MemoryTree src, dst;
  BuildSource(&src);
  ExecutionConfig config = Config();
  config.excludes = "/nothing";
  Outcome run = RunSync(src, dst, config);
  const nlohmann::json& d = run.describe;
  EXPECT_EQ(d["Status"], "SUCCESS");
  EXPECT_TRUE(LooksLikeExecutionArn(d["TaskExecutionArn"].get<std::string>()))
      << d["TaskExecutionArn"];
  EXPECT_EQ(d["Options"]["VerifyMode"], "POINT_IN_TIME_CONSISTENT");
  EXPECT_EQ(d["Options"]["BytesPerSecond"], -1);
  EXPECT_EQ(d["FilesTransferred"], 5);
  EXPECT_EQ(d["BytesWritten"], 1008);
  EXPECT_EQ(d["FilesListed"]["AtSource"], 5);
  EXPECT_EQ(d["FilesFailed"]["Transfer"], 0);
  EXPECT_EQ(d["Result"]["PrepareStatus"], "SUCCESS");
  EXPECT_EQ(d["Result"]["TransferStatus"], "SUCCESS");
  EXPECT_EQ(d["Result"]["VerifyStatus"], "SUCCESS");
  EXPECT_FALSE(d["Result"].contains("ErrorCode"));
  ASSERT_EQ(d["Excludes"].size(), 1u);
  EXPECT_EQ(d["Excludes"][0]["FilterType"], "SIMPLE_PATTERN");
  EXPECT_EQ(d["Excludes"][0]["Value"], "/nothing");
  EXPECT_TRUE(d["Includes"].empty());
  EXPECT_GE(d["EndTime"].get<double>(), d["StartTime"].get<double>());
}

TEST(ExecutionTest, ATaskArnIsKept) {
  MemoryTree src, dst;
  ExecutionConfig config = Config();
  config.task_arn =
      "arn:aws:datasync:us-east-1:111122223333:task/task-0123456789abcdef0";
  ExecutionLog log(LogLevel::kOff);
  Execution execution(src.Open(), dst.Open(), config, &log);
  EXPECT_EQ(
      execution.execution_arn().rfind(config.task_arn + "/execution/exec-", 0),
      0u)
      << execution.execution_arn();
}

TEST(ExecutionTest, AGivenExecutionArnIsKept) {
  MemoryTree src, dst;
  ExecutionConfig config = Config();
  config.task_arn =
      "arn:aws:datasync:us-east-1:111122223333:task/task-0123456789abcdef0";
  config.execution_arn = config.task_arn + "/execution/exec-0123456789abcdef1";
  ExecutionLog log(LogLevel::kOff);
  Execution execution(src.Open(), dst.Open(), config, &log);
  EXPECT_EQ(execution.execution_arn(), config.execution_arn);
  ExecutionResult result = execution.Run();
  EXPECT_EQ(execution.Describe(result)["TaskExecutionArn"],
            config.execution_arn);
}

// An object store in the middle: file system -> objects -> file system
// keeps everything the object metadata can hold, and an unchanged source is
// not copied again (the listing's mtimes and sizes are right).
TEST(ExecutionTest, ThroughAnObjectStoreAndBack) {
  // Listing with metadata (Azure) or without (S3).
  for (const bool list_metadata : {false, true}) {
    SCOPED_TRACE(list_metadata ? "listing metadata" : "listing no metadata");
    ObjectStoreLimits limits;
    limits.part_size_min = 64 * 1024;
    limits.max_list_keys = 3;
    limits.list_metadata = list_metadata;
    limits.max_list_keys_with_metadata = 2;
    auto store = std::make_shared<MemoryObjectStore>(limits);
    auto objects = [&] {
      ObjectBackendOptions options;
      options.prefix = "bucket/prefix";
      options.part_size_preferred = 0;
      return OpenObjectBackend(store, options).value();
    };
    MemoryTree src, back;
    BuildSource(&src);
    src.File("d/big", testing::RandomBytes(5 * kBlockSize / 2, 9), 0640);
    ExecutionConfig config = Config();
    config.chunk_size = kBlockSize;  // the big file in parts, on three threads
    Outcome up = RunSync(src.Open(), objects(), config);
    ASSERT_EQ(up.result.status, ExecutionStatus::kSuccess)
        << up.result.error_code << ": " << up.result.error_detail << "\n"
        << Joined(up.log);
    EXPECT_EQ(up.c().files_transferred, 6u);
    EXPECT_TRUE(store->Uploads().empty());

    const int64_t heads = store->heads();
    ExecutionConfig unverified = config;  // what is read for the comparison
    ASSERT_OK(unverified.options.Set("VerifyMode", "ONLY_FILES_TRANSFERRED"));
    Outcome again = RunSync(src.Open(), objects(), unverified);
    ASSERT_EQ(again.result.status, ExecutionStatus::kSuccess)
        << Joined(again.log);
    EXPECT_EQ(again.c().files_transferred, 0u);
    EXPECT_EQ(again.c().bytes_written, 0u);
    if (list_metadata) {
      // The folders' and files' metadata came with the listings: one
      // look at the root's marker and one at the link (for its target),
      // none at the two folders or the files.
      EXPECT_EQ(store->heads() - heads, 2);
    } else {
      EXPECT_GE(store->heads() - heads, 6);
    }

    Outcome down = RunSync(objects(), back.Open(), config);
    ASSERT_EQ(down.result.status, ExecutionStatus::kSuccess)
        << down.result.error_code << ": " << down.result.error_detail << "\n"
        << Joined(down.log);
    EXPECT_EQ(TreeSignature(back.backend()), TreeSignature(src.backend()));

    // A change at the source is found and copied alone.
    src.File("d/b", "changed");
    Outcome change = RunSync(src.Open(), objects(), config);
    ASSERT_EQ(change.result.status, ExecutionStatus::kSuccess);
    EXPECT_EQ(change.c().files_transferred, 1u);
  }
}

// Folders another tool wrote to an object store without markers (aws s3
// cp, rclone) exist as the prefixes of their contents: deleting those
// contents removes them, and REMOVE counts them deleted, not failed.
TEST(ExecutionTest, FoldersThatAreOnlyPrefixesAreDeletedWithTheirContents) {
  auto store = std::make_shared<MemoryObjectStore>(ObjectStoreLimits{});
  for (const char* key : {"keep.txt", "gone/a.txt", "gone/deep/b.txt"}) {
    PutObjectRequest r;
    r.key = std::string("p/") + key;
    const std::string data = "theirs";
    r.data = std::as_bytes(std::span(data.data(), data.size()));
    ASSERT_OK(store->PutObject(r).status());
  }
  ObjectBackendOptions options;
  options.prefix = "p";
  MemoryTree src;
  src.File("keep.txt", "x");
  ExecutionConfig config = Config();
  ASSERT_OK(config.options.Set("PreserveDeletedFiles", "REMOVE"));
  Outcome run =
      RunSync(src.Open(), OpenObjectBackend(store, options).value(), config);
  ASSERT_EQ(run.result.status, ExecutionStatus::kSuccess) << Joined(run.log);
  EXPECT_EQ(run.c().files_deleted, 2u);
  EXPECT_EQ(run.c().folders_deleted, 2u);
  EXPECT_EQ(run.c().folders_failed_delete, 0u);
  ASSERT_OK_AND_ASSIGN(ListObjectsPage page,
                       store->ListObjects(ListObjectsRequest{.prefix = "p/"}));
  std::vector<std::string> keys;
  for (const ObjectSummary& o : page.objects) keys.push_back(o.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"p/", "p/keep.txt"}))
      << "the root's marker and the file kept";
}

// ObjectTags PRESERVE (the default) gives each file written between
// object stores its source's tags, NONE none. Tags are not compared: a
// change of tags alone is not transferred (as DataSync); a file transferred
// again, for its content or its metadata, gets its source's tags again.
TEST(ExecutionTest, ObjectTagsFollowTheTaskOption) {
  ObjectStoreLimits limits;
  limits.part_size_min = 64 * 1024;
  auto src_store = std::make_shared<MemoryObjectStore>(limits);
  auto dst_store = std::make_shared<MemoryObjectStore>(limits);
  auto open = [](const std::shared_ptr<MemoryObjectStore>& store,
                 const std::string& prefix) {
    ObjectBackendOptions options;
    options.prefix = prefix;
    options.part_size_preferred = 0;
    return OpenObjectBackend(store, options).value();
  };
  const ObjectTags gold = {{"class", "gold"}, {"project", "ferry"}};
  const ObjectTags blue = {{"class", "blue"}};
  {
    auto src = open(src_store, "");
    // With an mtime of their own (file-mtime), which a metadata change
    // keeps (an object's Last-Modified would move).
    Entry meta;
    meta.mtime = FileTime{1600000000, 5};
    const MetadataPolicy mtime{false, false, false, true, false};
    ASSERT_OK(testing::WriteFile(src.get(), P("small"), "abc", meta, mtime));
    // Past one part at the destination: a multipart upload.
    ASSERT_OK(testing::WriteFile(src.get(), P("d/big"),
                                 testing::RandomBytes(5 * kBlockSize / 2, 3),
                                 meta, mtime));
    ASSERT_OK(testing::WriteFile(src.get(), P("empty"), "", meta, mtime));
    ASSERT_OK(
        testing::WriteFile(src.get(), P("plain"), "no tags", meta, mtime));
    ASSERT_OK(src->SetTags(P("small"), gold));
    ASSERT_OK(src->SetTags(P("d/big"), blue));
    ASSERT_OK(src->SetTags(P("empty"), gold));
  }
  auto tags_at = [&](const std::string& key) {
    auto tags = dst_store->GetObjectTags(key);
    EXPECT_TRUE(tags.ok()) << key << ": " << tags.status().ToString();
    return tags.ok() ? *tags : ObjectTags{{"?", "?"}};
  };
  ExecutionConfig config = Config();
  config.chunk_size = kBlockSize;  // the big file in parts, on three threads
  ExecutionConfig none = config;
  ASSERT_OK(none.options.Set("ObjectTags", "NONE"));

  Outcome kept = RunSync(open(src_store, ""), open(dst_store, "kept"), config);
  ASSERT_EQ(kept.result.status, ExecutionStatus::kSuccess)
      << kept.result.error_code << ": " << kept.result.error_detail << "\n"
      << Joined(kept.log);
  EXPECT_EQ(kept.c().files_transferred, 4u);
  EXPECT_EQ(tags_at("kept/small"), gold);
  EXPECT_EQ(tags_at("kept/d/big"), blue);
  EXPECT_EQ(tags_at("kept/empty"), gold);
  EXPECT_EQ(tags_at("kept/plain"), ObjectTags{});

  Outcome untagged =
      RunSync(open(src_store, ""), open(dst_store, "none"), none);
  ASSERT_EQ(untagged.result.status, ExecutionStatus::kSuccess)
      << Joined(untagged.log);
  EXPECT_EQ(untagged.c().files_transferred, 4u);
  for (const char* key : {"none/small", "none/d/big", "none/empty"}) {
    EXPECT_EQ(tags_at(key), ObjectTags{}) << key;
  }

  // A change of tags alone is not found: nothing moves.
  {
    auto src = open(src_store, "");
    ASSERT_OK(src->SetTags(P("small"), blue));
  }
  Outcome again = RunSync(open(src_store, ""), open(dst_store, "kept"), config);
  ASSERT_EQ(again.result.status, ExecutionStatus::kSuccess);
  EXPECT_EQ(again.c().files_transferred, 0u);
  EXPECT_EQ(tags_at("kept/small"), gold);

  // A metadata change brings the tags along with PRESERVE; with NONE, a
  // destination's own tags stay as the store keeps them (S3 and the memory
  // store keep them through the copy onto itself).
  {
    auto src = open(src_store, "");
    Entry mode;
    mode.kind = EntryKind::kFile;
    mode.mode = 0600;
    ASSERT_OK(src->SetMetadata(
        P("small"), mode, MetadataPolicy{true, false, false, false, false}));
    ASSERT_OK(dst_store->PutObjectTags("none/small", {{"theirs", "1"}}));
  }
  Outcome meta = RunSync(open(src_store, ""), open(dst_store, "kept"), config);
  ASSERT_EQ(meta.result.status, ExecutionStatus::kSuccess) << Joined(meta.log);
  EXPECT_EQ(meta.c().bytes_written, 0u);
  EXPECT_EQ(tags_at("kept/small"), blue);
  EXPECT_EQ(tags_at("kept/d/big"), blue);
  Outcome meta_none =
      RunSync(open(src_store, ""), open(dst_store, "none"), none);
  ASSERT_EQ(meta_none.result.status, ExecutionStatus::kSuccess);
  EXPECT_EQ(meta_none.c().bytes_written, 0u);
  EXPECT_EQ(tags_at("none/small"), (ObjectTags{{"theirs", "1"}}));
  ASSERT_OK_AND_ASSIGN(std::optional<Entry> small,
                       open(dst_store, "none")->Stat(P("small")));
  ASSERT_TRUE(small.has_value());
  EXPECT_EQ(small->mode & 07777, 0600u);

  // Where a side keeps no tags there are none to copy, and no error.
  MemoryTree plain;
  Outcome down = RunSync(open(src_store, ""), plain.Open(), config);
  ASSERT_EQ(down.result.status, ExecutionStatus::kSuccess) << Joined(down.log);
  EXPECT_EQ(down.c().files_transferred, 4u);
}

// A file whose tags the destination cannot keep fails alone, with the
// reason; the others are copied with theirs.
TEST(ExecutionTest, ATagThatCannotBeStoredFailsItsFileAlone) {
  ObjectStoreLimits lenient;
  lenient.part_size_min = 64 * 1024;
  lenient.max_tags = 20;  // a store that keeps more tags than S3
  auto src_store = std::make_shared<MemoryObjectStore>(lenient);
  auto dst_store = std::make_shared<MemoryObjectStore>();
  ObjectBackendOptions options;
  options.part_size_preferred = 0;
  {
    auto src = OpenObjectBackend(src_store, options).value();
    ASSERT_OK(testing::WriteFile(src.get(), P("many"), "x"));
    ASSERT_OK(testing::WriteFile(src.get(), P("few"), "y"));
    ObjectTags many;
    for (int i = 0; i < 11; ++i) many["k" + std::to_string(i)] = "v";
    ASSERT_OK(src->SetTags(P("many"), many));
    ASSERT_OK(src->SetTags(P("few"), {{"k", "v"}}));
  }
  Outcome out = RunSync(OpenObjectBackend(src_store, options).value(),
                        OpenObjectBackend(dst_store, options).value());
  EXPECT_EQ(out.result.status, ExecutionStatus::kError);
  EXPECT_EQ(out.c().files_transferred, 1u);
  EXPECT_EQ(out.c().files_failed_transfer, 1u) << Joined(out.log);
  EXPECT_NE(Joined(out.log).find("11 object tags; the store keeps at most 10"),
            std::string::npos)
      << Joined(out.log);
  EXPECT_EQ(dst_store->Keys(), std::vector<std::string>{"few"});
  EXPECT_EQ(*dst_store->GetObjectTags("few"), (ObjectTags{{"k", "v"}}));
}

}  // namespace
}  // namespace ferry
