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
  r.logs_stored = {{"arn:exec", 7}, {"arn:exec2", 0}};
  return r;
}

SyncRequest SampleRequest() {
  SyncRequest r;
  r.version = "0.1.0";
  r.executions.push_back(
      {"arn:exec", "TRANSFERRING", {{"FilesTransferred", 3}}, false});
  r.executions.push_back(
      {"arn:exec2", "SUCCESS", {{"Status", "SUCCESS"}}, true});
  r.executions[0].logs = {
      {6, 1700000000123, "INFO", "Transferred", "Transferred /a \"b\""},
      {7, 1700000000456, "ERROR", "TransferFailed", "caf\xc3\xa9: failed"}};
  r.executions[0].logs_seq = 9;
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
  EXPECT_TRUE(out->has_logs_stored);
  EXPECT_EQ(out->logs_stored, in.logs_stored);
}

TEST(AgentProtocolTest, SyncRequestRoundTrips) {
  auto out = DecodeSyncRequest(Encode(SampleRequest()).dump());
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ASSERT_EQ(out->executions.size(), 2u);
  EXPECT_EQ(out->executions[0].status, "TRANSFERRING");
  EXPECT_FALSE(out->executions[0].final);
  EXPECT_TRUE(out->executions[1].final);
  EXPECT_EQ(out->executions[0].describe["FilesTransferred"], 3);
  ASSERT_EQ(out->executions[0].logs.size(), 2u);
  const LogRecord& l = out->executions[0].logs[1];
  EXPECT_EQ(l.seq, 7);
  EXPECT_EQ(l.time_ms, 1700000000456);
  EXPECT_EQ(l.level, "ERROR");
  EXPECT_EQ(l.event, "TransferFailed");
  EXPECT_EQ(l.message, "caf\xc3\xa9: failed");
  EXPECT_EQ(out->executions[0].logs_seq, 9);
  EXPECT_TRUE(out->executions[1].logs.empty());
  EXPECT_EQ(out->executions[1].logs_seq, 0);
}

// Peers from before log shipping: no Logs, LogsSeq or LogsStored.
TEST(AgentProtocolTest, LinkMembersRoundTrip) {
  SyncRequest req;
  req.link_address = "10.0.0.7:7447";
  req.links_served = {"arn:e1", "arn:e2"};
  auto got = DecodeSyncRequest(Encode(req).dump());
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->link_address, "10.0.0.7:7447");
  EXPECT_EQ(got->links_served, req.links_served);

  SyncResponse resp;
  Command run = SampleResponse().commands[0];
  run.has_link = true;
  run.link = {"arn:aws:datasync:r:1:agent/agent-b", "[::1]:7447",
              std::string(kLinkSecretBytes, '\x07')};
  Command serve;
  serve.type = Command::Type::kServeLink;
  serve.execution_arn = "arn:e1";
  serve.options = {{"PosixPermissions", "NONE"}};
  serve.destination = run.destination;
  serve.has_link = true;
  serve.link = {"arn:aws:datasync:r:1:agent/agent-a", "",
                std::string(kLinkSecretBytes, '\xff')};
  resp.commands = {run, serve};
  auto back = DecodeSyncResponse(Encode(resp).dump());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_EQ(back->commands.size(), 2u);
  EXPECT_TRUE(back->commands[0].has_link);
  EXPECT_EQ(back->commands[0].link.address, "[::1]:7447");
  EXPECT_EQ(back->commands[0].link.secret, run.link.secret);
  const Command& s = back->commands[1];
  EXPECT_EQ(s.type, Command::Type::kServeLink);
  EXPECT_EQ(s.link.agent_arn, serve.link.agent_arn);
  EXPECT_EQ(s.link.secret, serve.link.secret);
  EXPECT_EQ(s.options, serve.options);
  EXPECT_EQ(s.destination.parameters, run.destination.parameters);

  // A sender's link must say where to dial; a secret is 32 bytes; an
  // address is host:port.
  nlohmann::json j = Encode(resp);
  j["Commands"][0]["Link"].erase("PeerAddress");
  EXPECT_NE(DecodeSyncResponse(j.dump()).status().message().find(
                "Commands[0].Link.PeerAddress is missing"),
            std::string::npos)
      << DecodeSyncResponse(j.dump()).status().ToString();
  j = Encode(resp);
  j["Commands"][1]["Link"]["Secret"] = "c2hvcnQ=";
  EXPECT_NE(DecodeSyncResponse(j.dump()).status().message().find(
                "Secret must be 32 bytes"),
            std::string::npos);
  j = Encode(resp);
  j["Commands"][1].erase("Link");
  EXPECT_FALSE(DecodeSyncResponse(j.dump()).ok());
  j = Encode(resp);
  j["Commands"][0]["Link"]["PeerAddress"] = "host:99999";
  EXPECT_FALSE(DecodeSyncResponse(j.dump()).ok());
  nlohmann::json r = Encode(req);
  r["LinkAddress"] = "no port";
  EXPECT_FALSE(DecodeSyncRequest(r.dump()).ok());
  r = Encode(req);
  r["LinksServed"] = {1};
  EXPECT_FALSE(DecodeSyncRequest(r.dump()).ok());
}

TEST(AgentProtocolTest, LogMembersAreOptional) {
  auto request = DecodeSyncRequest(
      R"({"ProtocolVersion":1,"Executions":[{"ExecutionArn":"a",)"
      R"("Status":"PREPARING","Describe":{}}]})");
  ASSERT_TRUE(request.ok()) << request.status().ToString();
  EXPECT_TRUE(request->executions[0].logs.empty());
  EXPECT_EQ(request->executions[0].logs_seq, 0);
  auto response = DecodeSyncResponse(R"({"ProtocolVersion":1})");
  ASSERT_TRUE(response.ok());
  EXPECT_FALSE(response->has_logs_stored);
  EXPECT_TRUE(response->logs_stored.empty());
  // A response without LogsStored encodes without it.
  SyncResponse old;
  old.has_logs_stored = false;
  EXPECT_FALSE(Encode(old).contains("LogsStored"));
  EXPECT_TRUE(Encode(SyncResponse()).contains("LogsStored"));
  // Without LogsSeq, the last Seq of Logs.
  auto no_seq = DecodeSyncRequest(
      R"({"ProtocolVersion":1,"Executions":[{"ExecutionArn":"a",)"
      R"("Status":"PREPARING","Describe":{},"Logs":[{"Seq":4,"Time":1,)"
      R"("Level":"INFO","Event":"E","Message":"m"}]}]})");
  ASSERT_TRUE(no_seq.ok()) << no_seq.status().ToString();
  EXPECT_EQ(no_seq->executions[0].logs_seq, 4);
}

TEST(AgentProtocolTest, LogBoundsAreRejectedByName) {
  auto with_logs = [](const json& logs, int64_t logs_seq = -1) {
    json j = Encode(SampleRequest());
    j["Executions"][1]["Logs"] = logs;
    if (logs_seq >= 0) j["Executions"][1]["LogsSeq"] = logs_seq;
    return DecodeSyncRequest(j.dump());
  };
  auto record = [](int64_t seq, std::string message) {
    return json{{"Seq", seq},
                {"Time", 1},
                {"Level", "INFO"},
                {"Event", "Transferred"},
                {"Message", std::move(message)}};
  };
  auto rejects = [](const Result<SyncRequest>& r, const std::string& member) {
    if (r.ok()) return ::testing::AssertionFailure() << "accepted";
    if (r.status().message().find(member) == std::string_view::npos) {
      return ::testing::AssertionFailure() << r.status().ToString();
    }
    return ::testing::AssertionSuccess();
  };
  // At the bounds: accepted.
  json full = json::array();
  for (size_t i = 1; i <= kMaxLogRecordsPerReport; ++i) {
    full.push_back(record(static_cast<int64_t>(i), "x"));
  }
  EXPECT_TRUE(with_logs(full).ok());
  EXPECT_TRUE(
      with_logs(json::array({record(1, std::string(kMaxLogMessageBytes, 'm'))}))
          .ok());
  // Past them: refused, naming the member.
  json too_many = full;
  too_many.push_back(record(kMaxLogRecordsPerReport + 1, "m"));
  EXPECT_TRUE(rejects(with_logs(too_many), "Executions[1].Logs has more"));
  EXPECT_TRUE(rejects(with_logs(json::array({record(
                          1, std::string(kMaxLogMessageBytes + 1, 'm'))})),
                      "Executions[1].Logs[0].Message is longer"));
  json heavy = json::array();
  for (int64_t i = 1; i <= 300; ++i) {
    heavy.push_back(record(i, std::string(kMaxLogMessageBytes, 'h')));
  }
  EXPECT_TRUE(rejects(with_logs(heavy), "Executions[1].Logs holds more than"));
  EXPECT_TRUE(rejects(with_logs(json::array({record(2, "a"), record(2, "b")})),
                      "Executions[1].Logs[1].Seq must be greater"));
  EXPECT_TRUE(
      rejects(with_logs(json::array({record(0, "a")})), "Logs[0].Seq must be"));
  EXPECT_TRUE(
      rejects(with_logs(json::array({record(1, std::string("a\0b", 3))})),
              "Logs[0].Message holds a NUL"));
  json no_level = record(1, "a");
  no_level.erase("Level");
  EXPECT_TRUE(
      rejects(with_logs(json::array({no_level})), "Logs[0].Level is missing"));
  json long_event = record(1, "a");
  long_event["Event"] = std::string(kMaxLogEventBytes + 1, 'e');
  EXPECT_TRUE(
      rejects(with_logs(json::array({long_event})), "Logs[0].Event is longer"));
  json bad_time = record(1, "a");
  bad_time["Time"] = "yesterday";
  EXPECT_TRUE(
      rejects(with_logs(json::array({bad_time})), "Logs[0].Time must be"));
  EXPECT_TRUE(rejects(with_logs(json::array({record(5, "a")}), 4),
                      "Executions[1].LogsSeq must be at least 5"));
  EXPECT_TRUE(rejects(with_logs(json::object()), "Executions[1].Logs must be"));

  // LogsStored: an object of at most kMaxExecutionsPerSync integers.
  json stored = json::object();
  for (size_t i = 0; i <= kMaxExecutionsPerSync; ++i) {
    stored["arn:" + std::to_string(i)] = 1;
  }
  json response = Encode(SampleResponse());
  response["LogsStored"] = stored;
  auto many = DecodeSyncResponse(response.dump());
  ASSERT_FALSE(many.ok());
  EXPECT_NE(many.status().message().find("SyncResponse.LogsStored has more"),
            std::string_view::npos);
  response["LogsStored"] = {{"arn:x", -1}};
  auto negative = DecodeSyncResponse(response.dump());
  ASSERT_FALSE(negative.ok());
  EXPECT_NE(negative.status().message().find("SyncResponse.LogsStored.arn:x"),
            std::string_view::npos);
  response["LogsStored"] = {{"arn:x", "7"}};
  EXPECT_FALSE(DecodeSyncResponse(response.dump()).ok());
  response["LogsStored"] = json::array();
  EXPECT_FALSE(DecodeSyncResponse(response.dump()).ok());
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
