#include "ferry/client/commands.h"

#include <gtest/gtest.h>

#include <set>
#include <sstream>

#include "ferry/client/cli_params.h"
#include "ferry/client/test_api_server.h"

namespace ferry {
namespace {

using nlohmann::json;

const char kLoc1[] =
    "arn:aws:datasync:ferry-local:000000000000:location/loc-0123456789abcdefg";
const char kLoc2[] =
    "arn:aws:datasync:ferry-local:000000000000:location/loc-0123456789abcdefh";
const char kAgent[] =
    "arn:aws:datasync:ferry-local:000000000000:agent/agent-0123456789abcdefg";

// One command line of `ferry`, run against a TestApiServer.
struct CommandRun {
  int code = -1;
  std::string out;
  std::string err;
  json sent;  // the body the server received (null if nothing was sent)
  std::string target;
};

class CommandsTest : public testing::Test {
 protected:
  CommandsTest() : server_(KeySecrets{{"AKIDCMD", "cmd-secret"}}) {}

  // Parses `argv` with a fresh app (model: the embedded DataSync one unless
  // given) and runs the selected API command.
  CommandRun Ferry(
      std::vector<std::string> argv, const ApiModel* model = nullptr,
      ApiCommandHooks hooks = {},
      const std::function<void(ApiCommandArgs&)>& before_parse = {}) {
    CLI::App app{"ferry"};
    app.require_subcommand(1);
    ApiCommandArgs args;
    AddApiCommands(app, model != nullptr ? *model : ApiModel::DataSync(), args);
    if (before_parse) before_parse(args);
    std::vector<std::string> full = {"ferry"};
    full.insert(full.end(), argv.begin(), argv.end());
    std::vector<const char*> raw;
    for (const std::string& a : full) raw.push_back(a.c_str());
    CommandRun run;
    size_t requests_before = server_.requests().size();
    try {
      app.parse(static_cast<int>(raw.size()), raw.data());
    } catch (const CLI::ParseError& e) {
      run.code = 2;
      run.err = e.what();
      return run;
    }
    std::ostringstream out, err;
    hooks.out = &out;
    hooks.err = &err;
    hooks.env = [this](const std::string& name) -> std::optional<std::string> {
      auto it = env_.find(name);
      if (it == env_.end()) return std::nullopt;
      return it->second;
    };
    run.code = RunApiCommand(args, hooks);
    run.out = out.str();
    run.err = err.str();
    std::vector<RecordedRequest> requests = server_.requests();
    if (requests.size() > requests_before) {
      run.sent = json::parse(requests.back().body);
      run.target = requests.back().target;
    }
    return run;
  }

  TestApiServer server_;
  std::map<std::string, std::string> env_ = {
      {"AWS_ACCESS_KEY_ID", "AKIDCMD"},
      {"AWS_SECRET_ACCESS_KEY", "cmd-secret"},
      {"AWS_ENDPOINT_URL", server_.url()},
      {"HOME", "/nonexistent"}};
};

TEST_F(CommandsTest, EveryOperationIsACommandWithEveryMember) {
  CLI::App app{"ferry"};
  ApiCommandArgs args;
  const ApiModel& model = ApiModel::DataSync();
  AddApiCommands(app, model, args);
  EXPECT_EQ(args.commands.size(), model.OperationNames().size());
  std::set<std::string> names;
  for (const auto& command : args.commands) names.insert(command->name);
  for (const char* name :
       {"create-task", "describe-task-execution", "start-task-execution",
        "list-locations", "create-location-local", "describe-location-local",
        "update-location-local", "create-location-fsx-open-zfs",
        "list-tags-for-resource", "create-agent"}) {
    EXPECT_EQ(names.count(name), 1u) << name;
    EXPECT_NE(app.get_subcommand(name), nullptr);
  }
  for (const auto& command : args.commands) {
    std::vector<std::string> members = model.MemberNames(command->input_shape);
    ASSERT_EQ(command->members.size(), members.size()) << command->name;
    for (size_t i = 0; i < members.size(); ++i) {
      EXPECT_EQ(command->members[i].option, "--" + CliName(members[i]));
      EXPECT_NE(command->app->get_option_no_throw(command->members[i].option),
                nullptr);
    }
  }
  ApiOperationCommand* start = args.Find("StartTaskExecution");
  ASSERT_NE(start, nullptr);
  EXPECT_EQ(start->name, "start-task-execution");
  EXPECT_EQ(args.Find("Nope"), nullptr);
}

TEST_F(CommandsTest, CreateTaskWithEveryKindOfValue) {
  CommandRun run = Ferry(
      {"create-task", "--source-location-arn", kLoc1,
       "--destination-location-arn", kLoc2, "--name", "nightly", "--options",
       "VerifyMode=NONE,BytesPerSecond=1048576", "--excludes",
       R"([{"FilterType":"SIMPLE_PATTERN","Value":"*.tmp"}])", "--tags",
       "Key=team,Value=data", "Key=env,Value=prod", "--schedule",
       "ScheduleExpression=rate(1 hour)"});
  EXPECT_EQ(run.code, 0) << run.err;
  EXPECT_EQ(run.target, "FmrsService.CreateTask");
  json expected = {
      {"SourceLocationArn", kLoc1},
      {"DestinationLocationArn", kLoc2},
      {"Name", "nightly"},
      {"Options", {{"VerifyMode", "NONE"}, {"BytesPerSecond", 1048576}}},
      {"Excludes", {{{"FilterType", "SIMPLE_PATTERN"}, {"Value", "*.tmp"}}}},
      {"Tags",
       {{{"Key", "team"}, {"Value", "data"}},
        {{"Key", "env"}, {"Value", "prod"}}}},
      {"Schedule", {{"ScheduleExpression", "rate(1 hour)"}}}};
  EXPECT_EQ(run.sent, expected);
  // The echoed response, printed as aws --output json prints it.
  EXPECT_EQ(json::parse(run.out), expected);
  EXPECT_NE(run.out.find("\n    \"SourceLocationArn\": "), std::string::npos)
      << run.out;
}

TEST_F(CommandsTest, ResponsesKeepTheServersOrder) {
  server_.set_responder([](const RecordedRequest&) {
    return TestResponse{200,
                        R"({"TaskArn":"t","Status":"AVAILABLE","Name":"n",)"
                        R"("CreationTime":1700000000.5,"Options":{}})"};
  });
  CommandRun run = Ferry({"describe-task", "--task-arn", "t"});
  EXPECT_EQ(run.code, 0) << run.err;
  EXPECT_EQ(run.out,
            "{\n"
            "    \"TaskArn\": \"t\",\n"
            "    \"Status\": \"AVAILABLE\",\n"
            "    \"Name\": \"n\",\n"
            "    \"CreationTime\": 1700000000.5,\n"
            "    \"Options\": {}\n"
            "}\n");
  // An empty response prints nothing, as the aws CLI.
  server_.set_responder([](const RecordedRequest&) {
    return TestResponse{200, "{}"};
  });
  run = Ferry({"delete-task", "--task-arn", "t"});
  EXPECT_EQ(run.code, 0);
  EXPECT_EQ(run.out, "");
}

TEST_F(CommandsTest, ListsOfStringsAsWordsOrJson) {
  CommandRun run = Ferry({"create-location-local", "--path", "/srv/data",
                          "--agent-arns", kAgent, kAgent});
  EXPECT_EQ(run.code, 0) << run.err;
  EXPECT_EQ(run.sent,
            json({{"Path", "/srv/data"}, {"AgentArns", {kAgent, kAgent}}}));
  run = Ferry({"update-location-local", "--location-arn", kLoc1, "--agent-arns",
               std::string("[\"") + kAgent + "\"]"});
  EXPECT_EQ(run.code, 0) << run.err;
  EXPECT_EQ(run.sent, json({{"LocationArn", kLoc1}, {"AgentArns", {kAgent}}}));
}

TEST_F(CommandsTest, IntegersAndBlobs) {
  CommandRun run = Ferry({"list-tasks", "--max-results", "7"});
  EXPECT_EQ(run.code, 0) << run.err;
  EXPECT_EQ(run.sent, json({{"MaxResults", 7}}));
  run = Ferry({"list-tasks", "--max-results", "seven"});
  EXPECT_EQ(run.code, 2);
  EXPECT_EQ(run.err,
            "Error parsing parameter '--max-results': invalid literal for "
            "int() with base 10: 'seven'\n");
  EXPECT_TRUE(run.sent.is_null());
  run =
      Ferry({"create-location-object-storage", "--server-hostname", "h",
             "--bucket-name", "bucket", "--server-certificate", "-----BEGIN"});
  EXPECT_EQ(run.code, 0) << run.err;
  EXPECT_EQ(run.sent["ServerCertificate"], "LS0tLS1CRUdJTg==");
}

TEST_F(CommandsTest, RequiredMembersAreEnforcedAsTheAwsCliDoes) {
  CommandRun run = Ferry({"create-task", "--name", "x"});
  EXPECT_EQ(run.code, 2);
  EXPECT_EQ(run.err,
            "ferry: error: the following arguments are required: "
            "--source-location-arn, --destination-location-arn\n");
  EXPECT_TRUE(run.sent.is_null());
}

TEST_F(CommandsTest, CliInputJson) {
  std::string input = std::string(R"({"SourceLocationArn":")") + kLoc1 +
                      R"(","DestinationLocationArn":")" + kLoc2 +
                      R"(","Name":"from-json"})";
  CommandRun run =
      Ferry({"create-task", "--cli-input-json", input, "--name", "cli"});
  EXPECT_EQ(run.code, 0) << run.err;
  EXPECT_EQ(run.sent, json({{"SourceLocationArn", kLoc1},
                            {"DestinationLocationArn", kLoc2},
                            {"Name", "cli"}}));  // the command line wins
  run = Ferry({"create-task", "--cli-input-json", "{\"Name\":\"x\"}"});
  EXPECT_EQ(run.code, 2);
  EXPECT_EQ(
      run.err,
      "Parameter validation failed:\n"
      "Missing required parameter in input: \"SourceLocationArn\"\n"
      "Missing required parameter in input: \"DestinationLocationArn\"\n");
  run = Ferry({"list-tasks", "--cli-input-json", "[1]"});
  EXPECT_EQ(run.code, 2);
  EXPECT_NE(run.err.find("Error parsing parameter 'cli-input-json'"),
            std::string::npos);
}

TEST_F(CommandsTest, ShorthandAndJsonErrors) {
  CommandRun run = Ferry({"update-task", "--task-arn", "t", "--options",
                          "VerifyMode=NONE,Bogus=1"});
  EXPECT_EQ(run.code, 2);
  EXPECT_EQ(run.err.rfind("Parameter validation failed:\nUnknown parameter in "
                          "Options: \"Bogus\", must be one of: VerifyMode, ",
                          0),
            0u)
      << run.err;
  run = Ferry({"update-task", "--task-arn", "t", "--options", "VerifyMode"});
  EXPECT_EQ(run.code, 2);
  EXPECT_EQ(run.err,
            "Error parsing parameter '--options': Expected: '=', received: "
            "'EOF' for input:\nVerifyMode\n          ^\n");
  run = Ferry({"update-task", "--task-arn", "t", "--options", "{\"x\":"});
  EXPECT_EQ(run.code, 2);
  EXPECT_NE(run.err.find("Error parsing parameter '--options': Invalid JSON:"),
            std::string::npos);
  EXPECT_TRUE(run.sent.is_null());
}

TEST_F(CommandsTest, ErrorResponsesAreReportedAsTheAwsCliDoes) {
  server_.set_responder([](const RecordedRequest&) {
    return TestResponse{400, R"({"__type":"InvalidRequestException",)"
                             R"("message":"1 validation error detected: x"})"};
  });
  CommandRun run = Ferry({"describe-task", "--task-arn", "bad"});
  EXPECT_EQ(run.code, 1);
  EXPECT_EQ(run.err,
            "An error occurred (InvalidRequestException) when calling the "
            "DescribeTask operation: 1 validation error detected: x\n");
  EXPECT_EQ(run.out, "");

  env_["AWS_SECRET_ACCESS_KEY"] = "wrong";
  server_.set_responder(nullptr);
  run = Ferry({"list-tasks"});
  EXPECT_EQ(run.code, 1);
  EXPECT_EQ(run.err.rfind("An error occurred (InvalidSignatureException) when "
                          "calling the ListTasks operation: The request "
                          "signature we calculated does not match",
                          0),
            0u)
      << run.err;
}

TEST_F(CommandsTest, EndpointCredentialsAndRegionFromFlags) {
  env_.clear();
  env_["HOME"] = "/nonexistent";
  CommandRun run = Ferry({"list-tasks"});
  EXPECT_EQ(run.code, 1);
  EXPECT_EQ(run.err,
            "Unable to locate credentials. You can configure credentials by "
            "running \"aws configure\".\n");
  env_["AWS_ACCESS_KEY_ID"] = "AKIDCMD";
  env_["AWS_SECRET_ACCESS_KEY"] = "cmd-secret";
  run = Ferry({"list-tasks", "--endpoint-url", server_.url(), "--region",
               "eu-north-1"});
  EXPECT_EQ(run.code, 0) << run.err;
  EXPECT_EQ(run.sent, json::object());
  EXPECT_NE(server_.last().authorization.find("/eu-north-1/datasync/"),
            std::string::npos);
  run = Ferry({"list-tasks", "--endpoint-url", "http://127.0.0.1:1"});
  EXPECT_EQ(run.code, 1);
  EXPECT_EQ(run.err,
            "Could not connect to the endpoint URL: \"http://127.0.0.1:1\"\n");
}

TEST_F(CommandsTest, AfterCallHookAndExtraOptions) {
  bool wait = false;
  int calls = 0;
  ApiCommandHooks hooks;
  hooks.after_call["StartTaskExecution"] =
      [&](const ApiOperationCommand& command, ApiClient& client,
          const json& request, const json& response) -> std::optional<int> {
    ++calls;
    EXPECT_EQ(command.name, "start-task-execution");
    EXPECT_EQ(request["TaskArn"], "t");
    EXPECT_EQ(response["TaskArn"], "t");  // echoed
    EXPECT_TRUE(client.Call("DescribeTaskExecution", json::object()).ok());
    return wait ? std::optional<int>(7) : std::nullopt;
  };
  auto add_wait = [&](ApiCommandArgs& args) {
    args.Find("StartTaskExecution")->app->add_flag("--wait", wait);
  };
  CommandRun run = Ferry({"start-task-execution", "--task-arn", "t", "--wait"},
                         nullptr, hooks, add_wait);
  EXPECT_EQ(run.code, 7);
  EXPECT_EQ(run.out, "");
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(run.target, "FmrsService.DescribeTaskExecution");
  wait = false;
  run = Ferry({"start-task-execution", "--task-arn", "t"}, nullptr, hooks,
              add_wait);
  EXPECT_EQ(run.code, 0);
  EXPECT_EQ(json::parse(run.out), json({{"TaskArn", "t"}}));
  EXPECT_EQ(calls, 2);
}

// Booleans, floats and maps do not occur at the top level of DataSync's
// inputs; a model of its own checks them.
TEST_F(CommandsTest, BooleanFlagsFloatsAndMaps) {
  json raw = {
      {"operations",
       {{"DoThing",
         {{"name", "DoThing"}, {"input", {{"shape", "DoThingRequest"}}}}}}},
      {"shapes",
       {{"DoThingRequest",
         {{"type", "structure"},
          {"members",
           {{"Enabled", {{"shape", "Bool"}}},
            {"Ratio", {{"shape", "Double"}}},
            {"Labels", {{"shape", "Labels"}}},
            {"Nested", {{"shape", "Nested"}}}}}}},
        {"Bool", {{"type", "boolean"}}},
        {"Double", {{"type", "double"}}},
        {"Str", {{"type", "string"}}},
        {"Labels",
         {{"type", "map"},
          {"key", {{"shape", "Str"}}},
          {"value", {{"shape", "Str"}}}}},
        {"Nested",
         {{"type", "structure"},
          {"members",
           {{"Flag", {{"shape", "Bool"}}}, {"Count", {{"shape", "Int"}}}}}}},
        {"Int", {{"type", "integer"}}}}}};
  Result<ApiModel> model = ApiModel::FromJson(raw);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  CommandRun run =
      Ferry({"do-thing", "--enabled", "--ratio", "0.25", "--labels", "a=1,b=2",
             "--nested", "Flag=false,Count=3"},
            &*model);
  EXPECT_EQ(run.code, 0) << run.err;
  EXPECT_EQ(run.sent, json({{"Enabled", true},
                            {"Ratio", 0.25},
                            {"Labels", {{"a", "1"}, {"b", "2"}}},
                            {"Nested", {{"Flag", false}, {"Count", 3}}}}));
  run = Ferry({"do-thing", "--no-enabled"}, &*model);
  EXPECT_EQ(run.code, 0) << run.err;
  EXPECT_EQ(run.sent, json({{"Enabled", false}}));
  run = Ferry({"do-thing", "--enabled", "--no-enabled"}, &*model);
  EXPECT_EQ(run.code, 2);
  EXPECT_EQ(run.err,
            "ferry: error: argument --no-enabled: not allowed with argument "
            "--enabled\n");
}

TEST_F(CommandsTest, UnknownOptionsAreRejectedByTheParser) {
  CommandRun run = Ferry({"list-tasks", "--bogus", "1"});
  EXPECT_EQ(run.code, 2);
  EXPECT_TRUE(run.sent.is_null());
}

}  // namespace
}  // namespace ferry
