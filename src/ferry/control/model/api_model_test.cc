#include "ferry/control/model/api_model.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

namespace ferry {
namespace {

using nlohmann::json;

const char kAgent[] =
    "arn:aws:datasync:ferry-local:000000000000:agent/agent-0123456789abcdefg";
const char kLocation1[] =
    "arn:aws:datasync:ferry-local:000000000000:location/loc-0123456789abcdefg";
const char kLocation2[] =
    "arn:aws:datasync:ferry-local:000000000000:location/loc-0123456789abcdefh";
const char kTask[] =
    "arn:aws:datasync:ferry-local:000000000000:task/task-0123456789abcdef0";
const char kExecution[] =
    "arn:aws:datasync:ferry-local:000000000000:task/task-0123456789abcdef0/"
    "execution/exec-0123456789abcdef0";

const ApiModel& Model() { return ApiModel::DataSync(); }

std::string Message(const std::optional<ApiError>& e) {
  return e ? e->message : "(valid)";
}

TEST(ApiModelTest, EmbeddedModelHasEveryOperationAndFerrysOwn) {
  const ApiModel& m = Model();
  std::vector<std::string> ops = m.OperationNames();
  EXPECT_EQ(ops.size(), 57u);  // DataSync's 53 and ferry's 4
  for (const char* op :
       {"CreateTask", "StartTaskExecution", "DescribeTaskExecution",
        "ListLocations", "TagResource", "CreateLocationLocal",
        "DescribeLocationLocal", "UpdateLocationLocal",
        "GetTaskExecutionLogs"}) {
    EXPECT_TRUE(m.HasOperation(op)) << op;
  }
  EXPECT_FALSE(m.HasOperation("DeleteEverything"));
  EXPECT_EQ(m.InputShape("CreateTask"), "CreateTaskRequest");
  EXPECT_EQ(m.OutputShape("CreateTask"), "CreateTaskResponse");
  EXPECT_EQ(m.InputShape("Nope"), "");
  ASSERT_NE(m.Shape("Options"), nullptr);
  EXPECT_EQ((*m.Shape("Options"))["type"], "structure");
  EXPECT_EQ(m.Shape("NoSuchShape"), nullptr);
  EXPECT_EQ(m.raw()["metadata"]["targetPrefix"], "FmrsService");
  // Documentation strings are gone.
  EXPECT_EQ(m.raw().dump().find("\"documentation\""), std::string::npos);
  EXPECT_EQ(&ApiModel::DataSync(), &m);  // parsed once
}

TEST(ApiModelTest, MembersKeepTheModelsOrder) {
  std::vector<std::string> names = Model().MemberNames("CreateTaskRequest");
  ASSERT_GE(names.size(), 3u);
  EXPECT_EQ(names[0], "SourceLocationArn");
  EXPECT_EQ(names[1], "DestinationLocationArn");
  EXPECT_EQ(names[2], "CloudWatchLogGroupArn");
  EXPECT_EQ(Model().MemberNames("CreateLocationLocalRequest"),
            (std::vector<std::string>{"Path", "AgentArns", "Tags"}));
  EXPECT_TRUE(Model().MemberNames("Nope").empty());
}

TEST(ApiModelTest, ValidRequestsPass) {
  json create_task = {
      {"SourceLocationArn", kLocation1},
      {"DestinationLocationArn", kLocation2},
      {"Name", "nightly"},
      {"Options",
       {{"VerifyMode", "ONLY_FILES_TRANSFERRED"}, {"BytesPerSecond", -1}}},
      {"Excludes", {{{"FilterType", "SIMPLE_PATTERN"}, {"Value", "*.tmp"}}}},
      {"Tags", {{{"Key", "team"}, {"Value", "data"}}}},
      {"SomethingNew", 1}};  // unknown members are ignored
  EXPECT_EQ(Message(Model().ValidateInput("CreateTask", create_task)),
            "(valid)");
  EXPECT_EQ(Message(Model().ValidateInput("ListTasks", json::object())),
            "(valid)");
  EXPECT_EQ(
      Message(Model().ValidateInput(
          "UpdateTaskExecution", {{"TaskExecutionArn", kExecution},
                                  {"Options", {{"BytesPerSecond", 1048576}}}})),
      "(valid)");
  EXPECT_EQ(Message(Model().ValidateInput(
                "CreateLocationLocal",
                {{"Path", "/srv/data"}, {"AgentArns", {kAgent}}})),
            "(valid)");
}

TEST(ApiModelTest, MissingRequiredMembersAreNull) {
  std::optional<ApiError> e =
      Model().ValidateInput("CreateTask", {{"Name", "x"}});
  ASSERT_TRUE(e);
  EXPECT_EQ(e->http_status, 400);
  EXPECT_EQ(e->type, "InvalidRequestException");
  EXPECT_EQ(e->message,
            "2 validation errors detected: "
            "Value null at 'sourceLocationArn' failed to satisfy constraint: "
            "Member must not be null; "
            "Value null at 'destinationLocationArn' failed to satisfy "
            "constraint: Member must not be null");
  // An explicit null is missing too.
  EXPECT_EQ(
      Message(Model().ValidateInput("DescribeTask", {{"TaskArn", nullptr}})),
      "1 validation error detected: Value null at 'taskArn' failed to "
      "satisfy constraint: Member must not be null");
}

TEST(ApiModelTest, EnumViolationNamesTheNestedMember) {
  EXPECT_EQ(Message(Model().ValidateInput(
                "UpdateTask",
                {{"TaskArn", kTask}, {"Options", {{"VerifyMode", "X"}}}})),
            "1 validation error detected: Value 'X' at 'options.verifyMode' "
            "failed to satisfy constraint: Member must satisfy enum value "
            "set: [POINT_IN_TIME_CONSISTENT, ONLY_FILES_TRANSFERRED, NONE]");
}

TEST(ApiModelTest, PatternViolationQuotesThePattern) {
  EXPECT_EQ(
      Message(Model().ValidateInput("DescribeTask", {{"TaskArn", "task-1"}})),
      "1 validation error detected: Value 'task-1' at 'taskArn' failed to "
      "satisfy constraint: Member must satisfy regular expression pattern: "
      "^arn:(aws|aws-cn|aws-us-gov|aws-eusc|aws-iso|aws-iso-b):datasync:[a-z\\-"
      "0-9]+:[0-9]{12}:task/task-[0-9a-f]{17}$");
}

TEST(ApiModelTest, ListElementsArePathedAsAwsDoes) {
  json request = {{"ResourceArn", kTask},
                  {"Tags",
                   {{{"Key", "ok"}, {"Value", "v"}},
                    {{"Key", std::string(257, 'k')}, {"Value", "v"}}}}};
  EXPECT_EQ(Message(Model().ValidateInput("TagResource", request)),
            "1 validation error detected: Value '" + std::string(257, 'k') +
                "' at 'tags.2.member.key' failed to satisfy constraint: "
                "Member must have length less than or equal to 256");
  // A missing required member of an element.
  request["Tags"][1] = {{"Value", "v"}};
  EXPECT_EQ(Message(Model().ValidateInput("TagResource", request)),
            "1 validation error detected: Value null at 'tags.2.member.key' "
            "failed to satisfy constraint: Member must not be null");
}

TEST(ApiModelTest, ListLengthViolationShowsTheList) {
  json request = {{"Path", "/srv"}, {"AgentArns", json::array()}};
  EXPECT_EQ(Message(Model().ValidateInput("CreateLocationLocal", request)),
            "1 validation error detected: Value '[]' at 'agentArns' failed "
            "to satisfy constraint: Member must have length greater than or "
            "equal to 1");
  json filters = {{"TaskArn", kTask},
                  {"Includes",
                   {{{"FilterType", "SIMPLE_PATTERN"}, {"Value", "/a"}},
                    {{"FilterType", "SIMPLE_PATTERN"}, {"Value", "/b"}}}}};
  std::string m = Message(Model().ValidateInput("StartTaskExecution", filters));
  EXPECT_EQ(m.rfind("1 validation error detected: Value '[", 0), 0u) << m;
  EXPECT_NE(m.find("' at 'includes' failed to satisfy constraint: Member must "
                   "have length less than or equal to 1"),
            std::string::npos)
      << m;
}

TEST(ApiModelTest, IntegerRanges) {
  EXPECT_EQ(Message(Model().ValidateInput("ListTasks", {{"MaxResults", 101}})),
            "1 validation error detected: Value '101' at 'maxResults' failed "
            "to satisfy constraint: Member must have value less than or equal "
            "to 100");
  EXPECT_EQ(Message(Model().ValidateInput("ListTasks", {{"MaxResults", -5}})),
            "1 validation error detected: Value '-5' at 'maxResults' failed "
            "to satisfy constraint: Member must have value greater than or "
            "equal to 0");
  EXPECT_EQ(
      Message(Model().ValidateInput("UpdateTaskExecution",
                                    {{"TaskExecutionArn", kExecution},
                                     {"Options", {{"BytesPerSecond", -2}}}})),
      "1 validation error detected: Value '-2' at "
      "'options.bytesPerSecond' failed to satisfy constraint: Member "
      "must have value greater than or equal to -1");
}

TEST(ApiModelTest, SeveralViolationsOfOneValueAreListed) {
  // LocalPath: min 1 and a pattern that wants a leading slash.
  std::optional<ApiError> e = Model().ValidateInput(
      "CreateLocationLocal", {{"Path", ""}, {"AgentArns", {kAgent}}});
  EXPECT_EQ(Message(e),
            "2 validation errors detected: Value '' at 'path' failed to "
            "satisfy constraint: Member must satisfy regular expression "
            "pattern: ^/[^\\x00]*$; Value '' at 'path' failed to satisfy "
            "constraint: Member must have length greater than or equal to 1");
  EXPECT_EQ(Message(Model().ValidateInput(
                "CreateLocationLocal",
                {{"Path", "relative/dir"}, {"AgentArns", {kAgent}}})),
            "1 validation error detected: Value 'relative/dir' at 'path' "
            "failed to satisfy constraint: Member must satisfy regular "
            "expression pattern: ^/[^\\x00]*$");
}

TEST(ApiModelTest, SensitiveValuesAreNotEchoed) {
  json request = {{"Subdirectory", "/share"},
                  {"ServerHostname", "smb.example.com"},
                  {"AgentArns", {kAgent}},
                  {"Password", std::string(105, 'p')}};
  std::string m = Message(Model().ValidateInput("CreateLocationSmb", request));
  EXPECT_EQ(m.find("ppp"), std::string::npos) << m;
  EXPECT_NE(m.find("Value at 'password' failed to satisfy constraint: Member "
                   "must have length less than or equal to 104"),
            std::string::npos)
      << m;
}

TEST(ApiModelTest, WrongJsonTypesAreSerializationErrors) {
  std::optional<ApiError> e =
      Model().ValidateInput("ListTasks", {{"MaxResults", "ten"}});
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type, "SerializationException");
  EXPECT_EQ(e->http_status, 400);
  EXPECT_EQ(e->message,
            "The value at 'maxResults' must be an integer, not a string");
  e = Model().ValidateInput("ListTasks", json::array());
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type, "SerializationException");
  EXPECT_EQ(e->message, "The request body must be an object, not an array");
  e = Model().ValidateInput("ListTasks", {{"MaxResults", 1.5}});
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type, "SerializationException");
  e = Model().ValidateInput("ListTasks", {{"MaxResults", 4294967296LL}});
  ASSERT_TRUE(e);
  EXPECT_EQ(e->message,
            "The value at 'maxResults' must be a 32-bit integer, not an "
            "integer");
  e = Model().ValidateInput("CreateLocationLocal",
                            {{"Path", "/x"}, {"AgentArns", kAgent}});
  ASSERT_TRUE(e);
  EXPECT_EQ(e->message,
            "The value at 'agentArns' must be an array, not a string");
  e = Model().ValidateInput(
      "UpdateTask", {{"TaskArn", kTask}, {"Options", "VerifyMode=NONE"}});
  ASSERT_TRUE(e);
  EXPECT_EQ(e->message,
            "The value at 'options' must be an object, not a string");
}

TEST(ApiModelTest, BlobsAreBase64WithByteLengths) {
  json request = {{"ServerHostname", "s3.example.com"},
                  {"BucketName", "bucket"},
                  {"ServerCertificate", "not base64!"}};
  std::optional<ApiError> e =
      Model().ValidateInput("CreateLocationObjectStorage", request);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type, "SerializationException");
  EXPECT_EQ(e->message, "The value at 'serverCertificate' is not valid base64");
  request["ServerCertificate"] = "LS0tLS1CRUdJTg==";  // "-----BEGIN"
  EXPECT_EQ(
      Message(Model().ValidateInput("CreateLocationObjectStorage", request)),
      "(valid)");
  // 32,769 bytes: one over the maximum.
  std::string big(32769 / 3 * 4, 'A');
  request["ServerCertificate"] = big;
  std::string m =
      Message(Model().ValidateInput("CreateLocationObjectStorage", request));
  EXPECT_NE(m.find("at 'serverCertificate' failed to satisfy constraint: "
                   "Member must have length less than or equal to 32768"),
            std::string::npos)
      << m.substr(0, 200);
}

// A list in a message is rendered level by level: 300,000 nested lists (a
// 600 KB body) overflowed the server's stack (found by
// fuzz/fuzz_api_request). Built and freed without recursion.
TEST(ApiModelTest, DeeplyNestedBodiesAreRefused) {
  auto request_nested = [](int levels) {
    // {"TaskArn": ..., "Includes": [[[...]], 1]}: `levels` levels in all,
    // and one element too many, so that the list is rendered for a message
    // (which the wrong element type then supersedes).
    json includes = json::array();
    json* inner = &includes;
    for (int level = 3; level <= levels; ++level) {
      inner->push_back(json::array());
      inner = &inner->back();
    }
    includes.push_back(1);
    json request = json::object();
    request["TaskArn"] = kTask;
    request["Includes"] = std::move(includes);
    return request;
  };
  std::optional<ApiError> e = Model().ValidateInput(
      "StartTaskExecution", request_nested(ApiModel::kMaxInputDepth));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type, "SerializationException");
  EXPECT_EQ(e->message,
            "The value at 'includes.1.member' must be an object, not an array");
  for (int levels : {ApiModel::kMaxInputDepth + 1, 300000}) {
    e = Model().ValidateInput("StartTaskExecution", request_nested(levels));
    ASSERT_TRUE(e);
    EXPECT_EQ(e->type, "SerializationException");
    EXPECT_EQ(e->message,
              "The request body must not nest arrays and objects more than "
              "100 levels deep");
  }
  // Objects too.
  json body = json::object();
  json* inner = &body;
  for (int level = 0; level < 300000; ++level) inner = &(*inner)["Options"];
  *inner = json::object();
  e = Model().ValidateInput("UpdateTask", body);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type, "SerializationException");
}

TEST(ApiModelTest, UnknownOperation) {
  std::optional<ApiError> e =
      Model().ValidateInput("MakeCoffee", json::object());
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type, "UnknownOperationException");
}

TEST(ApiModelTest, ApiErrorToJson) {
  ApiError e{400, "InvalidRequestException", "bad", ""};
  EXPECT_EQ(e.ToJson(),
            json({{"__type", "InvalidRequestException"}, {"message", "bad"}}));
  e.error_code = "AgentOffline";
  EXPECT_EQ(e.ToJson()["errorCode"], "AgentOffline");
}

TEST(ApiModelTest, OutputValidationIsStrict) {
  json ok = {{"LocationArn", kLocation1},
             {"LocationUri", "local://agent-0123456789abcdefg/srv/my data/"},
             {"AgentArns", {kAgent}},
             {"CreationTime", 1700000000.25},
             {"Path", "/srv/my data"}};
  EXPECT_TRUE(Model().ValidateOutput("DescribeLocationLocal", ok).empty());

  json bad = ok;
  bad["Extra"] = 1;
  bad["CreationTime"] = "2024-01-01T00:00:00Z";
  bad["AgentArns"] = {"agent-1"};
  std::vector<std::string> v =
      Model().ValidateOutput("DescribeLocationLocal", bad);
  ASSERT_EQ(v.size(), 3u) << testing::PrintToString(v);
  EXPECT_NE(v[0].find("'AgentArns[0]' failed to satisfy constraint: Member "
                      "must satisfy regular expression pattern"),
            std::string::npos)
      << v[0];
  EXPECT_EQ(v[1],
            "The value at 'CreationTime' must be a number (epoch seconds), not "
            "a string");
  EXPECT_EQ(v[2], "Unknown member at 'Extra'");

  // Required members of nested structures.
  json execution = {
      {"TaskExecutionArn", kExecution},
      {"Status", "SUCCESS"},
      {"Excludes", {{{"FilterType", "SIMPLE_PATTERN"}, {"Value", "*.tmp"}}}},
      {"FilesTransferred", 3},
      {"Result", {{"PrepareStatus", "SUCCESS"}, {"TotalDuration", 10}}}};
  EXPECT_TRUE(
      Model().ValidateOutput("DescribeTaskExecution", execution).empty());
  json tags = {{"Tags", {{{"Value", "v"}}}}};
  v = Model().ValidateOutput("ListTagsForResource", tags);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0],
            "Value null at 'Tags[0].Key' failed to satisfy constraint: Member "
            "must not be null");
  EXPECT_EQ(Model().ValidateOutput("Nope", json::object()).size(), 1u);
}

TEST(ApiModelTest, LocationUrisOfEveryKindMatchTheModel) {
  for (const char* uri :
       {"nfs://10.0.0.5/export/", "smb://host/share/dir_1/",
        "object-storage://s3.example.com/bucket/prefix/",
        "azure-blob://acct.blob.core.windows.net/container/",
        "local://agent-0123456789abcdefg/srv/data/", "hdfs://nn:8020/data/"}) {
    json list = {
        {"Locations", {{{"LocationArn", kLocation1}, {"LocationUri", uri}}}}};
    EXPECT_TRUE(Model().ValidateOutput("ListLocations", list).empty()) << uri;
  }
}

TEST(ApiModelTest, FromJsonChecksTheModel) {
  json model = {
      {"operations", {{"Ping", {{"input", {{"shape", "PingRequest"}}}}}}},
      {"shapes",
       {{"PingRequest",
         {{"type", "structure"},
          {"required", {"Name"}},
          {"members", {{"Name", {{"shape", "Name"}}}}}}},
        {"Name", {{"type", "string"}, {"pattern", "^[a-z]+$"}}}}}};
  Result<ApiModel> m = ApiModel::FromJson(model);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(Message(m->ValidateInput("Ping", {{"Name", "abc"}})), "(valid)");
  EXPECT_EQ(Message(m->ValidateInput("Ping", {{"Name", "ABC"}})),
            "1 validation error detected: Value 'ABC' at 'name' failed to "
            "satisfy constraint: Member must satisfy regular expression "
            "pattern: ^[a-z]+$");
  EXPECT_EQ(m->OutputShape("Ping"), "");
  EXPECT_TRUE(m->ValidateOutput("Ping", json::object()).empty());

  json bad_pattern = model;
  bad_pattern["shapes"]["Name"]["pattern"] = "([a-z";
  EXPECT_FALSE(ApiModel::FromJson(bad_pattern).ok());
  json missing_shape = model;
  missing_shape["shapes"]["PingRequest"]["members"]["Other"] = {
      {"shape", "Missing"}};
  Result<ApiModel> missing = ApiModel::FromJson(missing_shape);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("Missing"), std::string::npos);
  EXPECT_FALSE(ApiModel::FromJson(json::object()).ok());
  EXPECT_FALSE(ApiModel::FromText("{not json").ok());
}

TEST(ApiModelTest, FromTextKeepsMemberOrder) {
  Result<ApiModel> m = ApiModel::FromText(R"({
    "operations": {},
    "shapes": {
      "S": {"type": "structure", "members": {"Zeta": {"shape": "T"},
                                             "Alpha": {"shape": "T"}}},
      "T": {"type": "string"}}})");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->MemberNames("S"), (std::vector<std::string>{"Zeta", "Alpha"}));
}

}  // namespace
}  // namespace ferry
