#include "ferry/client/cli_params.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "ferry/base/base64.h"

namespace ferry {
namespace {

using nlohmann::json;

const ApiModel& Model() { return ApiModel::DataSync(); }

json Value(const std::string& shape, std::vector<std::string> words,
           const std::string& option = "--x") {
  Result<json> r = ParseMemberValue(Model(), shape, option, words);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : json("(error)");
}

std::string Error(const std::string& shape, std::vector<std::string> words,
                  const std::string& option = "--x") {
  Result<json> r = ParseMemberValue(Model(), shape, option, words);
  EXPECT_FALSE(r.ok()) << r->dump();
  return r.ok() ? "" : std::string(r.status().message());
}

TEST(CliNameTest, AsBotocoreSpellsThem) {
  // Checked against botocore.xform_name(name, '-') for every operation and
  // member of the model.
  EXPECT_EQ(CliName("CreateTask"), "create-task");
  EXPECT_EQ(CliName("DescribeTaskExecution"), "describe-task-execution");
  EXPECT_EQ(CliName("CreateLocationFsxOpenZfs"),
            "create-location-fsx-open-zfs");
  EXPECT_EQ(CliName("ListTagsForResource"), "list-tags-for-resource");
  EXPECT_EQ(CliName("CreateLocationLocal"), "create-location-local");
  EXPECT_EQ(CliName("SourceLocationArn"), "source-location-arn");
  EXPECT_EQ(CliName("KerberosKrb5Conf"), "kerberos-krb5-conf");
  EXPECT_EQ(CliName("SMB"), "smb");
  EXPECT_EQ(CliName("NFS"), "nfs");
  EXPECT_EQ(CliName("S3Config"), "s3-config");
  EXPECT_EQ(CliName("Ec2Config"), "ec2-config");
  EXPECT_EQ(CliName("DnsIpAddresses"), "dns-ip-addresses");
  EXPECT_EQ(CliName("GatewayARNs"), "gateway-arns");
  EXPECT_EQ(CliName("ListWebACLs"), "list-web-acls");
  EXPECT_EQ(CliName("already-kebab"), "already-kebab");
}

TEST(CliParamsTest, Scalars) {
  EXPECT_EQ(Value("TaskArn", {"arn:x"}), json("arn:x"));
  EXPECT_EQ(Value("MaxResults", {"42"}), json(42));
  EXPECT_EQ(Value("MaxResults", {" -7 "}), json(-7));
  EXPECT_EQ(Error("MaxResults", {"ten"}, "--max-results"),
            "Error parsing parameter '--max-results': invalid literal for "
            "int() with base 10: 'ten'");
  EXPECT_EQ(Error("MaxResults", {"1.5"}, "--max-results"),
            "Error parsing parameter '--max-results': invalid literal for "
            "int() with base 10: '1.5'");
  // The last of repeated words counts (argparse keeps the last).
  EXPECT_EQ(Value("TaskArn", {"a", "b"}), json("b"));
  // Blobs are the bytes given; EncodeBlobs makes them base64.
  EXPECT_EQ(Value("ObjectStorageCertificate", {"-----BEGIN"}),
            json("-----BEGIN"));
}

TEST(CliParamsTest, ListsOfScalars) {
  EXPECT_EQ(Value("AgentArnList", {"a", "b"}), json({"a", "b"}));
  EXPECT_EQ(Value("AgentArnList", {"a"}), json({"a"}));
  EXPECT_EQ(Value("AgentArnList", {"[\"a\", \"b\"]"}), json({"a", "b"}));
  EXPECT_EQ(Value("AgentArnList", {"  [\"a\"]"}), json({"a"}));
  EXPECT_NE(Error("AgentArnList", {"[\"a\""}, "--agent-arns")
                .find("Error parsing parameter '--agent-arns': Invalid JSON: "),
            std::string::npos);
}

TEST(CliParamsTest, StructuresAsShorthandOrJson) {
  EXPECT_EQ(Value("Options", {"VerifyMode=NONE,BytesPerSecond=1048576"}),
            json({{"VerifyMode", "NONE"}, {"BytesPerSecond", 1048576}}));
  EXPECT_EQ(Value("Options", {"{\"VerifyMode\": \"NONE\", \"BytesPerSecond\": "
                              "-1}"}),
            json({{"VerifyMode", "NONE"}, {"BytesPerSecond", -1}}));
  // Shorthand values are typed by the model: lists wrap a single value.
  EXPECT_EQ(Value("OnPremConfig", {"AgentArns=arn1"}),
            json({{"AgentArns", {"arn1"}}}));
  EXPECT_EQ(Value("OnPremConfig", {"AgentArns=arn1,arn2"}),
            json({{"AgentArns", {"arn1", "arn2"}}}));
  EXPECT_EQ(Error("Options", {"BytesPerSecond=fast"}, "--options"),
            "Error parsing parameter '--options': invalid literal for int() "
            "with base 10: 'fast'");
  EXPECT_EQ(Error("Options", {"VerifyMode"}, "--options"),
            "Error parsing parameter '--options': Expected: '=', received: "
            "'EOF' for input:\nVerifyMode\n          ^");
  EXPECT_NE(Error("Options", {"{\"VerifyMode\":"}, "--options")
                .find("Error parsing parameter '--options': Invalid JSON: "),
            std::string::npos);
}

TEST(CliParamsTest, ListsOfStructures) {
  json tags = json::array(
      {{{"Key", "k1"}, {"Value", "v1"}}, {{"Key", "k2"}, {"Value", "v2"}}});
  EXPECT_EQ(Value("InputTagList", {"Key=k1,Value=v1", "Key=k2,Value=v2"}),
            tags);
  EXPECT_EQ(Value("InputTagList",
                  {R"([{"Key":"k1","Value":"v1"},{"Key":"k2","Value":"v2"}])"}),
            tags);
  EXPECT_EQ(Value("InputTagList",
                  {R"({"Key":"k1","Value":"v1"})", "Key=k2,Value=v2"}),
            tags);
  EXPECT_EQ(
      Value("FilterList", {"FilterType=SIMPLE_PATTERN,Value=*.tmp|/x"}),
      json::array({{{"FilterType", "SIMPLE_PATTERN"}, {"Value", "*.tmp|/x"}}}));
}

TEST(CliParamsTest, ParamFiles) {
  std::filesystem::path path =
      std::filesystem::temp_directory_path() /
      ("ferry-cli-params-" + std::to_string(getpid()) + ".json");
  std::ofstream(path) << R"({"VerifyMode": "NONE"})";
  EXPECT_EQ(Value("Options", {"file://" + path.string()}),
            json({{"VerifyMode", "NONE"}}));
  EXPECT_EQ(Value("ObjectStorageCertificate", {"fileb://" + path.string()}),
            json(R"({"VerifyMode": "NONE"})"));
  std::filesystem::remove(path);
  EXPECT_NE(Error("Options", {"file://" + path.string()}, "--options")
                .find("Unable to load paramfile"),
            std::string::npos);
}

TEST(CliParamsTest, ValidateParamsAsBotocore) {
  EXPECT_TRUE(ValidateParams(Model(), "ListTasksRequest", json::object()).ok());
  Status st =
      ValidateParams(Model(), "CreateTaskRequest",
                     {{"SourceLocationArn", "a"},
                      {"Options", {{"Bogus", 1}, {"BytesPerSecond", "fast"}}},
                      {"Tags", {{{"Value", "v"}}}},
                      {"Extra", true}});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(
      st.message(),
      "Parameter validation failed:\n"
      "Missing required parameter in input: \"DestinationLocationArn\"\n"
      "Unknown parameter in input: \"Extra\", must be one of: "
      "SourceLocationArn, DestinationLocationArn, CloudWatchLogGroupArn, "
      "Name, Options, Excludes, Schedule, Tags, Includes, ManifestConfig, "
      "TaskReportConfig, TaskMode\n"
      "Unknown parameter in Options: \"Bogus\", must be one of: "
      "VerifyMode, OverwriteMode, Atime, Mtime, Uid, Gid, "
      "PreserveDeletedFiles, PreserveDevices, PosixPermissions, "
      "BytesPerSecond, TaskQueueing, LogLevel, TransferMode, "
      "SecurityDescriptorCopyFlags, ObjectTags\n"
      "Invalid type for parameter Options.BytesPerSecond, value: fast, "
      "type: <class 'str'>, valid types: <class 'int'>\n"
      "Missing required parameter in Tags[0]: \"Key\"");
  st = ValidateParams(Model(), "CreateLocationLocalRequest",
                      {{"Path", ""}, {"AgentArns", json::array()}});
  EXPECT_EQ(st.message(),
            "Parameter validation failed:\n"
            "Invalid length for parameter AgentArns, value: 0, valid min "
            "length: 1\n"
            "Invalid length for parameter Path, value: 0, valid min length: 1");
}

TEST(CliParamsTest, BlobsAreBase64OnTheWire) {
  json request = {{"ServerHostname", "h"},
                  {"BucketName", "b"},
                  {"ServerCertificate", "-----BEGIN"}};
  EncodeBlobs(Model(), "CreateLocationObjectStorageRequest", &request);
  EXPECT_EQ(request["ServerCertificate"], "LS0tLS1CRUdJTg==");
  EXPECT_EQ(request["ServerHostname"], "h");
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(Base64Encode(std::string("\xff\x00\x10", 3)), "/wAQ");
}

}  // namespace
}  // namespace ferry
