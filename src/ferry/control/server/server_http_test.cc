// The HTTP layer end to end, in-process: `server init` makes a data
// directory, a Server serves it on 127.0.0.1 port 0 (plain HTTP or HTTPS),
// and requests signed with SigV4 (as the aws CLI signs them) go through
// authentication, operation lookup, model validation and the handlers. An
// agent activates over the same listener and syncs with its certificate.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

#include "ferry/base/file_util.h"
#include "ferry/control/auth/sigv4.h"
#include "ferry/control/server/api_helpers.h"
#include "ferry/control/server/data_dir.h"
#include "ferry/control/server/http_test_fixture.h"
#include "ferry/control/server/server.h"
#include "ferry/control/store/test_database.h"
#include "ferry/pki/pki.h"
#include "ferry/protocol/agent_protocol.h"

namespace ferry::control {
namespace {

using nlohmann::json;
using std::chrono::system_clock;

unsigned Mode(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 0777;
}

TEST(InitDataDirTest, WritesTheFilesWithTheirModes) {
  const std::string dir = TempDir() + "/data";
  InitOptions options;
  options.data_dir = dir;
  ASSERT_TRUE(InitDataDir(options).ok());
  for (const char* name :
       {"ca.key", "server.key", "secret.key", "credentials", "config.json"}) {
    EXPECT_EQ(Mode(dir + "/" + name), 0600u) << name;
  }
  EXPECT_EQ(Mode(dir + "/ca.pem"), 0600u);
  EXPECT_EQ(Mode(dir + "/server.pem"), 0600u);
  EXPECT_EQ(Mode(dir), 0700u);
  EXPECT_TRUE(pki::VerifyIssuedBy(ReadFile(dir + "/server.pem"),
                                  ReadFile(dir + "/ca.pem"))
                  .ok());

  const std::string credentials = ReadFile(dir + "/credentials");
  EXPECT_EQ(credentials.rfind("[default]\naws_access_key_id = AKFR", 0), 0u)
      << credentials;
  AwsCredentials c = ReadCredentials(dir);
  EXPECT_EQ(c.access_key_id.size(), 20u);
  EXPECT_EQ(
      c.access_key_id.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"),
      std::string::npos);
  EXPECT_EQ(c.secret_access_key.size(), 40u);

  json config = json::parse(ReadFile(dir + "/config.json"));
  EXPECT_EQ(config["region"], "ferry-local");
  EXPECT_EQ(config["account"], "000000000000");
  EXPECT_EQ(config["listen"], "127.0.0.1:8443");
  EXPECT_EQ(config["db"], "");

  // The secret is in the database, sealed.
  auto db = OpenDatabase(dir + "/state.db");
  ASSERT_TRUE(db.ok());
  auto rows = (*db)->Query("SELECT sealed_secret FROM access_keys");
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  auto sealed = SqlText(rows->front(), 0);
  ASSERT_TRUE(sealed.ok());
  EXPECT_FALSE(Contains(**sealed, c.secret_access_key));

  Status again = InitDataDir(options);
  EXPECT_EQ(again.code(), StatusCode::kAlreadyExists) << again.ToString();
}

// Every file of the data directory, with its mode.
std::map<std::string, unsigned> Modes(const std::string& dir) {
  std::map<std::string, unsigned> modes;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    modes[e.path().filename().string()] = Mode(e.path().string());
  }
  return modes;
}

// `server init` into a directory that exists 0755 with a file readable by
// all, and `ferry server` on a directory whose modes were loosened since
// (the database and SQLite's journals among them): the directory ends 0700
// and every file 0600.
TEST(InitDataDirTest, MakesTheDirectoryPrivateWhateverWasThere) {
  const std::string dir = TempDir() + "/data";
  ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
  ASSERT_EQ(::chmod(dir.c_str(), 0755), 0);  // whatever the umask
  ASSERT_TRUE(WriteFileAtomically(dir + "/notes.txt", "x", 0644).ok());
  ASSERT_EQ(::mkdir((dir + "/old").c_str(), 0755), 0);
  ASSERT_EQ(::chmod((dir + "/old").c_str(), 0755), 0);
  const mode_t umask_before = ::umask(022);
  InitOptions options;
  options.data_dir = dir;
  ASSERT_TRUE(InitDataDir(options).ok());
  EXPECT_EQ(Mode(dir), 0700u);
  std::map<std::string, unsigned> modes = Modes(dir);
  EXPECT_TRUE(modes.contains("state.db"));
  for (const auto& [name, mode] : modes) {
    EXPECT_EQ(mode, name == "old" ? 0700u : 0600u) << name;
  }

  // Loosened since, and SQLite's sidecars left 0644 by a run under another
  // umask.
  ::umask(022);
  ASSERT_EQ(::chmod(dir.c_str(), 0755), 0);
  for (const char* name : {"state.db", "ca.key", "credentials", "notes.txt"}) {
    ASSERT_EQ(::chmod((dir + "/" + name).c_str(), 0644), 0) << name;
  }
  for (const char* name :
       {"state.db-wal", "state.db-shm", "state.db-journal"}) {
    ASSERT_TRUE(WriteFileAtomically(dir + "/" + name, "", 0644).ok()) << name;
  }
  ServerConfig config;
  config.data_dir = dir;
  config.listen = "127.0.0.1:0";
  ::testing::internal::CaptureStderr();
  auto server = Server::Open(config);
  const std::string log = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  // The operator learns which files others could read.
  EXPECT_TRUE(Contains(log, "ferry server: " + dir +
                                "/ca.key was open to other users (mode "
                                "0644); made it 0600\n"))
      << log;
  EXPECT_EQ(Mode(dir), 0700u);
  modes = Modes(dir);
  EXPECT_TRUE(modes.contains("state.db-wal"));
  for (const auto& [name, mode] : modes) {
    EXPECT_EQ(mode, name == "old" ? 0700u : 0600u) << name;
  }
  // Files the server makes later are private too.
  mode_t umask_now = ::umask(umask_before);
  EXPECT_EQ(umask_now, 077u);
}

TEST(InitDataDirTest, UsesAGivenAuthorityAndChecksIt) {
  const std::string base = TempDir();
  auto ca = pki::CreateAuthority("corporate CA", 30);
  auto other = pki::CreateAuthority("other CA", 30);
  ASSERT_TRUE(ca.ok() && other.ok());
  ASSERT_TRUE(
      WriteFileAtomically(base + "/ca.pem", ca->certificate_pem, 0644).ok());
  ASSERT_TRUE(WriteFileAtomically(base + "/ca.key", ca->key_pem, 0600).ok());
  ASSERT_TRUE(
      WriteFileAtomically(base + "/other.key", other->key_pem, 0600).ok());

  InitOptions options;
  options.data_dir = base + "/data";
  options.ca_cert_file = base + "/ca.pem";
  options.ca_key_file = base + "/ca.key";
  options.names = {"ferry.example.com"};
  ASSERT_TRUE(InitDataDir(options).ok());
  EXPECT_EQ(ReadFile(options.data_dir + "/ca.pem"), ca->certificate_pem);

  options.data_dir = base + "/mismatched";
  options.ca_key_file = base + "/other.key";
  Status st = InitDataDir(options);
  EXPECT_FALSE(st.ok());
  EXPECT_TRUE(Contains(std::string(st.message()), "belong together"))
      << st.ToString();

  options.ca_key_file.clear();
  st = InitDataDir(options);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
}

TEST(InitDataDirTest, RefusesABadListenAddressBeforeWritingAnything) {
  InitOptions options;
  options.data_dir = TempDir() + "/data";
  options.listen = "localhost:80a";
  Status st = InitDataDir(options);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
  EXPECT_TRUE(Contains(std::string(st.message()),
                       "--listen: bad address 'localhost:80a'"))
      << st.ToString();
  EXPECT_FALSE(std::filesystem::exists(options.data_dir));

  options.listen = "[::1]:8443";
  EXPECT_TRUE(InitDataDir(options).ok());
}

TEST(ServerOpenTest, RefusesWhatItCannotServe) {
  ServerConfig config;
  config.data_dir = TempDir() + "/nothing";
  auto server = Server::Open(config);
  ASSERT_FALSE(server.ok());
  EXPECT_TRUE(
      Contains(std::string(server.status().message()), "ferry server init"))
      << server.status().ToString();

  InitOptions init;
  init.data_dir = TempDir() + "/data";
  ASSERT_TRUE(InitDataDir(init).ok());
  config.data_dir = init.data_dir;
  config.plain_http = true;
  config.listen = "0.0.0.0:0";
  server = Server::Open(config);
  ASSERT_FALSE(server.ok());
  EXPECT_TRUE(Contains(std::string(server.status().message()), "loopback"))
      << server.status().ToString();

  // A listen address the parser refuses is named, with the reason
  // (base/net_address_test.cc has the parser's cases).
  for (const auto& [listen, why] :
       std::vector<std::pair<std::string, std::string>>{
           {"127.0.0.1", "no port"},
           {"127.0.0.1:65536", "not in 0..65535"},
           {"::1:8443", "in brackets"}}) {
    config.listen = listen;
    server = Server::Open(config);
    ASSERT_FALSE(server.ok()) << listen;
    const std::string message(server.status().message());
    EXPECT_TRUE(
        Contains(message, "the listen address: bad address '" + listen + "': "))
        << message;
    EXPECT_TRUE(Contains(message, why)) << message;
  }

  // Without its secret key the server does not start (and makes no new
  // one, which could not open what the old one sealed).
  std::filesystem::remove(init.data_dir + "/secret.key");
  config.listen = "127.0.0.1:0";
  server = Server::Open(config);
  ASSERT_FALSE(server.ok());
  EXPECT_TRUE(Contains(std::string(server.status().message()), "secret.key"));
  EXPECT_FALSE(std::filesystem::exists(init.data_dir + "/secret.key"));
}

TEST_F(HttpTest, SignedRequestsAreServed) {
  Start(/*tls=*/false);
  EXPECT_EQ(server_->url(),
            "http://127.0.0.1:" + std::to_string(server_->port()));
  Reply r = Api("ListTasks");
  EXPECT_EQ(r.status, 200) << r.body.dump();
  EXPECT_EQ(r.body, json::parse(R"({"Tasks":[]})"));
  EXPECT_EQ(r.content_type, "application/x-amz-json-1.1");
  EXPECT_EQ(r.request_id.size(), 36u);
  // An empty body is an empty request.
  r = Call("FmrsService.ListAgents", "", credentials_);
  EXPECT_EQ(r.status, 200) << r.body.dump();
}

// The request log names the operation from X-Amz-Target as sent, before
// anything checks it: escaped, it cannot hold bytes that are not text.
TEST_F(HttpTest, TheRequestLogEscapesTheTarget) {
  Start(/*tls=*/false);
  ::testing::internal::CaptureStderr();
  Reply r = Call("FmrsService.\xffList\tTasks", "{}", AwsCredentials{});
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(r.status, 400) << r.body.dump();
  EXPECT_TRUE(Contains(log, " - \\xFFList\\tTasks 400 ")) << log;
  EXPECT_FALSE(Contains(log, "\t")) << log;
  EXPECT_FALSE(Contains(log, "\xff")) << log;
}

TEST_F(HttpTest, AuthenticationFailuresAreRefused) {
  Start(/*tls=*/false);
  AwsCredentials stranger = {"AKFRNOTAKEYNOTAKEY00",
                             credentials_.secret_access_key, ""};
  Reply r = Call("FmrsService.ListTasks", "{}", stranger);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.body["__type"], "UnrecognizedClientException") << r.body.dump();

  AwsCredentials wrong_secret = credentials_;
  wrong_secret.secret_access_key[0] ^= 1;
  r = Call("FmrsService.ListTasks", "{}", wrong_secret);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.body["__type"], "InvalidSignatureException") << r.body.dump();

  r = Call("FmrsService.ListTasks", "{}", credentials_, system_clock::now(),
           [](SignableRequest& req) { req.body = R"({"MaxResults":1})"; });
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.body["__type"], "InvalidSignatureException") << r.body.dump();

  r = Call("FmrsService.ListTasks", "{}", credentials_,
           system_clock::now() - std::chrono::minutes(20));
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.body["__type"], "InvalidSignatureException") << r.body.dump();
  EXPECT_TRUE(Contains(r.body.value("message", ""), "expired"))
      << r.body.dump();

  r = Call("FmrsService.ListTasks", "{}", AwsCredentials{});
  EXPECT_GE(r.status, 400);
  EXPECT_EQ(r.body["__type"], "MissingAuthenticationTokenException")
      << r.body.dump();
  // Authentication comes first: an unknown caller learns nothing about
  // operations.
  r = Call("FmrsService.NoSuchThing", "{}", stranger);
  EXPECT_EQ(r.body["__type"], "UnrecognizedClientException");
}

TEST_F(HttpTest, BadRequestsAreAnsweredInDataSyncsShape) {
  Start(/*tls=*/false);
  Reply r = Api("NoSuchThing");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body["__type"], "UnknownOperationException");
  r = Call("SomeOtherService.ListTasks", "{}", credentials_);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body["__type"], "UnknownOperationException");

  r = Api("CreateTask", {{"SourceLocationArn", "nope"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body["__type"], "InvalidRequestException");
  const std::string message = r.body.value("message", "");
  EXPECT_TRUE(Contains(message, "sourceLocationArn")) << message;
  EXPECT_TRUE(Contains(message, "destinationLocationArn")) << message;

  r = Call("FmrsService.ListTasks", "{not json", credentials_);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body["__type"], "SerializationException");

  r = Call("FmrsService.ListTasks",
           json{{"Filters",
                 {{{"Name", "LocationId"},
                   {"Operator", "Equals"},
                   {"Values", {std::string(2 << 20, 'x')}}}}}}
               .dump(),
           credentials_);
  EXPECT_EQ(r.status, 413) << r.body.dump();

  r = Api(
      "CreateLocationEfs",
      {{"EfsFilesystemArn",
        "arn:aws:elasticfilesystem:us-east-1:000000000000:file-system/fs-1"},
       {"Ec2Config",
        {{"SubnetArn", "arn:aws:ec2:us-east-1:000000000000:subnet/subnet-1"},
         {"SecurityGroupArns",
          {"arn:aws:ec2:us-east-1:000000000000:security-group/sg-1"}}}}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body["__type"], "InvalidRequestException") << r.body.dump();
}

// The whole path over HTTPS: an agent activates, an operator creates it
// with the key, the agent picks up its certificate and syncs with it; API
// callers need no certificate.
TEST_F(HttpTest, AgentsActivateAndSyncOverMutualTls) {
  Start(/*tls=*/true);
  EXPECT_EQ(server_->url(),
            "https://127.0.0.1:" + std::to_string(server_->port()));
  EXPECT_EQ(Ok("ListAgents"), json::parse(R"({"Agents":[]})"));

  // Sync without a client certificate: refused.
  protocol::SyncRequest sync;
  sync.version = "0.1.0";
  auto res = Client()->Post("/agent/v1/sync", protocol::Encode(sync).dump(),
                            "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 403);

  // Activation.
  auto key = pki::CreateRequest("agent");
  ASSERT_TRUE(key.ok());
  protocol::ActivationRequest activation;
  activation.csr_pem = key->request_pem;
  activation.hostname = "nas-gateway-1";
  activation.version = "0.1.0";
  res = Client()->Post("/agent/v1/activation",
                       protocol::Encode(activation).dump(), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  auto grant = protocol::DecodeActivationGrant(res->body);
  ASSERT_TRUE(grant.ok()) << grant.status().ToString();

  const std::string poll = "/agent/v1/activation?key=" + grant->activation_key +
                           "&token=" + grant->poll_token;
  res = Client()->Get(poll);
  ASSERT_TRUE(res);
  auto state = protocol::DecodeActivationStatus(res->body);
  ASSERT_TRUE(state.ok()) << res->body;
  EXPECT_EQ(state->state, protocol::ActivationStatus::State::kPending);

  const std::string agent =
      Ok("CreateAgent",
         {{"ActivationKey", grant->activation_key}, {"AgentName", "gateway"}})
          .value("AgentArn", "");
  res = Client()->Get(poll);
  ASSERT_TRUE(res);
  state = protocol::DecodeActivationStatus(res->body);
  ASSERT_TRUE(state.ok()) << res->body;
  ASSERT_EQ(state->state, protocol::ActivationStatus::State::kActivated);
  EXPECT_EQ(state->agent_arn, agent);

  const std::string base = TempDir();
  ASSERT_TRUE(
      WriteFileAtomically(base + "/agent.pem", state->certificate_pem, 0600)
          .ok());
  ASSERT_TRUE(
      WriteFileAtomically(base + "/agent.key", key->key_pem, 0600).ok());
  res = Client(base + "/agent.pem", base + "/agent.key")
            ->Post("/agent/v1/sync", protocol::Encode(sync).dump(),
                   "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_TRUE(protocol::DecodeSyncResponse(res->body).ok()) << res->body;
  EXPECT_EQ(Ok("DescribeAgent", {{"AgentArn", agent}})["Status"], "ONLINE");

  // A certificate from another authority is not an agent's.
  auto rogue_ca = pki::CreateAuthority("rogue", 1);
  ASSERT_TRUE(rogue_ca.ok());
  auto rogue_cert =
      pki::SignClientRequest(*rogue_ca, key->request_pem, ResourceId(agent), 1);
  ASSERT_TRUE(rogue_cert.ok());
  ASSERT_TRUE(WriteFileAtomically(base + "/rogue.pem", *rogue_cert, 0600).ok());
  res = Client(base + "/rogue.pem", base + "/agent.key")
            ->Post("/agent/v1/sync", protocol::Encode(sync).dump(),
                   "application/json");
  EXPECT_TRUE(!res || res->status == 403);

  // Nor is one that this server's authority signed with the agent's name
  // for another key: the agent is the certificate issued at activation.
  pki::KeyAndCertificate own_ca{ReadFile(dir_ + "/ca.key"),
                                ReadFile(dir_ + "/ca.pem")};
  auto other_key = pki::CreateRequest("impostor");
  ASSERT_TRUE(other_key.ok());
  auto forged = pki::SignClientRequest(own_ca, other_key->request_pem,
                                       ResourceId(agent), 1);
  ASSERT_TRUE(forged.ok()) << forged.status().ToString();
  ASSERT_TRUE(WriteFileAtomically(base + "/forged.pem", *forged, 0600).ok());
  ASSERT_TRUE(
      WriteFileAtomically(base + "/forged.key", other_key->key_pem, 0600).ok());
  res = Client(base + "/forged.pem", base + "/forged.key")
            ->Post("/agent/v1/sync", protocol::Encode(sync).dump(),
                   "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 403);
  EXPECT_TRUE(Contains(res->body, "not the one issued")) << res->body;

  // The API over HTTPS, a secret going in and never coming out.
  json smb = Ok("CreateLocationSmb", {{"ServerHostname", "fs"},
                                      {"Subdirectory", "/share"},
                                      {"User", "svc"},
                                      {"Password", "HttpSecretPassword"},
                                      {"AgentArns", {agent}}});
  json d = Ok("DescribeLocationSmb", {{"LocationArn", smb["LocationArn"]}});
  EXPECT_FALSE(Contains(d.dump(), "HttpSecretPassword")) << d.dump();
  EXPECT_EQ(d["LocationUri"], "smb://fs/share/");
}

// Unauthenticated activation requests, flooded over HTTP from one address:
// a burst gets keys, the rest answer 429 with a message the agent shows
// its operator, and the keys that wait for CreateAgent stay capped (the
// oldest dropped: their polls find them unknown).
TEST_F(HttpTest, AnActivationFloodIsRefusedAndPendingKeysAreCapped) {
  activation_limits_.burst = 6;
  activation_limits_.refill_interval = std::chrono::hours(1);
  activation_limits_.max_pending = 4;
  Start(/*tls=*/false);
  auto key = pki::CreateRequest("agent");
  ASSERT_TRUE(key.ok());
  protocol::ActivationRequest activation;
  activation.csr_pem = key->request_pem;
  activation.hostname = "flood";
  const std::string body = protocol::Encode(activation).dump();
  std::vector<protocol::ActivationGrant> grants;
  std::vector<std::string> refusals;
  auto client = Client();
  for (int i = 0; i < 30; ++i) {
    auto res = client->Post("/agent/v1/activation", body, "application/json");
    ASSERT_TRUE(res);
    if (res->status == 200) {
      auto grant = protocol::DecodeActivationGrant(res->body);
      ASSERT_TRUE(grant.ok()) << res->body;
      grants.push_back(*grant);
    } else {
      EXPECT_EQ(res->status, 429) << res->body;
      refusals.push_back(json::parse(res->body).value("Message", ""));
    }
  }
  ASSERT_EQ(grants.size(), 6u);
  ASSERT_EQ(refusals.size(), 24u);
  EXPECT_TRUE(Contains(refusals.front(),
                       "too many activation requests from 127.0.0.1; try "
                       "again in 3600 s"))
      << refusals.front();

  auto poll = [&](const protocol::ActivationGrant& g) {
    auto res = client->Get("/agent/v1/activation?key=" + g.activation_key +
                           "&token=" + g.poll_token);
    return res ? res->status : 0;
  };
  EXPECT_EQ(poll(grants[0]), 404);
  EXPECT_EQ(poll(grants[1]), 404);
  for (size_t i = 2; i < grants.size(); ++i) EXPECT_EQ(poll(grants[i]), 200);
  int64_t pending = -1;
  ASSERT_TRUE(server_->context()
                  .db
                  ->Transaction([&](SqlSession& s) -> Status {
                    FERRY_ASSIGN_OR_RETURN(
                        pending,
                        server_->context().store.CountPendingActivations(s));
                    return Status::Ok();
                  })
                  .ok());
  EXPECT_EQ(pending, 4);
}

TEST_F(HttpTest, ListsPageOverHttp) {
  Start(/*tls=*/false);
  for (int i = 0; i < 3; ++i) {
    // Agents are made the way CreateAgent needs them: through activation.
    auto key = pki::CreateRequest("agent");
    ASSERT_TRUE(key.ok());
    protocol::ActivationRequest activation;
    activation.csr_pem = key->request_pem;
    activation.hostname = "h";
    activation.version = "0.1.0";
    auto res =
        Client()->Post("/agent/v1/activation",
                       protocol::Encode(activation).dump(), "application/json");
    ASSERT_TRUE(res && res->status == 200);
    auto grant = protocol::DecodeActivationGrant(res->body);
    ASSERT_TRUE(grant.ok());
    Ok("CreateAgent", {{"ActivationKey", grant->activation_key}});
  }
  json request = {{"MaxResults", 2}};
  json page = Ok("ListAgents", request);
  ASSERT_EQ(page["Agents"].size(), 2u);
  ASSERT_TRUE(page.contains("NextToken"));
  request["NextToken"] = page["NextToken"];
  page = Ok("ListAgents", request);
  EXPECT_EQ(page["Agents"].size(), 1u);
  EXPECT_FALSE(page.contains("NextToken"));
}

TEST_F(HttpTest, ServesAPostgreSqlDatabase) {
  auto pg = testing::TestDatabase::Create(testing::Backend::kPostgres);
  ASSERT_TRUE(pg.ok()) << pg.status().ToString();
  Start(/*tls=*/false, (*pg)->spec());
  json config = json::parse(ReadFile(dir_ + "/config.json"));
  EXPECT_EQ(config["db"], (*pg)->spec());
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/state.db"));
  EXPECT_EQ(Ok("ListTasks"), json::parse(R"({"Tasks":[]})"));
  auto rows = (*pg)->db->Query("SELECT COUNT(*) FROM access_keys");
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  EXPECT_EQ(*SqlInt(rows->front(), 0).value(), 1);
  TearDown();  // the server goes before its database
}

}  // namespace
}  // namespace ferry::control
