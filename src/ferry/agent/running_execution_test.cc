#include "ferry/agent/running_execution.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <utility>

#include "ferry/base/base64.h"
#include "ferry/storage/memory/memory_backend.h"
#include "ferry/storage/testing.h"

namespace ferry::agent {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr char kTask[] =
    "arn:aws:datasync:ferry-local:000000000000:task/task-0123456789abcdef0";
constexpr char kRunningExec[] =
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
  c.execution_arn = kRunningExec;
  c.task_arn = kTask;
  c.options = {{"VerifyMode", "POINT_IN_TIME_CONSISTENT"},
               {"BytesPerSecond", -1},
               {"LogLevel", "OFF"}};
  c.source = {"arn:src", "LOCAL", {{"Path", src}}};
  c.destination = {"arn:dst", "LOCAL", {{"Path", dst}}};
  return c;
}

// Set when an execution's final report is ready (its on_done callback).
class Finished {
 public:
  std::function<void()> Callback() {
    return [this] {
      std::lock_guard lock(mu_);
      ++calls_;
      cv_.notify_all();
    };
  }
  // True once the callback ran; false if it did not within `limit` (a
  // failure: the execution hangs).
  bool Wait(std::chrono::seconds limit = std::chrono::seconds(60)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, limit, [this] { return calls_ > 0; });
  }
  int calls() {
    std::lock_guard lock(mu_);
    return calls_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int calls_ = 0;
};

// Holds the first read of file content until the test opens it, so that the
// test acts while the execution is certainly in its transfer phase.
class Gate {
 public:
  // A reader's thread: announces itself, then waits for Open(). False if the
  // test never opened the gate (the read then fails instead of hanging).
  bool Pass() {
    std::unique_lock lock(mu_);
    reached_ = true;
    cv_.notify_all();
    return cv_.wait_for(lock, std::chrono::seconds(60),
                        [this] { return open_; });
  }
  // The test: waits until a read is held at the gate.
  bool WaitReached() {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(60),
                        [this] { return reached_; });
  }
  void Open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool reached_ = false;
  bool open_ = false;
};

class GatedReader : public Reader {
 public:
  GatedReader(std::unique_ptr<Reader> inner, Gate* gate)
      : inner_(std::move(inner)), gate_(gate) {}
  const Entry& entry() const override { return inner_->entry(); }
  Result<size_t> ReadAt(uint64_t offset, std::span<std::byte> out) override {
    if (!gate_->Pass())
      return Status::Internal("the test never opened the gate");
    return inner_->ReadAt(offset, out);
  }
  Result<Extent> NextData(uint64_t offset) override {
    return inner_->NextData(offset);
  }
  Result<Entry> Restat() override { return inner_->Restat(); }
  Result<XattrList> Xattrs() override { return inner_->Xattrs(); }

 private:
  std::unique_ptr<Reader> inner_;
  Gate* gate_;
};

// A source backend whose readers pass the gate before every read.
class GatedBackend : public testing::ForwardingBackend {
 public:
  GatedBackend(std::unique_ptr<Backend> inner, Gate* gate)
      : ForwardingBackend(inner.get()), owned_(std::move(inner)), gate_(gate) {}
  Result<std::unique_ptr<Reader>> OpenRead(const RelPath& path) override {
    FERRY_ASSIGN_OR_RETURN(std::unique_ptr<Reader> reader,
                           inner()->OpenRead(path));
    return std::unique_ptr<Reader>(
        std::make_unique<GatedReader>(std::move(reader), gate_));
  }

 private:
  std::unique_ptr<Backend> owned_;
  Gate* gate_;
};

// OpenLocation, the source behind `gate`.
LocationOpener GatedSource(Gate* gate) {
  return [gate](const protocol::LocationSpecMessage& location,
                bool destination) -> Result<std::unique_ptr<Backend>> {
    FERRY_ASSIGN_OR_RETURN(std::unique_ptr<Backend> backend,
                           OpenLocation(location, destination));
    if (destination) return backend;
    return std::unique_ptr<Backend>(
        std::make_unique<GatedBackend>(std::move(backend), gate));
  };
}

// A gated source whose root listing waits at a gate of its own first, so
// that the test looks while the execution is certainly preparing.
class ListGatedBackend : public GatedBackend {
 public:
  ListGatedBackend(std::unique_ptr<Backend> inner, Gate* listing, Gate* reading)
      : GatedBackend(std::move(inner), reading), listing_(listing) {}
  Result<std::unique_ptr<Lister>> List(const RelPath& dir) override {
    if (dir.IsRoot() && !listing_->Pass())
      return Status::Internal("the test never opened the gate");
    return inner()->List(dir);
  }

 private:
  Gate* listing_;
};

LocationOpener ListGatedSource(Gate* listing, Gate* reading) {
  return
      [listing, reading](const protocol::LocationSpecMessage& location,
                         bool destination) -> Result<std::unique_ptr<Backend>> {
        FERRY_ASSIGN_OR_RETURN(std::unique_ptr<Backend> backend,
                               OpenLocation(location, destination));
        if (destination) return backend;
        return std::unique_ptr<Backend>(std::make_unique<ListGatedBackend>(
            std::move(backend), listing, reading));
      };
}

TEST(ConfigFromCommandTest, EveryOptionFiltersAndTheLimit) {
  protocol::Command c = RunCommand("/a", "/b");
  c.options = {{"VerifyMode", "NONE"},
               {"OverwriteMode", "NEVER"},
               {"TransferMode", "ALL"},
               {"ObjectTags", "NONE"},
               {"BytesPerSecond", 1000}};
  c.bytes_per_second = 5000;  // the limit now wins over the task's
  c.includes = "/x*";
  c.excludes = "*.tmp";
  auto config = ConfigFromCommand(
      c, {.threads = 3, .outage_limit = std::chrono::seconds(42)});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->options.verify_mode, VerifyMode::kNone);
  EXPECT_EQ(config->options.overwrite_mode, OverwriteMode::kNever);
  EXPECT_EQ(config->options.transfer_mode, TransferMode::kAll);
  EXPECT_EQ(config->options.object_tags, ObjectTagsMode::kNone);
  EXPECT_EQ(config->options.bytes_per_second, 5000);
  EXPECT_EQ(config->includes, "/x*");
  EXPECT_EQ(config->excludes, "*.tmp");
  EXPECT_EQ(config->threads, 3);
  EXPECT_EQ(config->outage_limit, std::chrono::seconds(42));
  EXPECT_EQ(config->execution_arn, kRunningExec);
  EXPECT_EQ(config->task_arn, kTask);
  EXPECT_EQ(config->manifest, nullptr);
}

TEST(ConfigFromCommandTest, BadOptionsNameTheMember) {
  protocol::Command c = RunCommand("/a", "/b");
  c.options = {{"VerifyMode", "SOMETIMES"}};
  auto config = ConfigFromCommand(c, {});
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("options.verifyMode"),
            std::string::npos)
      << config.status().message();
  c.options = {{"Atime", true}};
  EXPECT_FALSE(ConfigFromCommand(c, {}).ok());
  c.options = {{"TransferMode", "ALL"}, {"PreserveDeletedFiles", "REMOVE"}};
  EXPECT_FALSE(ConfigFromCommand(c, {}).ok());
}

TEST(ConfigFromCommandTest, AManifestIsCheckedAndSorted) {
  protocol::Command c = RunCommand("/a", "/b");
  c.has_manifest = true;
  c.manifest = {"b/y", "a \"quoted\", name", "a/x"};
  auto config = ConfigFromCommand(c, {});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  ASSERT_NE(config->manifest, nullptr);
  ASSERT_EQ(config->manifest->size(), 3u);
  // Sorted as paths: "a/x" (a folder's contents) before "a \"quoted\"...".
  EXPECT_EQ((*config->manifest)[0].str(), "a/x");
  EXPECT_EQ((*config->manifest)[1].str(), "a \"quoted\", name");
  EXPECT_EQ((*config->manifest)[2].str(), "b/y");
  c.manifest = {"../escape"};
  EXPECT_FALSE(ConfigFromCommand(c, {}).ok());
}

TEST(LocationSpecTest, ObjectStorageNamesItsEndpointBucketAndKeys) {
  protocol::LocationSpecMessage loc{
      "arn:os",
      "OBJECT_STORAGE",
      {{"ServerHostname", "127.0.0.1"},
       {"ServerPort", 17480},
       {"ServerProtocol", "HTTP"},
       {"BucketName", "photos"},
       {"Subdirectory", "/2026/dec/"},
       {"AccessKey", "AK"},
       {"SecretKey", "SK"},
       {"ServerCertificate", Base64Encode("-----BEGIN CERTIFICATE-----")}}};
  ASSERT_OK_AND_ASSIGN(LocationSpec spec,
                       LocationSpecFromMessage(loc, true, {}));
  EXPECT_EQ(spec.type, "s3");
  EXPECT_EQ(spec.bucket, "photos");
  EXPECT_EQ(spec.path, "2026/dec");
  EXPECT_EQ(spec.endpoint.url, "http://127.0.0.1:17480");
  EXPECT_EQ(spec.endpoint.access_key, "AK");
  EXPECT_EQ(spec.endpoint.secret_key, "SK");
  EXPECT_EQ(spec.endpoint.ca_pem, "-----BEGIN CERTIFICATE-----");
  EXPECT_TRUE(spec.destination);

  loc.parameters.erase("ServerPort");
  loc.parameters["ServerProtocol"] = "HTTPS";
  loc.parameters["ServerHostname"] = "::1";
  ASSERT_OK_AND_ASSIGN(spec, LocationSpecFromMessage(loc, false, {}));
  EXPECT_EQ(spec.endpoint.url, "https://[::1]:443");

  for (auto [member, bad] :
       {std::pair<const char*, nlohmann::json>{"ServerProtocol", "FTP"},
        {"ServerPort", 70000},
        {"Subdirectory", "a/../../b"},
        {"ServerCertificate", "not base64!"},
        {"BucketName", 7}}) {
    protocol::LocationSpecMessage broken = loc;
    broken.parameters[member] = bad;
    auto r = LocationSpecFromMessage(broken, false, {});
    ASSERT_FALSE(r.ok()) << member;
    EXPECT_NE(r.status().message().find(member), std::string::npos)
        << r.status().message();
  }
}

TEST(LocationSpecTest, S3LocationsUseTheAgentsEndpoint) {
  protocol::LocationSpecMessage loc{"arn:s3",
                                    "S3",
                                    {{"S3BucketArn", "arn:aws:s3:::my-bucket"},
                                     {"Subdirectory", "backups"},
                                     {"S3StorageClass", "STANDARD_IA"}}};
  AgentStorageConfig config;
  config.s3_endpoint_url = "http://127.0.0.1:9000";
  ASSERT_OK_AND_ASSIGN(LocationSpec spec,
                       LocationSpecFromMessage(loc, false, config));
  EXPECT_EQ(spec.bucket, "my-bucket");
  EXPECT_EQ(spec.path, "backups");
  EXPECT_EQ(spec.storage_class, "STANDARD_IA");
  EXPECT_EQ(spec.endpoint.url, "http://127.0.0.1:9000");
  EXPECT_TRUE(spec.endpoint.access_key.empty()) << "from the environment";
  for (const char* bad : {"arn:aws:s3:::", "arn:aws:s3:::b/key", "my-bucket",
                          "arn:aws:sqs:::q"}) {
    loc.parameters["S3BucketArn"] = bad;
    EXPECT_FALSE(LocationSpecFromMessage(loc, false, config).ok()) << bad;
  }
}

// Each (member, value) given to `loc` alone is refused, naming the member.
void ExpectEachRefusedNamingIt(
    const protocol::LocationSpecMessage& loc,
    std::vector<std::pair<const char*, nlohmann::json>> cases) {
  for (const auto& [member, bad] : cases) {
    protocol::LocationSpecMessage broken = loc;
    broken.parameters[member] = bad;
    auto r = LocationSpecFromMessage(broken, false, {});
    ASSERT_FALSE(r.ok()) << member << " " << bad;
    EXPECT_NE(r.status().message().find(member), std::string::npos)
        << r.status().message();
  }
}

TEST(LocationSpecTest, NfsLocationsNameTheExportAndVersion) {
  protocol::LocationSpecMessage loc{
      "arn:nfs",
      "NFS",
      {{"ServerHostname", "10.0.0.5"},
       {"Subdirectory", "/export/dir"},
       {"MountOptions", {{"Version", "NFS4_1"}}}}};
  ASSERT_OK_AND_ASSIGN(LocationSpec spec,
                       LocationSpecFromMessage(loc, false, {}));
  EXPECT_EQ(spec.type, "nfs");
  EXPECT_EQ(spec.host, "10.0.0.5");
  EXPECT_EQ(spec.path, "export/dir");
  EXPECT_EQ(spec.endpoint.version, "NFS4_1");
  AgentStorageConfig config;
  config.nfs_port = 2050;
  ASSERT_OK_AND_ASSIGN(spec, LocationSpecFromMessage(loc, false, config));
  EXPECT_EQ(spec.host, "10.0.0.5:2050");
  ExpectEachRefusedNamingIt(loc, {{"ServerHostname", ""},
                                  {"Subdirectory", "/"},
                                  {"Subdirectory", "/a/../../b"}});
}

TEST(LocationSpecTest, AzureBlobLocationsNameTheAccountContainerAndToken) {
  protocol::LocationSpecMessage loc{
      "arn:azure",
      "AZURE_BLOB",
      {{"ContainerUrl", "https://acct.blob.core.windows.net/box"},
       {"Subdirectory", "/dir/sub/"},
       {"AuthenticationType", "SAS"},
       {"SasConfiguration", {{"Token", "sv=1&sp=racwdl&sig=x"}}},
       {"BlobType", "BLOCK"},
       {"AccessTier", "COOL"}}};
  ASSERT_OK_AND_ASSIGN(LocationSpec spec,
                       LocationSpecFromMessage(loc, true, {}));
  EXPECT_EQ(spec.type, "azure");
  EXPECT_TRUE(spec.destination);
  EXPECT_EQ(spec.endpoint.url, "https://acct.blob.core.windows.net");
  EXPECT_EQ(spec.endpoint.user, "acct");
  EXPECT_EQ(spec.bucket, "box");
  EXPECT_EQ(spec.path, "dir/sub");
  EXPECT_EQ(spec.endpoint.sas_token, "sv=1&sp=racwdl&sig=x");
  EXPECT_EQ(spec.storage_class, "COOL");
  AgentStorageConfig config;
  config.azure_endpoint_url = "http://127.0.0.1:10000/acct";
  ASSERT_OK_AND_ASSIGN(spec, LocationSpecFromMessage(loc, false, config));
  EXPECT_EQ(spec.endpoint.url, "http://127.0.0.1:10000/acct");
  ExpectEachRefusedNamingIt(
      loc, {{"ContainerUrl", "ftp://x/y"},
            {"ContainerUrl", "https://acct.blob.core.windows.net"},
            {"SasConfiguration", nlohmann::json::object()},
            {"BlobType", "PAGE"},
            {"AuthenticationType", "NONE"}});
}

TEST(OpenLocationTest, OnlyLocalWithAnAbsolutePath) {
  TempDir dir;
  protocol::LocationSpecMessage hdfs{
      "arn:hdfs", "HDFS", {{"Path", dir.path()}}};
  auto b = OpenLocation(hdfs, false);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), StatusCode::kNotSupported);
  EXPECT_NE(b.status().message().find("HDFS"), std::string::npos);
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
  Finished finished;
  RunningExecution exec(RunCommand(src.path(), dst.path() + "/out"),
                        {.threads = 2}, finished.Callback());
  protocol::ExecutionReport before = exec.Report();
  EXPECT_EQ(before.status, "LAUNCHING");
  EXPECT_FALSE(before.final);
  exec.Start();
  ASSERT_TRUE(finished.Wait()) << "no final report";
  EXPECT_TRUE(exec.done());
  protocol::ExecutionReport r = exec.Report();
  ASSERT_TRUE(r.final);
  EXPECT_EQ(r.status, "SUCCESS") << r.describe.dump();
  EXPECT_EQ(r.execution_arn, kRunningExec);
  EXPECT_EQ(r.describe["TaskExecutionArn"], kRunningExec);
  EXPECT_EQ(r.describe["FilesTransferred"], 2);
  EXPECT_EQ(r.describe["BytesWritten"], 5005);
  EXPECT_EQ(ReadFile(fs::path(dst.path()) / "out/d/b"), std::string(5000, 'b'));
  EXPECT_EQ(finished.calls(), 1);
}

// A live report is DescribeTaskExecution's shape as it stands: PREPARING
// with every phase PENDING while the listing runs and nothing was handed to
// the transfer; PrepareStatus SUCCESS (with its duration and final
// estimates) as soon as the listing ends, though the transfer goes on.
TEST(RunningExecutionTest, LiveReportsShowEachPhaseAsItEnds) {
  TempDir src, dst;
  WriteFile(fs::path(src.path()) / "big", std::string(2 << 20, 'x'));
  Gate listing, reading;
  Finished finished;
  RunningExecution exec(RunCommand(src.path(), dst.path()), {.threads = 2},
                        finished.Callback(), "",
                        ListGatedSource(&listing, &reading));
  exec.Start();
  ASSERT_TRUE(listing.WaitReached()) << "the source was never listed";
  protocol::ExecutionReport preparing = exec.Report();
  listing.Open();
  EXPECT_FALSE(preparing.final);
  EXPECT_EQ(preparing.status, "PREPARING");
  EXPECT_EQ(preparing.describe["Status"], "PREPARING");
  const json& early = preparing.describe["Result"];
  EXPECT_EQ(early["PrepareStatus"], "PENDING") << early.dump();
  EXPECT_EQ(early["TransferStatus"], "PENDING");
  EXPECT_EQ(early["VerifyStatus"], "PENDING");
  EXPECT_EQ(early["PrepareDuration"], 0);
  EXPECT_FALSE(early.contains("ErrorCode"));
  EXPECT_EQ(preparing.describe["EstimatedFilesToTransfer"], 0);

  ASSERT_TRUE(reading.WaitReached()) << "the transfer never read big";
  // The transfer is held on big; the listing ends meanwhile.
  protocol::ExecutionReport prepared;
  const auto until =
      std::chrono::steady_clock::now() + std::chrono::seconds(30);
  do {
    prepared = exec.Report();
    if (prepared.describe["Result"]["PrepareStatus"] != "PENDING") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  } while (std::chrono::steady_clock::now() < until);
  reading.Open();
  EXPECT_FALSE(prepared.final);
  EXPECT_EQ(prepared.status, "TRANSFERRING");
  const json& mid = prepared.describe["Result"];
  EXPECT_EQ(mid["PrepareStatus"], "SUCCESS") << mid.dump();
  EXPECT_EQ(mid["TransferStatus"], "PENDING");
  EXPECT_EQ(mid["VerifyStatus"], "PENDING");
  EXPECT_TRUE(mid["PrepareDuration"].is_number_integer());
  EXPECT_EQ(mid["TransferDuration"], 0);
  EXPECT_FALSE(mid.contains("ErrorCode"));
  EXPECT_EQ(prepared.describe["EstimatedFilesToTransfer"], 1);
  EXPECT_EQ(prepared.describe["EstimatedBytesToTransfer"], 2 << 20);
  EXPECT_EQ(prepared.describe["FilesPrepared"], 1);
  EXPECT_EQ(prepared.describe["FilesTransferred"], 0);

  ASSERT_TRUE(finished.Wait()) << "no final report";
  protocol::ExecutionReport r = exec.Report();
  ASSERT_TRUE(r.final);
  EXPECT_EQ(r.status, "SUCCESS") << r.describe.dump();
  EXPECT_EQ(r.describe["Result"]["PrepareStatus"], "SUCCESS");
  EXPECT_EQ(r.describe["Result"]["TransferStatus"], "SUCCESS");
  EXPECT_EQ(r.describe["Result"]["VerifyStatus"], "SUCCESS");
  EXPECT_EQ(r.describe["Result"]["PrepareDuration"], mid["PrepareDuration"]);
}

// LogLevel TRANSFER: a record per file for the server (the agent's stderr
// gets BASIC at most); the records stay until the server has stored them.
TEST(RunningExecutionTest, CollectsTheTasksLogLevelUntilTheServerStoresIt) {
  TempDir src, dst;
  WriteFile(fs::path(src.path()) / "a", "alpha");
  WriteFile(fs::path(src.path()) / "d/b", "beta");
  WriteFile(fs::path(src.path()) / "d/c\nforged", "gamma");
  protocol::Command command = RunCommand(src.path(), dst.path());
  command.options["LogLevel"] = "TRANSFER";
  Finished finished;
  RunningExecution exec(command, {.threads = 2}, finished.Callback());
  exec.Start();
  ASSERT_TRUE(finished.Wait()) << "no final report";
  protocol::ExecutionReport r = exec.Report();
  ASSERT_EQ(r.status, "SUCCESS") << r.describe.dump();
  exec.logs()->Fill(&r);
  ASSERT_FALSE(r.logs.empty());
  EXPECT_EQ(r.logs_seq, r.logs.back().seq);
  std::map<std::string, int> events;
  std::string transferred;
  for (size_t i = 0; i < r.logs.size(); ++i) {
    const protocol::LogRecord& l = r.logs[i];
    EXPECT_EQ(l.seq, static_cast<int64_t>(i + 1));
    EXPECT_GT(l.time_ms, 1'600'000'000'000);
    EXPECT_EQ(l.message.find('\n'), std::string::npos) << l.message;
    // One record per file (and per folder) transferred and verified.
    const size_t space = l.message.find(' ', l.message.find(' ') + 1);
    ++events[l.event + " " + l.message.substr(0, space)];
    if (l.event == "Transferred") transferred += l.message + "|";
  }
  EXPECT_EQ(events["Transferred Transferred file"], 3) << transferred;
  EXPECT_EQ(events["Verified Verified file"], 3);
  EXPECT_EQ(std::count_if(r.logs.begin(), r.logs.end(),
                          [](const protocol::LogRecord& l) {
                            return l.event == "ExecutionStarted";
                          }),
            1);
  EXPECT_NE(transferred.find("d/c\\nforged"), std::string::npos) << transferred;
  // The server stored the first three: the rest stay for the next report.
  const size_t all = exec.logs()->size();
  exec.logs()->Stored(3);
  EXPECT_EQ(exec.logs()->size(), all - 3);
  protocol::ExecutionReport next = exec.Report();
  exec.logs()->Fill(&next);
  ASSERT_FALSE(next.logs.empty());
  EXPECT_EQ(next.logs.front().seq, 4);
  exec.logs()->Stored(next.logs_seq);
  EXPECT_TRUE(exec.logs()->empty());
}

// BASIC: errors and milestones, no record per file; OFF: nothing.
TEST(RunningExecutionTest, BasicKeepsMilestonesAndOffNothing) {
  TempDir src, dst;
  WriteFile(fs::path(src.path()) / "a", "alpha");
  for (const char* level : {"BASIC", "OFF"}) {
    protocol::Command command =
        RunCommand(src.path(), dst.path() + "/" + level);
    command.options["LogLevel"] = level;
    Finished finished;
    RunningExecution exec(command, {.threads = 2}, finished.Callback());
    exec.Start();
    ASSERT_TRUE(finished.Wait()) << "no final report";
    protocol::ExecutionReport r = exec.Report();
    exec.logs()->Fill(&r);
    if (std::string(level) == "OFF") {
      EXPECT_TRUE(r.logs.empty());
      continue;
    }
    ASSERT_FALSE(r.logs.empty());
    for (const protocol::LogRecord& l : r.logs) {
      EXPECT_NE(l.event, "Transferred");
      EXPECT_NE(l.event, "Verified");
    }
    EXPECT_EQ(r.logs.front().event, "ExecutionStarted");
  }
}

TEST(RunningExecutionTest, ATaskReportWithoutDestinationStaysOnTheAgent) {
  TempDir src, dst, data;
  WriteFile(fs::path(src.path()) / "a", "alpha");
  protocol::Command c = RunCommand(src.path(), dst.path() + "/out");
  c.has_report = true;
  c.report_output_type = "STANDARD";
  c.report_level = "SUCCESSES_AND_ERRORS";
  const std::string root = data.path() + "/task-reports";
  Finished finished;
  RunningExecution exec(c, {.threads = 2}, finished.Callback(), root);
  exec.Start();
  ASSERT_TRUE(finished.Wait()) << "no final report";
  protocol::ExecutionReport r = exec.Report();
  ASSERT_TRUE(r.final);
  EXPECT_EQ(r.status, "SUCCESS") << r.describe.dump();
  const json& report = r.describe["ReportResult"];
  EXPECT_EQ(report["Status"], "SUCCESS") << report.dump();
  const std::string folder = root + "/exec-0123456789abcdef1";
  EXPECT_NE(report["ErrorDetail"].get<std::string>().find(folder),
            std::string::npos)
      << report.dump();
  EXPECT_TRUE(fs::exists(folder + "/exec-0123456789abcdef1.summary-v1.json"));
  const std::string list = ReadFile(
      folder + "/exec-0123456789abcdef1.files-transferred-v1-00001.json");
  EXPECT_NE(list.find("\"/a\""), std::string::npos) << list;
}

// The manifest object and the report destination are reached the way S3
// locations are: here an in-memory store stands for the bucket.
TEST(RunningExecutionTest, ManifestObjectIsReadAndTheReportDelivered) {
  TempDir src, dst, data;
  WriteFile(fs::path(src.path()) / "a", "alpha");
  WriteFile(fs::path(src.path()) / "b", "beta");
  auto bucket = std::make_shared<MemoryStore>();
  bucket->PutFile("lists/today.csv", "b\n");
  LocationOpener opener =
      [bucket](const protocol::LocationSpecMessage& loc,
               bool destination) -> Result<std::unique_ptr<Backend>> {
    if (loc.type == "S3") {
      EXPECT_EQ(loc.parameters.value("S3BucketArn", ""),
                "arn:aws:s3:::reports");
      return OpenMemoryBackend(bucket);
    }
    return OpenLocation(loc, destination);
  };
  protocol::Command c = RunCommand(src.path(), dst.path() + "/out");
  c.manifest_object = {"arn:aws:s3:::reports",
                       "S3",
                       {{"S3BucketArn", "arn:aws:s3:::reports"},
                        {"ManifestObjectPath", "/lists/today.csv"}}};
  c.has_report = true;
  c.report_output_type = "STANDARD";
  c.report_level = "SUCCESSES_AND_ERRORS";
  c.report_destination = {
      "arn:aws:s3:::reports",
      "S3",
      {{"S3BucketArn", "arn:aws:s3:::reports"}, {"Subdirectory", "/ferry/"}}};
  Finished finished;
  RunningExecution exec(c, {.threads = 2}, finished.Callback(),
                        data.path() + "/task-reports", opener);
  exec.Start();
  ASSERT_TRUE(finished.Wait()) << "no final report";
  protocol::ExecutionReport r = exec.Report();
  EXPECT_EQ(r.status, "SUCCESS") << r.describe.dump();
  EXPECT_EQ(r.describe["FilesTransferred"], 1) << "only the manifest's b";
  EXPECT_TRUE(fs::exists(dst.path() + "/out/b"));
  EXPECT_FALSE(fs::exists(dst.path() + "/out/a"));
  EXPECT_EQ(r.describe["ReportResult"]["Status"], "SUCCESS")
      << r.describe["ReportResult"].dump();
  const std::string base = "ferry/Summary-Reports/" +
                           std::string("task-0123456789abcdef0") +
                           "/exec-0123456789abcdef1/";
  EXPECT_TRUE(bucket->GetFile(base + "exec-0123456789abcdef1.summary-v1.json"))
      << "no summary at " << base;
  auto list = bucket->GetFile(
      "ferry/Detailed-Reports/task-0123456789abcdef0/exec-0123456789abcdef1/"
      "exec-0123456789abcdef1.files-transferred-v1-00001.json");
  ASSERT_TRUE(list.has_value());
  EXPECT_NE(list->find("\"/b\""), std::string::npos) << *list;

  // A manifest that is not there ends the execution at once, naming it.
  c.manifest_object.parameters["ManifestObjectPath"] = "lists/missing.csv";
  c.execution_arn += "2";
  Finished again;
  RunningExecution missing(c, {.threads = 2}, again.Callback(),
                           data.path() + "/task-reports", opener);
  missing.Start();
  ASSERT_TRUE(again.Wait());
  r = missing.Report();
  EXPECT_EQ(r.status, "ERROR");
  EXPECT_EQ(r.describe["Result"]["ErrorCode"], "ManifestError");
  EXPECT_NE(r.describe["Result"]["ErrorDetail"].get<std::string>().find(
                "lists/missing.csv"),
            std::string::npos)
      << r.describe.dump();
}

TEST(ConfigFromCommandTest, AReportNeedsAFolder) {
  protocol::Command c = RunCommand("/a", "/b");
  c.has_report = true;
  c.report_output_type = "SUMMARY_ONLY";
  c.report_level = "ERRORS_ONLY";
  auto none = ConfigFromCommand(c, {});
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("task reports"), std::string::npos);
  auto config = ConfigFromCommand(c, {}, "/var/lib/ferry/task-reports");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  ASSERT_TRUE(config->report.has_value());
  EXPECT_EQ(config->report->directory, "/var/lib/ferry/task-reports");
  EXPECT_EQ(config->report->output_type, ReportOutputType::kSummaryOnly);
  EXPECT_EQ(config->report->level, ReportLevel::kErrorsOnly);
}

TEST(RunningExecutionTest, ANonLocalLocationEndsErrorAtOnce) {
  TempDir dst;
  protocol::Command c = RunCommand("/nowhere", dst.path());
  c.source.type = "HDFS";
  Finished finished;
  RunningExecution exec(c, {.threads = 1}, finished.Callback());
  exec.Start();
  ASSERT_TRUE(finished.Wait()) << "no final report";
  protocol::ExecutionReport r = exec.Report();
  ASSERT_TRUE(r.final);
  EXPECT_EQ(r.status, "ERROR");
  EXPECT_EQ(r.describe["Result"]["ErrorCode"], "UnsupportedLocationType");
  EXPECT_NE(r.describe["Result"]["ErrorDetail"].get<std::string>().find("HDFS"),
            std::string::npos);
}

TEST(RunningExecutionTest, AMissingSourceIsASourceLocationError) {
  TempDir dst;
  Finished finished;
  RunningExecution exec(RunCommand(dst.path() + "/missing", dst.path() + "/o"),
                        {.threads = 1}, finished.Callback());
  exec.Start();
  ASSERT_TRUE(finished.Wait()) << "no final report";
  protocol::ExecutionReport r = exec.Report();
  ASSERT_TRUE(r.final);
  EXPECT_EQ(r.describe["Result"]["ErrorCode"], "SourceLocationError");
  // The detail names the location by its ARN, and says what failed.
  const std::string detail = r.describe["Result"]["ErrorDetail"];
  EXPECT_NE(detail.find("Cannot open the source location arn:src: "),
            std::string::npos)
      << detail;
  EXPECT_NE(detail.find("missing"), std::string::npos) << detail;
}

TEST(RunningExecutionTest, AnUnopenableDestinationNamesItsArn) {
  TempDir src;
  WriteFile(fs::path(src.path()) / "f", "x");
  // A destination beneath a regular file cannot be made.
  Finished finished;
  RunningExecution exec(RunCommand(src.path(), src.path() + "/f/under"),
                        {.threads = 1}, finished.Callback());
  exec.Start();
  ASSERT_TRUE(finished.Wait()) << "no final report";
  protocol::ExecutionReport r = exec.Report();
  ASSERT_TRUE(r.final);
  EXPECT_EQ(r.describe["Result"]["ErrorCode"], "DestinationLocationError")
      << r.describe.dump();
  const std::string detail = r.describe["Result"]["ErrorDetail"];
  EXPECT_NE(detail.find("Cannot open the destination location arn:dst: "),
            std::string::npos)
      << detail;
}

// 2 MiB at 1 byte/s: it never ends by itself, so a test that sees it end
// has seen what it waits for (a cancel, a new limit) reach the engine.
protocol::Command SlowCommand(const TempDir& src, const TempDir& dst) {
  WriteFile(fs::path(src.path()) / "big", std::string(2 << 20, 'x'));
  protocol::Command c = RunCommand(src.path(), dst.path());
  c.bytes_per_second = 1;
  return c;
}

TEST(RunningExecutionTest, CancelWhileTransferringEndsItOperationCanceled) {
  TempDir src, dst;
  Gate gate;
  Finished finished;
  RunningExecution exec(SlowCommand(src, dst), {.threads = 2},
                        finished.Callback(), "", GatedSource(&gate));
  exec.Start();
  ASSERT_TRUE(gate.WaitReached()) << "the execution never read the source";
  protocol::ExecutionReport live = exec.Report();
  EXPECT_FALSE(live.final);
  // Transfers start while the scan still runs: either phase is reading.
  EXPECT_TRUE(live.status == "PREPARING" || live.status == "TRANSFERRING")
      << live.status;
  EXPECT_EQ(live.describe["Options"]["BytesPerSecond"], 1);
  exec.Cancel();
  EXPECT_EQ(exec.Report().status, "CANCELLING");
  gate.Open();
  ASSERT_TRUE(finished.Wait()) << "the cancelled execution did not end";
  protocol::ExecutionReport r = exec.Report();
  ASSERT_TRUE(r.final);
  EXPECT_EQ(r.status, "ERROR");
  EXPECT_EQ(r.describe["Result"]["ErrorCode"], "OperationCanceled")
      << r.describe.dump();
  EXPECT_FALSE(fs::exists(fs::path(dst.path()) / "big"));
}

TEST(RunningExecutionTest, CancelBeforeTheEngineStartsEndsItOperationCanceled) {
  TempDir src, dst;
  Finished finished;
  RunningExecution exec(SlowCommand(src, dst), {.threads = 2},
                        finished.Callback());
  exec.Cancel();
  EXPECT_EQ(exec.Report().status, "CANCELLING");
  exec.Start();
  ASSERT_TRUE(finished.Wait()) << "the cancelled execution did not end";
  protocol::ExecutionReport r = exec.Report();
  EXPECT_EQ(r.status, "ERROR");
  EXPECT_EQ(r.describe["Result"]["ErrorCode"], "OperationCanceled")
      << r.describe.dump();
}

TEST(RunningExecutionTest, TheBandwidthChangesLive) {
  TempDir src, dst;
  Gate gate;
  Finished finished;
  RunningExecution exec(SlowCommand(src, dst), {.threads = 2},
                        finished.Callback(), "", GatedSource(&gate));
  exec.Start();
  ASSERT_TRUE(gate.WaitReached()) << "the execution never read the source";
  exec.SetBytesPerSecond(-1);
  gate.Open();
  // At 1 byte/s this takes weeks: ending at all means the new limit reached
  // the running engine.
  ASSERT_TRUE(finished.Wait()) << "still running at 1 byte/s";
  protocol::ExecutionReport r = exec.Report();
  EXPECT_EQ(r.status, "SUCCESS") << r.describe.dump();
  EXPECT_EQ(r.describe["Options"]["BytesPerSecond"], -1);
  EXPECT_EQ(ReadFile(fs::path(dst.path()) / "big"), std::string(2 << 20, 'x'));
}

TEST(RunningExecutionTest, AbandonSaysTheAgentStopped) {
  TempDir src, dst;
  Gate gate;
  Finished finished;
  RunningExecution exec(SlowCommand(src, dst), {.threads = 2},
                        finished.Callback(), "", GatedSource(&gate));
  exec.Start();
  ASSERT_TRUE(gate.WaitReached()) << "the execution never read the source";
  gate.Open();  // it goes on into the 1 byte/s limit and stays there
  exec.Abandon();
  ASSERT_TRUE(exec.done());
  EXPECT_EQ(finished.calls(), 1);
  protocol::ExecutionReport r = exec.Report();
  EXPECT_TRUE(r.final);
  EXPECT_EQ(r.status, "ERROR");
  EXPECT_EQ(r.describe["Result"]["ErrorCode"], "AgentStopped")
      << r.describe.dump();
  EXPECT_FALSE(fs::exists(fs::path(dst.path()) / "big"));
}

}  // namespace
}  // namespace ferry::agent
