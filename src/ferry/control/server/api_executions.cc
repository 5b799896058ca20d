// Executions: StartTaskExecution, DescribeTaskExecution, ListTaskExecutions,
// UpdateTaskExecution, CancelTaskExecution.
#include "ferry/control/server/api.h"
#include "ferry/control/server/api_helpers.h"
#include "ferry/control/server/execution_control.h"
#include "ferry/options/task_options.h"

namespace ferry::control {
namespace {

using nlohmann::json;

ApiResult StartTaskExecution(ApiCall& call) {
  auto started = StartExecution(call.ctx, Str(call.request, "TaskArn"),
                                call.request, /*scheduled=*/false);
  if (auto* e = std::get_if<ApiError>(&started)) return *e;
  return json{{"TaskExecutionArn", std::get<std::string>(started)}};
}

ApiResult WithExecution(
    ApiCall& call,
    const std::function<ApiResult(SqlSession&, ExecutionRecord&)>& fn) {
  const std::string arn = Str(call.request, "TaskExecutionArn");
  if (auto e = CheckArnScope(call.ctx, arn)) return *e;
  return InTransaction(call.ctx, [&](SqlSession& s) -> ApiResult {
    FERRY_API_ASSIGN_OR_RETURN(auto e, call.ctx.store.GetExecution(s, arn));
    if (!e) return ExecutionNotFound(arn);
    return fn(s, *e);
  });
}

// The counters DescribeTaskExecution always has (0 until the agent reports
// them).
const json& ZeroCounters() {
  static const json* zero = new json{
      {"EstimatedFilesToTransfer", 0},
      {"EstimatedBytesToTransfer", 0},
      {"EstimatedFilesToDelete", 0},
      {"FilesTransferred", 0},
      {"BytesWritten", 0},
      {"BytesTransferred", 0},
      {"BytesCompressed", 0},
      {"FilesDeleted", 0},
      {"FilesSkipped", 0},
      {"FilesVerified", 0},
      {"FilesPrepared", 0},
      {"FilesListed", {{"AtSource", 0}, {"AtDestinationForDelete", 0}}},
      {"FilesFailed",
       {{"Prepare", 0}, {"Transfer", 0}, {"Verify", 0}, {"Delete", 0}}},
      {"EstimatedFoldersToDelete", 0},
      {"EstimatedFoldersToTransfer", 0},
      {"FoldersSkipped", 0},
      {"FoldersPrepared", 0},
      {"FoldersTransferred", 0},
      {"FoldersVerified", 0},
      {"FoldersDeleted", 0},
      {"FoldersListed", {{"AtSource", 0}, {"AtDestinationForDelete", 0}}},
      {"FoldersFailed",
       {{"List", 0},
        {"Prepare", 0},
        {"Transfer", 0},
        {"Verify", 0},
        {"Delete", 0}}},
      {"Result",
       {{"PrepareStatus", "PENDING"},
        {"TransferStatus", "PENDING"},
        {"VerifyStatus", "PENDING"}}}};
  return *zero;
}

}  // namespace

// The stored record merged with the agent's last report: what the server
// decides (status, settings, times) wins over what the agent said.
json DescribeExecution(const ExecutionRecord& e) {
  const ApiModel& model = ApiModel::DataSync();
  static const std::vector<std::string> members =
      model.MemberNames(model.OutputShape("DescribeTaskExecution"));
  json out = ZeroCounters();
  if (e.describe.is_object()) {
    for (const auto& [member, value] : e.describe.items()) {
      // Only members of the response shape: a report from a newer agent
      // must not break the response.
      if (std::find(members.begin(), members.end(), member) == members.end())
        continue;
      json& slot = out[member];
      if (slot.is_object() && value.is_object()) {
        // A structure (Result, FilesListed, ...) keeps the members the
        // report leaves out as they are above (PENDING, 0): a live Result
        // shows the phases that ended next to those still PENDING.
        for (const auto& [name, inner] : value.items()) slot[name] = inner;
      } else {
        slot = value;
      }
    }
  }
  out["TaskExecutionArn"] = e.arn;
  out["Status"] = e.status;
  json options = e.body.value("Options", json::object());
  options["BytesPerSecond"] = e.bytes_per_second;
  out["Options"] = options;
  out["Includes"] = e.body.value("Includes", json::array());
  out["Excludes"] = e.body.value("Excludes", json::array());
  for (const char* member : {"ManifestConfig", "TaskReportConfig"}) {
    if (e.body.contains(member)) out[member] = e.body[member];
  }
  out["TaskMode"] = e.body.value("TaskMode", "BASIC");
  out["StartTime"] = EpochSeconds(e.start_ms);
  if (e.launch_ms > 0) {
    out["LaunchTime"] = EpochSeconds(e.launch_ms);
  } else {
    out.erase("LaunchTime");
  }
  if (e.end_ms > 0) {
    out["EndTime"] = EpochSeconds(e.end_ms);
  } else {
    out.erase("EndTime");
  }
  return out;
}

namespace {

ApiResult DescribeTaskExecution(ApiCall& call) {
  return WithExecution(call, [](SqlSession&, ExecutionRecord& e) -> ApiResult {
    return DescribeExecution(e);
  });
}

ApiResult ListTaskExecutions(ApiCall& call) {
  ServerContext& ctx = call.ctx;
  const std::string task_arn = Str(call.request, "TaskArn");
  if (!task_arn.empty()) {
    if (auto e = CheckArnScope(ctx, task_arn)) return *e;
  }
  auto after =
      DecodeNextToken("ListTaskExecutions", Str(call.request, "NextToken"));
  if (!after.ok()) return InvalidRequest(std::string(after.status().message()));
  // The page key is an execution's sequence number.
  if (after->size() > 18 ||
      after->find_first_not_of("0123456789") != std::string::npos) {
    return InvalidRequest(InvalidNextTokenMessage("ListTaskExecutions"));
  }
  const int limit = PageSize(call.request);
  return InTransaction(ctx, [&](SqlSession& s) -> ApiResult {
    if (!task_arn.empty()) {
      FERRY_API_ASSIGN_OR_RETURN(auto task, ctx.store.GetTask(s, task_arn));
      if (!task) return TaskNotFound(task_arn);
    }
    auto page = ctx.store.ListExecutions(s, task_arn, *after, limit);
    if (!page.ok()) {
      if (page.status().code() == StatusCode::kInvalidArgument) {
        return InvalidRequest(InvalidNextTokenMessage("ListTaskExecutions"));
      }
      return Internal(page.status());
    }
    json executions = json::array();
    for (const ExecutionRecord& e : page->items) {
      executions.push_back({{"TaskExecutionArn", e.arn},
                            {"Status", e.status},
                            {"TaskMode", e.body.value("TaskMode", "BASIC")}});
    }
    json out = {{"TaskExecutions", executions}};
    if (!page->next_key.empty()) {
      out["NextToken"] = EncodeNextToken("ListTaskExecutions", page->next_key);
    }
    return out;
  });
}

// Once a change to a running execution is committed, its agent hears of it
// at once (else at the server's next tick).
void TellAgent(ServerContext& ctx, const ApiResult& result,
               const std::string& agent_arn) {
  if (agent_arn.empty() || !std::holds_alternative<json>(result)) return;
  if (ctx.signals.agent_has_work) ctx.signals.agent_has_work(agent_arn);
}

ApiResult UpdateTaskExecution(ApiCall& call) {
  const json options = call.request.value("Options", json::object());
  if (options.size() != 1 || !options.contains("BytesPerSecond")) {
    return InvalidRequest(
        "Currently, the only Option that you can modify with "
        "UpdateTaskExecution is BytesPerSecond.");
  }
  TaskOptions parsed;
  Status st =
      parsed.Set("BytesPerSecond",
                 std::to_string(options["BytesPerSecond"].get<int64_t>()));
  if (st.ok()) st = parsed.Validate();
  if (!st.ok()) return InvalidRequest(std::string(st.message()));
  std::string agent;  // running it, to be told
  ApiResult result =
      WithExecution(call, [&](SqlSession& s, ExecutionRecord& e) -> ApiResult {
        if (IsFinalStatus(e.status)) {
          return InvalidRequest("Task execution " + e.arn + " has ended (" +
                                e.status +
                                "): only a queued or running execution can be "
                                "updated.");
        }
        e.bytes_per_second = parsed.bytes_per_second;
        e.body["Options"]["BytesPerSecond"] = parsed.bytes_per_second;
        FERRY_API_RETURN_IF_ERROR(call.ctx.store.UpdateExecution(s, e));
        agent = e.agent_arn;
        return json::object();
      });
  TellAgent(call.ctx, result, agent);
  return result;
}

ApiResult CancelTaskExecution(ApiCall& call) {
  ServerContext& ctx = call.ctx;
  std::string agent;  // running it, to be told
  ApiResult result =
      WithExecution(call, [&](SqlSession& s, ExecutionRecord& e) -> ApiResult {
        if (IsFinalStatus(e.status)) {
          return InvalidRequest(
              "Task execution " + e.arn +
              " cannot be cancelled in its current status: " + e.status + ".");
        }
        if (e.status == "QUEUED") {
          // Nothing ran: it ends now.
          e.status = "ERROR";
          e.end_ms = ctx.now_ms();
          if (!e.describe.is_object()) e.describe = json::object();
          e.describe["Result"] = {
              {"PrepareStatus", "PENDING"},
              {"TransferStatus", "PENDING"},
              {"VerifyStatus", "PENDING"},
              {"TotalDuration", 0},
              {"ErrorCode", "OperationCanceled"},
              {"ErrorDetail",
               "The task execution was cancelled before it started."}};
        } else {
          // The agent running it stops it and reports the end.
          e.cancel_requested = true;
          e.status = "CANCELLING";
          agent = e.agent_arn;
        }
        FERRY_API_RETURN_IF_ERROR(ctx.store.UpdateExecution(s, e));
        return json::object();
      });
  TellAgent(ctx, result, agent);
  return result;
}

}  // namespace

void RegisterExecutionApis(ApiRegistry* registry) {
  (*registry)["StartTaskExecution"] = StartTaskExecution;
  (*registry)["DescribeTaskExecution"] = DescribeTaskExecution;
  (*registry)["ListTaskExecutions"] = ListTaskExecutions;
  (*registry)["UpdateTaskExecution"] = UpdateTaskExecution;
  (*registry)["CancelTaskExecution"] = CancelTaskExecution;
}

}  // namespace ferry::control
