// A ServerContext over a fresh database (SQLite or PostgreSQL) with the API
// registry, a clock the test moves, and helpers that make agents, locations
// and tasks. Call() validates the request against the model as the HTTP
// layer does, runs the handler, and checks every successful response
// against the model's output shape.
#pragma once

#include <gtest/gtest.h>

#include <variant>

#include "ferry/control/server/api.h"
#include "ferry/control/store/test_database.h"
#include "ferry/pki/pki.h"

namespace ferry::control::testing {

class ApiTest : public ::testing::TestWithParam<Backend> {
 protected:
  static constexpr int64_t kStartMs = 1'700'000'000'000;

  void SetUp() override {
    auto t = TestDatabase::Create(GetParam());
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    test_db_ = std::move(*t);
    ctx_.db = std::move(test_db_->db);
    std::array<unsigned char, 32> key{};
    key[0] = 7;
    ctx_.sealer = Sealer::FromKey(key);
    ASSERT_TRUE(Migrate(*ctx_.db, StateStore::Migrations(*ctx_.sealer)).ok());
    ctx_.authority = Authority();
    ctx_.now_ms = [this] { return now_ms_; };
    apis_ = AllApis();
  }

  void TearDown() override { test_db_->db = std::move(ctx_.db); }

  static const pki::KeyAndCertificate& Authority() {
    static const pki::KeyAndCertificate* ca = [] {
      auto made = pki::CreateAuthority("ferry test CA", 30);
      EXPECT_TRUE(made.ok()) << made.status().ToString();
      return new pki::KeyAndCertificate(made.ok() ? *made
                                                  : pki::KeyAndCertificate());
    }();
    return *ca;
  }

  // Runs an operation as the HTTP layer would (model validation first).
  std::variant<nlohmann::json, ApiError> Call(const std::string& op,
                                              const nlohmann::json& request) {
    const ApiModel& model = ApiModel::DataSync();
    if (auto e = model.ValidateInput(op, request)) return *e;
    auto handler = apis_.find(op);
    EXPECT_NE(handler, apis_.end()) << op;
    if (handler == apis_.end()) return ApiError{};
    ApiCall call{ctx_, op, "AKFRTEST", request};
    ApiResult result = handler->second(call);
    if (auto* json = std::get_if<nlohmann::json>(&result)) {
      for (const std::string& v : model.ValidateOutput(op, *json)) {
        ADD_FAILURE() << op << " response breaks the model: " << v << "\n"
                      << json->dump();
      }
    }
    return result;
  }

  // Expects success and returns the response.
  nlohmann::json Ok(const std::string& op, const nlohmann::json& request) {
    auto r = Call(op, request);
    if (auto* e = std::get_if<ApiError>(&r)) {
      ADD_FAILURE() << op << " failed: " << e->type << ": " << e->message;
      return nlohmann::json::object();
    }
    return std::get<nlohmann::json>(r);
  }

  // Expects an error and returns it.
  ApiError Err(const std::string& op, const nlohmann::json& request) {
    auto r = Call(op, request);
    if (auto* j = std::get_if<nlohmann::json>(&r)) {
      ADD_FAILURE() << op << " succeeded: " << j->dump();
      return ApiError{};
    }
    return std::get<ApiError>(r);
  }

  std::string Arn(const std::string& resource) const {
    return ctx_.Arn(resource);
  }

  // An agent asks for activation (as AgentService records it).
  std::string Activation(int64_t expires_in_ms = 30 * 60 * 1000) {
    auto request = pki::CreateRequest("agent");
    EXPECT_TRUE(request.ok());
    ActivationRecord a;
    static int n = 0;
    char key[32];
    std::snprintf(key, sizeof(key), "AAAAA-BBBBB-CCCCC-DDDDD-%05d", n++);
    a.activation_key = key;
    a.poll_token_hash = "hash";
    a.csr_pem = request->request_pem;
    a.hostname = "nas-gateway-1";
    a.version = "0.1.0";
    a.created_ms = now_ms_;
    a.expires_ms = now_ms_ + expires_in_ms;
    Status st = ctx_.db->Transaction(
        [&](SqlSession& s) { return ctx_.store.PutActivation(s, a); });
    EXPECT_TRUE(st.ok()) << st.ToString();
    return a.activation_key;
  }

  std::string NewAgent(const std::string& name = "gateway") {
    auto r = Ok("CreateAgent",
                {{"ActivationKey", Activation()}, {"AgentName", name}});
    return r.value("AgentArn", "");
  }

  // Marks an agent as heard from now.
  void Heartbeat(const std::string& agent_arn) {
    Status st = ctx_.db->Transaction([&](SqlSession& s) -> Status {
      FERRY_ASSIGN_OR_RETURN(auto agent, ctx_.store.GetAgent(s, agent_arn));
      if (!agent) return Status::NotFound(agent_arn);
      agent->last_seen_ms = now_ms_;
      return ctx_.store.UpdateAgent(s, *agent);
    });
    ASSERT_TRUE(st.ok()) << st.ToString();
  }

  std::string NewLocalLocation(const std::string& agent_arn,
                               const std::string& path) {
    auto r =
        Ok("CreateLocationLocal", {{"Path", path}, {"AgentArns", {agent_arn}}});
    return r.value("LocationArn", "");
  }

  std::string NewTask(const std::string& src, const std::string& dst,
                      const nlohmann::json& extra = nlohmann::json::object()) {
    nlohmann::json request = {{"SourceLocationArn", src},
                              {"DestinationLocationArn", dst}};
    for (const auto& [k, v] : extra.items()) request[k] = v;
    return Ok("CreateTask", request).value("TaskArn", "");
  }

  // Sets an execution's stored record (as AgentService would).
  void Mutate(const std::string& execution_arn,
              const std::function<void(ExecutionRecord&)>& fn) {
    Status st = ctx_.db->Transaction([&](SqlSession& s) -> Status {
      FERRY_ASSIGN_OR_RETURN(auto e, ctx_.store.GetExecution(s, execution_arn));
      if (!e) return Status::NotFound(execution_arn);
      fn(*e);
      return ctx_.store.UpdateExecution(s, *e);
    });
    ASSERT_TRUE(st.ok()) << st.ToString();
  }

  std::unique_ptr<TestDatabase> test_db_;
  ServerContext ctx_;
  ApiRegistry apis_;
  int64_t now_ms_ = kStartMs;
};

}  // namespace ferry::control::testing
