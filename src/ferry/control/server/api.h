// The API handlers of `ferry server`: one function per DataSync operation,
// registered by name in an ApiRegistry that the HTTP layer dispatches to after
// it has authenticated the caller (SigV4) and validated the request against
// the model. A handler reads and writes state through the StateStore in
// transactions, and returns the response JSON or an ApiError in DataSync's
// shape. Handlers are grouped by resource, one file each: api_agents.cc,
// api_locations.cc, api_tasks.cc, api_executions.cc, api_tags.cc,
// api_execution_logs.cc.
// Thread-safe: handlers keep no state of their own.
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <variant>

#include "ferry/control/model/api_model.h"
#include "ferry/control/server/server_context.h"

namespace ferry::control {

using ApiResult = std::variant<nlohmann::json, ApiError>;

struct ApiCall {
  ServerContext& ctx;
  std::string operation;
  std::string access_key_id;  // who is calling
  nlohmann::json request;     // validated against the model
};

using ApiHandler = std::function<ApiResult(ApiCall&)>;
using ApiRegistry = std::map<std::string, ApiHandler>;

// Each adds its operations' handlers.
void RegisterAgentApis(ApiRegistry* registry);
void RegisterLocationApis(ApiRegistry* registry);
void RegisterTaskApis(ApiRegistry* registry);
void RegisterExecutionApis(ApiRegistry* registry);
void RegisterTagApis(ApiRegistry* registry);
void RegisterExecutionLogApis(ApiRegistry* registry);  // GetTaskExecutionLogs
ApiRegistry AllApis();

// Errors in DataSync's shape.
ApiError InvalidRequest(std::string message, std::string error_code = "");
ApiError NotFound(
    const std::string& what);  // InvalidRequestException, as DataSync answers
ApiError Internal(const Status& status);  // InternalException (HTTP 500)
// An internal failure of the state layer, as an ApiResult.
inline ApiResult FromStatus(const Status& s) { return Internal(s); }

// Opaque NextToken <-> page key of the List operation `list` ("ListAgents",
// ...): URL-safe base64 of "LIST:KEY", no padding. Decoding an empty token
// gives "" (the first page); anything but a token `list` returned (not
// base64, another operation's, a key that is empty, not UTF-8 or holds a
// NUL byte) is refused with InvalidArgument and a message for the caller.
std::string EncodeNextToken(std::string_view list, const std::string& key);
// The message that refuses a NextToken `list` did not return.
std::string InvalidNextTokenMessage(std::string_view list);
Result<std::string> DecodeNextToken(std::string_view list,
                                    const std::string& token);
// MaxResults (1-100, default 100).
int PageSize(const nlohmann::json& request);

}  // namespace ferry::control
