#include "ferry/cli/logs_command.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>
#include <vector>

namespace ferry {
namespace {

using nlohmann::json;

constexpr char kExec[] =
    "arn:aws:datasync:ferry-local:000000000000:task/task-0123456789abcdef0/"
    "execution/exec-0123456789abcdef1";

json Record(int64_t seq, std::string message, std::string level = "INFO") {
  return {{"Seq", seq},
          {"Time", 1700000000.5 + static_cast<double>(seq)},
          {"Level", std::move(level)},
          {"Event", "Transferred"},
          {"Message", std::move(message)}};
}

TEST(LogsCommandTest, ARecordIsOneEscapedLine) {
  EXPECT_EQ(FormatLogRecord(Record(1, "Transferred file /a")),
            "2023-11-14T22:13:21.500Z INFO Transferred file /a");
  // A peer cannot end the line or forge another.
  std::string line = FormatLogRecord(Record(
      2, "x\n2023-11-14T22:13:21.500Z ERROR forged\r\x1b[2K", "INFO\nERROR"));
  EXPECT_EQ(line.find('\n'), std::string::npos) << line;
  EXPECT_EQ(line.find('\r'), std::string::npos) << line;
  EXPECT_EQ(line.find('\x1b'), std::string::npos) << line;
  EXPECT_NE(line.find("INFO\\nERROR"), std::string::npos) << line;
  EXPECT_NE(line.find("x\\n2023"), std::string::npos) << line;
  // The agent escaped the path in its message; it is shown as it came, not
  // escaped twice.
  EXPECT_EQ(FormatLogRecord(Record(3, "Transferred file /dir\\\\name")),
            "2023-11-14T22:13:23.500Z INFO Transferred file /dir\\\\name");
  EXPECT_NE(FormatLogRecord(Record(4,
                                   "a\xe2\x80\xae"
                                   "b"))
                .find("\\u{202E}"),
            std::string::npos);
  EXPECT_EQ(FormatLogRecord(json{{"Seq", 1}}), "- - ");
  EXPECT_EQ(FormatLogRecord(json::array()), "- - (not a record)");
}

// A fake GetTaskExecutionLogs over `records`, ending after `complete_after`
// calls.
struct FakeServer {
  std::vector<json> records;
  int calls = 0;
  int complete_after = 1;
  std::vector<json> requests;

  Result<json> Get(const json& request) {
    requests.push_back(request);
    ++calls;
    const int64_t start = request.value("StartSeq", int64_t{1});
    const size_t max = request.value("MaxResults", 1000);
    json page = json::array();
    int64_t next = start;
    for (const json& r : records) {
      if (r["Seq"].get<int64_t>() < start || page.size() >= max) continue;
      page.push_back(r);
      next = r["Seq"].get<int64_t>() + 1;
    }
    const bool more = next <= static_cast<int64_t>(records.size());
    return json{{"Records", page},
                {"NextSeq", next},
                {"Complete", calls >= complete_after && !more}};
  }
};

TEST(LogsCommandTest, PrintsEveryPageOnce) {
  FakeServer server;
  for (int64_t i = 1; i <= 2500; ++i) {
    server.records.push_back(Record(i, "file " + std::to_string(i)));
  }
  server.complete_after = 1000;  // still running
  std::ostringstream out, err;
  PrintLogsOptions options;
  int code = PrintExecutionLogs(
      kExec, [&](const json& r) { return server.Get(r); }, options, out, err);
  EXPECT_EQ(code, 0) << err.str();
  std::string text = out.str();
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2500);
  EXPECT_NE(text.find(" INFO file 2500\n"), std::string::npos);
  ASSERT_EQ(server.requests.size(), 3u);
  EXPECT_EQ(server.requests[1]["StartSeq"], 1001);
  EXPECT_EQ(server.requests[0]["TaskExecutionArn"], kExec);
}

TEST(LogsCommandTest, FollowPollsUntilComplete) {
  FakeServer server;
  server.records = {Record(1, "one")};
  server.complete_after = 4;
  std::ostringstream out, err;
  PrintLogsOptions options;
  options.follow = true;
  int sleeps = 0;
  options.sleep = [&](std::chrono::milliseconds d) {
    EXPECT_EQ(d, std::chrono::milliseconds(1000));
    ++sleeps;
    // Records arrive while it waits.
    server.records.push_back(
        Record(static_cast<int64_t>(server.records.size() + 1), "more"));
  };
  int code = PrintExecutionLogs(
      kExec, [&](const json& r) { return server.Get(r); }, options, out, err);
  EXPECT_EQ(code, 0) << err.str();
  EXPECT_EQ(sleeps, 3);
  std::string text = out.str();
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 4) << text;
  EXPECT_EQ(server.requests.back()["StartSeq"], 4);
}

TEST(LogsCommandTest, ErrorsEndItUnlessTheyMayPass) {
  std::ostringstream out, err;
  PrintLogsOptions options;
  options.follow = true;
  options.sleep = [](std::chrono::milliseconds) {};
  int calls = 0;
  int code = PrintExecutionLogs(
      kExec,
      [&](const json&) -> Result<json> {
        ++calls;
        if (calls < 3) {
          return Status(StatusCode::kUnavailable, "connection refused", 0,
                        /*retryable=*/true);
        }
        return Status::InvalidArgument(
            "InvalidRequestException: Task execution ARN not found.\n");
      },
      options, out, err);
  EXPECT_EQ(code, 1);
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(err.str(),
            "ferry logs: InvalidRequestException: Task execution ARN not "
            "found.\\n\n");
}

}  // namespace
}  // namespace ferry
