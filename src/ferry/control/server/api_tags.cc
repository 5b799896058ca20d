// Tags: TagResource, UntagResource, ListTagsForResource on agents,
// locations, tasks and task executions.
#include "ferry/control/server/api.h"
#include "ferry/control/server/api_helpers.h"

namespace ferry::control {
namespace {

using nlohmann::json;

// Checks that the resource exists; returns the error to send if not.
ApiResult CheckResource(ServerContext& ctx, SqlSession& s,
                        const std::string& arn) {
  switch (KindOfArn(arn)) {
    case ArnKind::kAgent: {
      FERRY_API_ASSIGN_OR_RETURN(auto r, ctx.store.GetAgent(s, arn));
      if (!r) return AgentNotFound(arn);
      break;
    }
    case ArnKind::kLocation: {
      FERRY_API_ASSIGN_OR_RETURN(auto r, ctx.store.GetLocation(s, arn));
      if (!r) return LocationNotFound(arn);
      break;
    }
    case ArnKind::kTask: {
      FERRY_API_ASSIGN_OR_RETURN(auto r, ctx.store.GetTask(s, arn));
      if (!r) return TaskNotFound(arn);
      break;
    }
    case ArnKind::kExecution: {
      FERRY_API_ASSIGN_OR_RETURN(auto r, ctx.store.GetExecution(s, arn));
      if (!r) return ExecutionNotFound(arn);
      break;
    }
    case ArnKind::kOther:
      return NotFound("Resource " + arn);
  }
  return json::object();
}

ApiResult WithResource(
    ApiCall& call,
    const std::function<ApiResult(SqlSession&, const std::string&)>& fn) {
  const std::string arn = Str(call.request, "ResourceArn");
  if (auto e = CheckArnScope(call.ctx, arn)) return *e;
  return InTransaction(call.ctx, [&](SqlSession& s) -> ApiResult {
    ApiResult found = CheckResource(call.ctx, s, arn);
    if (std::holds_alternative<ApiError>(found)) return found;
    return fn(s, arn);
  });
}

ApiResult TagResource(ApiCall& call) {
  auto tags = TagsFromRequest(call.request.value("Tags", json::array()));
  return WithResource(call, [&](SqlSession& s, const std::string& arn) {
    return AddTags(call.ctx, s, arn, tags);
  });
}

ApiResult UntagResource(ApiCall& call) {
  std::vector<std::string> keys;
  for (const json& k : call.request.value("Keys", json::array())) {
    if (k.is_string()) keys.push_back(k.get<std::string>());
  }
  return WithResource(
      call, [&](SqlSession& s, const std::string& arn) -> ApiResult {
        FERRY_API_RETURN_IF_ERROR(call.ctx.store.RemoveTags(s, arn, keys));
        return json::object();
      });
}

ApiResult ListTagsForResource(ApiCall& call) {
  auto after =
      DecodeNextToken("ListTagsForResource", Str(call.request, "NextToken"));
  if (!after.ok()) return InvalidRequest(std::string(after.status().message()));
  const int limit = PageSize(call.request);
  return WithResource(
      call, [&](SqlSession& s, const std::string& arn) -> ApiResult {
        FERRY_API_ASSIGN_OR_RETURN(
            auto page, call.ctx.store.ListTags(s, arn, *after, limit));
        json tags = json::array();
        for (const auto& [key, value] : page.items) {
          json tag = {{"Key", key}};
          if (!value.empty()) tag["Value"] = value;  // TagValue is never ""
          tags.push_back(std::move(tag));
        }
        json out = {{"Tags", tags}};
        if (!page.next_key.empty())
          out["NextToken"] =
              EncodeNextToken("ListTagsForResource", page.next_key);
        return out;
      });
}

}  // namespace

void RegisterTagApis(ApiRegistry* registry) {
  (*registry)["TagResource"] = TagResource;
  (*registry)["UntagResource"] = UntagResource;
  (*registry)["ListTagsForResource"] = ListTagsForResource;
}

}  // namespace ferry::control
