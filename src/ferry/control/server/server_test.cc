// The API handlers, called in-process through the registry over a fresh
// database (SQLite and PostgreSQL): every operation's happy path and main
// errors, paging, and that secrets never come back. The HTTP layer's tests
// are in server_http_test.cc.
#include <gtest/gtest.h>

#include <set>

#include "ferry/control/server/api_helpers.h"
#include "ferry/control/server/api_test_fixture.h"
#include "ferry/control/server/execution_control.h"

namespace ferry::control {
namespace {

using nlohmann::json;
using testing::ApiTest;
using testing::Backend;

class ServerApiTest : public ApiTest {};

INSTANTIATE_TEST_SUITE_P(Backends, ServerApiTest,
                         ::testing::Values(Backend::kSqlite,
                                           Backend::kPostgres),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                           return testing::BackendName(info.param);
                         });

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// `s` is `prefix` followed by `n` characters of `alphabet`.
bool Shaped(const std::string& s, const std::string& prefix, size_t n,
            const std::string& alphabet) {
  if (s.size() != prefix.size() + n || s.rfind(prefix, 0) != 0) return false;
  return s.find_first_not_of(alphabet, prefix.size()) == std::string::npos;
}
const std::string kHex = "0123456789abcdef";
const std::string kAlnum = "0123456789abcdefghijklmnopqrstuvwxyz";

// --- Paging tokens ---

TEST(NextTokenTest, RoundTripsAndFitsTheModelPattern) {
  for (std::string key : std::vector<std::string>{
           "a", "ab", "abc", "arn:x:task/task-\u00e9", std::string(300, 'z')}) {
    std::string token = EncodeNextToken("ListTasks", key);
    EXPECT_EQ(token.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN"
                                      "OPQRSTUVWXYZ0123456789=_-"),
              std::string::npos)
        << token;
    auto back = DecodeNextToken("ListTasks", token);
    ASSERT_TRUE(back.ok()) << token;
    EXPECT_EQ(*back, key);
  }
  EXPECT_EQ(EncodeNextToken("ListTasks", ""), "");
  auto first = DecodeNextToken("ListTasks", "");
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(*first, "");
}

// URL-safe base64 without padding, as EncodeNextToken writes it.
std::string Base64Url(std::string_view bytes) {
  static const char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  for (size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t v = static_cast<uint8_t>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) v |= static_cast<uint8_t>(bytes[i + 2]);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    if (i + 1 < bytes.size()) out += kAlphabet[(v >> 6) & 63];
    if (i + 2 < bytes.size()) out += kAlphabet[v & 63];
  }
  return out;
}

// Only a token the same operation returned passes: not garbage (which
// listed nothing), not one that decodes to a NUL byte or to bytes that are
// not UTF-8 (which PostgreSQL refused: a 500), not another operation's.
TEST(NextTokenTest, RefusesTokensTheOperationDidNotReturn) {
  const std::string other = EncodeNextToken("ListAgents", "arn:x");
  ASSERT_TRUE(DecodeNextToken("ListAgents", other).ok());
  for (const std::string& token :
       {std::string("a"), std::string("!!!!"), std::string("garbage"),
        Base64Url(std::string(1, '\0')), Base64Url("ListTasks:"),
        Base64Url(std::string("ListTasks:\0", 11)),
        Base64Url(std::string("ListTasks:a\0b", 13)),
        Base64Url("ListTasks:\xff\xfe"), Base64Url("arn:x"), other,
        std::string(5000, 'A')}) {
    auto decoded = DecodeNextToken("ListTasks", token);
    ASSERT_FALSE(decoded.ok()) << token << " -> " << *decoded;
    EXPECT_EQ(decoded.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(decoded.status().message(),
              "Invalid NextToken: it is not one that ListTasks returned (pass "
              "the NextToken of the previous response unchanged).");
  }
}

// --- Agents ---

TEST_P(ServerApiTest, CreateAgentSignsTheAgentsRequest) {
  const std::string key = Activation();
  json r =
      Ok("CreateAgent", {{"ActivationKey", key},
                         {"AgentName", "nas gateway"},
                         {"Tags", {{{"Key", "site"}, {"Value", "paris"}}}}});
  const std::string arn = r["AgentArn"];
  EXPECT_TRUE(Shaped(arn,
                     "arn:aws:datasync:ferry-local:000000000000:agent/agent-",
                     17, kAlnum))
      << arn;
  // The activation now carries the certificate the agent's poll picks up.
  std::optional<ActivationRecord> a;
  ASSERT_TRUE(ctx_.db
                  ->Transaction([&](SqlSession& s) -> Status {
                    FERRY_ASSIGN_OR_RETURN(a, ctx_.store.GetActivation(s, key));
                    return Status::Ok();
                  })
                  .ok());
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->agent_arn, arn);
  auto cn = pki::CommonName(a->certificate_pem);
  ASSERT_TRUE(cn.ok());
  EXPECT_EQ(*cn, ResourceId(arn));
  EXPECT_TRUE(
      pki::VerifyIssuedBy(a->certificate_pem, Authority().certificate_pem)
          .ok());

  json tags = Ok("ListTagsForResource", {{"ResourceArn", arn}});
  EXPECT_EQ(tags["Tags"], json::parse(R"([{"Key":"site","Value":"paris"}])"));

  // A key is used once.
  ApiError e = Err("CreateAgent", {{"ActivationKey", key}});
  EXPECT_EQ(e.type, "InvalidRequestException");
  EXPECT_TRUE(Contains(e.message, "already been used")) << e.message;
}

TEST_P(ServerApiTest, CreateAgentRefusesUnknownAndExpiredKeys) {
  ApiError e =
      Err("CreateAgent", {{"ActivationKey", "ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZ"}});
  EXPECT_EQ(e.http_status, 400);
  EXPECT_TRUE(Contains(e.message, "not valid")) << e.message;

  const std::string key = Activation(/*expires_in_ms=*/1000);
  now_ms_ += 2000;
  e = Err("CreateAgent", {{"ActivationKey", key}});
  EXPECT_TRUE(Contains(e.message, "expired")) << e.message;

  e = Err("CreateAgent", {{"ActivationKey", "lower-case"}});
  EXPECT_TRUE(Contains(e.message, "activationKey")) << e.message;
}

TEST_P(ServerApiTest, DescribeAgentFollowsItsHeartbeat) {
  const std::string arn = NewAgent("gw");
  json d = Ok("DescribeAgent", {{"AgentArn", arn}});
  EXPECT_EQ(d["Status"], "OFFLINE");
  EXPECT_EQ(d["Name"], "gw");
  EXPECT_EQ(d["EndpointType"], "PUBLIC");
  EXPECT_EQ(d["Platform"]["Version"], "0.1.0");
  EXPECT_DOUBLE_EQ(d["CreationTime"].get<double>(), kStartMs / 1000.0);
  EXPECT_FALSE(d.contains("LastConnectionTime"));

  now_ms_ += 5000;
  Heartbeat(arn);
  d = Ok("DescribeAgent", {{"AgentArn", arn}});
  EXPECT_EQ(d["Status"], "ONLINE");
  EXPECT_DOUBLE_EQ(d["LastConnectionTime"].get<double>(), now_ms_ / 1000.0);

  now_ms_ += 301 * 1000;  // past --agent-offline-after (300 s)
  d = Ok("DescribeAgent", {{"AgentArn", arn}});
  EXPECT_EQ(d["Status"], "OFFLINE");
}

TEST_P(ServerApiTest, ListAgentsPages) {
  std::set<std::string> made;
  for (int i = 0; i < 3; ++i) made.insert(NewAgent("a" + std::to_string(i)));
  std::set<std::string> seen;
  json request = {{"MaxResults", 2}};
  int pages = 0;
  while (true) {
    json r = Ok("ListAgents", request);
    ++pages;
    for (const json& a : r["Agents"]) {
      seen.insert(a["AgentArn"].get<std::string>());
      EXPECT_EQ(a["Status"], "OFFLINE");
    }
    if (!r.contains("NextToken")) break;
    request["NextToken"] = r["NextToken"];
  }
  EXPECT_EQ(seen, made);
  EXPECT_EQ(pages, 2);
  ApiError e = Err("ListAgents", {{"NextToken", "AAAA_"}});
  EXPECT_TRUE(Contains(e.message, "NextToken")) << e.message;
}

TEST_P(ServerApiTest, UpdateAndDeleteAgent) {
  const std::string arn = NewAgent("old");
  Ok("UpdateAgent", {{"AgentArn", arn}, {"Name", "new"}});
  EXPECT_EQ(Ok("DescribeAgent", {{"AgentArn", arn}})["Name"], "new");

  const std::string loc = NewLocalLocation(arn, "/data");
  ApiError e = Err("DeleteAgent", {{"AgentArn", arn}});
  EXPECT_TRUE(Contains(e.message, loc)) << e.message;
  Ok("DeleteLocation", {{"LocationArn", loc}});
  Ok("DeleteAgent", {{"AgentArn", arn}});
  e = Err("DescribeAgent", {{"AgentArn", arn}});
  EXPECT_TRUE(Contains(e.message, "does not exist")) << e.message;
  e = Err("DeleteAgent", {{"AgentArn", arn}});
  EXPECT_TRUE(Contains(e.message, "does not exist")) << e.message;
}

TEST_P(ServerApiTest, ArnsOfAnotherAccountOrRegionAreRefused) {
  ApiError e =
      Err("DescribeAgent", {{"AgentArn",
                             "arn:aws:datasync:ferry-local:123456789012:agent/"
                             "agent-0123456789abcdefg"}});
  EXPECT_EQ(e.message,
            "Invalid parameter: ARN account (123456789012) must match "
            "authenticated user.");
  EXPECT_EQ(e.error_code, "InvalidParameter");
  e = Err("DescribeTask", {{"TaskArn",
                            "arn:aws:datasync:us-east-1:000000000000:task/"
                            "task-0123456789abcdef0"}});
  EXPECT_TRUE(Contains(e.message, "ARN region (us-east-1)")) << e.message;
  e = Err("DescribeTask", {{"TaskArn",
                            "arn:aws-cn:datasync:ferry-local:000000000000:task/"
                            "task-0123456789abcdef0"}});
  EXPECT_TRUE(Contains(e.message, "partition")) << e.message;
}

// --- Locations ---

TEST_P(ServerApiTest, LocationsOfEveryTypeDescribeThemselvesWithoutSecrets) {
  const std::string agent = NewAgent();
  struct Case {
    std::string type;
    json request;
    std::string uri;
    std::vector<std::string> secrets;
  };
  std::vector<Case> cases = {
      {"Nfs",
       {{"ServerHostname", "10.0.0.5"},
        {"Subdirectory", "/export/data"},
        {"OnPremConfig", {{"AgentArns", {agent}}}},
        {"MountOptions", {{"Version", "NFS4_1"}}}},
       "nfs://10.0.0.5/export/data/",
       {}},
      {"Smb",
       {{"ServerHostname", "fs.example.com"},
        {"Subdirectory", "/share/dir"},
        {"User", "svc"},
        {"Domain", "CORP"},
        {"Password", "Sup3rSecretPassw0rd"},
        {"AgentArns", {agent}}},
       "smb://fs.example.com/share/dir/",
       {"Sup3rSecretPassw0rd"}},
      {"ObjectStorage",
       {{"ServerHostname", "minio.local"},
        {"BucketName", "bucket"},
        {"Subdirectory", "/prefix/x"},
        {"AccessKey", "AKIDEXAMPLE"},
        {"SecretKey", "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY"},
        {"AgentArns", {agent}}},
       "object-storage://minio.local/bucket/prefix/x/",
       {"wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY"}},
      {"AzureBlob",
       {{"ContainerUrl", "https://acct.blob.core.windows.net/container"},
        {"AuthenticationType", "SAS"},
        {"SasConfiguration", {{"Token", "sp=r&sig=TheSasTokenSignature"}}},
        {"Subdirectory", "/sub"},
        {"AgentArns", {agent}}},
       "azure-blob://acct.blob.core.windows.net/container/sub/",
       {"TheSasTokenSignature"}},
      {"Hdfs",
       {{"NameNodes", {{{"Hostname", "namenode"}, {"Port", 8020}}}},
        {"AuthenticationType", "KERBEROS"},
        {"KerberosPrincipal", "hdfs@EXAMPLE.COM"},
        {"KerberosKeytab", "S2V5dGFiU2VjcmV0Qnl0ZXM="},
        {"KerberosKrb5Conf", "W2xpYmRlZmF1bHRzXQ=="},
        {"Subdirectory", "/user/data"},
        {"AgentArns", {agent}}},
       "hdfs://namenode:8020/user/data/",
       {"S2V5dGFiU2VjcmV0Qnl0ZXM="}},
      {"Local",
       {{"Path", "/srv/data"}, {"AgentArns", {agent}}},
       "local://" + ResourceId(agent) + "/srv/data/",
       {}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.type);
    json created = Ok("CreateLocation" + c.type, c.request);
    const std::string arn = created.value("LocationArn", "");
    EXPECT_TRUE(
        Shaped(arn, "arn:aws:datasync:ferry-local:000000000000:location/loc-",
               17, kAlnum))
        << arn;
    json d = Ok("DescribeLocation" + c.type, {{"LocationArn", arn}});
    EXPECT_EQ(d["LocationUri"], c.uri);
    EXPECT_EQ(d["LocationArn"], arn);
    for (const std::string& secret : c.secrets) {
      EXPECT_FALSE(Contains(d.dump(), secret)) << d.dump();
    }
    // The secrets are in the database only sealed, and come back for
    // agents.
    std::optional<LocationRecord> r;
    ASSERT_TRUE(ctx_.db
                    ->Transaction([&](SqlSession& s) -> Status {
                      FERRY_ASSIGN_OR_RETURN(r, ctx_.store.GetLocation(s, arn));
                      return Status::Ok();
                    })
                    .ok());
    ASSERT_TRUE(r.has_value());
    for (const std::string& secret : c.secrets) {
      EXPECT_FALSE(Contains(r->params.dump(), secret));
      EXPECT_FALSE(Contains(r->sealed_secrets, secret));
      auto full = LocationParametersWithSecrets(ctx_, *r);
      ASSERT_TRUE(full.ok());
      EXPECT_TRUE(Contains(full->dump(), secret)) << full->dump();
    }
  }
  json nfs =
      Ok("DescribeLocationNfs",
         {{"LocationArn",
           Ok("ListLocations",
              {{"Filters",
                {{{"Name", "LocationType"},
                  {"Operator", "Equals"},
                  {"Values", {"NFS"}}}}}})["Locations"][0]["LocationArn"]}});
  EXPECT_EQ(nfs["OnPremConfig"]["AgentArns"], json::array({agent}));
  EXPECT_EQ(nfs["MountOptions"]["Version"], "NFS4_1");
}

TEST_P(ServerApiTest, ObjectStorageAndHdfsGetDataSyncsDefaults) {
  const std::string agent = NewAgent();
  json os = Ok("CreateLocationObjectStorage", {{"ServerHostname", "s3.local"},
                                               {"BucketName", "bkt"},
                                               {"AgentArns", {agent}}});
  json d =
      Ok("DescribeLocationObjectStorage", {{"LocationArn", os["LocationArn"]}});
  EXPECT_EQ(d["ServerProtocol"], "HTTPS");
  EXPECT_EQ(d["ServerPort"], 443);
  EXPECT_EQ(d["LocationUri"], "object-storage://s3.local/bkt/");
  json hdfs = Ok("CreateLocationHdfs",
                 {{"NameNodes", {{{"Hostname", "nn"}, {"Port", 9000}}}},
                  {"AuthenticationType", "SIMPLE"},
                  {"SimpleUser", "hdfs"},
                  {"AgentArns", {agent}}});
  d = Ok("DescribeLocationHdfs", {{"LocationArn", hdfs["LocationArn"]}});
  EXPECT_EQ(d["BlockSize"], 134217728);
  EXPECT_EQ(d["ReplicationFactor"], 3);
  EXPECT_EQ(d["LocationUri"], "hdfs://nn:9000/");

  ApiError e = Err("CreateLocationHdfs",
                   {{"NameNodes", {{{"Hostname", "nn"}, {"Port", 9000}}}},
                    {"AuthenticationType", "KERBEROS"},
                    {"AgentArns", {agent}}});
  EXPECT_TRUE(Contains(e.message, "KerberosKeytab")) << e.message;
  e = Err("CreateLocationAzureBlob",
          {{"ContainerUrl", "https://acct.blob.core.windows.net/container"},
           {"AuthenticationType", "SAS"},
           {"AgentArns", {agent}}});
  EXPECT_TRUE(Contains(e.message, "SasConfiguration")) << e.message;
}

TEST_P(ServerApiTest, LocationsNeedAgentsThatExist) {
  ApiError e = Err("CreateLocationLocal",
                   {{"Path", "/data"},
                    {"AgentArns", {Arn("agent/agent-0123456789abcdefg")}}});
  EXPECT_TRUE(Contains(e.message, "does not exist")) << e.message;
  e = Err("CreateLocationObjectStorage",
          {{"ServerHostname", "s3.local"}, {"BucketName", "bkt"}});
  EXPECT_TRUE(Contains(e.message, "AgentArns")) << e.message;
  e = Err("CreateLocationLocal",
          {{"Path", "relative"}, {"AgentArns", {NewAgent()}}});
  EXPECT_TRUE(Contains(e.message, "path")) << e.message;
}

TEST_P(ServerApiTest, DescribeLocationChecksTheType) {
  const std::string loc = NewLocalLocation(NewAgent(), "/data");
  ApiError e = Err("DescribeLocationNfs", {{"LocationArn", loc}});
  EXPECT_TRUE(Contains(e.message, "LOCAL location, not NFS")) << e.message;
  e = Err("DescribeLocationLocal",
          {{"LocationArn", Arn("location/loc-0123456789abcdefg")}});
  EXPECT_TRUE(Contains(e.message, "not found")) << e.message;
}

TEST_P(ServerApiTest, UpdateLocationChangesParametersSecretsAndAgents) {
  const std::string a1 = NewAgent("one"), a2 = NewAgent("two");
  json created = Ok("CreateLocationSmb", {{"ServerHostname", "fs"},
                                          {"Subdirectory", "/share"},
                                          {"User", "u"},
                                          {"Password", "FirstPassword"},
                                          {"AgentArns", {a1}}});
  const std::string arn = created["LocationArn"];
  Ok("UpdateLocationSmb", {{"LocationArn", arn},
                           {"Subdirectory", "/other/dir"},
                           {"Password", "SecondPassword"},
                           {"AgentArns", {a2, a1}}});
  json d = Ok("DescribeLocationSmb", {{"LocationArn", arn}});
  EXPECT_EQ(d["LocationUri"], "smb://fs/other/dir/");
  EXPECT_EQ(d["AgentArns"], json::array({a2, a1}));
  EXPECT_EQ(d["User"], "u");
  std::optional<LocationRecord> r;
  ASSERT_TRUE(ctx_.db
                  ->Transaction([&](SqlSession& s) -> Status {
                    FERRY_ASSIGN_OR_RETURN(r, ctx_.store.GetLocation(s, arn));
                    return Status::Ok();
                  })
                  .ok());
  auto full = LocationParametersWithSecrets(ctx_, *r);
  ASSERT_TRUE(full.ok());
  EXPECT_EQ((*full)["Password"], "SecondPassword");

  ApiError e = Err("UpdateLocationSmb",
                   {{"LocationArn", arn},
                    {"AgentArns", {Arn("agent/agent-0123456789abcdefg")}}});
  EXPECT_TRUE(Contains(e.message, "does not exist")) << e.message;
  e = Err("UpdateLocationSmb",
          {{"LocationArn", arn}, {"CmkSecretConfig", {{"KmsKeyArn", ""}}}});
  EXPECT_TRUE(Contains(e.message, "not supported")) << e.message;
}

// With write access to the database and no key, moving one location's
// sealed secrets onto another's row must not hand its password to the
// other location's agents: each value is sealed for its own row.
TEST_P(ServerApiTest, SealedSecretsMovedToAnotherRowDoNotOpen) {
  const std::string a1 = NewAgent("one"), a2 = NewAgent("two");
  auto smb = [&](const std::string& agent, const std::string& password) {
    return Ok("CreateLocationSmb", {{"ServerHostname", "fs"},
                                    {"Subdirectory", "/share"},
                                    {"User", "u"},
                                    {"Password", password},
                                    {"AgentArns", {agent}}})["LocationArn"]
        .get<std::string>();
  };
  const std::string victim = smb(a1, "VictimsPassword");
  const std::string thief = smb(a2, "ThiefsPassword");
  ASSERT_TRUE(ctx_.db
                  ->Execute("UPDATE locations SET sealed_secrets = (SELECT "
                            "sealed_secrets FROM locations WHERE arn = ?) "
                            "WHERE arn = ?",
                            {victim, thief})
                  .ok());
  auto get = [&](const std::string& arn) {
    std::optional<LocationRecord> r;
    EXPECT_TRUE(ctx_.db
                    ->Transaction([&](SqlSession& s) -> Status {
                      FERRY_ASSIGN_OR_RETURN(r, ctx_.store.GetLocation(s, arn));
                      return Status::Ok();
                    })
                    .ok());
    return r.value_or(LocationRecord{});
  };
  auto moved = LocationParametersWithSecrets(ctx_, get(thief));
  ASSERT_FALSE(moved.ok()) << moved->dump();
  EXPECT_EQ(moved.status().code(), StatusCode::kDataLoss)
      << moved.status().ToString();
  auto own = LocationParametersWithSecrets(ctx_, get(victim));
  ASSERT_TRUE(own.ok()) << own.status().ToString();
  EXPECT_EQ((*own)["Password"], "VictimsPassword");
}

TEST_P(ServerApiTest, ListLocationsFiltersAndPages) {
  const std::string agent = NewAgent();
  std::vector<std::string> locals;
  for (int i = 0; i < 3; ++i) {
    locals.push_back(NewLocalLocation(agent, "/data/" + std::to_string(i)));
  }
  now_ms_ += 10'000;
  const std::string nfs =
      Ok("CreateLocationNfs",
         {{"ServerHostname", "nas"},
          {"Subdirectory", "/export"},
          {"OnPremConfig", {{"AgentArns", {agent}}}}})["LocationArn"];
  auto list = [&](json filters, int max = 100) {
    std::vector<std::string> arns;
    json request = {{"Filters", filters}, {"MaxResults", max}};
    while (true) {
      json r = Ok("ListLocations", request);
      for (const json& l : r["Locations"]) arns.push_back(l["LocationArn"]);
      if (!r.contains("NextToken")) break;
      request["NextToken"] = r["NextToken"];
    }
    std::sort(arns.begin(), arns.end());
    return arns;
  };
  auto sorted = [](std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  EXPECT_EQ(list(json::array()).size(), 4u);
  EXPECT_EQ(list({{{"Name", "LocationType"},
                   {"Operator", "Equals"},
                   {"Values", {"NFS"}}}}),
            std::vector<std::string>{nfs});
  EXPECT_EQ(list({{{"Name", "LocationType"},
                   {"Operator", "NotEquals"},
                   {"Values", {"NFS"}}}},
                 1),
            sorted(locals));
  EXPECT_EQ(list({{{"Name", "LocationUri"},
                   {"Operator", "BeginsWith"},
                   {"Values", {"local://"}}},
                  {{"Name", "LocationUri"},
                   {"Operator", "Contains"},
                   {"Values", {"/data/1/"}}}}),
            std::vector<std::string>{locals[1]});
  EXPECT_EQ(list({{{"Name", "LocationUri"},
                   {"Operator", "NotContains"},
                   {"Values", {"data"}}}}),
            std::vector<std::string>{nfs});
  EXPECT_EQ(list({{{"Name", "LocationType"},
                   {"Operator", "In"},
                   {"Values", {"NFS", "SMB"}}}}),
            std::vector<std::string>{nfs});
  // Created at kStartMs (the local ones) and 10 s later (NFS).
  EXPECT_EQ(list({{{"Name", "CreationTime"},
                   {"Operator", "GreaterThan"},
                   {"Values", {"2023-11-14 22:13:25"}}}}),
            std::vector<std::string>{nfs});
  EXPECT_EQ(list({{{"Name", "CreationTime"},
                   {"Operator", "LessThanOrEqual"},
                   {"Values", {"2023-11-14T22:13:20Z"}}}})
                .size(),
            3u);
  // A filter that matches nothing past the first page still ends.
  EXPECT_TRUE(list({{{"Name", "LocationType"},
                     {"Operator", "Equals"},
                     {"Values", {"HDFS"}}}},
                   1)
                  .empty());

  ApiError e = Err("ListLocations", {{"Filters",
                                      {{{"Name", "CreationTime"},
                                        {"Operator", "Contains"},
                                        {"Values", {"2023"}}}}}});
  EXPECT_TRUE(Contains(e.message, "Operator Contains is not supported"))
      << e.message;
  e = Err("ListLocations", {{"Filters",
                             {{{"Name", "CreationTime"},
                               {"Operator", "LessThan"},
                               {"Values", {"yesterday"}}}}}});
  EXPECT_TRUE(Contains(e.message, "CreationTime")) << e.message;
  e = Err("ListLocations", {{"Filters",
                             {{{"Name", "LocationUri"},
                               {"Operator", "LessThan"},
                               {"Values", {"x"}}}}}});
  EXPECT_TRUE(Contains(e.message, "LessThan")) << e.message;
}

TEST_P(ServerApiTest, DeleteLocationWaitsForItsTasks) {
  const std::string agent = NewAgent();
  const std::string src = NewLocalLocation(agent, "/a");
  const std::string dst = NewLocalLocation(agent, "/b");
  const std::string task = NewTask(src, dst);
  ApiError e = Err("DeleteLocation", {{"LocationArn", dst}});
  EXPECT_TRUE(Contains(e.message, task)) << e.message;
  Ok("DeleteTask", {{"TaskArn", task}});
  Ok("DeleteLocation", {{"LocationArn", dst}});
  e = Err("DeleteLocation", {{"LocationArn", dst}});
  EXPECT_TRUE(Contains(e.message, "not found")) << e.message;
}

TEST_P(ServerApiTest, AwsStorageLocationsAreNotServedButS3Is) {
  ApiError e = Err("CreateLocationEfs",
                   {{"EfsFilesystemArn",
                     "arn:aws:elasticfilesystem:us-east-1:000000000000:"
                     "file-system/fs-01234567"},
                    {"Ec2Config",
                     {{"SubnetArn",
                       "arn:aws:ec2:us-east-1:000000000000:subnet/"
                       "subnet-01234567"},
                      {"SecurityGroupArns",
                       {"arn:aws:ec2:us-east-1:000000000000:security-group/"
                        "sg-01234567"}}}}});
  EXPECT_TRUE(Contains(e.message, "CreateLocationObjectStorage")) << e.message;

  // S3: no agent needed (the task's other location's agents serve it).
  json s3 =
      Ok("CreateLocationS3",
         {{"S3BucketArn", "arn:aws:s3:::bucket"},
          {"Subdirectory", "/backups"},
          {"S3Config",
           {{"BucketAccessRoleArn", "arn:aws:iam::000000000000:role/r"}}}});
  json d = Ok("DescribeLocationS3", {{"LocationArn", s3["LocationArn"]}});
  EXPECT_EQ(d["LocationUri"], "s3://bucket/backups/");
  EXPECT_EQ(d["S3StorageClass"], "STANDARD");
  e = Err("CreateLocationS3",
          {{"S3BucketArn", "arn:aws:s3:us-east-1:000000000000:accesspoint/ap"},
           {"S3Config",
            {{"BucketAccessRoleArn", "arn:aws:iam::000000000000:role/r"}}}});
  EXPECT_TRUE(Contains(e.message, "S3BucketArn")) << e.message;
}

// --- Tasks ---

TEST_P(ServerApiTest, CreateTaskCompletesOptionsWithDataSyncsDefaults) {
  const std::string agent = NewAgent();
  const std::string src = NewLocalLocation(agent, "/a");
  const std::string dst = NewLocalLocation(agent, "/b");
  const std::string task = NewTask(
      src, dst,
      {{"Name", "nightly"},
       {"Options", {{"VerifyMode", "NONE"}, {"BytesPerSecond", 1000}}},
       {"Excludes",
        {{{"FilterType", "SIMPLE_PATTERN"}, {"Value", "*.tmp|/cache"}}}},
       {"Tags", {{{"Key", "team"}, {"Value", "storage"}}}}});
  EXPECT_TRUE(Shaped(
      task, "arn:aws:datasync:ferry-local:000000000000:task/task-", 17, kHex))
      << task;
  json d = Ok("DescribeTask", {{"TaskArn", task}});
  EXPECT_EQ(d["Name"], "nightly");
  EXPECT_EQ(d["Status"], "UNAVAILABLE");  // its agent has never connected
  EXPECT_EQ(d["SourceLocationArn"], src);
  EXPECT_EQ(d["DestinationLocationArn"], dst);
  EXPECT_EQ(d["SourceNetworkInterfaceArns"], json::array());
  EXPECT_EQ(d["TaskMode"], "BASIC");
  const json& o = d["Options"];
  EXPECT_EQ(o["VerifyMode"], "NONE");
  EXPECT_EQ(o["BytesPerSecond"], 1000);
  EXPECT_EQ(o["OverwriteMode"], "ALWAYS");
  EXPECT_EQ(o["Atime"], "BEST_EFFORT");
  EXPECT_EQ(o["Mtime"], "PRESERVE");
  EXPECT_EQ(o["Uid"], "INT_VALUE");
  EXPECT_EQ(o["PreserveDeletedFiles"], "PRESERVE");
  EXPECT_EQ(o["TaskQueueing"], "ENABLED");
  EXPECT_EQ(o["LogLevel"], "BASIC");
  EXPECT_EQ(o["TransferMode"], "CHANGED");
  EXPECT_EQ(o.size(), 15u);
  EXPECT_EQ(d["Excludes"][0]["Value"], "*.tmp|/cache");
  EXPECT_EQ(d["Includes"], json::array());
  EXPECT_FALSE(d.contains("Schedule"));
  EXPECT_FALSE(d.contains("CurrentTaskExecutionArn"));

  Heartbeat(agent);
  EXPECT_EQ(Ok("DescribeTask", {{"TaskArn", task}})["Status"], "AVAILABLE");
}

TEST_P(ServerApiTest, CreateTaskRefusesWhatDataSyncRefuses) {
  const std::string agent = NewAgent();
  const std::string src = NewLocalLocation(agent, "/a");
  const std::string dst = NewLocalLocation(agent, "/b");
  json base = {{"SourceLocationArn", src}, {"DestinationLocationArn", dst}};
  auto with = [&](json extra) {
    json r = base;
    for (auto& [k, v] : extra.items()) r[k] = v;
    return r;
  };
  ApiError e = Err(
      "CreateTask",
      with({{"Options",
             {{"TransferMode", "ALL"}, {"PreserveDeletedFiles", "REMOVE"}}}}));
  EXPECT_EQ(
      e.message,
      "Invalid SyncOption value. Option: TransferMode,PreserveDeletedFiles, "
      "Value: ALL,REMOVE.");
  e = Err("CreateTask", with({{"Options", {{"VerifyMode", "SOMETIMES"}}}}));
  EXPECT_TRUE(Contains(e.message, "options.verifyMode")) << e.message;
  e = Err("CreateTask", with({{"Options", {{"Atime", "NONE"}}}}));
  EXPECT_TRUE(Contains(e.message, "Atime,Mtime")) << e.message;
  e = Err("CreateTask",
          with({{"Includes",
                 {{{"FilterType", "SIMPLE_PATTERN"}, {"Value", "*.txt"}}}}}));
  EXPECT_TRUE(Contains(e.message, "*.txt")) << e.message;
  e = Err("CreateTask",
          with({{"Schedule", {{"ScheduleExpression", "rate(5 fortnights)"}}}}));
  EXPECT_TRUE(Contains(e.message, "rate(5 fortnights)")) << e.message;
  e = Err("CreateTask",
          {{"SourceLocationArn", src},
           {"DestinationLocationArn", Arn("location/loc-0123456789abcdefg")}});
  EXPECT_TRUE(Contains(e.message, "not found")) << e.message;
  e = Err("CreateTask", {{"SourceLocationArn", src}});
  EXPECT_TRUE(Contains(e.message, "destinationLocationArn")) << e.message;
}

TEST_P(ServerApiTest, SchedulesAreComputedEnabledDisabledAndRemoved) {
  const std::string agent = NewAgent();
  const std::string task =
      NewTask(NewLocalLocation(agent, "/a"), NewLocalLocation(agent, "/b"),
              {{"Schedule", {{"ScheduleExpression", "rate(1 hour)"}}}});
  json d = Ok("DescribeTask", {{"TaskArn", task}});
  EXPECT_EQ(d["Schedule"]["ScheduleExpression"], "rate(1 hour)");
  EXPECT_EQ(d["Schedule"]["Status"], "ENABLED");
  EXPECT_DOUBLE_EQ(d["ScheduleDetails"]["StatusUpdateTime"].get<double>(),
                   kStartMs / 1000.0);
  auto next_run = [&] {
    std::optional<TaskRecord> t;
    EXPECT_TRUE(ctx_.db
                    ->Transaction([&](SqlSession& s) -> Status {
                      FERRY_ASSIGN_OR_RETURN(t, ctx_.store.GetTask(s, task));
                      return Status::Ok();
                    })
                    .ok());
    return t ? t->next_run_ms : -1;
  };
  EXPECT_EQ(next_run(), kStartMs + 3600 * 1000);

  now_ms_ += 60'000;
  Ok("UpdateTask", {{"TaskArn", task},
                    {"Schedule",
                     {{"ScheduleExpression", "cron(0 12 * * ? *)"},
                      {"Status", "DISABLED"}}}});
  d = Ok("DescribeTask", {{"TaskArn", task}});
  EXPECT_EQ(d["Schedule"]["Status"], "DISABLED");
  EXPECT_EQ(d["ScheduleDetails"]["DisabledBy"], "USER");
  EXPECT_DOUBLE_EQ(d["ScheduleDetails"]["StatusUpdateTime"].get<double>(),
                   now_ms_ / 1000.0);
  EXPECT_EQ(next_run(), 0);

  Ok("UpdateTask",
     {{"TaskArn", task},
      {"Schedule", {{"ScheduleExpression", "cron(0 12 * * ? *)"}}}});
  d = Ok("DescribeTask", {{"TaskArn", task}});
  EXPECT_EQ(d["Schedule"]["Status"], "ENABLED");
  EXPECT_FALSE(d["ScheduleDetails"].contains("DisabledBy"));
  // 2023-11-14 22:14:20 UTC -> next noon is 2023-11-15 12:00 UTC.
  EXPECT_EQ(next_run(), 1700049600000);

  Ok("UpdateTask",
     {{"TaskArn", task}, {"Schedule", {{"ScheduleExpression", ""}}}});
  d = Ok("DescribeTask", {{"TaskArn", task}});
  EXPECT_FALSE(d.contains("Schedule"));
  EXPECT_EQ(next_run(), 0);
}

TEST_P(ServerApiTest, UpdateTaskMergesOptionsAndReplacesFilters) {
  const std::string agent = NewAgent();
  const std::string task =
      NewTask(NewLocalLocation(agent, "/a"), NewLocalLocation(agent, "/b"),
              {{"Options", {{"VerifyMode", "NONE"}}}});
  Ok("UpdateTask",
     {{"TaskArn", task},
      {"Name", "renamed"},
      {"Options", {{"LogLevel", "TRANSFER"}}},
      {"Includes",
       {{{"FilterType", "SIMPLE_PATTERN"}, {"Value", "/photos"}}}}});
  json d = Ok("DescribeTask", {{"TaskArn", task}});
  EXPECT_EQ(d["Name"], "renamed");
  EXPECT_EQ(d["Options"]["VerifyMode"], "NONE");
  EXPECT_EQ(d["Options"]["LogLevel"], "TRANSFER");
  EXPECT_EQ(d["Includes"][0]["Value"], "/photos");
  ApiError e =
      Err("UpdateTask",
          {{"TaskArn", task},
           {"Options",
            {{"PreserveDeletedFiles", "REMOVE"}, {"TransferMode", "ALL"}}}});
  EXPECT_TRUE(Contains(e.message, "Invalid SyncOption")) << e.message;
  // A refused update changes nothing.
  EXPECT_EQ(Ok("DescribeTask", {{"TaskArn", task}})["Options"]["TransferMode"],
            "CHANGED");
  e = Err("UpdateTask", {{"TaskArn", Arn("task/task-0123456789abcdef0")}});
  EXPECT_TRUE(Contains(e.message, "not found")) << e.message;
}

TEST_P(ServerApiTest, ListTasksFiltersByLocationAndPages) {
  const std::string agent = NewAgent();
  const std::string a = NewLocalLocation(agent, "/a");
  const std::string b = NewLocalLocation(agent, "/b");
  const std::string c = NewLocalLocation(agent, "/c");
  const std::string ab = NewTask(a, b, {{"Name", "ab"}});
  const std::string bc = NewTask(b, c);
  const std::string ca = NewTask(c, a);
  auto list = [&](json filters, int max) {
    std::vector<std::string> arns;
    json request = {{"Filters", filters}, {"MaxResults", max}};
    while (true) {
      json r = Ok("ListTasks", request);
      for (const json& t : r["Tasks"]) arns.push_back(t["TaskArn"]);
      if (!r.contains("NextToken")) break;
      request["NextToken"] = r["NextToken"];
    }
    std::sort(arns.begin(), arns.end());
    return arns;
  };
  auto sorted = [](std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  EXPECT_EQ(list(json::array(), 1), sorted({ab, bc, ca}));
  EXPECT_EQ(
      list({{{"Name", "LocationId"}, {"Operator", "Equals"}, {"Values", {a}}}},
           1),
      sorted({ab, ca}));
  EXPECT_EQ(list({{{"Name", "LocationId"},
                   {"Operator", "NotEquals"},
                   {"Values", {a}}}},
                 1),
            std::vector<std::string>{bc});
  json r = Ok("ListTasks", json::object());
  for (const json& t : r["Tasks"]) {
    EXPECT_EQ(t["Status"], "UNAVAILABLE");
    EXPECT_EQ(t["TaskMode"], "BASIC");
    if (t["TaskArn"] == ab) {
      EXPECT_EQ(t["Name"], "ab");
    }
  }
}

// --- Executions ---

class ExecutionApiTest : public ServerApiTest {
 protected:
  void SetUp() override {
    ServerApiTest::SetUp();
    agent_ = NewAgent();
    Heartbeat(agent_);
    task_ =
        NewTask(NewLocalLocation(agent_, "/a"), NewLocalLocation(agent_, "/b"),
                {{"Options", {{"VerifyMode", "ONLY_FILES_TRANSFERRED"}}}});
  }
  std::string Start(const json& extra = json::object()) {
    json request = {{"TaskArn", task_}};
    for (const auto& [k, v] : extra.items()) request[k] = v;
    return Ok("StartTaskExecution", request).value("TaskExecutionArn", "");
  }
  std::string agent_, task_;
};

INSTANTIATE_TEST_SUITE_P(Backends, ExecutionApiTest,
                         ::testing::Values(Backend::kSqlite,
                                           Backend::kPostgres),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                           return testing::BackendName(info.param);
                         });

TEST_P(ExecutionApiTest, StartQueuesAndDescribeShowsTheSettings) {
  const std::string exec = Start(
      {{"OverrideOptions", {{"LogLevel", "TRANSFER"}}},
       {"Excludes", {{{"FilterType", "SIMPLE_PATTERN"}, {"Value", "*.bak"}}}},
       {"Tags", {{{"Key", "run"}, {"Value", "first"}}}}});
  EXPECT_TRUE(Shaped(exec, task_ + "/execution/exec-", 17, kHex)) << exec;
  json d = Ok("DescribeTaskExecution", {{"TaskExecutionArn", exec}});
  EXPECT_EQ(d["Status"], "QUEUED");
  EXPECT_EQ(d["Options"]["VerifyMode"], "ONLY_FILES_TRANSFERRED");
  EXPECT_EQ(d["Options"]["LogLevel"], "TRANSFER");
  EXPECT_EQ(d["Excludes"][0]["Value"], "*.bak");
  EXPECT_EQ(d["FilesTransferred"], 0);
  EXPECT_EQ(d["Result"]["PrepareStatus"], "PENDING");
  EXPECT_DOUBLE_EQ(d["StartTime"].get<double>(), kStartMs / 1000.0);
  EXPECT_FALSE(d.contains("LaunchTime"));
  EXPECT_FALSE(d.contains("EndTime"));
  EXPECT_EQ(
      Ok("ListTagsForResource", {{"ResourceArn", exec}})["Tags"][0]["Value"],
      "first");
  json t = Ok("DescribeTask", {{"TaskArn", task_}});
  EXPECT_EQ(t["Status"], "QUEUED");
  EXPECT_EQ(t["CurrentTaskExecutionArn"], exec);
  // The task's own options are untouched.
  EXPECT_EQ(t["Options"]["LogLevel"], "BASIC");

  ApiError e =
      Err("StartTaskExecution",
          {{"TaskArn", task_}, {"OverrideOptions", {{"Atime", "NONE"}}}});
  EXPECT_TRUE(Contains(e.message, "Atime,Mtime")) << e.message;
  e = Err("StartTaskExecution",
          {{"TaskArn", Arn("task/task-0123456789abcdef0")}});
  EXPECT_TRUE(Contains(e.message, "not found")) << e.message;
}

TEST_P(ExecutionApiTest, QueueingEnabledKeepsAtMostTheLimitWaiting) {
  ctx_.config.max_queued_executions = 3;
  std::vector<std::string> execs;
  for (int i = 0; i < 3; ++i) execs.push_back(Start());
  ApiError e = Err("StartTaskExecution", {{"TaskArn", task_}});
  EXPECT_TRUE(Contains(e.message, "3 queued executions")) << e.message;
  // One starts running: a place in the queue frees up.
  Mutate(execs[0], [&](ExecutionRecord& r) {
    r.status = "TRANSFERRING";
    r.agent_arn = agent_;
    r.launch_ms = now_ms_;
  });
  execs.push_back(Start());
  json t = Ok("DescribeTask", {{"TaskArn", task_}});
  EXPECT_EQ(t["Status"], "RUNNING");
  EXPECT_EQ(t["CurrentTaskExecutionArn"], execs[0]);
  json list = Ok("ListTaskExecutions", {{"TaskArn", task_}, {"MaxResults", 3}});
  ASSERT_EQ(list["TaskExecutions"].size(), 3u);
  EXPECT_EQ(list["TaskExecutions"][0]["TaskExecutionArn"], execs[0]);
  EXPECT_EQ(list["TaskExecutions"][0]["Status"], "TRANSFERRING");
  list = Ok("ListTaskExecutions",
            {{"TaskArn", task_}, {"NextToken", list["NextToken"]}});
  ASSERT_EQ(list["TaskExecutions"].size(), 1u);
  EXPECT_EQ(list["TaskExecutions"][0]["TaskExecutionArn"], execs[3]);
  EXPECT_FALSE(list.contains("NextToken"));
  EXPECT_EQ(Ok("ListTaskExecutions", json::object())["TaskExecutions"].size(),
            4u);
  e = Err("ListTaskExecutions",
          {{"TaskArn", Arn("task/task-0123456789abcdef0")}});
  EXPECT_TRUE(Contains(e.message, "not found")) << e.message;
}

TEST_P(ExecutionApiTest, QueueingDisabledRefusesASecondExecution) {
  Ok("UpdateTask",
     {{"TaskArn", task_}, {"Options", {{"TaskQueueing", "DISABLED"}}}});
  const std::string first = Start();
  ApiError e = Err("StartTaskExecution", {{"TaskArn", task_}});
  EXPECT_TRUE(Contains(e.message, "TaskQueueing")) << e.message;
  EXPECT_TRUE(Contains(e.message, first)) << e.message;
  // An override enabling queueing for this start is honoured.
  Start({{"OverrideOptions", {{"TaskQueueing", "ENABLED"}}}});
}

TEST_P(ExecutionApiTest, CancellingAQueuedExecutionEndsItAtOnce) {
  const std::string exec = Start();
  now_ms_ += 1500;
  Ok("CancelTaskExecution", {{"TaskExecutionArn", exec}});
  json d = Ok("DescribeTaskExecution", {{"TaskExecutionArn", exec}});
  EXPECT_EQ(d["Status"], "ERROR");
  EXPECT_EQ(d["Result"]["ErrorCode"], "OperationCanceled");
  EXPECT_DOUBLE_EQ(d["EndTime"].get<double>(), now_ms_ / 1000.0);
  json t = Ok("DescribeTask", {{"TaskArn", task_}});
  EXPECT_EQ(t["Status"], "AVAILABLE");
  // The ended execution is still the most recent one.
  EXPECT_EQ(t["CurrentTaskExecutionArn"], exec);
  ApiError e = Err("CancelTaskExecution", {{"TaskExecutionArn", exec}});
  EXPECT_TRUE(Contains(e.message, "current status: ERROR")) << e.message;
}

TEST_P(ExecutionApiTest, CancellingARunningExecutionAsksTheAgent) {
  const std::string exec = Start();
  Mutate(exec, [&](ExecutionRecord& r) {
    r.status = "PREPARING";
    r.agent_arn = agent_;
  });
  Ok("CancelTaskExecution", {{"TaskExecutionArn", exec}});
  json d = Ok("DescribeTaskExecution", {{"TaskExecutionArn", exec}});
  EXPECT_EQ(d["Status"], "CANCELLING");
  std::optional<ExecutionRecord> r;
  ASSERT_TRUE(ctx_.db
                  ->Transaction([&](SqlSession& s) -> Status {
                    FERRY_ASSIGN_OR_RETURN(r, ctx_.store.GetExecution(s, exec));
                    return Status::Ok();
                  })
                  .ok());
  EXPECT_TRUE(r->cancel_requested);
  // Cancelling again is harmless.
  Ok("CancelTaskExecution", {{"TaskExecutionArn", exec}});
  // A task with a running execution is not deleted under it.
  ApiError e = Err("DeleteTask", {{"TaskArn", task_}});
  EXPECT_TRUE(Contains(e.message, exec)) << e.message;
}

TEST_P(ExecutionApiTest, UpdateTaskExecutionChangesOnlyTheBandwidth) {
  const std::string exec = Start();
  Ok("UpdateTaskExecution",
     {{"TaskExecutionArn", exec}, {"Options", {{"BytesPerSecond", 5000000}}}});
  json d = Ok("DescribeTaskExecution", {{"TaskExecutionArn", exec}});
  EXPECT_EQ(d["Options"]["BytesPerSecond"], 5000000);
  ApiError e =
      Err("UpdateTaskExecution",
          {{"TaskExecutionArn", exec},
           {"Options", {{"BytesPerSecond", 1}, {"VerifyMode", "NONE"}}}});
  EXPECT_EQ(e.message,
            "Currently, the only Option that you can modify with "
            "UpdateTaskExecution is BytesPerSecond.");
  e = Err("UpdateTaskExecution",
          {{"TaskExecutionArn", exec}, {"Options", {{"BytesPerSecond", 0}}}});
  EXPECT_TRUE(Contains(e.message, "BytesPerSecond")) << e.message;
  Mutate(exec, [](ExecutionRecord& r) { r.status = "SUCCESS"; });
  e = Err("UpdateTaskExecution",
          {{"TaskExecutionArn", exec}, {"Options", {{"BytesPerSecond", -1}}}});
  EXPECT_TRUE(Contains(e.message, "has ended")) << e.message;
}

TEST_P(ExecutionApiTest, DescribeMergesTheAgentsReport) {
  const std::string exec = Start();
  now_ms_ += 2000;
  Mutate(exec, [&](ExecutionRecord& r) {
    r.status = "TRANSFERRING";
    r.agent_arn = agent_;
    r.launch_ms = now_ms_;
    r.describe = {
        {"FilesTransferred", 12},
        {"BytesTransferred", 4096},
        {"FilesListed", {{"AtSource", 40}, {"AtDestinationForDelete", 0}}},
        {"Status", "PREPARING"},         // the server's status wins
        {"SomethingNewer", "ignored"}};  // not in the model
  });
  json d = Ok("DescribeTaskExecution", {{"TaskExecutionArn", exec}});
  EXPECT_EQ(d["Status"], "TRANSFERRING");
  EXPECT_EQ(d["FilesTransferred"], 12);
  EXPECT_EQ(d["BytesTransferred"], 4096);
  EXPECT_EQ(d["FilesListed"]["AtSource"], 40);
  EXPECT_EQ(d["FilesVerified"], 0);
  EXPECT_FALSE(d.contains("SomethingNewer"));
  EXPECT_DOUBLE_EQ(d["LaunchTime"].get<double>(), now_ms_ / 1000.0);
  ApiError e =
      Err("DescribeTaskExecution",
          {{"TaskExecutionArn", task_ + "/execution/exec-0123456789abcdef0"}});
  EXPECT_TRUE(Contains(e.message, "not found")) << e.message;
}

TEST_P(ExecutionApiTest, DeletingATaskTakesItsQueuedExecutions) {
  const std::string exec = Start();
  Ok("DeleteTask", {{"TaskArn", task_}});
  ApiError e = Err("DescribeTaskExecution", {{"TaskExecutionArn", exec}});
  EXPECT_TRUE(Contains(e.message, "not found")) << e.message;
  e = Err("DescribeTask", {{"TaskArn", task_}});
  EXPECT_TRUE(Contains(e.message, "not found")) << e.message;
}

TEST_P(ExecutionApiTest, ScheduledStartsGoThroughTheSameRules) {
  auto started =
      StartExecution(ctx_, task_, json::object(), /*scheduled=*/true);
  ASSERT_TRUE(std::holds_alternative<std::string>(started));
  std::optional<ExecutionRecord> r;
  ASSERT_TRUE(
      ctx_.db
          ->Transaction([&](SqlSession& s) -> Status {
            FERRY_ASSIGN_OR_RETURN(
                r, ctx_.store.GetExecution(s, std::get<std::string>(started)));
            return Status::Ok();
          })
          .ok());
  EXPECT_TRUE(r->scheduled);
  EXPECT_EQ(r->status, "QUEUED");
  auto refused = StartExecution(ctx_, Arn("task/task-0123456789abcdef0"),
                                json::object(), true);
  ASSERT_TRUE(std::holds_alternative<ApiError>(refused));
}

// --- Tags ---

TEST_P(ServerApiTest, TagsOnEveryKindOfResource) {
  const std::string agent = NewAgent();
  const std::string loc = NewLocalLocation(agent, "/a");
  const std::string task = NewTask(loc, NewLocalLocation(agent, "/b"));
  const std::string exec =
      Ok("StartTaskExecution", {{"TaskArn", task}})["TaskExecutionArn"];
  for (const std::string& arn : {agent, loc, task, exec}) {
    SCOPED_TRACE(arn);
    Ok("TagResource", {{"ResourceArn", arn},
                       {"Tags",
                        {{{"Key", "a"}, {"Value", "1"}},
                         {{"Key", "b"}},
                         {{"Key", "c"}, {"Value", "3"}}}}});
    Ok("UntagResource", {{"ResourceArn", arn}, {"Keys", {"c"}}});
    json page =
        Ok("ListTagsForResource", {{"ResourceArn", arn}, {"MaxResults", 1}});
    EXPECT_EQ(page["Tags"], json::parse(R"([{"Key":"a","Value":"1"}])"));
    page = Ok("ListTagsForResource",
              {{"ResourceArn", arn}, {"NextToken", page["NextToken"]}});
    EXPECT_EQ(page["Tags"], json::parse(R"([{"Key":"b"}])"));
    EXPECT_FALSE(page.contains("NextToken"));
  }
  json many = json::array();
  for (int i = 0; i < 48; ++i)
    many.push_back({{"Key", "k" + std::to_string(i)}});
  Ok("TagResource", {{"ResourceArn", task}, {"Tags", many}});  // 50 in all
  ApiError e = Err("TagResource", {{"ResourceArn", task},
                                   {"Tags", {{{"Key", "one-too-many"}}}}});
  EXPECT_TRUE(Contains(e.message, "at most 50")) << e.message;
  e = Err("TagResource", {{"ResourceArn", Arn("task/task-0123456789abcdef0")},
                          {"Tags", {{{"Key", "x"}}}}});
  EXPECT_TRUE(Contains(e.message, "not found")) << e.message;
  e = Err("ListTagsForResource",
          {{"ResourceArn", Arn("agent/agent-0123456789abcdefg")}});
  EXPECT_TRUE(Contains(e.message, "does not exist")) << e.message;
}

// Every List operation answers a NextToken it did not return with 400
// InvalidRequestException, on both databases: garbage listed nothing, and
// a token that decodes to a NUL byte was a 500 (PostgreSQL text).
TEST_P(ServerApiTest, ListsRefuseNextTokensTheyDidNotReturn) {
  const std::string agent = NewAgent();
  const std::string loc = NewLocalLocation(agent, "/a");
  const std::string task = NewTask(loc, NewLocalLocation(agent, "/b"));
  const std::vector<std::pair<std::string, json>> lists = {
      {"ListAgents", json::object()},
      {"ListLocations", json::object()},
      {"ListTasks", json::object()},
      {"ListTaskExecutions", {{"TaskArn", task}}},
      {"ListTagsForResource", {{"ResourceArn", task}}}};
  for (const auto& [op, base] : lists) {
    for (const std::string& token :
         {Base64Url(std::string(1, '\0')),
          Base64Url(op + ":" + std::string(1, '\0')), Base64Url(op + ":\xff"),
          std::string("garbage"),
          EncodeNextToken(op == "ListAgents" ? "ListTasks" : "ListAgents",
                          "arn:aws:datasync:x")}) {
      SCOPED_TRACE(op + " " + token);
      json request = base;
      request["NextToken"] = token;
      ApiError e = Err(op, request);
      EXPECT_EQ(e.http_status, 400);
      EXPECT_EQ(e.type, "InvalidRequestException");
      EXPECT_TRUE(Contains(e.message, "Invalid NextToken: it is not one that " +
                                          op + " returned"))
          << e.message;
    }
  }
  // Executions page by sequence number: a key that is not one is refused.
  ApiError e =
      Err("ListTaskExecutions",
          {{"NextToken", EncodeNextToken("ListTaskExecutions", "1x")}});
  EXPECT_TRUE(Contains(e.message, "Invalid NextToken")) << e.message;
}

// Equals with several values listed what In lists, and a LocationType or
// LocationId that cannot exist listed nothing: both are refused, naming the
// problem.
TEST_P(ServerApiTest, FiltersRefuseSeveralValuesAndUnknownOnes) {
  auto filter = [](const std::string& name, const std::string& op,
                   json values) {
    return json{
        {"Filters", {{{"Name", name}, {"Operator", op}, {"Values", values}}}}};
  };
  ApiError e =
      Err("ListLocations", filter("LocationType", "Equals", {"NFS", "SMB"}));
  EXPECT_EQ(e.type, "InvalidRequestException");
  EXPECT_EQ(e.message,
            "Operator Equals takes one value, and filter LocationType has 2: "
            "use In to match any of several values.");
  e = Err("ListLocations",
          filter("LocationUri", "Contains", {"nfs://", "smb://"}));
  EXPECT_TRUE(Contains(e.message, "Operator Contains takes one value"))
      << e.message;
  e = Err("ListLocations", filter("CreationTime", "LessThan",
                                  {"2023-11-14 22:13:25", "2024-01-01"}));
  EXPECT_TRUE(Contains(e.message, "Operator LessThan takes one value"))
      << e.message;
  e = Err("ListTasks", filter("LocationId", "NotEquals",
                              {Arn("location/loc-0123456789abcdefg"),
                               Arn("location/loc-0123456789abcdefh")}));
  EXPECT_TRUE(Contains(e.message, "Operator NotEquals takes one value"))
      << e.message;

  for (const std::string& op : {"Equals", "NotEquals", "In"}) {
    e = Err("ListLocations", filter("LocationType", op, {"NFSv4"}));
    EXPECT_TRUE(Contains(e.message,
                         "Invalid LocationType filter value 'NFSv4': it takes "
                         "NFS, SMB, "))
        << e.message;
    e = Err("ListTasks", filter("LocationId", op, {"loc-0123456789abcdefg"}));
    EXPECT_TRUE(Contains(e.message,
                         "Invalid LocationId filter value "
                         "'loc-0123456789abcdefg': it takes location ARNs"))
        << e.message;
  }
  // Still served: known values, In with several, parts with Contains.
  Ok("ListLocations", filter("LocationType", "In", {"NFS", "FSX_WINDOWS"}));
  Ok("ListLocations", filter("LocationType", "BeginsWith", {"FSX"}));
  Ok("ListTasks",
     filter("LocationId", "Equals", {Arn("location/loc-0123456789abcdefg")}));
  Ok("ListTasks", filter("LocationId", "Contains", {"loc-0123"}));
}

// The aws: prefix of tag keys is AWS's (in any case): refused by
// TagResource and by every Create* and StartTaskExecution that take Tags,
// which then create nothing.
TEST_P(ServerApiTest, TheReservedAwsTagPrefixIsRefused) {
  const std::string agent = NewAgent();
  const std::string loc = NewLocalLocation(agent, "/a");
  const std::string task = NewTask(loc, NewLocalLocation(agent, "/b"));
  for (const std::string& key : {"aws:cloudformation:stack", "AWS:x", "Aws:"}) {
    SCOPED_TRACE(key);
    const json tags = {{{"Key", key}, {"Value", "v"}}};
    ApiError e = Err("TagResource", {{"ResourceArn", task}, {"Tags", tags}});
    EXPECT_EQ(e.type, "InvalidRequestException");
    EXPECT_EQ(e.message, "Invalid tag key '" + key +
                             "': the prefix aws: is reserved for AWS use.");
    e = Err("CreateLocationLocal",
            {{"Path", "/c"}, {"AgentArns", {agent}}, {"Tags", tags}});
    EXPECT_TRUE(Contains(e.message, "reserved for AWS use")) << e.message;
    e = Err("CreateTask", {{"SourceLocationArn", loc},
                           {"DestinationLocationArn", loc},
                           {"Tags", tags}});
    EXPECT_TRUE(Contains(e.message, "reserved for AWS use")) << e.message;
    e = Err("CreateAgent", {{"ActivationKey", Activation()}, {"Tags", tags}});
    EXPECT_TRUE(Contains(e.message, "reserved for AWS use")) << e.message;
    e = Err("StartTaskExecution", {{"TaskArn", task}, {"Tags", tags}});
    EXPECT_TRUE(Contains(e.message, "reserved for AWS use")) << e.message;
  }
  EXPECT_EQ(Ok("ListTagsForResource", {{"ResourceArn", task}})["Tags"],
            json::array());
  EXPECT_EQ(Ok("ListLocations", json::object())["Locations"].size(), 2u);
  EXPECT_EQ(Ok("ListTasks", json::object())["Tasks"].size(), 1u);
  EXPECT_EQ(Ok("ListAgents", json::object())["Agents"].size(), 1u);
  EXPECT_EQ(
      Ok("ListTaskExecutions", {{"TaskArn", task}})["TaskExecutions"].size(),
      0u);
  // Only the prefix is reserved.
  Ok("TagResource", {{"ResourceArn", task},
                     {"Tags", {{{"Key", "awsx:y"}}, {{"Key", "my:aws:z"}}}}});
}

TEST_P(ServerApiTest, InternalErrorsDoNotLeakDetails) {
  ApiError e = Internal(Status::Internal("SELECT secret FROM table failed"));
  EXPECT_EQ(e.http_status, 500);
  EXPECT_EQ(e.type, "InternalException");
  EXPECT_FALSE(Contains(e.message, "SELECT"));
}

}  // namespace
}  // namespace ferry::control
