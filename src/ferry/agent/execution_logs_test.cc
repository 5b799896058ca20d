#include "ferry/agent/execution_logs.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "ferry/base/file_util.h"
#include "ferry/base/utf8.h"

namespace ferry::agent {
namespace {

namespace fs = std::filesystem;

constexpr char kExec[] =
    "arn:aws:datasync:ferry-local:000000000000:task/task-0123456789abcdef0/"
    "execution/exec-0123456789abcdef1";

std::vector<int64_t> Seqs(const protocol::ExecutionReport& r) {
  std::vector<int64_t> out;
  for (const protocol::LogRecord& l : r.logs) out.push_back(l.seq);
  return out;
}

TEST(LogTextTest, ValidUtf8WithoutNulsCutOnACharacter) {
  EXPECT_EQ(LogText("plain caf\xc3\xa9", 100), "plain caf\xc3\xa9");
  EXPECT_EQ(LogText(std::string("a\0b\xff", 4), 100), "a\\x00b\\xFF");
  EXPECT_EQ(LogText("line\nbreak", 100), "line\nbreak");  // JSON escapes it
  const std::string cut =
      LogText(std::string(10, 'x') + "\xc3\xa9\xc3\xa9", 13);
  EXPECT_EQ(cut, "xxxxxxxxxx...");  // é does not fit whole before "..."
  EXPECT_LE(LogText(std::string(5000, '\xff'), 4096).size(), 4096u);
  EXPECT_TRUE(IsValidUtf8(LogText(std::string(5000, '\xc3'), 4096)));
}

TEST(LogBufferTest, ReportsCarryTheOldestWithinTheBounds) {
  LogBufferLimits limits;
  limits.report_records = 3;
  LogBuffer buffer(limits);
  for (int i = 0; i < 5; ++i) buffer.Append(1000 + i, "INFO", "E", "m");
  protocol::ExecutionReport r;
  buffer.Fill(&r);
  EXPECT_EQ(Seqs(r), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(r.logs_seq, 5);
  EXPECT_EQ(r.logs[1].time_ms, 1001);
  // No answer: the next report carries the same (at-least-once).
  buffer.Fill(&r);
  EXPECT_EQ(Seqs(r), (std::vector<int64_t>{1, 2, 3}));
  buffer.Stored(2);
  buffer.Fill(&r);
  EXPECT_EQ(Seqs(r), (std::vector<int64_t>{3, 4, 5}));
  buffer.Stored(5);
  EXPECT_TRUE(buffer.empty());
  buffer.Fill(&r);
  EXPECT_TRUE(r.logs.empty());
  EXPECT_EQ(r.logs_seq, 5);

  // Bytes: a report stops before the record that would pass its size.
  limits.report_records = 1000;
  limits.report_bytes = 3 * 1024;
  LogBuffer big(limits);
  for (int i = 0; i < 4; ++i)
    big.Append(1, "INFO", "E", std::string(1000, 'x'));
  big.Fill(&r);
  EXPECT_EQ(r.logs.size(), 2u);
  // One record larger than a report still goes, alone.
  limits.report_bytes = 10;
  LogBuffer tiny(limits);
  tiny.Append(1, "INFO", "E", "a message");
  tiny.Append(1, "INFO", "E", "another");
  tiny.Fill(&r);
  EXPECT_EQ(r.logs.size(), 1u);
}

TEST(LogBufferTest, PastItsLimitsTheOldestGoAndOneRecordCountsThem) {
  LogBufferLimits limits;
  limits.max_records = 5;
  LogBuffer buffer(limits);
  for (int i = 1; i <= 7; ++i) {
    buffer.Append(i, "INFO", "Transferred", "file " + std::to_string(i));
  }
  protocol::ExecutionReport r;
  buffer.Fill(&r);
  // 1-3 went; the record that says so has the Seq of the last of them.
  ASSERT_EQ(Seqs(r), (std::vector<int64_t>{3, 4, 5, 6, 7}));
  EXPECT_EQ(r.logs[0].event, kAgentDroppedRecordsEvent);
  EXPECT_EQ(r.logs[0].level, "WARN");
  EXPECT_EQ(r.logs[0].message.rfind("3 log record(s)", 0), 0u)
      << r.logs[0].message;
  // More: the count goes on.
  buffer.Append(8, "INFO", "Transferred", "file 8");
  buffer.Append(9, "INFO", "Transferred", "file 9");
  buffer.Fill(&r);
  ASSERT_EQ(Seqs(r), (std::vector<int64_t>{5, 6, 7, 8, 9}));
  EXPECT_EQ(r.logs[0].message.rfind("5 log record(s)", 0), 0u)
      << r.logs[0].message;
  // Once the server has it, a new drop counts from zero.
  buffer.Stored(5);
  buffer.Append(10, "INFO", "Transferred", "file 10");
  buffer.Append(11, "INFO", "Transferred", "file 11");
  buffer.Fill(&r);
  ASSERT_EQ(Seqs(r), (std::vector<int64_t>{7, 8, 9, 10, 11}));
  EXPECT_EQ(r.logs[0].message.rfind("2 log record(s)", 0), 0u)
      << r.logs[0].message;

  // Bytes count too.
  limits.max_records = 1000;
  limits.max_bytes = 1000;
  LogBuffer heavy(limits);
  for (int i = 0; i < 10; ++i) {
    heavy.Append(i, "INFO", "E", std::string(300, 'x'));
  }
  EXPECT_LE(heavy.size(), 4u);
  heavy.Fill(&r);
  EXPECT_EQ(r.logs[0].event, kAgentDroppedRecordsEvent);
}

TEST(LogBufferTest, ABacklogWakesTheSessionOncePerReport) {
  LogBufferLimits limits;
  limits.report_records = 2;
  LogBuffer buffer(limits);
  int wakes = 0;
  buffer.set_on_backlog([&] { ++wakes; });
  buffer.Append(1, "INFO", "E", "m");
  EXPECT_EQ(wakes, 0);
  buffer.Append(1, "INFO", "E", "m");
  EXPECT_EQ(wakes, 1);
  buffer.Append(1, "INFO", "E", "m");
  EXPECT_EQ(wakes, 1);
  protocol::ExecutionReport r;
  buffer.Fill(&r);  // carries 1-2; 3 waits
  buffer.Append(1, "INFO", "E", "m");
  EXPECT_EQ(wakes, 2);
}

class LogShippingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ferry-logs-test-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string dir_;
};

TEST_F(LogShippingTest, EndedExecutionsRecordsOutliveARestart) {
  auto buffer = std::make_shared<LogBuffer>();
  for (int i = 1; i <= 4; ++i) {
    buffer->Append(i, "INFO", "Transferred",
                   "file \xc3\xa9 " + std::to_string(i));
  }
  int wakes = 0;
  {
    LogShipping shipping(dir_, [&] { ++wakes; });
    shipping.Track(kExec, buffer);
    protocol::SyncRequest request;
    request.executions.push_back(
        {kExec, "SUCCESS", nlohmann::json::object(), true});
    request.executions.push_back(
        {"arn:other", "PREPARING", nlohmann::json::object(), false});
    shipping.Fill(&request);
    EXPECT_EQ(request.executions[0].logs.size(), 4u);
    EXPECT_TRUE(request.executions[1].logs.empty());
    ASSERT_TRUE(shipping.Ended(kExec).ok());
    EXPECT_TRUE(fs::exists(fs::path(dir_) / "exec-0123456789abcdef1.logs"));
    protocol::SyncResponse response;
    response.acknowledged = {kExec};
    response.logs_stored = {{kExec, 2}};
    shipping.Apply(response);
    EXPECT_FALSE(shipping.Drained(kExec));
    EXPECT_TRUE(shipping.Drained("arn:other"));
  }
  // The agent restarts: the saved final report names the execution.
  protocol::SyncRequest saved;
  saved.executions.push_back(
      {kExec, "SUCCESS", nlohmann::json::object(), true});
  ASSERT_TRUE(WriteFileAtomically(
                  (fs::path(dir_) / "exec-0123456789abcdef1.json").string(),
                  protocol::Encode(saved).dump(), 0600)
                  .ok());
  LogShipping shipping(dir_, [] {});
  shipping.Load();
  EXPECT_FALSE(shipping.Drained(kExec));
  protocol::SyncRequest request = saved;
  shipping.Fill(&request);
  ASSERT_EQ(Seqs(request.executions[0]), (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(request.executions[0].logs_seq, 4);
  EXPECT_EQ(request.executions[0].logs[0].message, "file \xc3\xa9 3");
  protocol::SyncResponse response;
  response.logs_stored = {{kExec, 4}};
  shipping.Apply(response);
  EXPECT_TRUE(shipping.Drained(kExec));
  shipping.Forget(kExec);
  EXPECT_FALSE(fs::exists(fs::path(dir_) / "exec-0123456789abcdef1.logs"));
}

TEST_F(LogShippingTest, ProgressWithAReportsWorthLeftSyncsAgainAtOnce) {
  LogBufferLimits limits;
  limits.report_records = 2;
  auto buffer = std::make_shared<LogBuffer>(limits);
  for (int i = 1; i <= 5; ++i) buffer->Append(i, "INFO", "E", "m");
  int wakes = 0;
  LogShipping shipping(dir_, [&] { ++wakes; });
  shipping.Track(kExec, buffer);
  wakes = 0;
  protocol::SyncResponse response;
  response.logs_stored = {{kExec, 2}};  // 3 left
  shipping.Apply(response);
  EXPECT_EQ(wakes, 1);
  shipping.Apply(response);  // no progress
  EXPECT_EQ(wakes, 1);
  response.logs_stored = {{kExec, 4}};  // 1 left: the next poll takes it
  shipping.Apply(response);
  EXPECT_EQ(wakes, 1);
}

TEST_F(LogShippingTest, AServerWithoutLogsStoredTakesWhatWasSent) {
  LogBufferLimits limits;
  limits.report_records = 2;
  auto buffer = std::make_shared<LogBuffer>(limits);
  for (int i = 1; i <= 3; ++i) buffer->Append(i, "INFO", "E", "m");
  LogShipping shipping(dir_, [] {});
  shipping.Track(kExec, buffer);
  protocol::SyncRequest request;
  request.executions.push_back(
      {kExec, "TRANSFERRING", nlohmann::json::object(), false});
  shipping.Fill(&request);
  protocol::SyncResponse old;
  old.has_logs_stored = false;
  shipping.Apply(old);
  EXPECT_EQ(buffer->size(), 1u);
  shipping.Fill(&request);
  shipping.Apply(old);
  EXPECT_TRUE(shipping.Drained(kExec));
}

TEST_F(LogShippingTest, LogsWithoutAFinalReportAreDropped) {
  auto buffer = std::make_shared<LogBuffer>();
  buffer->Append(1, "INFO", "E", "m");
  ASSERT_TRUE(buffer->SpoolTo((fs::path(dir_) / "exec-x.logs").string()).ok());
  LogShipping shipping(dir_, [] {});
  shipping.Load();
  EXPECT_FALSE(fs::exists(fs::path(dir_) / "exec-x.logs"));
}

}  // namespace
}  // namespace ferry::agent
