#include "ferry/agent/running_execution.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

namespace ferry::agent {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr char kTask[] =
    "arn:aws:datasync:ferry-local:000000000000:task/task-0123456789abcdef0";
constexpr char kExec[] =
    "arn:aws:datasync:ferry-local:000000000000:task/task-0123456789abcdef0/"
    "execution/exec-0123456789abcdef1";

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/ferry-agent-test-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void WriteFile(const fs::path& p, const std::string& content) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << content;
}

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
}

protocol::Command RunCommand(const std::string& src, const std::string& dst) {
  protocol::Command c;
  c.type = protocol::Command::Type::kRunExecution;
  c.execution_arn = kExec;
  c.task_arn = kTask;
  c.options = {{"VerifyMode", "POINT_IN_TIME_CONSISTENT"},
               {"BytesPerSecond", -1},
               {"LogLevel", "OFF"}};
  c.source = {"arn:src", "LOCAL", {{"Path", src}}};
  c.destination = {"arn:dst", "LOCAL", {{"Path", dst}}};
  return c;
}

protocol::ExecutionReport WaitFinal(RunningExecution& exec, double seconds) {
  auto until =
      std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (!exec.done() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return exec.Report();
}

TEST(ConfigFromCommandTest, EveryOptionFiltersAndTheLimit) {
  protocol::Command c = RunCommand("/a", "/b");
  c.options = {{"VerifyMode", "NONE"},
               {"OverwriteMode", "NEVER"},
               {"TransferMode", "ALL"},
               {"BytesPerSecond", 1000}};
  c.bytes_per_second = 5000;  // the limit now wins over the task's
  c.includes = "/x*";
  c.excludes = "*.tmp";
  auto config = ConfigFromCommand(c, 3);
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->options.verify_mode, VerifyMode::kNone);
  EXPECT_EQ(config->options.overwrite_mode, OverwriteMode::kNever);
  EXPECT_EQ(config->options.transfer_mode, TransferMode::kAll);
  EXPECT_EQ(config->options.bytes_per_second, 5000);
  EXPECT_EQ(config->includes, "/x*");
  EXPECT_EQ(config->excludes, "*.tmp");
  EXPECT_EQ(config->threads, 3);
  EXPECT_EQ(config->execution_arn, kExec);
  EXPECT_EQ(config->task_arn, kTask);
  EXPECT_EQ(config->manifest, nullptr);
}

TEST(ConfigFromCommandTest, BadOptionsNameTheMember) {
  protocol::Command c = RunCommand("/a", "/b");
  c.options = {{"VerifyMode", "SOMETIMES"}};
  auto config = ConfigFromCommand(c, 0);
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("options.verifyMode"),
            std::string::npos)
      << config.status().message();
  c.options = {{"Atime", true}};
  EXPECT_FALSE(ConfigFromCommand(c, 0).ok());
  c.options = {{"TransferMode", "ALL"}, {"PreserveDeletedFiles", "REMOVE"}};
  EXPECT_FALSE(ConfigFromCommand(c, 0).ok());
}

TEST(ConfigFromCommandTest, AManifestIsCheckedAndSorted) {
  protocol::Command c = RunCommand("/a", "/b");
  c.has_manifest = true;
  c.manifest = {"b/y", "a \"quoted\", name", "a/x"};
  auto config = ConfigFromCommand(c, 0);
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  ASSERT_NE(config->manifest, nullptr);
  ASSERT_EQ(config->manifest->size(), 3u);
  // Sorted as paths: "a/x" (a folder's contents) before "a \"quoted\"...".
  EXPECT_EQ((*config->manifest)[0].str(), "a/x");
  EXPECT_EQ((*config->manifest)[1].str(), "a \"quoted\", name");
  EXPECT_EQ((*config->manifest)[2].str(), "b/y");
  c.manifest = {"../escape"};
  EXPECT_FALSE(ConfigFromCommand(c, 0).ok());
}

TEST(OpenLocationTest, OnlyLocalWithAnAbsolutePath) {
  TempDir dir;
  protocol::LocationSpecMessage nfs{"arn:nfs", "NFS", {{"Path", dir.path()}}};
  auto b = OpenLocation(nfs, false);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), StatusCode::kNotSupported);
  EXPECT_NE(b.status().message().find("NFS"), std::string::npos);
  protocol::LocationSpecMessage rel{"arn:l", "LOCAL", {{"Path", "rel/dir"}}};
  EXPECT_FALSE(OpenLocation(rel, false).ok());
  protocol::LocationSpecMessage missing{
      "arn:l", "LOCAL", {{"Path", dir.path() + "/new/dst"}}};
  EXPECT_FALSE(OpenLocation(missing, false).ok());
  EXPECT_TRUE(OpenLocation(missing, true).ok()) << "a destination is created";
  EXPECT_TRUE(fs::is_directory(dir.path() + "/new/dst"));
}

TEST(RunningExecutionTest, RunsToSuccessAndReportsTheDescribe) {
  TempDir src, dst;
  WriteFile(fs::path(src.path()) / "a", "alpha");
  WriteFile(fs::path(src.path()) / "d/b", std::string(5000, 'b'));
  int done_calls = 0;
  RunningExecution exec(RunCommand(src.path(), dst.path() + "/out"), 2,
                        [&] { ++done_calls; });
  protocol::ExecutionReport before = exec.Report();
  EXPECT_EQ(before.status, "LAUNCHING");
  EXPECT_FALSE(before.final);
  exec.Start();
  protocol::ExecutionReport r = WaitFinal(exec, 20);
  ASSERT_TRUE(r.final);
  EXPECT_EQ(r.status, "SUCCESS") << r.describe.dump();
  EXPECT_EQ(r.execution_arn, kExec);
  EXPECT_EQ(r.describe["TaskExecutionArn"], kExec);
  EXPECT_EQ(r.describe["FilesTransferred"], 2);
  EXPECT_EQ(r.describe["BytesWritten"], 5005);
  EXPECT_EQ(ReadFile(fs::path(dst.path()) / "out/d/b"), std::string(5000, 'b'));
  EXPECT_EQ(done_calls, 1);
}

TEST(RunningExecutionTest, ATaskReportIsWrittenOnTheAgentAndSaysWhere) {
  TempDir src, dst, data;
  WriteFile(fs::path(src.path()) / "a", "alpha");
  protocol::Command c = RunCommand(src.path(), dst.path() + "/out");
  c.has_report = true;
  c.report_output_type = "STANDARD";
  c.report_level = "SUCCESSES_AND_ERRORS";
  const std::string root = data.path() + "/task-reports";
  RunningExecution exec(c, 2, nullptr, root);
  exec.Start();
  protocol::ExecutionReport r = WaitFinal(exec, 20);
  ASSERT_TRUE(r.final);
  EXPECT_EQ(r.status, "SUCCESS") << r.describe.dump();
  const json& report = r.describe["ReportResult"];
  EXPECT_EQ(report["Status"], "ERROR") << report.dump();
  EXPECT_EQ(report["ErrorCode"], "ReportDestinationNotSupported");
  const std::string folder = root + "/exec-0123456789abcdef1";
  EXPECT_NE(report["ErrorDetail"].get<std::string>().find(folder),
            std::string::npos)
      << report.dump();
  EXPECT_TRUE(fs::exists(folder + "/exec-0123456789abcdef1.summary-v1.json"));
  const std::string list = ReadFile(
      folder + "/exec-0123456789abcdef1.files-transferred-v1-00001.json");
  EXPECT_NE(list.find("\"/a\""), std::string::npos) << list;
}

TEST(ConfigFromCommandTest, AReportNeedsAFolder) {
  protocol::Command c = RunCommand("/a", "/b");
  c.has_report = true;
  c.report_output_type = "SUMMARY_ONLY";
  c.report_level = "ERRORS_ONLY";
  auto none = ConfigFromCommand(c, 0);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("task reports"), std::string::npos);
  auto config = ConfigFromCommand(c, 0, "/var/lib/ferry/task-reports");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  ASSERT_TRUE(config->report.has_value());
  EXPECT_EQ(config->report->directory, "/var/lib/ferry/task-reports");
  EXPECT_EQ(config->report->output_type, ReportOutputType::kSummaryOnly);
  EXPECT_EQ(config->report->level, ReportLevel::kErrorsOnly);
}

TEST(RunningExecutionTest, ANonLocalLocationEndsErrorAtOnce) {
  TempDir dst;
  protocol::Command c = RunCommand("/nowhere", dst.path());
  c.source.type = "SMB";
  RunningExecution exec(c, 1, nullptr);
  exec.Start();
  protocol::ExecutionReport r = WaitFinal(exec, 10);
  ASSERT_TRUE(r.final);
  EXPECT_EQ(r.status, "ERROR");
  EXPECT_EQ(r.describe["Result"]["ErrorCode"], "UnsupportedLocationType");
  EXPECT_NE(r.describe["Result"]["ErrorDetail"].get<std::string>().find("SMB"),
            std::string::npos);
}

TEST(RunningExecutionTest, AMissingSourceIsASourceLocationError) {
  TempDir dst;
  RunningExecution exec(RunCommand(dst.path() + "/missing", dst.path() + "/o"),
                        1, nullptr);
  exec.Start();
  protocol::ExecutionReport r = WaitFinal(exec, 10);
  ASSERT_TRUE(r.final);
  EXPECT_EQ(r.describe["Result"]["ErrorCode"], "SourceLocationError");
}

// 4 MiB at 256 KiB/s: 16 s unless something changes.
protocol::Command SlowCommand(const TempDir& src, const TempDir& dst) {
  WriteFile(fs::path(src.path()) / "big", std::string(4 << 20, 'x'));
  protocol::Command c = RunCommand(src.path(), dst.path());
  c.bytes_per_second = 256 << 10;
  return c;
}

TEST(RunningExecutionTest, CancelEndsItOperationCanceled) {
  TempDir src, dst;
  RunningExecution exec(SlowCommand(src, dst), 2, nullptr);
  exec.Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  protocol::ExecutionReport live = exec.Report();
  EXPECT_FALSE(live.final);
  EXPECT_EQ(live.describe["Options"]["BytesPerSecond"], 256 << 10);
  exec.Cancel();
  protocol::ExecutionReport r = WaitFinal(exec, 5);
  ASSERT_TRUE(r.final);
  EXPECT_EQ(r.describe["Result"]["ErrorCode"], "OperationCanceled");
}

TEST(RunningExecutionTest, TheBandwidthChangesLive) {
  TempDir src, dst;
  RunningExecution exec(SlowCommand(src, dst), 2, nullptr);
  exec.Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  exec.SetBytesPerSecond(-1);
  protocol::ExecutionReport r = WaitFinal(exec, 8);
  ASSERT_TRUE(r.final) << "still running at 256 KiB/s";
  EXPECT_EQ(r.status, "SUCCESS");
  EXPECT_EQ(r.describe["Options"]["BytesPerSecond"], -1);
}

TEST(RunningExecutionTest, AbandonSaysTheAgentStopped) {
  TempDir src, dst;
  RunningExecution exec(SlowCommand(src, dst), 2, nullptr);
  exec.Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  exec.Abandon();
  ASSERT_TRUE(exec.done());
  protocol::ExecutionReport r = exec.Report();
  EXPECT_TRUE(r.final);
  EXPECT_EQ(r.status, "ERROR");
  EXPECT_EQ(r.describe["Result"]["ErrorCode"], "AgentStopped");
}

}  // namespace
}  // namespace ferry::agent
