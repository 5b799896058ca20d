#include "ferry/control/server/execution_control.h"

#include "ferry/control/server/api.h"
#include "ferry/control/server/api_helpers.h"

namespace ferry::control {

using nlohmann::json;

bool IsFinalStatus(const std::string& status) {
  return status == "SUCCESS" || status == "ERROR";
}

bool IsRunningStatus(const std::string& status) {
  return status == "LAUNCHING" || status == "PREPARING" ||
         status == "TRANSFERRING" || status == "VERIFYING" ||
         status == "CANCELLING";
}

bool AgentOnline(const ServerContext& ctx, const AgentRecord& agent) {
  if (agent.last_seen_ms <= 0) return false;
  const int64_t window = std::chrono::duration_cast<std::chrono::milliseconds>(
                             ctx.config.agent_offline_after)
                             .count();
  return ctx.now_ms() - agent.last_seen_ms <= window;
}

Result<std::string> TaskStatus(ServerContext& ctx, SqlSession& s,
                               const TaskRecord& task) {
  FERRY_ASSIGN_OR_RETURN(auto active,
                         ctx.store.ActiveExecutionsOfTask(s, task.arn));
  bool queued = false;
  for (const ExecutionRecord& e : active) {
    if (IsRunningStatus(e.status)) return std::string("RUNNING");
    if (e.status == "QUEUED") queued = true;
  }
  if (queued) return std::string("QUEUED");
  if (!task.error_code.empty()) return std::string("UNAVAILABLE");
  for (const std::string& location_arn :
       {task.source_arn, task.destination_arn}) {
    FERRY_ASSIGN_OR_RETURN(auto location,
                           ctx.store.GetLocation(s, location_arn));
    if (!location) return std::string("UNAVAILABLE");
    for (const std::string& agent_arn : location->agent_arns) {
      FERRY_ASSIGN_OR_RETURN(auto agent, ctx.store.GetAgent(s, agent_arn));
      if (!agent || !AgentOnline(ctx, *agent)) {
        return std::string("UNAVAILABLE");
      }
    }
  }
  return std::string("AVAILABLE");
}

namespace {

// The member of `overrides` if present (even empty), else the task's.
json Pick(const json& overrides, const json& task_body, const char* member,
          const char* override_member = nullptr) {
  const char* from = override_member ? override_member : member;
  if (overrides.is_object() && overrides.contains(from)) {
    return overrides[from];
  }
  if (task_body.contains(member)) return task_body[member];
  return json();
}

}  // namespace

std::variant<std::string, ApiError> StartExecution(ServerContext& ctx,
                                                   const std::string& task_arn,
                                                   const json& overrides,
                                                   bool scheduled) {
  if (auto e = CheckArnScope(ctx, task_arn)) return *e;
  ApiResult result = InTransaction(ctx, [&](SqlSession& s) -> ApiResult {
    FERRY_API_ASSIGN_OR_RETURN(auto task, ctx.store.GetTask(s, task_arn));
    if (!task) return TaskNotFound(task_arn);
    for (const std::string& location_arn :
         {task->source_arn, task->destination_arn}) {
      FERRY_API_ASSIGN_OR_RETURN(auto location,
                                 ctx.store.GetLocation(s, location_arn));
      if (!location) return LocationNotFound(location_arn);
    }

    // The effective settings of this execution.
    json options_base =
        task->body.contains("Options") ? task->body["Options"] : json::object();
    json given = overrides.is_object() && overrides.contains("OverrideOptions")
                     ? overrides["OverrideOptions"]
                     : json::object();
    auto options = MergeOptions(options_base, given);
    if (auto* e = std::get_if<ApiError>(&options)) return *e;
    json body = json::object();
    body["Options"] = std::get<json>(options);
    for (const char* member : {"Includes", "Excludes", "ManifestConfig",
                               "TaskReportConfig", "TaskMode"}) {
      json value = Pick(overrides, task->body, member);
      if (!value.is_null()) body[member] = value;
    }
    if (auto e = CheckFilters(body.value("Includes", json()),
                              body.value("Excludes", json()))) {
      return *e;
    }

    // One execution runs at a time; TaskQueueing says whether others wait.
    FERRY_API_ASSIGN_OR_RETURN(auto active,
                               ctx.store.ActiveExecutionsOfTask(s, task_arn));
    const bool queueing =
        body["Options"].value("TaskQueueing", "ENABLED") == "ENABLED";
    if (!queueing && !active.empty()) {
      return InvalidRequest(
          "Task " + task_arn + " already has an execution (" +
          active.front().arn + ", " + active.front().status +
          ") and its TaskQueueing option is DISABLED: start it again when "
          "that execution has ended, or enable TaskQueueing.");
    }
    int queued = 0;
    for (const ExecutionRecord& e : active) {
      if (e.status == "QUEUED") ++queued;
    }
    if (queued >= ctx.config.max_queued_executions) {
      return InvalidRequest(
          "Task " + task_arn + " already has " + std::to_string(queued) +
          " queued executions, the most a task may have waiting. Start it "
          "again when one of them has run.");
    }

    ExecutionRecord e;
    FERRY_API_ASSIGN_OR_RETURN(e.seq, ctx.store.NextExecutionSeq(s));
    e.arn = task_arn + "/execution/" + ServerContext::NewId("exec");
    e.task_arn = task_arn;
    e.status = "QUEUED";
    e.body = body;
    e.start_ms = ctx.now_ms();
    e.bytes_per_second = body["Options"].value("BytesPerSecond", int64_t{-1});
    e.scheduled = scheduled;
    FERRY_API_RETURN_IF_ERROR(ctx.store.PutExecution(s, e));
    if (overrides.is_object() && overrides.contains("Tags")) {
      ApiResult tagged =
          AddTags(ctx, s, e.arn, TagsFromRequest(overrides["Tags"]));
      if (std::holds_alternative<ApiError>(tagged)) return tagged;
    }
    return json{{"TaskExecutionArn", e.arn}};
  });
  if (auto* e = std::get_if<ApiError>(&result)) return *e;
  // Committed: the dispatcher gives it to an agent now.
  if (ctx.signals.execution_queued) ctx.signals.execution_queued();
  return std::get<json>(result)["TaskExecutionArn"].get<std::string>();
}

}  // namespace ferry::control
