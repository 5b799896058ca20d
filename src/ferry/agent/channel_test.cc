// The agent's channel (ChannelClient) against a real `ferry server` on
// 127.0.0.1: a SyncRequest is answered on it; the server refuses a
// certificate its authority signed with the agent's name that is not the
// one issued at activation, and one of a deleted agent; DeleteAgent closes
// an open channel at once; a message that is not a SyncRequest closes the
// channel with the reason; a newer channel of the agent replaces the older.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <thread>

#include "ferry/agent/channel_client.h"
#include "ferry/base/file_util.h"
#include "ferry/control/server/api.h"
#include "ferry/control/server/server.h"
#include "ferry/pki/pki.h"
#include "ferry/protocol/agent_protocol.h"

namespace ferry::agent {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using std::chrono::milliseconds;

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

class ChannelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::signal(SIGPIPE, SIG_IGN);
    char tmpl[] = "/tmp/ferry-channel-test-XXXXXX";
    root_ = ::mkdtemp(tmpl);
    control::InitOptions init;
    init.data_dir = (root_ / "server").string();
    init.names = {"127.0.0.1"};
    Status st = control::InitDataDir(init);
    ASSERT_TRUE(st.ok()) << st.ToString();
    control::ServerConfig config;
    config.data_dir = init.data_dir;
    config.listen = "127.0.0.1:0";
    config.tick = milliseconds(50);
    config.agent_offline_after = std::chrono::seconds(30);
    auto server = control::Server::Open(config);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    thread_ = std::thread([this] { EXPECT_TRUE(server_->Serve().ok()); });
    for (int i = 0; i < 1000 && server_->port() == 0; ++i) {
      std::this_thread::sleep_for(milliseconds(5));
    }
    ASSERT_GT(server_->port(), 0);
  }

  void TearDown() override {
    server_->Stop();
    if (thread_.joinable()) thread_.join();
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  json Api(const std::string& operation, const json& request) {
    static const control::ApiRegistry registry = control::AllApis();
    control::ApiCall call{server_->context(), operation, "test", request};
    control::ApiResult result = registry.at(operation)(call);
    if (auto* e = std::get_if<ApiError>(&result)) {
      ADD_FAILURE() << operation << ": " << e->type << ": " << e->message;
      return json::object();
    }
    return std::get<json>(result);
  }

  // An agent activated as `ferry agent` would be (its request recorded,
  // CreateAgent signing it); its key and certificate written under root_.
  // Returns its ARN.
  std::string Activate(const std::string& name) {
    auto kr = pki::CreateRequest("ferry-agent test");
    EXPECT_TRUE(kr.ok());
    control::ServerContext& ctx = server_->context();
    control::ActivationRecord r;
    r.activation_key =
        "TESTK-AAAAA-BBBBB-CCCCC-DDDD" + std::string(1, 'A' + activated_++);
    r.poll_token_hash = "unused";
    r.csr_pem = kr->request_pem;
    r.hostname = name;
    r.created_ms = ctx.now_ms();
    r.expires_ms = r.created_ms + 3600 * 1000;
    EXPECT_TRUE(ctx.db
                    ->Transaction([&](SqlSession& s) {
                      return ctx.store.PutActivation(s, r);
                    })
                    .ok());
    const std::string arn =
        Api("CreateAgent", {{"ActivationKey", r.activation_key}})["AgentArn"];
    std::optional<control::ActivationRecord> done;
    EXPECT_TRUE(ctx.db
                    ->Transaction([&](SqlSession& s) -> Status {
                      FERRY_ASSIGN_OR_RETURN(
                          done, ctx.store.GetActivation(s, r.activation_key));
                      return Status::Ok();
                    })
                    .ok());
    EXPECT_TRUE(done && !done->certificate_pem.empty());
    EXPECT_TRUE(
        WriteFileAtomically(Path(name + ".pem"), done->certificate_pem, 0600)
            .ok());
    EXPECT_TRUE(
        WriteFileAtomically(Path(name + ".key"), kr->key_pem, 0600).ok());
    EXPECT_TRUE(
        WriteFileAtomically(Path(name + ".csr"), kr->request_pem, 0600).ok());
    return arn;
  }

  std::string Path(const std::string& name) const {
    return (root_ / name).string();
  }

  ChannelOptions Options(const std::string& name) const {
    ChannelOptions o;
    o.host = "127.0.0.1";
    o.port = server_->port();
    o.ca_bundle = (root_ / "server" / "ca.pem").string();
    o.certificate = Path(name + ".pem");
    o.key = Path(name + ".key");
    o.connect_timeout = milliseconds(10000);
    return o;
  }

  static std::string Heartbeat() {
    protocol::SyncRequest request;
    request.version = "test";
    return protocol::Encode(request).dump();
  }

  fs::path root_;
  int activated_ = 0;
  std::unique_ptr<control::Server> server_;
  std::thread thread_;
};

TEST_F(ChannelTest, SyncRequestsAreAnsweredOnTheChannel) {
  const std::string arn = Activate("a");
  auto ch = ChannelClient::Connect(Options("a"));
  ASSERT_TRUE(ch.ok()) << ch.status().ToString();
  ASSERT_TRUE((*ch)->Send(Heartbeat()).ok());
  auto message = (*ch)->Receive(milliseconds(10000));
  ASSERT_TRUE(message.ok()) << message.status().ToString();
  ASSERT_TRUE(message->has_value());
  auto response = protocol::DecodeSyncResponse(**message);
  ASSERT_TRUE(response.ok()) << **message;
  // A third of --agent-offline-after (30 s).
  EXPECT_EQ(response->heartbeat_interval_ms, 10000);
  EXPECT_TRUE(response->commands.empty());
  EXPECT_EQ(Api("DescribeAgent", {{"AgentArn", arn}})["Status"], "ONLINE");

  // Later heartbeats are answered too (from memory: no transaction).
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE((*ch)->Send(Heartbeat()).ok());
    message = (*ch)->Receive(milliseconds(10000));
    ASSERT_TRUE(message.ok() && message->has_value());
    EXPECT_TRUE(protocol::DecodeSyncResponse(**message).ok()) << **message;
  }

  // Nothing more comes without a reason; Interrupt() ends a wait at once.
  (*ch)->Interrupt();
  message = (*ch)->Receive(milliseconds(10000));
  ASSERT_TRUE(message.ok());
  EXPECT_FALSE(message->has_value());
}

// Finding 5: an agent is its certificate, not its name.
TEST_F(ChannelTest, OnlyTheCertificateIssuedAtActivationIsTheAgent) {
  const std::string arn = Activate("a");
  const std::string id = arn.substr(arn.rfind('/') + 1);
  auto authority_cert = ReadTextFile((root_ / "server" / "ca.pem").string());
  auto authority_key = ReadTextFile((root_ / "server" / "ca.key").string());
  ASSERT_TRUE(authority_cert.ok() && authority_key.ok());
  pki::KeyAndCertificate authority{*authority_key, *authority_cert};
  auto other = pki::CreateRequest("impostor");
  ASSERT_TRUE(other.ok());
  auto forged = pki::SignClientRequest(authority, other->request_pem, id, 1);
  ASSERT_TRUE(forged.ok()) << forged.status().ToString();
  ASSERT_TRUE(WriteFileAtomically(Path("forged.pem"), *forged, 0600).ok());
  ASSERT_TRUE(
      WriteFileAtomically(Path("forged.key"), other->key_pem, 0600).ok());
  auto ch = ChannelClient::Connect(Options("forged"));
  ASSERT_FALSE(ch.ok());
  EXPECT_EQ(ch.status().code(), StatusCode::kPermissionDenied);
  EXPECT_TRUE(Contains(std::string(ch.status().message()),
                       "not the one issued to agent " + arn))
      << ch.status().ToString();
  // The real one still is.
  EXPECT_TRUE(ChannelClient::Connect(Options("a")).ok());
}

TEST_F(ChannelTest, DeleteAgentClosesItsChannelAtOnce) {
  const std::string arn = Activate("a");
  auto ch = ChannelClient::Connect(Options("a"));
  ASSERT_TRUE(ch.ok()) << ch.status().ToString();
  ASSERT_TRUE((*ch)->Send(Heartbeat()).ok());
  auto message = (*ch)->Receive(milliseconds(10000));
  ASSERT_TRUE(message.ok() && message->has_value());

  Api("DeleteAgent", {{"AgentArn", arn}});
  message = (*ch)->Receive(milliseconds(10000));
  ASSERT_FALSE(message.ok()) << "the channel stayed open";
  EXPECT_TRUE(Contains(std::string(message.status().message()),
                       "is not registered with this server"))
      << message.status().ToString();
  auto again = ChannelClient::Connect(Options("a"));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), StatusCode::kPermissionDenied);
}

// An agent deleted from the database by another server sharing it (no
// signal reaches this one): the next heartbeat flush finds it gone and
// closes its channel.
TEST_F(ChannelTest, AnAgentDeletedElsewhereLosesItsChannel) {
  const std::string arn = Activate("a");
  auto ch = ChannelClient::Connect(Options("a"));
  ASSERT_TRUE(ch.ok()) << ch.status().ToString();
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE((*ch)->Send(Heartbeat()).ok());
    auto message = (*ch)->Receive(milliseconds(10000));
    ASSERT_TRUE(message.ok() && message->has_value());
  }
  control::ServerContext& ctx = server_->context();
  ASSERT_TRUE(ctx.db
                  ->Transaction([&](SqlSession& s) {
                    return ctx.store.DeleteAgent(s, arn);
                  })
                  .ok());
  ASSERT_TRUE((*ch)->Send(Heartbeat()).ok());  // queued for the flush
  auto message = (*ch)->Receive(milliseconds(10000));
  if (message.ok() && message->has_value()) {
    message = (*ch)->Receive(milliseconds(10000));
  }
  ASSERT_FALSE(message.ok()) << "the channel stayed open";
  EXPECT_TRUE(Contains(std::string(message.status().message()),
                       "is not registered with this server"))
      << message.status().ToString();
}

TEST_F(ChannelTest, AMessageThatIsNotASyncRequestClosesTheChannel) {
  Activate("a");
  auto ch = ChannelClient::Connect(Options("a"));
  ASSERT_TRUE(ch.ok()) << ch.status().ToString();
  ASSERT_TRUE((*ch)->Send(R"({"ProtocolVersion": 1, "Executions": 5})").ok());
  auto message = (*ch)->Receive(milliseconds(10000));
  ASSERT_FALSE(message.ok());
  EXPECT_TRUE(Contains(std::string(message.status().message()), "Executions"))
      << message.status().ToString();

  // Nested too deep for the agent protocol: refused before it is built.
  ch = ChannelClient::Connect(Options("a"));
  ASSERT_TRUE(ch.ok());
  std::string deep = R"({"ProtocolVersion": 1, "Executions": )" +
                     std::string(10000, '[') + std::string(10000, ']') + "}";
  ASSERT_TRUE((*ch)->Send(deep).ok());
  message = (*ch)->Receive(milliseconds(10000));
  EXPECT_FALSE(message.ok());
}

TEST_F(ChannelTest, ANewerChannelReplacesTheOlder) {
  Activate("a");
  auto first = ChannelClient::Connect(Options("a"));
  ASSERT_TRUE(first.ok());
  auto second = ChannelClient::Connect(Options("a"));
  ASSERT_TRUE(second.ok());
  auto message = (*first)->Receive(milliseconds(10000));
  ASSERT_FALSE(message.ok());
  EXPECT_TRUE(Contains(std::string(message.status().message()), "newer"))
      << message.status().ToString();
  ASSERT_TRUE((*second)->Send(Heartbeat()).ok());
  message = (*second)->Receive(milliseconds(10000));
  ASSERT_TRUE(message.ok() && message->has_value());
}

}  // namespace
}  // namespace ferry::agent
