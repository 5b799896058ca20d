#include "ferry/control/server/agent_service.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <regex>

#include "ferry/control/server/api_helpers.h"
#include "ferry/control/server/execution_control.h"
#include "ferry/control/store/test_database.h"

namespace ferry::control {
namespace {

using nlohmann::json;
using Type = protocol::Command::Type;
using testing::Backend;

constexpr int64_t kServiceStart = 1'800'000'000'000;  // 2027-01-15

// One suite, both databases (PostgreSQL: dispatch claims rows FOR UPDATE
// SKIP LOCKED).
class AgentServiceTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    ctx_.config.agent_offline_after = std::chrono::seconds(60);
    ctx_.config.schedule_failure_limit = 3;
    auto db = testing::TestDatabase::Create(GetParam());
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    test_db_ = std::move(db).value();
    // The context owns its database: hand it over, keep the schema's owner.
    ctx_.db = std::move(test_db_->db);
    std::array<unsigned char, 32> key{};
    key.fill(7);
    ctx_.sealer = Sealer::FromKey(key);
    ASSERT_TRUE(Migrate(*ctx_.db, StateStore::Migrations(*ctx_.sealer)).ok());
    auto ca = pki::CreateAuthority("ferry test CA", 1);
    ASSERT_TRUE(ca.ok()) << ca.status().ToString();
    ctx_.authority = *ca;
    ctx_.now_ms = [this] { return now_; };
    service_ = std::make_unique<AgentService>(&ctx_);
  }
  void TearDown() override {
    service_.reset();
    ctx_.db.reset();
    test_db_.reset();
  }

  template <typename Fn>
  void Tx(Fn fn) {
    Status st = ctx_.db->Transaction([&](SqlSession& s) -> Status {
      fn(s);
      return Status::Ok();
    });
    ASSERT_TRUE(st.ok()) << st.ToString();
  }

  // A registered agent (as CreateAgent leaves it: never seen).
  std::string AddAgent() {
    AgentRecord a;
    a.arn = ctx_.Arn("agent/" + ServerContext::NewId("agent"));
    a.name = "test";
    a.created_ms = now_;
    Tx([&](SqlSession& s) { ASSERT_TRUE(ctx_.store.PutAgent(s, a).ok()); });
    return a.arn;
  }

  std::string AddLocation(const std::vector<std::string>& agents,
                          const std::string& type = "LOCAL") {
    LocationRecord l;
    l.arn = ctx_.Arn("location/" + ServerContext::NewId("loc"));
    l.type = type;
    l.uri = "local://" + l.arn;
    l.params = {{"Path", "/data/" + l.arn.substr(l.arn.size() - 6)}};
    l.agent_arns = agents;
    l.created_ms = now_;
    Tx([&](SqlSession& s) { ASSERT_TRUE(ctx_.store.PutLocation(s, l).ok()); });
    return l.arn;
  }

  std::string AddTask(const std::string& src, const std::string& dst,
                      json body = json::object()) {
    TaskRecord t;
    t.arn = ctx_.Arn("task/" + ServerContext::NewId("task"));
    t.name = "t";
    t.source_arn = src;
    t.destination_arn = dst;
    t.body = std::move(body);
    t.created_ms = now_;
    Tx([&](SqlSession& s) { ASSERT_TRUE(ctx_.store.PutTask(s, t).ok()); });
    return t.arn;
  }

  std::string Start(const std::string& task, const json& overrides = {},
                    bool scheduled = false) {
    auto started = StartExecution(
        ctx_, task, overrides.is_null() ? json::object() : overrides,
        scheduled);
    if (auto* e = std::get_if<ApiError>(&started)) {
      ADD_FAILURE() << e->message;
      return "";
    }
    return std::get<std::string>(started);
  }

  ExecutionRecord Get(const std::string& arn) {
    ExecutionRecord out;
    Tx([&](SqlSession& s) {
      auto e = ctx_.store.GetExecution(s, arn);
      ASSERT_TRUE(e.ok() && e->has_value()) << arn;
      out = **e;
    });
    return out;
  }
  void Put(const ExecutionRecord& e) {
    Tx([&](SqlSession& s) {
      ASSERT_TRUE(ctx_.store.UpdateExecution(s, e).ok());
    });
  }
  TaskRecord GetTask(const std::string& arn) {
    TaskRecord out;
    Tx([&](SqlSession& s) {
      auto t = ctx_.store.GetTask(s, arn);
      ASSERT_TRUE(t.ok() && t->has_value()) << arn;
      out = **t;
    });
    return out;
  }

  protocol::SyncResponse Sync(
      const std::string& agent_arn,
      std::vector<protocol::ExecutionReport> reports = {}) {
    protocol::SyncRequest r;
    r.version = "0.1.0";
    r.executions = std::move(reports);
    auto answer = service_->Sync(ResourceId(agent_arn), r);
    EXPECT_TRUE(answer.ok()) << answer.status().ToString();
    return answer.ok() ? *answer : protocol::SyncResponse();
  }

  static protocol::ExecutionReport Report(const std::string& arn,
                                          const std::string& status, bool final,
                                          json describe = {}) {
    protocol::ExecutionReport r;
    r.execution_arn = arn;
    r.status = status;
    r.final = final;
    r.describe = describe.is_null() ? json::object() : describe;
    return r;
  }

  void Dispatch() { ASSERT_TRUE(service_->DispatchOnce().ok()); }

  static const protocol::Command* Find(const protocol::SyncResponse& r,
                                       Type type, const std::string& arn) {
    for (const protocol::Command& c : r.commands) {
      if (c.type == type && c.execution_arn == arn) return &c;
    }
    return nullptr;
  }

  // An agent serving two LOCAL locations, seen now, and a task between them.
  struct Setup {
    std::string agent, src, dst, task;
  };
  Setup OneAgentTask(json body = json::object()) {
    Setup s;
    s.agent = AddAgent();
    s.src = AddLocation({s.agent});
    s.dst = AddLocation({s.agent});
    s.task = AddTask(s.src, s.dst, std::move(body));
    Sync(s.agent);
    return s;
  }

  std::unique_ptr<testing::TestDatabase> test_db_;
  int64_t now_ = kServiceStart;
  ServerContext ctx_;
  std::unique_ptr<AgentService> service_;
};

// --- Activation ---

TEST_P(AgentServiceTest, ActivationKeysHaveDataSyncsFormatAndDiffer) {
  auto req = pki::CreateRequest("agent");
  ASSERT_TRUE(req.ok());
  protocol::ActivationRequest request{req->request_pem, "host-1", "0.1.0"};
  auto a = service_->Activate(request, "192.0.2.1");
  auto b = service_->Activate(request, "192.0.2.1");
  ASSERT_TRUE(a.ok() && b.ok()) << a.status().ToString();
  const std::regex format("[A-Z0-9]{5}(-[A-Z0-9]{5}){4}");
  EXPECT_TRUE(std::regex_match(a->activation_key, format)) << a->activation_key;
  EXPECT_EQ(a->activation_key.size(), 29u);
  EXPECT_NE(a->activation_key, b->activation_key);
  EXPECT_NE(a->poll_token, b->poll_token);
  EXPECT_GE(a->poll_token.size(), 32u);
  EXPECT_EQ(a->expires_at, (kServiceStart + 30 * 60 * 1000) / 1000);
  Tx([&](SqlSession& s) {
    auto r = ctx_.store.GetActivation(s, a->activation_key);
    ASSERT_TRUE(r.ok() && r->has_value());
    EXPECT_EQ((*r)->hostname, "host-1");
    EXPECT_EQ((*r)->poll_token_hash.size(), 64u);
    EXPECT_EQ((*r)->poll_token_hash.find(a->poll_token), std::string::npos)
        << "only the token's hash is stored";
  });
}

// What peers send reaches the server's log escaped: an activation's
// hostname or version, or an execution ARN an agent reports, cannot end a
// line and forge another (nor move a terminal's cursor).
TEST_P(AgentServiceTest, PeerStringsCannotForgeLogLines) {
  auto req = pki::CreateRequest("agent");
  ASSERT_TRUE(req.ok());
  Setup s = OneAgentTask();
  ::testing::internal::CaptureStderr();
  auto grant = service_->Activate(
      {req->request_pem, "nas\nferry server: CreateAgent by admin\r",
       "1.0\x1b[2J"},
      "192.0.2.9");
  protocol::SyncRequest sync;
  sync.executions = {Report(s.task + "/execution/exec-0\nferry server: forged",
                            "TRANSFERRING", false)};
  auto answer = service_->Sync(ResourceId(s.agent), sync);
  const std::string log = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(grant.ok()) << grant.status().ToString();
  ASSERT_TRUE(answer.ok()) << answer.status().ToString();
  EXPECT_NE(log.find("activation requested by nas\\nferry server: "
                     "CreateAgent by admin\\r (ferry 1.0\\x1B[2J)"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("exec-0\\nferry server: forged (unknown)"),
            std::string::npos)
      << log;
  // Two lines, each the server's.
  EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 2) << log;
  EXPECT_EQ(log.find('\r'), std::string::npos) << log;
  EXPECT_EQ(log.find('\x1b'), std::string::npos) << log;
  size_t at = 0;
  while (at < log.size()) {
    EXPECT_EQ(log.compare(at, 14, "ferry server: "), 0) << log.substr(at);
    at = log.find('\n', at) + 1;
  }
}

TEST_P(AgentServiceTest, AnInvalidCertificateRequestIsRefused) {
  auto r = service_->Activate({"-----BEGIN CERTIFICATE REQUEST-----\nxx\n"
                               "-----END CERTIFICATE REQUEST-----\n",
                               "h", "v"},
                              "192.0.2.1");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

TEST_P(AgentServiceTest, ActivationStatePendingActivatedExpired) {
  auto req = pki::CreateRequest("agent");
  ASSERT_TRUE(req.ok());
  auto grant = service_->Activate({req->request_pem, "h", "v"}, "192.0.2.1");
  ASSERT_TRUE(grant.ok());
  const std::string key = grant->activation_key;

  auto pending = service_->ActivationState(key, grant->poll_token);
  ASSERT_TRUE(pending.ok()) << pending.status().ToString();
  EXPECT_EQ(pending->state, protocol::ActivationStatus::State::kPending);

  auto wrong = service_->ActivationState(key, grant->poll_token + "x");
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().code(), StatusCode::kPermissionDenied);
  auto unknown =
      service_->ActivationState("AAAAA-AAAAA-AAAAA-AAAAA-AAAAA", "token");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound);

  now_ += 31 * 60 * 1000;
  auto expired = service_->ActivationState(key, grant->poll_token);
  ASSERT_TRUE(expired.ok());
  EXPECT_EQ(expired->state, protocol::ActivationStatus::State::kExpired);

  // CreateAgent's part: the request signed, the agent named.
  Tx([&](SqlSession& s) {
    auto r = ctx_.store.GetActivation(s, key);
    ASSERT_TRUE(r.ok() && r->has_value());
    (*r)->agent_arn = ctx_.Arn("agent/agent-0123456789abcdefg");
    (*r)->certificate_pem = "-----BEGIN CERTIFICATE-----\n...";
    ASSERT_TRUE(ctx_.store.UpdateActivation(s, **r).ok());
  });
  auto activated = service_->ActivationState(key, grant->poll_token);
  ASSERT_TRUE(activated.ok());
  EXPECT_EQ(activated->state, protocol::ActivationStatus::State::kActivated);
  EXPECT_EQ(activated->agent_arn, ctx_.Arn("agent/agent-0123456789abcdefg"));
  EXPECT_EQ(activated->certificate_pem, "-----BEGIN CERTIFICATE-----\n...");
}

// The review's flood: 300 unauthenticated requests from one address. A
// burst gets keys; the rest are refused with when to try again, and the log
// says so once, not 295 times.
TEST_P(AgentServiceTest, AnActivationFloodFromOneAddressIsRefused) {
  ctx_.config.activation.burst = 5;
  ctx_.config.activation.refill_interval = std::chrono::seconds(20);
  service_ = std::make_unique<AgentService>(&ctx_);
  auto req = pki::CreateRequest("agent");
  ASSERT_TRUE(req.ok());
  const protocol::ActivationRequest request{req->request_pem, "h", "v"};

  ::testing::internal::CaptureStderr();
  int granted = 0;
  std::vector<Status> refused;
  for (int i = 0; i < 300; ++i) {
    now_ += 10;
    auto r = service_->Activate(request, "198.51.100.7");
    if (r.ok()) {
      ++granted;
    } else {
      refused.push_back(r.status());
    }
  }
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(granted, 5);
  ASSERT_EQ(refused.size(), 295u);
  EXPECT_EQ(refused.front().code(), StatusCode::kResourceExhausted);
  EXPECT_TRUE(refused.front().message().starts_with(
      "too many activation requests from 198.51.100.7; try again in 20 s"))
      << refused.front().message();
  // 2.95 s later, the next key is 17.01 s away.
  EXPECT_TRUE(refused.back().message().starts_with(
      "too many activation requests from 198.51.100.7; try again in 18 s"))
      << refused.back().message();
  auto count = [&](const std::string& what) {
    size_t n = 0;
    for (size_t at = log.find(what); at != std::string::npos;
         at = log.find(what, at + 1)) {
      ++n;
    }
    return n;
  };
  EXPECT_EQ(count("refusing activation requests from 198.51.100.7"), 1u) << log;
  EXPECT_EQ(count("activation requested by"), 5u) << log;
  Tx([&](SqlSession& s) {
    auto pending = ctx_.store.CountPendingActivations(s);
    ASSERT_TRUE(pending.ok());
    EXPECT_EQ(*pending, 5);
  });

  // Another address is not held back by the first; the first gets a key
  // again once a refill interval has passed.
  EXPECT_TRUE(service_->Activate(request, "198.51.100.8").ok());
  now_ += 20'000;
  EXPECT_TRUE(service_->Activate(request, "198.51.100.7").ok());
}

// Many addresses: at most max_pending keys wait for CreateAgent, the oldest
// go first, and keys already used do not count.
TEST_P(AgentServiceTest, PendingActivationsAreCappedOldestFirst) {
  ctx_.config.activation.max_pending = 4;
  service_ = std::make_unique<AgentService>(&ctx_);
  auto req = pki::CreateRequest("agent");
  ASSERT_TRUE(req.ok());
  const protocol::ActivationRequest request{req->request_pem, "h", "v"};
  std::vector<protocol::ActivationGrant> grants;
  ::testing::internal::CaptureStderr();
  for (int i = 0; i < 7; ++i) {
    now_ += 1000;
    auto r = service_->Activate(request, "203.0.113." + std::to_string(i));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    grants.push_back(*r);
  }
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(log.find("1 pending activation key(s) dropped, oldest first: "
                     "more than 4 waited for CreateAgent"),
            std::string::npos)
      << log;
  EXPECT_EQ(log.find("dropped", log.find("dropped") + 1), std::string::npos)
      << "logged once per window: " << log;
  auto state = [&](int i) {
    return service_->ActivationState(grants[i].activation_key,
                                     grants[i].poll_token);
  };
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(state(i).status().code(), StatusCode::kNotFound) << i;
  }
  for (int i = 3; i < 7; ++i) {
    ASSERT_TRUE(state(i).ok()) << i;
    EXPECT_EQ(state(i)->state, protocol::ActivationStatus::State::kPending);
  }

  // CreateAgent's part for one of them: it no longer waits, and one more
  // key fits without dropping another.
  Tx([&](SqlSession& s) {
    auto r = ctx_.store.GetActivation(s, grants[3].activation_key);
    ASSERT_TRUE(r.ok() && r->has_value());
    (*r)->agent_arn = ctx_.Arn("agent/agent-0123456789abcdefg");
    (*r)->certificate_pem = "-----BEGIN CERTIFICATE-----\n...";
    ASSERT_TRUE(ctx_.store.UpdateActivation(s, **r).ok());
  });
  auto more = service_->Activate(request, "203.0.113.99");
  ASSERT_TRUE(more.ok());
  for (int i = 3; i < 7; ++i) EXPECT_TRUE(state(i).ok()) << i;
  Tx([&](SqlSession& s) {
    auto pending = ctx_.store.CountPendingActivations(s);
    ASSERT_TRUE(pending.ok());
    EXPECT_EQ(*pending, 4);
  });
}

TEST_P(AgentServiceTest, AnOversizedCertificateRequestIsRefused) {
  auto req = pki::CreateRequest("agent");
  ASSERT_TRUE(req.ok());
  EXPECT_LT(req->request_pem.size(), 1024u) << "a ferry agent's request";
  std::string big = req->request_pem;
  big.insert(big.find("-----END"), std::string(15'000, 'A') + "\n");
  auto r = service_->Activate({big, "h", "v"}, "192.0.2.1");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("at most 4096"), std::string::npos)
      << r.status().message();
  Tx([&](SqlSession& s) {
    auto pending = ctx_.store.CountPendingActivations(s);
    ASSERT_TRUE(pending.ok());
    EXPECT_EQ(*pending, 0);
  });
}

// --- Sync ---

TEST_P(AgentServiceTest, UnknownAndDeletedAgentsAreRefused) {
  protocol::SyncRequest r;
  auto unknown = service_->Sync("agent-0000000000000000z", r);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::kPermissionDenied);
  auto not_an_agent = service_->Sync("loc-0000000000000000z", r);
  EXPECT_FALSE(not_an_agent.ok());

  std::string agent = AddAgent();
  EXPECT_TRUE(service_->Sync(ResourceId(agent), r).ok());
  Tx([&](SqlSession& s) {
    ASSERT_TRUE(ctx_.store.DeleteAgent(s, agent).ok());
  });
  auto deleted = service_->Sync(ResourceId(agent), r);
  ASSERT_FALSE(deleted.ok());
  EXPECT_EQ(deleted.status().code(), StatusCode::kPermissionDenied);
}

// An agent's first message (it was never heard from, or is OFFLINE) is
// written at once, so that it is ONLINE from that message on; an online
// agent's heartbeats are written in batches (FlushHeartbeatsOnce, every
// tick), not one write per message.
TEST_P(AgentServiceTest, SyncRecordsTheHeartbeatAndVersion) {
  std::string agent = AddAgent();
  auto last_seen = [&] {
    int64_t ms = -1;
    Tx([&](SqlSession& s) {
      auto a = ctx_.store.GetAgent(s, agent);
      ASSERT_TRUE(a.ok() && a->has_value());
      ms = (*a)->last_seen_ms;
      EXPECT_EQ((*a)->version, "9.8.7");
    });
    return ms;
  };
  now_ += 1234;
  protocol::SyncRequest r;
  r.version = "9.8.7";
  ASSERT_TRUE(service_->Sync(ResourceId(agent), r).ok());
  EXPECT_EQ(last_seen(), kServiceStart + 1234);

  now_ += 1000;
  ASSERT_TRUE(service_->Sync(ResourceId(agent), r).ok());
  EXPECT_EQ(last_seen(), kServiceStart + 1234);
  ASSERT_TRUE(service_->FlushHeartbeatsOnce().ok());
  EXPECT_EQ(last_seen(), kServiceStart + 2234);

  // Silent past --agent-offline-after: its next message is written at once.
  now_ += 3600 * 1000;
  ASSERT_TRUE(service_->Sync(ResourceId(agent), r).ok());
  EXPECT_EQ(last_seen(), now_);
}

TEST_P(AgentServiceTest, AQueuedExecutionWaitsForAnOnlineAgent) {
  std::string agent = AddAgent();
  std::string task = AddTask(AddLocation({agent}), AddLocation({agent}));
  std::string exec = Start(task);
  Dispatch();
  EXPECT_EQ(Get(exec).status, "QUEUED") << "the agent never connected";
  Sync(agent);
  now_ += 1000;
  Dispatch();
  ExecutionRecord e = Get(exec);
  EXPECT_EQ(e.status, "LAUNCHING");
  EXPECT_EQ(e.agent_arn, agent);
  EXPECT_EQ(e.launch_ms, kServiceStart + 1000);

  // An agent silent past agent_offline_after is not given work.
  std::string exec2 =
      Start(AddTask(AddLocation({agent}), AddLocation({agent})));
  now_ += 61'000;
  Dispatch();
  EXPECT_EQ(Get(exec2).status, "QUEUED");
}

TEST_P(AgentServiceTest, RunExecutionCarriesTheTaskUntilReported) {
  Setup s = OneAgentTask(
      {{"Options", {{"VerifyMode", "NONE"}, {"BytesPerSecond", 5000}}},
       {"Excludes", {{{"FilterType", "SIMPLE_PATTERN"}, {"Value", "*.tmp"}}}}});
  std::string exec = Start(
      s.task,
      {{"Includes", {{{"FilterType", "SIMPLE_PATTERN"}, {"Value", "/keep"}}}}});
  Dispatch();
  protocol::SyncResponse r = Sync(s.agent);
  const protocol::Command* run = Find(r, Type::kRunExecution, exec);
  ASSERT_NE(run, nullptr);
  EXPECT_EQ(run->task_arn, s.task);
  EXPECT_EQ(run->options["VerifyMode"], "NONE");
  EXPECT_EQ(run->options["BytesPerSecond"], 5000);
  EXPECT_EQ(run->bytes_per_second, 5000);
  EXPECT_EQ(run->includes, "/keep");
  EXPECT_EQ(run->excludes, "*.tmp");
  EXPECT_FALSE(run->has_manifest);
  EXPECT_EQ(run->source.arn, s.src);
  EXPECT_EQ(run->source.type, "LOCAL");
  EXPECT_TRUE(run->source.parameters.contains("Path"));
  EXPECT_EQ(run->destination.arn, s.dst);

  // Repeated until the agent reports it (at-least-once).
  EXPECT_NE(Find(Sync(s.agent), Type::kRunExecution, exec), nullptr);
  r = Sync(s.agent, {Report(exec, "PREPARING", false,
                            {{"FilesListed", {{"AtSource", 10}}},
                             {"Options", {{"BytesPerSecond", 5000}}}})});
  EXPECT_TRUE(r.commands.empty());
  ExecutionRecord e = Get(exec);
  EXPECT_EQ(e.status, "PREPARING");
  EXPECT_EQ(e.describe["FilesListed"]["AtSource"], 10);
  EXPECT_GT(e.updated_ms, 0);
  EXPECT_TRUE(
      Sync(s.agent, {Report(exec, "TRANSFERRING", false)}).commands.empty());
}

TEST_P(AgentServiceTest, AFinalReportIsStoredAndAcknowledged) {
  Setup s = OneAgentTask();
  std::string exec = Start(s.task);
  Dispatch();
  Sync(s.agent, {Report(exec, "TRANSFERRING", false)});
  now_ += 5000;
  json describe = {{"Status", "SUCCESS"},
                   {"FilesTransferred", 3},
                   {"Result", {{"TransferStatus", "SUCCESS"}}}};
  protocol::SyncResponse r =
      Sync(s.agent, {Report(exec, "SUCCESS", true, describe)});
  ASSERT_EQ(r.acknowledged, std::vector<std::string>{exec});
  ExecutionRecord e = Get(exec);
  EXPECT_EQ(e.status, "SUCCESS");
  EXPECT_EQ(e.end_ms, kServiceStart + 5000);
  EXPECT_EQ(e.describe["FilesTransferred"], 3);
  // A repeated final report (the answer was lost) is acknowledged again.
  now_ += 1000;
  r = Sync(s.agent, {Report(exec, "SUCCESS", true, describe)});
  EXPECT_EQ(r.acknowledged, std::vector<std::string>{exec});
  EXPECT_EQ(Get(exec).end_ms, kServiceStart + 5000);
  // A final status in a report that is not final changes nothing.
  std::string exec2 = Start(s.task);
  Dispatch();
  Sync(s.agent, {Report(exec2, "SUCCESS", false)});
  EXPECT_EQ(Get(exec2).status, "LAUNCHING");
}

TEST_P(AgentServiceTest, ReportsOfOtherAgentsExecutionsAreIgnored) {
  Setup s = OneAgentTask();
  std::string other = AddAgent();
  std::string exec = Start(s.task);
  Dispatch();
  protocol::SyncResponse r = Sync(other, {Report(exec, "SUCCESS", true)});
  EXPECT_TRUE(r.acknowledged.empty());
  EXPECT_EQ(Get(exec).status, "LAUNCHING");
  // Unknown executions (their task deleted): a result is forgotten, a run
  // stopped.
  const std::string gone = s.task + "/execution/exec-00000000000000000";
  r = Sync(s.agent, {Report(gone, "ERROR", true)});
  EXPECT_EQ(r.acknowledged, std::vector<std::string>{gone});
  r = Sync(s.agent, {Report(gone, "TRANSFERRING", false)});
  EXPECT_NE(Find(r, Type::kCancelExecution, gone), nullptr);
}

TEST_P(AgentServiceTest, CancelIsRepeatedUntilTheEnd) {
  Setup s = OneAgentTask();
  std::string exec = Start(s.task);
  Dispatch();
  Sync(s.agent, {Report(exec, "TRANSFERRING", false)});
  ExecutionRecord e = Get(exec);
  e.cancel_requested = true;  // CancelTaskExecution
  e.status = "CANCELLING";
  Put(e);
  protocol::SyncResponse r =
      Sync(s.agent, {Report(exec, "TRANSFERRING", false)});
  EXPECT_NE(Find(r, Type::kCancelExecution, exec), nullptr);
  EXPECT_EQ(Get(exec).status, "CANCELLING") << "the agent's lag is not news";
  r = Sync(s.agent, {Report(exec, "CANCELLING", false)});
  EXPECT_NE(Find(r, Type::kCancelExecution, exec), nullptr);
  r = Sync(s.agent,
           {Report(exec, "ERROR", true,
                   {{"Result", {{"ErrorCode", "OperationCanceled"}}}})});
  EXPECT_EQ(r.acknowledged.size(), 1u);
  EXPECT_TRUE(r.commands.empty());
  EXPECT_EQ(Get(exec).status, "ERROR");
}

TEST_P(AgentServiceTest, CancelBeforeTheAgentStartedEndsAtOnce) {
  Setup s = OneAgentTask();
  std::string exec = Start(s.task);
  Dispatch();
  ExecutionRecord e = Get(exec);
  e.cancel_requested = true;
  e.status = "CANCELLING";
  Put(e);
  protocol::SyncResponse r = Sync(s.agent);
  EXPECT_EQ(Find(r, Type::kRunExecution, exec), nullptr);
  e = Get(exec);
  EXPECT_EQ(e.status, "ERROR");
  EXPECT_EQ(e.describe["Result"]["ErrorCode"], "OperationCanceled");
}

TEST_P(AgentServiceTest, BandwidthFollowsTheRecord) {
  Setup s = OneAgentTask();
  std::string exec = Start(s.task);
  Dispatch();
  json at_unlimited = {{"Options", {{"BytesPerSecond", -1}}}};
  EXPECT_TRUE(Sync(s.agent, {Report(exec, "TRANSFERRING", false, at_unlimited)})
                  .commands.empty());
  ExecutionRecord e = Get(exec);
  e.bytes_per_second = 1000;  // UpdateTaskExecution
  Put(e);
  protocol::SyncResponse r =
      Sync(s.agent, {Report(exec, "TRANSFERRING", false, at_unlimited)});
  const protocol::Command* bw = Find(r, Type::kSetBandwidth, exec);
  ASSERT_NE(bw, nullptr);
  EXPECT_EQ(bw->bytes_per_second, 1000);
  r = Sync(s.agent, {Report(exec, "TRANSFERRING", false,
                            {{"Options", {{"BytesPerSecond", 1000}}}})});
  EXPECT_TRUE(r.commands.empty());
}

TEST_P(AgentServiceTest, AnExecutionTheAgentLostEnds) {
  Setup s = OneAgentTask();
  std::string exec = Start(s.task);
  Dispatch();
  Sync(s.agent, {Report(exec, "TRANSFERRING", false)});
  Sync(s.agent);  // restarted: it no longer knows the execution
  ExecutionRecord e = Get(exec);
  EXPECT_EQ(e.status, "ERROR");
  EXPECT_EQ(e.describe["Result"]["ErrorCode"], "AgentRestarted");
  EXPECT_EQ(e.describe["Result"]["TransferStatus"], "ERROR");
}

// --- Dispatch ---

TEST_P(AgentServiceTest, OneExecutionPerTaskInStartOrder) {
  Setup s = OneAgentTask();
  std::string first = Start(s.task);
  std::string second = Start(s.task);
  std::string third = Start(s.task);
  std::string other_task = Start(AddTask(s.src, s.dst));
  Dispatch();
  EXPECT_EQ(Get(first).status, "LAUNCHING");
  EXPECT_EQ(Get(second).status, "QUEUED");
  EXPECT_EQ(Get(third).status, "QUEUED");
  EXPECT_EQ(Get(other_task).status, "LAUNCHING") << "tasks run side by side";
  Dispatch();
  EXPECT_EQ(Get(second).status, "QUEUED");
  Sync(s.agent,
       {Report(first, "SUCCESS", true), Report(other_task, "SUCCESS", true)});
  Dispatch();
  EXPECT_EQ(Get(second).status, "LAUNCHING");
  EXPECT_EQ(Get(third).status, "QUEUED");
}

TEST_P(AgentServiceTest, TheLeastBusyAgentGetsTheWork) {
  std::string a1 = AddAgent(), a2 = AddAgent();
  std::string src = AddLocation({a1, a2}), dst = AddLocation({a1, a2});
  Sync(a1);
  Sync(a2);
  std::string e1 = Start(AddTask(src, dst));
  std::string e2 = Start(AddTask(src, dst));
  std::string e3 = Start(AddTask(src, dst));
  Dispatch();
  EXPECT_NE(Get(e1).agent_arn, Get(e2).agent_arn);
  // Both have one; e3 goes to either, which then has two.
  EXPECT_FALSE(Get(e3).agent_arn.empty());
  // An offline agent is passed over.
  now_ += 30'000;
  Sync(a2);
  now_ += 31'000;  // a1 silent for 61 s
  std::string e4 = Start(AddTask(src, dst));
  Dispatch();
  EXPECT_EQ(Get(e4).agent_arn, a2);
}

TEST_P(AgentServiceTest, DifferentAgentsNeedALinkListenerAtTheDestination) {
  std::string a1 = AddAgent(), a2 = AddAgent();
  Sync(a1);
  Sync(a2);  // says no link address
  std::string exec = Start(AddTask(AddLocation({a1}), AddLocation({a2})));
  Dispatch();
  ExecutionRecord e = Get(exec);
  EXPECT_EQ(e.status, "ERROR");
  EXPECT_GT(e.end_ms, 0);
  EXPECT_EQ(e.describe["Result"]["ErrorCode"], "AgentsDiffer");
  const std::string detail = e.describe["Result"]["ErrorDetail"];
  EXPECT_NE(detail.find(a2), std::string::npos) << detail;
  EXPECT_NE(detail.find("--link-listen"), std::string::npos) << detail;
}

TEST_P(AgentServiceTest, DifferentAgentsRunOneExecutionOverALink) {
  std::string sender = AddAgent(), receiver = AddAgent();
  Sync(sender);
  protocol::SyncRequest hello;
  hello.link_address = "10.1.2.3:7447";
  ASSERT_TRUE(service_->Sync(ResourceId(receiver), hello).ok());
  std::string exec =
      Start(AddTask(AddLocation({sender}), AddLocation({receiver})));
  Dispatch();
  EXPECT_EQ(Get(exec).agent_arn, sender);
  EXPECT_EQ(Get(exec).status, "LAUNCHING");
  EXPECT_EQ(Get(exec).body["Link"]["ReceiverAgentArn"], receiver);

  // The sender runs it, told where the receiver listens.
  protocol::SyncResponse to_sender = Sync(sender);
  const protocol::Command* run = Find(to_sender, Type::kRunExecution, exec);
  ASSERT_NE(run, nullptr);
  ASSERT_TRUE(run->has_link);
  EXPECT_EQ(run->link.agent_arn, receiver);
  EXPECT_EQ(run->link.address, "10.1.2.3:7447");
  EXPECT_EQ(run->link.secret.size(), protocol::kLinkSecretBytes);

  // The receiver serves its destination, told who sends, with the same
  // secret; once it says it serves the link, no second ServeLink.
  auto receiver_sync = [&](std::vector<std::string> served) {
    protocol::SyncRequest r = hello;
    r.links_served = std::move(served);
    auto answer = service_->Sync(ResourceId(receiver), r);
    EXPECT_TRUE(answer.ok()) << answer.status().ToString();
    return answer.ok() ? *answer : protocol::SyncResponse();
  };
  protocol::SyncResponse to_receiver = receiver_sync({});
  const protocol::Command* serve = Find(to_receiver, Type::kServeLink, exec);
  ASSERT_NE(serve, nullptr);
  EXPECT_EQ(serve->link.agent_arn, sender);
  EXPECT_EQ(serve->link.secret, run->link.secret);
  EXPECT_EQ(serve->destination.type, run->destination.type);
  EXPECT_EQ(Find(receiver_sync({exec}), Type::kServeLink, exec), nullptr);

  // The sender's final report ends it; the receiver is told to stop.
  Sync(sender, {Report(exec, "SUCCESS", true)});
  EXPECT_EQ(Get(exec).status, "SUCCESS");
  EXPECT_NE(Find(receiver_sync({exec}), Type::kCancelExecution, exec), nullptr);
}

TEST_P(AgentServiceTest, ALinkWaitsForBothAgentsOnline) {
  std::string sender = AddAgent(), receiver = AddAgent();
  protocol::SyncRequest hello;
  hello.link_address = "10.1.2.3:7447";
  ASSERT_TRUE(service_->Sync(ResourceId(receiver), hello).ok());
  std::string exec =
      Start(AddTask(AddLocation({sender}), AddLocation({receiver})));
  Dispatch();  // the sender has never been heard
  EXPECT_EQ(Get(exec).status, "QUEUED");
  Sync(sender);
  Dispatch();
  EXPECT_EQ(Get(exec).status, "LAUNCHING");
}

TEST_P(AgentServiceTest, UnservedLocationTypesEndErrorNamingTheType) {
  std::string agent = AddAgent();
  Sync(agent);
  std::string exec =
      Start(AddTask(AddLocation({agent}, "HDFS"), AddLocation({agent})));
  Dispatch();
  ExecutionRecord e = Get(exec);
  EXPECT_EQ(e.status, "ERROR");
  EXPECT_EQ(e.describe["Result"]["ErrorCode"], "UnsupportedLocationType");
  const std::string detail = e.describe["Result"]["ErrorDetail"];
  EXPECT_NE(detail.find("HDFS"), std::string::npos) << detail;
}

// --- Offline agents ---

TEST_P(AgentServiceTest, ASilentAgentsExecutionsEndAgentOffline) {
  Setup s = OneAgentTask();
  std::string exec = Start(s.task);
  Dispatch();
  Sync(s.agent, {Report(exec, "TRANSFERRING", false)});
  now_ += 59'000;
  ASSERT_TRUE(service_->MonitorAgentsOnce().ok());
  EXPECT_EQ(Get(exec).status, "TRANSFERRING");
  now_ += 2'000;
  ASSERT_TRUE(service_->MonitorAgentsOnce().ok());
  ExecutionRecord e = Get(exec);
  EXPECT_EQ(e.status, "ERROR");
  EXPECT_EQ(e.describe["Result"]["ErrorCode"], "AgentOffline");
  const std::string detail = e.describe["Result"]["ErrorDetail"];
  EXPECT_NE(detail.find(s.agent), std::string::npos) << detail;
  EXPECT_NE(detail.find("2027-01-15T"), std::string::npos) << detail;
  // When the agent comes back and still runs it, it is told to stop.
  protocol::SyncResponse r =
      Sync(s.agent, {Report(exec, "TRANSFERRING", false)});
  EXPECT_NE(Find(r, Type::kCancelExecution, exec), nullptr);
  EXPECT_EQ(Get(exec).describe["Result"]["ErrorCode"], "AgentOffline");
}

// An execution whose agent went offline keeps what the agent last reported
// (counters, durations, the phases that had ended); the phases it was in
// fail: the listing overlaps the transfer, so TRANSFERRING fails the
// listing too if it had not ended.
TEST_P(AgentServiceTest, AnOfflineAgentsExecutionKeepsItsLastReport) {
  Setup s = OneAgentTask();
  struct Case {
    const char* status;
    json phases;       // the live Result's phase statuses
    json want_phases;  // after AgentOffline
  };
  const Case cases[] = {
      {"TRANSFERRING",
       {{"PrepareStatus", "SUCCESS"}},
       {{"PrepareStatus", "SUCCESS"},
        {"TransferStatus", "ERROR"},
        {"VerifyStatus", "PENDING"}}},
      {"TRANSFERRING",
       {{"PrepareStatus", "PENDING"}, {"TransferStatus", "PENDING"}},
       {{"PrepareStatus", "ERROR"},
        {"TransferStatus", "ERROR"},
        {"VerifyStatus", "PENDING"}}},
      {"PREPARING",
       {{"PrepareStatus", "PENDING"}},
       {{"PrepareStatus", "ERROR"},
        {"TransferStatus", "PENDING"},
        {"VerifyStatus", "PENDING"}}},
      {"VERIFYING",
       {{"PrepareStatus", "SUCCESS"},
        {"TransferStatus", "SUCCESS"},
        {"VerifyStatus", "PENDING"}},
       {{"PrepareStatus", "SUCCESS"},
        {"TransferStatus", "SUCCESS"},
        {"VerifyStatus", "ERROR"}}},
      // VerifyMode NONE: TRANSFERRING until the end, the transfer ended.
      {"TRANSFERRING",
       {{"PrepareStatus", "SUCCESS"}, {"TransferStatus", "SUCCESS"}},
       {{"PrepareStatus", "SUCCESS"},
        {"TransferStatus", "SUCCESS"},
        {"VerifyStatus", "ERROR"}}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.status) + " " + c.phases.dump());
    Sync(s.agent);  // online (again)
    const std::string exec = Start(AddTask(s.src, s.dst));
    Dispatch();
    json result = c.phases;
    result["PrepareDuration"] = 350;
    json live = {{"Status", c.status},
                 {"EstimatedFilesToTransfer", 40},
                 {"EstimatedBytesToTransfer", 4096000},
                 {"EstimatedFoldersToTransfer", 3},
                 {"FilesPrepared", 40},
                 {"FilesTransferred", 12},
                 {"BytesWritten", 1228800},
                 {"BytesTransferred", 1228800},
                 {"FilesListed", {{"AtSource", 40}}},
                 {"Result", result}};
    Sync(s.agent, {Report(exec, c.status, false, live)});
    // Served while it runs: the live phases as reported, and PENDING for
    // those the report leaves out.
    json d = DescribeExecution(Get(exec));
    EXPECT_EQ(d["Status"], c.status);
    for (const char* phase :
         {"PrepareStatus", "TransferStatus", "VerifyStatus"}) {
      EXPECT_EQ(d["Result"][phase], c.phases.value(phase, "PENDING")) << phase;
    }
    EXPECT_EQ(d["Result"]["PrepareDuration"], 350);
    EXPECT_EQ(d["FilesListed"]["AtSource"], 40);
    EXPECT_EQ(d["FilesListed"]["AtDestinationForDelete"], 0);

    now_ += 61'000;
    ASSERT_TRUE(service_->MonitorAgentsOnce().ok());
    d = DescribeExecution(Get(exec));
    EXPECT_EQ(d["Status"], "ERROR");
    EXPECT_EQ(d["Result"]["ErrorCode"], "AgentOffline");
    for (const char* phase :
         {"PrepareStatus", "TransferStatus", "VerifyStatus"}) {
      EXPECT_EQ(d["Result"][phase], c.want_phases[phase]) << phase;
    }
    EXPECT_EQ(d["Result"]["PrepareDuration"], 350);
    for (const char* counter :
         {"EstimatedFilesToTransfer", "EstimatedBytesToTransfer",
          "EstimatedFoldersToTransfer", "FilesPrepared", "FilesTransferred",
          "BytesWritten", "BytesTransferred"}) {
      EXPECT_EQ(d[counter], live[counter]) << counter;
    }
    EXPECT_EQ(d["FilesListed"]["AtSource"], 40);
    EXPECT_TRUE(d.contains("EndTime"));
  }
}

TEST_P(AgentServiceTest, ARestartedServerGivesAgentsTheWindowToReconnect) {
  Setup s = OneAgentTask();
  std::string exec = Start(s.task);
  Dispatch();
  Sync(s.agent, {Report(exec, "TRANSFERRING", false)});
  // The server is down for longer than the window, then comes back.
  now_ += 90'000;
  service_ = std::make_unique<AgentService>(&ctx_);
  ASSERT_TRUE(service_->MonitorAgentsOnce().ok());
  EXPECT_EQ(Get(exec).status, "TRANSFERRING");
  now_ += 59'000;
  ASSERT_TRUE(service_->MonitorAgentsOnce().ok());
  EXPECT_EQ(Get(exec).status, "TRANSFERRING");
  // The agent reconnects in time: the execution goes on.
  Sync(s.agent, {Report(exec, "TRANSFERRING", false)});
  now_ += 30'000;
  ASSERT_TRUE(service_->MonitorAgentsOnce().ok());
  EXPECT_EQ(Get(exec).status, "TRANSFERRING");
  // Silence past the window after that still ends it.
  now_ += 31'000;
  ASSERT_TRUE(service_->MonitorAgentsOnce().ok());
  EXPECT_EQ(Get(exec).describe["Result"]["ErrorCode"], "AgentOffline");
}

TEST_P(AgentServiceTest, ALaunchTheAgentNeverTookEnds) {
  Setup s = OneAgentTask();
  std::string exec = Start(s.task);
  Dispatch();
  for (int i = 0; i < 7; ++i) {
    now_ += 10'000;
    Sync(s.agent);  // online, but never reports the execution
  }
  ASSERT_TRUE(service_->MonitorAgentsOnce().ok());
  ExecutionRecord e = Get(exec);
  EXPECT_EQ(e.status, "ERROR");
  EXPECT_EQ(e.describe["Result"]["ErrorCode"], "LaunchTimeout");
}

// --- Schedules ---

TEST_P(AgentServiceTest, ADueScheduleStartsOneExecution) {
  Setup s = OneAgentTask();
  TaskRecord t = GetTask(s.task);
  t.body["Schedule"] = {{"ScheduleExpression", "rate(1 hour)"}};
  t.schedule_status = "ENABLED";
  t.schedule_anchor_ms = kServiceStart - 3'600'000;
  t.next_run_ms = kServiceStart;
  Tx([&](SqlSession& sql) { ASSERT_TRUE(ctx_.store.UpdateTask(sql, t).ok()); });

  ASSERT_TRUE(service_->RunSchedulesOnce().ok());
  ASSERT_TRUE(service_->RunSchedulesOnce().ok());
  std::vector<ExecutionRecord> execs;
  Tx([&](SqlSession& sql) {
    auto page = ctx_.store.ListExecutions(sql, s.task, "", 100);
    ASSERT_TRUE(page.ok());
    execs = page->items;
  });
  ASSERT_EQ(execs.size(), 1u);
  EXPECT_TRUE(execs[0].scheduled);
  EXPECT_EQ(execs[0].status, "QUEUED");
  EXPECT_EQ(GetTask(s.task).next_run_ms, kServiceStart + 3'600'000);
}

TEST_P(AgentServiceTest, RepeatedScheduledFailuresDisableTheSchedule) {
  Setup s = OneAgentTask();
  TaskRecord t = GetTask(s.task);
  t.body["Schedule"] = {{"ScheduleExpression", "rate(1 hour)"}};
  t.schedule_status = "ENABLED";
  t.schedule_anchor_ms = kServiceStart;
  t.next_run_ms = kServiceStart + 3'600'000;
  Tx([&](SqlSession& sql) { ASSERT_TRUE(ctx_.store.UpdateTask(sql, t).ok()); });

  auto run_and_end = [&](const std::string& status, bool scheduled = true) {
    std::string exec = Start(s.task, {}, scheduled);
    Dispatch();
    Sync(s.agent, {Report(exec, status, true,
                          {{"Result",
                            {{"ErrorCode", "SourceLocationError"},
                             {"ErrorDetail", "No such directory"}}}})});
    now_ += 1000;
    Sync(s.agent);  // stay online
  };
  run_and_end("ERROR");
  run_and_end("ERROR");
  EXPECT_EQ(GetTask(s.task).scheduled_failures, 2);
  run_and_end("SUCCESS");
  EXPECT_EQ(GetTask(s.task).scheduled_failures, 0) << "a success resets";
  run_and_end("ERROR");
  run_and_end("ERROR", /*scheduled=*/false);  // by hand: does not count
  run_and_end("ERROR");
  EXPECT_EQ(GetTask(s.task).schedule_status, "ENABLED");
  // The third failure in a row is noticed by the offline monitor.
  std::string exec = Start(s.task, {}, true);
  Dispatch();
  Sync(s.agent, {Report(exec, "TRANSFERRING", false)});
  now_ += 61'000;
  ASSERT_TRUE(service_->MonitorAgentsOnce().ok());
  TaskRecord after = GetTask(s.task);
  EXPECT_EQ(after.scheduled_failures, 3);
  EXPECT_EQ(after.schedule_status, "DISABLED");
  EXPECT_EQ(after.schedule_disabled_by, "SERVICE");
  EXPECT_NE(after.schedule_disabled_reason.find("3 scheduled executions"),
            std::string::npos)
      << after.schedule_disabled_reason;
  EXPECT_NE(after.schedule_disabled_reason.find("AgentOffline"),
            std::string::npos)
      << after.schedule_disabled_reason;
  EXPECT_EQ(after.next_run_ms, 0);
}

TEST_P(AgentServiceTest, TheBackgroundLoopDispatches) {
  ctx_.config.tick = std::chrono::milliseconds(20);
  Setup s = OneAgentTask();
  std::string exec = Start(s.task);
  service_->Start();
  // Polls (the loop has no hook to wait on) until the first tick dispatched
  // it; a loop that never runs fails here after 30 s.
  const auto until =
      std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (Get(exec).status == "QUEUED" &&
         std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  service_->Stop();
  EXPECT_EQ(Get(exec).status, "LAUNCHING")
      << "the background loop did not dispatch the queued execution";
}

INSTANTIATE_TEST_SUITE_P(Backends, AgentServiceTest,
                         ::testing::Values(Backend::kSqlite,
                                           Backend::kPostgres),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                           return testing::BackendName(info.param);
                         });

}  // namespace
}  // namespace ferry::control
