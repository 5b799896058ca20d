// A real `ferry server` (HTTPS on 127.0.0.1, SQLite) and a real agent (mutual
// TLS) in one process: activation through CreateAgent, a task between two
// LOCAL locations that ends SUCCESS with the destination equal to the source,
// locations outside the agent's --allowed-path that end ERROR untouched,
// a bandwidth change and a cancellation while running, a server restart
// while an execution runs, an agent that stops mid-execution (the
// execution ends AgentOffline), and LogLevel TRANSFER records read back
// through GetTaskExecutionLogs.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

#include "ferry/agent/agent.h"
#include "ferry/control/server/api.h"
#include "ferry/control/server/server.h"
#include "ferry/protocol/agent_protocol.h"

namespace ferry {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

void WriteFile(const fs::path& p, const std::string& content) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << content;
}

// Relative path -> content ("<dir>" for folders).
std::map<std::string, std::string> Tree(const fs::path& root) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    std::string rel = fs::relative(e.path(), root).string();
    if (e.is_directory()) {
      out[rel] = "<dir>";
    } else {
      std::ifstream in(e.path(), std::ios::binary);
      out[rel] = std::string((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
    }
  }
  return out;
}

std::string Pattern(size_t n, char seed) {
  std::string s(n, '\0');
  uint32_t x = static_cast<unsigned char>(seed) * 2654435761u + 1;
  for (char& c : s) {
    x = x * 1664525u + 1013904223u;
    c = static_cast<char>(x >> 24);
  }
  return s;
}

class AgentIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // As ferry's main() does: the agent's client (cpp-httplib over OpenSSL)
    // writes without MSG_NOSIGNAL, and Agent::Stop() shuts its socket down
    // under a request being written (which, now that the server answers at
    // once, is where a stopping agent often is).
    std::signal(SIGPIPE, SIG_IGN);
    char tmpl[] = "/tmp/ferry-agent-it-XXXXXX";
    root_ = ::mkdtemp(tmpl);
    control::InitOptions init;
    init.data_dir = (root_ / "server").string();
    init.names = {"127.0.0.1", "localhost"};
    Status st = control::InitDataDir(init);
    ASSERT_TRUE(st.ok()) << st.ToString();
    StartServer(0, std::chrono::seconds(30));
  }

  void TearDown() override {
    StopAgent();
    StopServer();
    std::error_code ec;
    fs::remove_all(root_, ec);
    fs::remove_all(Outside(), ec);
  }

  // A folder beside root_ whose name starts with root_'s: outside it.
  fs::path Outside() const { return root_.string() + "-outside"; }

  void StartServer(int port, std::chrono::seconds offline_after) {
    control::ServerConfig config;
    config.data_dir = (root_ / "server").string();
    config.listen = "127.0.0.1:" + std::to_string(port);
    config.tick = tick_;
    config.agent_offline_after = offline_after;
    auto server = control::Server::Open(config);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    server_thread_ = std::thread([this] {
      Status st = server_->Serve();
      EXPECT_TRUE(st.ok()) << st.ToString();
    });
    auto until = Clock::now() + std::chrono::seconds(10);
    while (server_->port() == 0 && Clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ASSERT_GT(server_->port(), 0);
    port_ = server_->port();
  }

  void StopServer() {
    if (!server_) return;
    server_->Stop();
    if (server_thread_.joinable()) server_thread_.join();
    server_.reset();
  }

  // Starts the agent and activates it with CreateAgent.
  void StartAgent() {
    agent::AgentConfig config;
    config.server_url = "https://127.0.0.1:" + std::to_string(port_);
    config.data_dir = (root_ / "agent").string();
    config.ca_bundle = (root_ / "server" / "ca.pem").string();
    config.poll_interval = std::chrono::milliseconds(100);
    config.threads = 2;
    config.storage.allowed_paths = allowed_paths_;
    config.on_sync = [this](bool answered) {
      std::lock_guard lock(sync_mu_);
      ++(answered ? syncs_answered_ : syncs_failed_);
      sync_cv_.notify_all();
    };
    auto agent = agent::Agent::Open(config);
    ASSERT_TRUE(agent.ok()) << agent.status().ToString();
    agent_ = std::move(agent).value();
    auto key = std::make_shared<std::promise<std::string>>();
    agent_thread_ = std::thread([this, key] {
      bool told = false;
      Status st = agent_->Run([&](const std::string& k) {
        if (!told) key->set_value(k);
        told = true;
      });
      EXPECT_TRUE(st.ok()) << st.ToString();
    });
    if (!agent_arn_.empty()) return;  // activated before
    auto future = key->get_future();
    ASSERT_EQ(future.wait_for(std::chrono::seconds(20)),
              std::future_status::ready);
    const std::string activation_key = future.get();
    EXPECT_EQ(activation_key.size(), 29u);
    json created = Api("CreateAgent", {{"ActivationKey", activation_key},
                                       {"AgentName", "it-agent"}});
    agent_arn_ = created["AgentArn"];
    auto until = Clock::now() + std::chrono::seconds(20);
    while (agent_->arn().empty() && Clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_EQ(agent_->arn(), agent_arn_);
    EXPECT_EQ(fs::status(root_ / "agent" / "agent.key").permissions() &
                  fs::perms::all,
              fs::perms::owner_read | fs::perms::owner_write);
  }

  void StopAgent() {
    if (!agent_) return;
    agent_->Stop();
    if (agent_thread_.joinable()) agent_thread_.join();
    agent_.reset();
  }

  json Api(const std::string& operation, const json& request) {
    static const control::ApiRegistry registry = control::AllApis();
    control::ApiCall call{server_->context(), operation, "test", request};
    auto it = registry.find(operation);
    if (it == registry.end()) {
      ADD_FAILURE() << "no handler for " << operation;
      return json::object();
    }
    control::ApiResult result = it->second(call);
    if (auto* e = std::get_if<ApiError>(&result)) {
      ADD_FAILURE() << operation << ": " << e->type << ": " << e->message;
      return json::object();
    }
    return std::get<json>(result);
  }

  std::string Location(const fs::path& path) {
    fs::create_directories(path);
    return Api(
        "CreateLocationLocal",
        {{"Path", path.string()}, {"AgentArns", {agent_arn_}}})["LocationArn"];
  }

  std::string Task(const fs::path& src, const fs::path& dst,
                   json options = json::object()) {
    json request = {{"SourceLocationArn", Location(src)},
                    {"DestinationLocationArn", Location(dst)},
                    {"Name", "it"}};
    if (!options.empty()) request["Options"] = options;
    return Api("CreateTask", request)["TaskArn"];
  }

  std::string Start(const std::string& task, json overrides = json::object()) {
    overrides["TaskArn"] = task;
    return Api("StartTaskExecution", overrides)["TaskExecutionArn"];
  }

  json Describe(const std::string& exec) {
    return Api("DescribeTaskExecution", {{"TaskExecutionArn", exec}});
  }

  // Waits until the execution's status is one of `statuses`.
  json WaitFor(const std::string& exec,
               const std::vector<std::string>& statuses, double seconds) {
    auto until = Clock::now() + std::chrono::duration<double>(seconds);
    json d;
    while (Clock::now() < until) {
      d = Describe(exec);
      std::string s = d.value("Status", "");
      if (std::find(statuses.begin(), statuses.end(), s) != statuses.end()) {
        return d;
      }
      if ((s == "SUCCESS" || s == "ERROR") &&
          std::find(statuses.begin(), statuses.end(), "TRANSFERRING") !=
              statuses.end()) {
        break;  // ended before it could be seen transferring
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << "execution did not reach the status in time: "
                  << d.dump(1);
    return d;
  }

  // Sync counts so far: {answered, failed}.
  std::pair<int, int> Syncs() {
    std::lock_guard lock(sync_mu_);
    return {syncs_answered_, syncs_failed_};
  }
  // Waits until the agent's syncs satisfy `done` (given {answered, failed}).
  bool WaitForSyncs(const std::function<bool(int, int)>& done,
                    std::chrono::seconds limit) {
    std::unique_lock lock(sync_mu_);
    return sync_cv_.wait_for(
        lock, limit, [&] { return done(syncs_answered_, syncs_failed_); });
  }

  fs::path root_;
  // How often the server's loops run (dispatch, pending commands).
  std::chrono::milliseconds tick_{50};
  std::mutex sync_mu_;
  std::condition_variable sync_cv_;
  int syncs_answered_ = 0;  // GUARDED_BY(sync_mu_)
  int syncs_failed_ = 0;    // GUARDED_BY(sync_mu_)
  std::unique_ptr<control::Server> server_;
  std::thread server_thread_;
  int port_ = 0;
  std::unique_ptr<agent::Agent> agent_;
  std::thread agent_thread_;
  std::string agent_arn_;
  std::vector<std::string> allowed_paths_;  // the agent's --allowed-path
};

TEST_F(AgentIntegrationTest, ActivateTransferCancelRestartAndLoseTheAgent) {
  allowed_paths_ = {root_.string()};
  ASSERT_NO_FATAL_FAILURE(StartAgent());
  // ONLINE from its first answered sync on.
  ASSERT_TRUE(WaitForSyncs([](int answered, int) { return answered > 0; },
                           std::chrono::seconds(20)))
      << "the agent never synced";
  json agent = Api("DescribeAgent", {{"AgentArn", agent_arn_}});
  EXPECT_EQ(agent["Status"], "ONLINE") << agent.dump();

  // 1. A first execution copies everything and verifies it.
  const fs::path src = root_ / "src", dst = root_ / "dst";
  WriteFile(src / "a.txt", "alpha");
  WriteFile(src / "d/e/b.bin", Pattern(300'000, 'b'));
  WriteFile(src / "d/empty", "");
  WriteFile(src / "skip.tmp", "excluded");
  std::string task = Task(src, dst);
  auto t0 = Clock::now();
  std::string exec = Start(
      task,
      {{"Excludes", {{{"FilterType", "SIMPLE_PATTERN"}, {"Value", "*.tmp"}}}}});
  json done = WaitFor(exec, {"SUCCESS", "ERROR"}, 30);
  ASSERT_EQ(done["Status"], "SUCCESS") << done.dump(1);
  EXPECT_EQ(done["FilesTransferred"], 3);
  EXPECT_EQ(done["BytesWritten"], 300'005);
  EXPECT_EQ(done["Result"]["VerifyStatus"], "SUCCESS");
  EXPECT_TRUE(done.contains("EndTime"));
  auto expected = Tree(src);
  expected.erase("skip.tmp");
  EXPECT_EQ(Tree(dst), expected);
  std::fprintf(stderr, "first execution: %.2f s\n",
               std::chrono::duration<double>(Clock::now() - t0).count());

  // 1b. The agent may use root_ alone (--allowed-path). A location outside
  // it, through "..", through a symlink in root_, or as a sibling whose name
  // merely starts with root_'s, ends the execution ERROR naming the path and
  // the allowed one, with nothing read or written (the review's copy of
  // /etc/shadow, from /../../etc with Includes=/shadow).
  const fs::path outside = Outside();
  WriteFile(outside / "shadow", "secret");
  fs::create_directory_symlink(outside, root_ / "link");
  auto location = [&](const fs::path& path) -> std::string {
    return Api(
        "CreateLocationLocal",
        {{"Path", path.string()}, {"AgentArns", {agent_arn_}}})["LocationArn"];
  };
  const std::vector<std::pair<fs::path, fs::path>> refused = {
      {root_ / "src" / ".." / ".." / outside.filename(), root_ / "out-1"},
      {root_ / "link", root_ / "out-2"},
      {outside, root_ / "out-3"},
      {src, outside / "dst"}};
  for (const auto& [from, to] : refused) {
    std::string t = Api("CreateTask", {{"SourceLocationArn", location(from)},
                                       {"DestinationLocationArn", location(to)},
                                       {"Name", "outside"}})["TaskArn"];
    json failed = WaitFor(
        Start(t,
              {{"Includes",
                {{{"FilterType", "SIMPLE_PATTERN"}, {"Value", "/shadow"}}}}}),
        {"SUCCESS", "ERROR"}, 20);
    EXPECT_EQ(failed["Status"], "ERROR") << failed.dump(1);
    const std::string detail = failed["Result"].value("ErrorDetail", "");
    const fs::path bad = to.string().starts_with(outside.string()) ? to : from;
    EXPECT_NE(detail.find("Path '" + bad.string() + "'"), std::string::npos)
        << detail;
    EXPECT_NE(
        detail.find("outside the paths this agent may use: " + root_.string()),
        std::string::npos)
        << detail;
    EXPECT_EQ(failed["FilesTransferred"], 0);
    EXPECT_FALSE(fs::exists(to)) << to;
  }
  EXPECT_EQ(Tree(outside),
            (std::map<std::string, std::string>{{"shadow", "secret"}}));

  // 2. An execution held at 1 byte/s (it would take weeks) ends once its
  // limit is lifted: the new limit reached the agent's engine...
  const fs::path big = root_ / "big", big_dst = root_ / "big-dst";
  WriteFile(big / "big.bin", Pattern(6 << 20, 'x'));  // 6 MiB
  std::string slow_task = Task(big, big_dst);
  exec = Start(slow_task, {{"OverrideOptions", {{"BytesPerSecond", 1}}}});
  WaitFor(exec, {"TRANSFERRING"}, 20);
  Api("UpdateTaskExecution",
      {{"TaskExecutionArn", exec}, {"Options", {{"BytesPerSecond", -1}}}});
  done = WaitFor(exec, {"SUCCESS", "ERROR"}, 60);
  EXPECT_EQ(done["Status"], "SUCCESS") << done.dump(1);
  EXPECT_EQ(Tree(big_dst), Tree(big));

  // ... and a cancelled one ends OperationCanceled.
  fs::remove_all(big_dst);
  exec = Start(slow_task, {{"OverrideOptions", {{"BytesPerSecond", 1}}}});
  WaitFor(exec, {"TRANSFERRING"}, 20);
  Api("CancelTaskExecution", {{"TaskExecutionArn", exec}});
  done = WaitFor(exec, {"SUCCESS", "ERROR"}, 10);
  EXPECT_EQ(done["Status"], "ERROR");
  EXPECT_EQ(done["Result"]["ErrorCode"], "OperationCanceled") << done.dump(1);
  EXPECT_FALSE(fs::exists(big_dst / "big.bin"));

  // 3. The server restarts while an execution runs: it still finishes, with
  // the right counters.
  fs::remove_all(big_dst);
  exec = Start(slow_task, {{"OverrideOptions", {{"BytesPerSecond", 2 << 20}}}});
  WaitFor(exec, {"TRANSFERRING"}, 20);
  const int port = port_;
  StopServer();
  // The agent finds the server gone (and keeps running the execution)...
  const int failed_before = Syncs().second;
  ASSERT_TRUE(
      WaitForSyncs([&](int, int failed) { return failed > failed_before; },
                   std::chrono::seconds(20)))
      << "the agent never noticed the server stopped";
  ASSERT_NO_FATAL_FAILURE(StartServer(port, std::chrono::seconds(30)));
  // ... and comes back to the new one.
  const int answered_before = Syncs().first;
  ASSERT_TRUE(WaitForSyncs(
      [&](int answered, int) { return answered > answered_before; },
      std::chrono::seconds(20)))
      << "the agent did not reconnect";
  done = WaitFor(exec, {"SUCCESS", "ERROR"}, 20);
  EXPECT_EQ(done["Status"], "SUCCESS") << done.dump(1);
  EXPECT_EQ(done["FilesTransferred"], 1);
  EXPECT_EQ(done["BytesWritten"], 6 << 20);
  EXPECT_EQ(done["FilesVerified"], 1);
  EXPECT_EQ(Tree(big_dst), Tree(big));

  // 4. The agent stops mid-execution: the execution ends AgentOffline (on a
  // server that declares agents offline after 2 s of silence).
  StopServer();
  ASSERT_NO_FATAL_FAILURE(StartServer(port, std::chrono::seconds(2)));
  fs::remove_all(big_dst);
  exec = Start(slow_task, {{"OverrideOptions", {{"BytesPerSecond", 1}}}});
  WaitFor(exec, {"TRANSFERRING"}, 20);
  auto stopped = Clock::now();
  StopAgent();
  done = WaitFor(exec, {"SUCCESS", "ERROR"}, 10);
  EXPECT_EQ(done["Status"], "ERROR");
  EXPECT_EQ(done["Result"]["ErrorCode"], "AgentOffline") << done.dump(1);
  EXPECT_NE(done["Result"]["ErrorDetail"].get<std::string>().find(agent_arn_),
            std::string::npos);
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - stopped).count(), 6);
  agent = Api("DescribeAgent", {{"AgentArn", agent_arn_}});
  EXPECT_EQ(agent["Status"], "OFFLINE") << agent.dump();
}

// The server pushes: on a server whose loops run once an hour (after the
// first pass at its start), an execution still reaches the agent when it
// is started, and a cancellation when it is asked for, since both go out
// on the agent's channel the moment they are committed.
TEST_F(AgentIntegrationTest, CommandsArePushedTheMomentTheyExist) {
  StopServer();
  tick_ = std::chrono::hours(1);
  ASSERT_NO_FATAL_FAILURE(StartServer(0, std::chrono::seconds(30)));
  allowed_paths_ = {root_.string()};
  ASSERT_NO_FATAL_FAILURE(StartAgent());
  ASSERT_TRUE(WaitForSyncs([](int answered, int) { return answered > 0; },
                           std::chrono::seconds(20)));
  // ONLINE from its first message on, flushed or not.
  EXPECT_EQ(Api("DescribeAgent", {{"AgentArn", agent_arn_}})["Status"],
            "ONLINE");

  const fs::path src = root_ / "src", dst = root_ / "dst";
  WriteFile(src / "one.txt", "one file");
  std::string exec = Start(Task(src, dst));
  json done = WaitFor(exec, {"SUCCESS", "ERROR"}, 20);
  ASSERT_EQ(done["Status"], "SUCCESS") << done.dump(1);
  EXPECT_EQ(Tree(dst), Tree(src));

  const fs::path big = root_ / "big", big_dst = root_ / "big-dst";
  WriteFile(big / "big.bin", Pattern(6 << 20, 'p'));
  exec =
      Start(Task(big, big_dst), {{"OverrideOptions", {{"BytesPerSecond", 1}}}});
  WaitFor(exec, {"TRANSFERRING"}, 20);
  Api("CancelTaskExecution", {{"TaskExecutionArn", exec}});
  done = WaitFor(exec, {"SUCCESS", "ERROR"}, 20);
  EXPECT_EQ(done["Status"], "ERROR");
  EXPECT_EQ(done["Result"]["ErrorCode"], "OperationCanceled") << done.dump(1);
}

// LogLevel TRANSFER: the agent ships a record per file transferred and
// verified, more than one report holds, and the server serves them all
// through GetTaskExecutionLogs once the execution has ended.
TEST_F(AgentIntegrationTest, TransferLogsReachTheOperator) {
  allowed_paths_ = {root_.string()};
  ASSERT_NO_FATAL_FAILURE(StartAgent());
  const fs::path src = root_ / "src", dst = root_ / "dst";
  constexpr int kFiles = 1200;
  for (int i = 0; i < kFiles; ++i) {
    WriteFile(src / ("d" + std::to_string(i % 10)) / ("f" + std::to_string(i)),
              "content " + std::to_string(i));
  }
  WriteFile(src / "forged\n2030-01-01T00:00:00.000Z ERROR x", "name");
  std::string exec = Start(Task(src, dst, {{"LogLevel", "TRANSFER"}}));
  json done = WaitFor(exec, {"SUCCESS", "ERROR"}, 120);
  ASSERT_EQ(done["Status"], "SUCCESS") << done.dump(1);
  ASSERT_EQ(done["FilesTransferred"], kFiles + 1);

  // The agent goes on shipping after the end: read until Complete.
  std::vector<json> records;
  int64_t next = 1;
  bool complete = false;
  auto until = Clock::now() + std::chrono::seconds(60);
  while (!complete && Clock::now() < until) {
    json page = Api(
        "GetTaskExecutionLogs",
        {{"TaskExecutionArn", exec}, {"StartSeq", next}, {"MaxResults", 500}});
    ASSERT_TRUE(page.contains("Records")) << page.dump();
    for (const json& r : page["Records"]) records.push_back(r);
    next = page["NextSeq"];
    complete = page["Complete"];
    if (!complete && page["Records"].size() < 500) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  ASSERT_TRUE(complete) << records.size() << " records by the deadline";
  int transferred = 0, verified = 0;
  for (size_t i = 0; i < records.size(); ++i) {
    const json& r = records[i];
    ASSERT_EQ(r["Seq"], static_cast<int64_t>(i + 1)) << r.dump();
    const std::string message = r["Message"];
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    if (r["Event"] == "Transferred" &&
        message.rfind("Transferred file ", 0) == 0) {
      ++transferred;
    }
    if (r["Event"] == "Verified" && message.rfind("Verified file ", 0) == 0) {
      ++verified;
    }
  }
  EXPECT_EQ(transferred, kFiles + 1);
  EXPECT_EQ(verified, kFiles + 1);
  EXPECT_EQ(records.front()["Event"], "ExecutionStarted");
  EXPECT_GT(records.size(), 2u * protocol::kMaxLogRecordsPerReport);

  // Once all are stored the agent forgets the final report and its records.
  const fs::path reports = root_ / "agent" / "reports";
  until = Clock::now() + std::chrono::seconds(20);
  while (Clock::now() < until &&
         !(fs::is_empty(reports) || !fs::exists(reports))) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(!fs::exists(reports) || fs::is_empty(reports));
}

}  // namespace
}  // namespace ferry
