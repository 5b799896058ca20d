// Execution logs on the server: what AgentService::Sync stores of the Logs
// agents send (duplicates ignored, rotation past the bound, records of
// executions that are not the agent's), what it answers in LogsStored,
// pruning, and GetTaskExecutionLogs (paging, Complete, validation), on both
// databases.
#include "ferry/control/server/execution_logs.h"

#include <gtest/gtest.h>

#include "ferry/control/server/agent_service.h"
#include "ferry/control/server/api_helpers.h"
#include "ferry/control/server/api_test_fixture.h"

namespace ferry::control {
namespace {

using nlohmann::json;
using testing::Backend;

class ExecutionLogsTest : public testing::ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    service_ = std::make_unique<AgentService>(&ctx_);
    agent_ = NewAgent();
    Heartbeat(agent_);
    task_ =
        NewTask(NewLocalLocation(agent_, "/a"), NewLocalLocation(agent_, "/b"),
                {{"Options", {{"LogLevel", "TRANSFER"}}}});
  }
  void TearDown() override {
    service_.reset();
    ApiTest::TearDown();
  }

  // Starts an execution and has the dispatcher give it to agent_.
  std::string Launch() {
    std::string exec =
        Ok("StartTaskExecution", {{"TaskArn", task_}})["TaskExecutionArn"];
    Status st = service_->DispatchOnce();
    EXPECT_TRUE(st.ok()) << st.ToString();
    return exec;
  }

  static std::vector<protocol::LogRecord> Records(int64_t from, int64_t to) {
    std::vector<protocol::LogRecord> out;
    for (int64_t seq = from; seq <= to; ++seq) {
      out.push_back({seq, kStartMs + seq, "INFO", "Transferred",
                     "Transferred /f" + std::to_string(seq)});
    }
    return out;
  }

  // One sync from `agent` reporting `exec` with `logs`.
  protocol::SyncResponse Sync(const std::string& exec,
                              std::vector<protocol::LogRecord> logs,
                              int64_t logs_seq, bool final = false,
                              const std::string& agent = "") {
    protocol::SyncRequest request;
    protocol::ExecutionReport r;
    r.execution_arn = exec;
    r.status = final ? "SUCCESS" : "TRANSFERRING";
    r.describe = final ? json{{"Status", "SUCCESS"}} : json::object();
    r.final = final;
    r.logs = std::move(logs);
    r.logs_seq = logs_seq;
    request.executions.push_back(std::move(r));
    auto response =
        service_->Sync(ResourceId(agent.empty() ? agent_ : agent), request);
    EXPECT_TRUE(response.ok()) << response.status().ToString();
    return response.ok() ? *response : protocol::SyncResponse();
  }

  json Logs(const std::string& exec, int64_t start = 1, int max = 0) {
    json request = {{"TaskExecutionArn", exec}, {"StartSeq", start}};
    if (max > 0) request["MaxResults"] = max;
    return Ok("GetTaskExecutionLogs", request);
  }

  std::vector<int64_t> Seqs(const json& page) {
    std::vector<int64_t> out;
    for (const json& r : page["Records"]) out.push_back(r["Seq"]);
    return out;
  }

  std::unique_ptr<AgentService> service_;
  std::string agent_, task_;
};

INSTANTIATE_TEST_SUITE_P(Backends, ExecutionLogsTest,
                         ::testing::Values(Backend::kSqlite,
                                           Backend::kPostgres),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                           return testing::BackendName(info.param);
                         });

TEST_P(ExecutionLogsTest, StoresRecordsIgnoresRepeatsAndAnswersLogsStored) {
  const std::string exec = Launch();
  protocol::SyncResponse r = Sync(exec, Records(1, 3), 3);
  EXPECT_TRUE(r.has_logs_stored);
  EXPECT_EQ(r.logs_stored[exec], 3);
  // A repeat (its answer was lost) and the next ones: stored once each.
  r = Sync(exec, Records(2, 5), 5);
  EXPECT_EQ(r.logs_stored[exec], 5);
  json page = Logs(exec);
  EXPECT_EQ(Seqs(page), (std::vector<int64_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(page["NextSeq"], 6);
  EXPECT_EQ(page["Complete"], false);  // still running
  EXPECT_EQ(page["Records"][3]["Message"], "Transferred /f4");
  EXPECT_EQ(page["Records"][3]["Level"], "INFO");
  EXPECT_EQ(page["Records"][3]["Event"], "Transferred");
  EXPECT_DOUBLE_EQ(page["Records"][3]["Time"].get<double>(),
                   (kStartMs + 4) / 1000.0);
  // A report without records answers nothing for it.
  r = Sync(exec, {}, 0);
  EXPECT_TRUE(r.has_logs_stored);
  EXPECT_EQ(r.logs_stored.count(exec), 0u);

  // Pages: StartSeq and MaxResults.
  page = Logs(exec, 2, 2);
  EXPECT_EQ(Seqs(page), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(page["NextSeq"], 4);
  page = Logs(exec, 6);
  EXPECT_TRUE(page["Records"].empty());
  EXPECT_EQ(page["NextSeq"], 6);
}

TEST_P(ExecutionLogsTest, CompleteOnceTheFinalReportsRecordsAreAllStored) {
  const std::string exec = Launch();
  Sync(exec, Records(1, 2), 2);
  // The final report announces 4 records and carries the third only.
  protocol::SyncResponse r = Sync(exec, Records(3, 3), 4, /*final=*/true);
  EXPECT_EQ(r.acknowledged, std::vector<std::string>{exec});
  EXPECT_EQ(r.logs_stored[exec], 3);
  json page = Logs(exec);
  EXPECT_EQ(Seqs(page), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(page["Complete"], false);
  // The final report again, with the last record: acknowledged again.
  r = Sync(exec, Records(4, 4), 4, /*final=*/true);
  EXPECT_EQ(r.acknowledged, std::vector<std::string>{exec});
  EXPECT_EQ(r.logs_stored[exec], 4);
  page = Logs(exec);
  EXPECT_EQ(page["Complete"], true);
  // A page that stops short of the end is not complete.
  EXPECT_EQ(Logs(exec, 1, 2)["Complete"], false);
  EXPECT_EQ(Logs(exec, 3, 2)["Complete"], true);
}

TEST_P(ExecutionLogsTest, AnExecutionTheServerEndedHasWhatArrived) {
  const std::string exec = Launch();
  Sync(exec, Records(1, 2), 10);
  now_ms_ += 10 * 60 * 1000;  // the agent falls silent
  ctx_.config.agent_offline_after = std::chrono::seconds(60);
  ASSERT_TRUE(service_->MonitorAgentsOnce().ok());
  json d = Ok("DescribeTaskExecution", {{"TaskExecutionArn", exec}});
  ASSERT_EQ(d["Status"], "ERROR");
  EXPECT_EQ(Logs(exec)["Complete"], true);
  // The agent comes back with its final report and the rest: kept, and
  // complete once all are there.
  Heartbeat(agent_);
  protocol::SyncResponse r = Sync(exec, Records(3, 9), 10, /*final=*/true);
  EXPECT_EQ(r.logs_stored[exec], 9);
  EXPECT_EQ(Logs(exec)["Complete"], false);
  Sync(exec, Records(10, 10), 10, /*final=*/true);
  EXPECT_EQ(Logs(exec)["Complete"], true);
  EXPECT_EQ(Logs(exec)["Records"].size(), 10u);
}

TEST_P(ExecutionLogsTest, RotatesPastTheBoundWithOneRecordSayingSo) {
  ctx_.config.logs.max_records_per_execution = 10;
  const std::string exec = Launch();
  Sync(exec, Records(1, 8), 8);
  Sync(exec, Records(9, 12), 12);
  json page = Logs(exec);
  // 1 to 3 went; the marker has the Seq of the last of them.
  EXPECT_EQ(Seqs(page),
            (std::vector<int64_t>{3, 4, 5, 6, 7, 8, 9, 10, 11, 12}));
  EXPECT_EQ(page["Records"][0]["Event"], kServerDroppedRecordsEvent);
  EXPECT_EQ(page["Records"][0]["Level"], "WARN");
  EXPECT_NE(page["Records"][0]["Message"].get<std::string>().find(
                "3 earlier log record(s)"),
            std::string::npos)
      << page["Records"][0];
  // More: the count goes on from the first marker's.
  protocol::SyncResponse r = Sync(exec, Records(13, 17), 17);
  EXPECT_EQ(r.logs_stored[exec], 17);
  page = Logs(exec);
  EXPECT_EQ(page["Records"].size(), 10u);
  EXPECT_EQ(page["Records"][0]["Seq"], 8);
  EXPECT_NE(page["Records"][0]["Message"].get<std::string>().find(
                "8 earlier log record(s)"),
            std::string::npos)
      << page["Records"][0];
  // A repeat of records already rotated out is not taken again.
  r = Sync(exec, Records(1, 5), 17);
  EXPECT_EQ(r.logs_stored[exec], 17);
  EXPECT_EQ(Seqs(Logs(exec)).front(), 8);
  EXPECT_EQ(Logs(exec)["Records"].size(), 10u);
}

TEST_P(ExecutionLogsTest, RecordsOfOthersExecutionsAreNotStored) {
  const std::string exec = Launch();
  // Another agent's report: ignored, nothing answered.
  const std::string other = NewAgent("other");
  Heartbeat(other);
  protocol::SyncResponse r = Sync(exec, Records(1, 2), 2, false, other);
  EXPECT_EQ(r.logs_stored.count(exec), 0u);
  EXPECT_TRUE(Logs(exec)["Records"].empty());
  // An execution the server does not know: answered as stored (the agent
  // may forget them), kept nowhere.
  const std::string gone = task_ + "/execution/exec-0123456789abcdef0";
  r = Sync(gone, Records(1, 4), 6, /*final=*/true);
  EXPECT_EQ(r.logs_stored[gone], 6);
  EXPECT_EQ(r.acknowledged, std::vector<std::string>{gone});
}

TEST_P(ExecutionLogsTest, PeerTextIsStoredAsSent) {
  const std::string exec = Launch();
  std::vector<protocol::LogRecord> logs = Records(1, 1);
  logs[0].message = "a\nb \x1b[31m caf\xc3\xa9 \\x00";
  logs[0].level = "ERROR";
  Sync(exec, logs, 1);
  json page = Logs(exec);
  EXPECT_EQ(page["Records"][0]["Message"], logs[0].message);
  EXPECT_EQ(page["Records"][0]["Level"], "ERROR");
}

TEST_P(ExecutionLogsTest, PruningDeletesOldAndOrphanedRecords) {
  ctx_.config.logs.retention = std::chrono::hours(24);
  const std::string ended = Launch();
  Sync(ended, Records(1, 3), 3, /*final=*/true);
  const std::string running = Launch();
  Sync(running, Records(1, 2), 2);
  auto count = [&](const std::string& table) {
    int64_t n = -1;
    Status st = ctx_.db->Transaction([&](SqlSession& s) -> Status {
      FERRY_ASSIGN_OR_RETURN(auto rows,
                             s.Query("SELECT COUNT(*) FROM " + table));
      FERRY_ASSIGN_OR_RETURN(auto v, SqlInt(rows.at(0), 0));
      n = v.value_or(-1);
      return Status::Ok();
    });
    EXPECT_TRUE(st.ok()) << st.ToString();
    return n;
  };
  EXPECT_EQ(count("execution_logs"), 5);
  // Within the retention: kept.
  now_ms_ += 23 * 3600 * 1000;
  ASSERT_TRUE(service_->PruneLogsOnce().ok());
  EXPECT_EQ(count("execution_logs"), 5);
  // Past it: the ended execution's go (the running one's stay). The pass
  // runs at most once per prune_interval.
  now_ms_ += 2 * 3600 * 1000;
  ctx_.config.logs.prune_interval = std::chrono::seconds(3600);
  ASSERT_TRUE(service_->PruneLogsOnce().ok());
  EXPECT_EQ(count("execution_logs"), 2);
  EXPECT_EQ(count("execution_log_state"), 1);
  EXPECT_TRUE(Logs(ended)["Records"].empty());
  EXPECT_EQ(Logs(running)["Records"].size(), 2u);
  // Deleting the task takes the rest (its running execution ends first).
  Mutate(running, [](ExecutionRecord& e) {
    e.status = "ERROR";
    e.end_ms = 1;
  });
  Ok("DeleteTask", {{"TaskArn", task_}});
  EXPECT_EQ(count("execution_logs"), 0);
  EXPECT_EQ(count("execution_log_state"), 0);
}

TEST_P(ExecutionLogsTest, RequestsAreValidated) {
  const std::string exec = Launch();
  ApiError e = Err("GetTaskExecutionLogs",
                   {{"TaskExecutionArn", exec}, {"MaxResults", 10001}});
  EXPECT_EQ(e.type, "InvalidRequestException");
  EXPECT_NE(e.message.find("maxResults"), std::string::npos) << e.message;
  e = Err("GetTaskExecutionLogs",
          {{"TaskExecutionArn", exec}, {"MaxResults", 0}});
  EXPECT_EQ(e.type, "InvalidRequestException");
  e = Err("GetTaskExecutionLogs",
          {{"TaskExecutionArn", exec}, {"StartSeq", -1}});
  EXPECT_EQ(e.type, "InvalidRequestException");
  e = Err("GetTaskExecutionLogs", json::object());
  EXPECT_EQ(e.type, "InvalidRequestException");
  e = Err("GetTaskExecutionLogs",
          {{"TaskExecutionArn", task_ + "/execution/exec-0123456789abcdef0"}});
  EXPECT_NE(e.message.find("not found"), std::string::npos) << e.message;
  std::string foreign = exec;
  foreign.replace(foreign.find("000000000000"), 12, "111111111111");
  e = Err("GetTaskExecutionLogs", {{"TaskExecutionArn", foreign}});
  EXPECT_NE(e.message.find("must match authenticated user"), std::string::npos)
      << e.message;
  // Nothing yet: an empty page from 1.
  json page = Logs(exec, 0);
  EXPECT_TRUE(page["Records"].empty());
  EXPECT_EQ(page["NextSeq"], 1);
  EXPECT_EQ(page["Complete"], false);
}

}  // namespace
}  // namespace ferry::control
