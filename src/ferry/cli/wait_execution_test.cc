#include "ferry/cli/wait_execution.h"

#include <gtest/gtest.h>

#include <sstream>
#include <vector>

namespace ferry {
namespace {

using nlohmann::json;

// Answers the given responses in turn (the last one from then on); an
// empty object stands for a failed call.
DescribeExecutionFn Script(std::vector<json> answers, int* calls) {
  return [answers, calls](const std::string&) -> Result<json> {
    size_t i =
        std::min<size_t>(static_cast<size_t>((*calls)++), answers.size() - 1);
    if (answers[i].empty()) return Status::IoError("connection refused");
    return answers[i];
  };
}

WaitOptions Fast() {
  WaitOptions o;
  o.interval = std::chrono::milliseconds(1);
  o.give_up_after = std::chrono::milliseconds(50);
  return o;
}

TEST(WaitExecutionTest, PollsUntilSuccessAndPrintsTheLastResponse) {
  int calls = 0;
  std::ostringstream out;
  int code = WaitForExecution(
      "arn:x",
      Script({{{"Status", "QUEUED"}},
              json::object(),  // the server restarting
              {{"Status", "TRANSFERRING"}, {"BytesTransferred", 10}},
              {{"Status", "SUCCESS"}, {"FilesTransferred", 3}}},
             &calls),
      Fast(), out);
  EXPECT_EQ(code, 0);
  EXPECT_EQ(calls, 4);
  json printed = json::parse(out.str());
  EXPECT_EQ(printed["Status"], "SUCCESS");
  EXPECT_EQ(printed["FilesTransferred"], 3);
}

TEST(WaitExecutionTest, ErrorExitsOne) {
  int calls = 0;
  std::ostringstream out;
  EXPECT_EQ(
      WaitForExecution("arn:x",
                       Script({{{"Status", "ERROR"},
                                {"Result", {{"ErrorCode", "AgentOffline"}}}}},
                              &calls),
                       Fast(), out),
      1);
  EXPECT_NE(out.str().find("AgentOffline"), std::string::npos);
}

TEST(WaitExecutionTest, GivesUpWhenTheServerStaysAway) {
  int calls = 0;
  std::ostringstream out;
  EXPECT_EQ(
      WaitForExecution("arn:x", Script({json::object()}, &calls), Fast(), out),
      2);
  EXPECT_TRUE(out.str().empty());
}

TEST(WaitExecutionTest, CountersComeFromTheResponse) {
  CounterSnapshot c = CountersFromDescribe({{"FilesTransferred", 5},
                                            {"EstimatedBytesToTransfer", 1000},
                                            {"FilesListed", {{"AtSource", 7}}},
                                            {"FoldersFailed", {{"List", 2}}},
                                            {"BytesWritten", "not a number"}});
  EXPECT_EQ(c.files_transferred, 5u);
  EXPECT_EQ(c.estimated_bytes_to_transfer, 1000u);
  EXPECT_EQ(c.files_listed_at_source, 7u);
  EXPECT_EQ(c.folders_failed_list, 2u);
  EXPECT_EQ(c.bytes_written, 0u);
  EXPECT_EQ(c.files_verified, 0u);
}

}  // namespace
}  // namespace ferry
