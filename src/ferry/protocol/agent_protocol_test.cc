#include "ferry/protocol/agent_protocol.h"

#include <gtest/gtest.h>

namespace ferry::protocol {
namespace {

using nlohmann::json;

SyncResponse SampleResponse() {
  SyncResponse r;
  Command run;
  run.type = Command::Type::kRunExecution;
  run.execution_arn =
      "arn:aws:datasync:ferry-local:000000000000:task/task-0123456789abcdef0/"
      "execution/exec-0123456789abcdef0";
  run.task_arn =
      "arn:aws:datasync:ferry-local:000000000000:task/task-0123456789abcdef0";
  run.options = {{"VerifyMode", "NONE"}};
  run.includes = "/a|/b";
  run.has_manifest = true;
  run.manifest = {"a/x", "b/y"};
  run.has_report = true;
  run.report_output_type = "SUMMARY_ONLY";
  run.report_level = "ERRORS_ONLY";
  run.source = {"arn:src", "LOCAL", {{"Path", "/data"}}};
  run.destination = {"arn:dst", "LOCAL", {{"Path", "/backup"}}};
  run.bytes_per_second = 1000;
  r.commands.push_back(run);
  Command cancel;
  cancel.type = Command::Type::kCancelExecution;
  cancel.execution_arn = "arn:exec2";
  r.commands.push_back(cancel);
  Command bw;
  bw.type = Command::Type::kSetBandwidth;
  bw.execution_arn = "arn:exec3";
  bw.bytes_per_second = 5;
  r.commands.push_back(bw);
  r.acknowledged = {"arn:exec4"};
  r.poll_interval_ms = 250;
  return r;
}

SyncRequest SampleRequest() {
  SyncRequest r;
  r.version = "0.1.0";
  r.executions.push_back(
      {"arn:exec", "TRANSFERRING", {{"FilesTransferred", 3}}, false});
  r.executions.push_back(
      {"arn:exec2", "SUCCESS", {{"Status", "SUCCESS"}}, true});
  return r;
}

TEST(AgentProtocolTest, SyncResponseRoundTrips) {
  SyncResponse in = SampleResponse();
  auto out = DecodeSyncResponse(Encode(in).dump());
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ASSERT_EQ(out->commands.size(), 3u);
  const Command& run = out->commands[0];
  EXPECT_EQ(run.type, Command::Type::kRunExecution);
  EXPECT_EQ(run.task_arn, in.commands[0].task_arn);
  EXPECT_EQ(run.options, in.commands[0].options);
  EXPECT_EQ(run.includes, "/a|/b");
  EXPECT_TRUE(run.has_manifest);
  EXPECT_EQ(run.manifest, in.commands[0].manifest);
  EXPECT_TRUE(run.has_report);
  EXPECT_EQ(run.report_output_type, "SUMMARY_ONLY");
  EXPECT_EQ(run.report_level, "ERRORS_ONLY");
  EXPECT_FALSE(out->commands[1].has_report);
  EXPECT_EQ(run.source.parameters["Path"], "/data");
  EXPECT_EQ(run.destination.type, "LOCAL");
  EXPECT_EQ(run.bytes_per_second, 1000);
  EXPECT_EQ(out->commands[1].type, Command::Type::kCancelExecution);
  EXPECT_EQ(out->commands[2].bytes_per_second, 5);
  EXPECT_EQ(out->acknowledged, in.acknowledged);
  EXPECT_EQ(out->poll_interval_ms, 250);
}

TEST(AgentProtocolTest, SyncRequestRoundTrips) {
  auto out = DecodeSyncRequest(Encode(SampleRequest()).dump());
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ASSERT_EQ(out->executions.size(), 2u);
  EXPECT_EQ(out->executions[0].status, "TRANSFERRING");
  EXPECT_FALSE(out->executions[0].final);
  EXPECT_TRUE(out->executions[1].final);
  EXPECT_EQ(out->executions[0].describe["FilesTransferred"], 3);
}

TEST(AgentProtocolTest, ActivationMessagesRoundTrip) {
  auto req = DecodeActivationRequest(
      Encode(ActivationRequest{"PEM", "host", "0.1.0"}).dump());
  ASSERT_TRUE(req.ok());
  EXPECT_EQ(req->csr_pem, "PEM");
  auto grant = DecodeActivationGrant(
      Encode(
          ActivationGrant{"AAAAA-BBBBB-CCCCC-DDDDD-EEEEE", "token", 1700000000})
          .dump());
  ASSERT_TRUE(grant.ok());
  EXPECT_EQ(grant->expires_at, 1700000000);
  ActivationStatus done;
  done.state = ActivationStatus::State::kActivated;
  done.agent_arn = "arn:agent";
  done.certificate_pem = "CERT";
  auto status = DecodeActivationStatus(Encode(done).dump());
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->state, ActivationStatus::State::kActivated);
  EXPECT_EQ(status->certificate_pem, "CERT");
}

// Every message cut short by any number of bytes is a clean error.
TEST(AgentProtocolTest, TruncatedMessagesAreCleanErrors) {
  const std::vector<
      std::pair<std::string, std::function<Status(std::string_view)>>>
      cases = {
          {Encode(SampleResponse()).dump(),
           [](std::string_view b) { return DecodeSyncResponse(b).status(); }},
          {Encode(SampleRequest()).dump(),
           [](std::string_view b) { return DecodeSyncRequest(b).status(); }},
          {Encode(ActivationRequest{"PEM", "h", "v"}).dump(),
           [](std::string_view b) {
             return DecodeActivationRequest(b).status();
           }},
      };
  for (const auto& [message, decode] : cases) {
    ASSERT_TRUE(decode(message).ok());
    for (size_t n = 0; n < message.size(); ++n) {
      Status st = decode(std::string_view(message).substr(0, n));
      EXPECT_FALSE(st.ok()) << "accepted a message cut to " << n << " bytes";
      EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
    }
  }
}

TEST(AgentProtocolTest, WrongTypesAndBoundsAreRejectedByName) {
  auto bad_type = DecodeSyncRequest(
      R"({"ProtocolVersion":1,"Executions":[{"ExecutionArn":5}]})");
  ASSERT_FALSE(bad_type.ok());
  EXPECT_NE(bad_type.status().message().find("Executions[0].ExecutionArn"),
            std::string_view::npos);
  auto no_version = DecodeSyncRequest(R"({"Executions":[]})");
  ASSERT_FALSE(no_version.ok());
  EXPECT_NE(no_version.status().message().find("ProtocolVersion"),
            std::string_view::npos);
  auto future = DecodeSyncRequest(R"({"ProtocolVersion":2})");
  ASSERT_FALSE(future.ok());
  EXPECT_EQ(future.status().code(), StatusCode::kFailedPrecondition);
  auto unknown = DecodeSyncResponse(
      R"({"ProtocolVersion":1,"Commands":[{"Type":"Reboot","ExecutionArn":"x"}]})");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("Reboot"), std::string_view::npos);
  std::string many = R"({"ProtocolVersion":1,"Executions":[)";
  for (size_t i = 0; i <= kMaxExecutionsPerSync; ++i) {
    if (i) many += ",";
    many += R"({"ExecutionArn":"a","Status":"PREPARING","Describe":{}})";
  }
  many += "]}";
  EXPECT_FALSE(DecodeSyncRequest(many).ok());
  EXPECT_FALSE(DecodeSyncResponse("[1,2]").ok());
  // A report of a kind that does not exist names the member.
  json run = Encode(SampleResponse());
  run["Commands"][0]["Report"]["ReportLevel"] = "EVERYTHING";
  auto bad_level = DecodeSyncResponse(run.dump());
  ASSERT_FALSE(bad_level.ok());
  EXPECT_NE(bad_level.status().message().find("Commands[0].Report.ReportLevel"),
            std::string_view::npos)
      << bad_level.status().ToString();
  run["Commands"][0]["Report"] = "STANDARD";
  EXPECT_FALSE(DecodeSyncResponse(run.dump()).ok());
  EXPECT_FALSE(
      DecodeSyncResponse(R"({"ProtocolVersion":1,"PollIntervalMs":0})").ok());
}

}  // namespace
}  // namespace ferry::protocol
