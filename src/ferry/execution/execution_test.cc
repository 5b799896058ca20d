#include "ferry/execution/execution.h"

#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ferry/storage/decorators/fault_injecting_backend.h"
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

TEST(ExecutionTest, CancelStopsARunningExecution) {
  MemoryTree src, dst;
  src.File("big", testing::RandomBytes(8 * kBlockSize, 1));
  ExecutionConfig config = Config();
  ASSERT_OK(config.options.Set("BytesPerSecond", std::to_string(kBlockSize)));
  ExecutionLog log(LogLevel::kOff);
  Execution execution(src.Open(), dst.Open(), config, &log);
  auto start = std::chrono::steady_clock::now();
  std::jthread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    execution.Cancel();
  });
  ExecutionResult result = execution.Run();
  double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  EXPECT_LT(secs, 4.0) << "8 MiB at 1 MiB/s would take 8 s";
  EXPECT_EQ(result.status, ExecutionStatus::kError);
  EXPECT_EQ(result.error_code, "OperationCanceled");
  EXPECT_FALSE(dst.Content("big").has_value())
      << "a file in flight was committed";
}

TEST(ExecutionTest, TheBandwidthLimitChangesWhileRunning) {
  MemoryTree src, dst;
  src.File("big", testing::RandomBytes(8 * kBlockSize, 2));
  ExecutionConfig config = Config();
  ASSERT_OK(config.options.Set("BytesPerSecond", std::to_string(kBlockSize)));
  ExecutionLog log(LogLevel::kOff);
  Execution execution(src.Open(), dst.Open(), config, &log);
  EXPECT_EQ(execution.bytes_per_second(), static_cast<int64_t>(kBlockSize));
  auto start = std::chrono::steady_clock::now();
  std::jthread lifter([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    execution.SetBytesPerSecond(-1);
  });
  ExecutionResult result = execution.Run();
  double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  EXPECT_EQ(result.status, ExecutionStatus::kSuccess) << result.error_detail;
  EXPECT_LT(secs, 4.0) << "8 MiB at 1 MiB/s would take 8 s";
  EXPECT_EQ(dst.Content("big"), src.Content("big"));
  EXPECT_EQ(execution.Describe(result)["Options"]["BytesPerSecond"], -1);
}

TEST(ExecutionTest, ALowerLimitSlowsARunningExecution) {
  MemoryTree src, dst;
  src.File("big", testing::RandomBytes(4 * kBlockSize, 3));
  ExecutionLog log(LogLevel::kOff);
  Execution execution(src.Open(), dst.Open(), Config(), &log);
  execution.SetBytesPerSecond(
      static_cast<int64_t>(2 * kBlockSize));  // before Run: 4 MiB take ~2 s
  auto start = std::chrono::steady_clock::now();
  ExecutionResult result = execution.Run();
  double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  EXPECT_EQ(result.status, ExecutionStatus::kSuccess) << result.error_detail;
  EXPECT_GT(secs, 1.2);
  EXPECT_EQ(execution.Describe(result)["Options"]["BytesPerSecond"],
            2 * kBlockSize);
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

}  // namespace
}  // namespace ferry
