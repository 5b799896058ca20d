// Agents: CreateAgent (activation with a key an agent obtained from
// /agent/v1/activation), DescribeAgent, ListAgents, UpdateAgent, DeleteAgent.
#include "ferry/control/server/api.h"
#include "ferry/control/server/api_helpers.h"
#include "ferry/control/server/execution_control.h"

namespace ferry::control {
namespace {

using nlohmann::json;

// Agent certificates are valid this long; an agent is activated again (a new
// key, CreateAgent) to get a new one.
constexpr int kAgentCertificateDays = 3650;

json Platform(const AgentRecord& agent) {
  json platform = json::object();
  if (!agent.version.empty()) platform["Version"] = agent.version;
  return platform;
}

ApiResult CreateAgent(ApiCall& call) {
  ServerContext& ctx = call.ctx;
  const std::string key = Str(call.request, "ActivationKey");
  auto tags = TagsFromRequest(call.request.value("Tags", json::array()));
  return InTransaction(ctx, [&](SqlSession& s) -> ApiResult {
    FERRY_API_ASSIGN_OR_RETURN(auto activation,
                               ctx.store.GetActivation(s, key));
    if (!activation) {
      return InvalidRequest(
          "The activation key " + key +
          " is not valid: no agent asked for it, or it expired, or it was "
          "dropped because more than " +
          std::to_string(ctx.config.activation.max_pending) +
          " keys waited for CreateAgent (the agent then asks for a new "
          "one).");
    }
    if (!activation->agent_arn.empty()) {
      return InvalidRequest("The activation key " + key +
                            " has already been used to create agent " +
                            activation->agent_arn + ".");
    }
    if (ctx.now_ms() > activation->expires_ms) {
      return InvalidRequest(
          "The activation key " + key +
          " has expired (keys are valid for 30 minutes): restart the "
          "agent to get a new one.");
    }
    const std::string id = ServerContext::NewId("agent");
    auto certificate = pki::SignClientRequest(
        ctx.authority, activation->csr_pem, id, kAgentCertificateDays);
    if (!certificate.ok()) {
      return InvalidRequest(
          "The certificate request of the agent that asked for activation "
          "key " +
          key + " is not valid.");
    }
    AgentRecord agent;
    agent.arn = ctx.Arn("agent/" + id);
    agent.name = Str(call.request, "AgentName");
    agent.hostname = activation->hostname;
    agent.version = activation->version;
    agent.certificate_pem = *certificate;
    agent.created_ms = ctx.now_ms();
    FERRY_API_RETURN_IF_ERROR(ctx.store.PutAgent(s, agent));
    activation->agent_arn = agent.arn;
    activation->certificate_pem = *certificate;
    FERRY_API_RETURN_IF_ERROR(ctx.store.UpdateActivation(s, *activation));
    ApiResult tagged = AddTags(ctx, s, agent.arn, tags);
    if (std::holds_alternative<ApiError>(tagged)) return tagged;
    return json{{"AgentArn", agent.arn}};
  });
}

// Reads an agent named by the request's AgentArn.
ApiResult WithAgent(
    ApiCall& call,
    const std::function<ApiResult(SqlSession&, AgentRecord&)>& fn) {
  const std::string arn = Str(call.request, "AgentArn");
  if (auto e = CheckArnScope(call.ctx, arn)) return *e;
  return InTransaction(call.ctx, [&](SqlSession& s) -> ApiResult {
    FERRY_API_ASSIGN_OR_RETURN(auto agent, call.ctx.store.GetAgent(s, arn));
    if (!agent) return AgentNotFound(arn);
    return fn(s, *agent);
  });
}

ApiResult DescribeAgent(ApiCall& call) {
  return WithAgent(call, [&](SqlSession&, AgentRecord& agent) -> ApiResult {
    json out = {{"AgentArn", agent.arn},
                {"Status", AgentOnline(call.ctx, agent) ? "ONLINE" : "OFFLINE"},
                {"CreationTime", EpochSeconds(agent.created_ms)},
                {"EndpointType", "PUBLIC"},
                {"Platform", Platform(agent)}};
    if (!agent.name.empty()) out["Name"] = agent.name;
    if (agent.last_seen_ms > 0) {
      out["LastConnectionTime"] = EpochSeconds(agent.last_seen_ms);
    }
    return out;
  });
}

ApiResult ListAgents(ApiCall& call) {
  ServerContext& ctx = call.ctx;
  auto after = DecodeNextToken("ListAgents", Str(call.request, "NextToken"));
  if (!after.ok()) return InvalidRequest(std::string(after.status().message()));
  const int limit = PageSize(call.request);
  return InTransaction(ctx, [&](SqlSession& s) -> ApiResult {
    FERRY_API_ASSIGN_OR_RETURN(auto page,
                               ctx.store.ListAgents(s, *after, limit));
    json agents = json::array();
    for (const AgentRecord& agent : page.items) {
      json entry = {{"AgentArn", agent.arn},
                    {"Status", AgentOnline(ctx, agent) ? "ONLINE" : "OFFLINE"},
                    {"Platform", Platform(agent)}};
      if (!agent.name.empty()) entry["Name"] = agent.name;
      agents.push_back(std::move(entry));
    }
    json out = {{"Agents", agents}};
    if (!page.next_key.empty())
      out["NextToken"] = EncodeNextToken("ListAgents", page.next_key);
    return out;
  });
}

ApiResult UpdateAgent(ApiCall& call) {
  return WithAgent(call, [&](SqlSession& s, AgentRecord& agent) -> ApiResult {
    if (call.request.contains("Name")) agent.name = Str(call.request, "Name");
    FERRY_API_RETURN_IF_ERROR(call.ctx.store.UpdateAgent(s, agent));
    return json::object();
  });
}

ApiResult DeleteAgent(ApiCall& call) {
  std::string deleted;
  ApiResult result =
      WithAgent(call, [&](SqlSession& s, AgentRecord& agent) -> ApiResult {
        // A location names the agents that reach its storage; removing one
        // under it would leave the location unusable, so the locations go (or
        // move to other agents) first.
        FERRY_API_ASSIGN_OR_RETURN(
            auto locations, call.ctx.store.LocationsOfAgent(s, agent.arn));
        if (!locations.empty()) {
          std::string list;
          for (const std::string& l : locations) {
            list += (list.empty() ? "" : ", ") + l;
          }
          return InvalidRequest("Agent " + agent.arn +
                                " is used by location(s) " + list +
                                ": delete them, or update them to use other "
                                "agents, first.");
        }
        FERRY_API_ASSIGN_OR_RETURN(
            auto running, call.ctx.store.ExecutionsOfAgent(s, agent.arn));
        if (!running.empty()) {
          return InvalidRequest("Agent " + agent.arn +
                                " is running task execution " +
                                running.front().arn +
                                ": cancel it, or wait for it to end, first.");
        }
        FERRY_API_RETURN_IF_ERROR(call.ctx.store.DeleteAgent(s, agent.arn));
        deleted = agent.arn;
        return json::object();
      });
  // Its certificate is useless from now on: a channel it holds is closed
  // (the agent service finds it unknown).
  if (!deleted.empty() && call.ctx.signals.agent_has_work) {
    call.ctx.signals.agent_has_work(deleted);
  }
  return result;
}

}  // namespace

void RegisterAgentApis(ApiRegistry* registry) {
  (*registry)["CreateAgent"] = CreateAgent;
  (*registry)["DescribeAgent"] = DescribeAgent;
  (*registry)["ListAgents"] = ListAgents;
  (*registry)["UpdateAgent"] = UpdateAgent;
  (*registry)["DeleteAgent"] = DeleteAgent;
}

}  // namespace ferry::control
