// Tasks: CreateTask, DescribeTask, ListTasks, UpdateTask, DeleteTask.
#include <chrono>

#include "ferry/control/schedule/schedule.h"
#include "ferry/control/server/api.h"
#include "ferry/control/server/api_helpers.h"
#include "ferry/control/server/execution_control.h"
#include "ferry/control/server/list_filters.h"

namespace ferry::control {
namespace {

using nlohmann::json;

// The members of CreateTask/UpdateTask kept as they are given.
constexpr const char* kBodyMembers[] = {
    "Excludes",         "Includes", "ManifestConfig",
    "TaskReportConfig", "TaskMode", "CloudWatchLogGroupArn"};

std::chrono::system_clock::time_point TimePoint(int64_t ms) {
  return std::chrono::system_clock::time_point(std::chrono::milliseconds(ms));
}

// Sets (or, with an empty expression, removes) the task's schedule.
std::optional<ApiError> ApplySchedule(ServerContext& ctx, TaskRecord* t,
                                      const json& schedule) {
  const std::string expression = Str(schedule, "ScheduleExpression");
  const int64_t now = ctx.now_ms();
  if (expression.empty()) {
    t->body.erase("Schedule");
    t->schedule_status.clear();
    t->schedule_disabled_by.clear();
    t->schedule_disabled_reason.clear();
    t->next_run_ms = 0;
    t->scheduled_failures = 0;
    t->schedule_updated_ms = now;
    return std::nullopt;
  }
  auto parsed = Schedule::Parse(expression);
  if (!parsed.ok())
    return InvalidRequest(std::string(parsed.status().message()));
  std::string status = Str(schedule, "Status");
  if (status.empty()) status = "ENABLED";
  t->body["Schedule"] = {{"ScheduleExpression", expression}};
  t->schedule_status = status;
  t->schedule_anchor_ms = now;
  t->schedule_updated_ms = now;
  t->scheduled_failures = 0;
  if (status == "DISABLED") {
    t->schedule_disabled_by = "USER";
    t->schedule_disabled_reason = "Disabled by the user.";
    t->next_run_ms = 0;
  } else {
    t->schedule_disabled_by.clear();
    t->schedule_disabled_reason.clear();
    auto next = parsed->NextAfter(TimePoint(now), TimePoint(now));
    t->next_run_ms =
        next ? std::chrono::duration_cast<std::chrono::milliseconds>(
                   next->time_since_epoch())
                   .count()
             : 0;
  }
  return std::nullopt;
}

// Checks the task's Options, Includes and Excludes and completes Options.
std::optional<ApiError> CheckSettings(TaskRecord* t,
                                      const json& given_options) {
  auto options =
      MergeOptions(t->body.value("Options", json::object()), given_options);
  if (auto* e = std::get_if<ApiError>(&options)) return *e;
  t->body["Options"] = std::get<json>(options);
  return CheckFilters(t->body.value("Includes", json()),
                      t->body.value("Excludes", json()));
}

ApiResult CreateTask(ApiCall& call) {
  ServerContext& ctx = call.ctx;
  const json& req = call.request;
  TaskRecord t;
  t.source_arn = Str(req, "SourceLocationArn");
  t.destination_arn = Str(req, "DestinationLocationArn");
  for (const std::string& arn : {t.source_arn, t.destination_arn}) {
    if (auto e = CheckArnScope(ctx, arn)) return *e;
  }
  t.name = Str(req, "Name");
  for (const char* member : kBodyMembers) {
    if (req.contains(member)) t.body[member] = req[member];
  }
  if (!t.body.contains("TaskMode")) t.body["TaskMode"] = "BASIC";
  if (auto e = CheckSettings(&t, req.value("Options", json::object()))) {
    return *e;
  }
  if (req.contains("Schedule")) {
    if (auto e = ApplySchedule(ctx, &t, req["Schedule"])) return *e;
  }
  auto tags = TagsFromRequest(req.value("Tags", json::array()));
  return InTransaction(ctx, [&](SqlSession& s) -> ApiResult {
    for (const std::string& arn : {t.source_arn, t.destination_arn}) {
      FERRY_API_ASSIGN_OR_RETURN(auto location, ctx.store.GetLocation(s, arn));
      if (!location) return LocationNotFound(arn);
    }
    TaskRecord r = t;
    r.arn = ctx.Arn("task/" + ServerContext::NewId("task"));
    r.created_ms = ctx.now_ms();
    if (r.schedule_anchor_ms == 0) r.schedule_anchor_ms = r.created_ms;
    FERRY_API_RETURN_IF_ERROR(ctx.store.PutTask(s, r));
    ApiResult tagged = AddTags(ctx, s, r.arn, tags);
    if (std::holds_alternative<ApiError>(tagged)) return tagged;
    return json{{"TaskArn", r.arn}};
  });
}

ApiResult WithTask(
    ApiCall& call,
    const std::function<ApiResult(SqlSession&, TaskRecord&)>& fn) {
  const std::string arn = Str(call.request, "TaskArn");
  if (auto e = CheckArnScope(call.ctx, arn)) return *e;
  return InTransaction(call.ctx, [&](SqlSession& s) -> ApiResult {
    FERRY_API_ASSIGN_OR_RETURN(auto task, call.ctx.store.GetTask(s, arn));
    if (!task) return TaskNotFound(arn);
    return fn(s, *task);
  });
}

ApiResult DescribeTask(ApiCall& call) {
  ServerContext& ctx = call.ctx;
  return WithTask(call, [&](SqlSession& s, TaskRecord& t) -> ApiResult {
    FERRY_API_ASSIGN_OR_RETURN(std::string status, TaskStatus(ctx, s, t));
    json out = {{"TaskArn", t.arn},
                {"Status", status},
                {"SourceLocationArn", t.source_arn},
                {"DestinationLocationArn", t.destination_arn},
                {"SourceNetworkInterfaceArns", json::array()},
                {"DestinationNetworkInterfaceArns", json::array()},
                {"Options", t.body.value("Options", json::object())},
                {"Excludes", t.body.value("Excludes", json::array())},
                {"Includes", t.body.value("Includes", json::array())},
                {"CreationTime", EpochSeconds(t.created_ms)}};
    if (!t.name.empty()) out["Name"] = t.name;
    for (const char* member : {"ManifestConfig", "TaskReportConfig", "TaskMode",
                               "CloudWatchLogGroupArn"}) {
      if (t.body.contains(member)) out[member] = t.body[member];
    }
    FERRY_API_ASSIGN_OR_RETURN(auto active,
                               ctx.store.ActiveExecutionsOfTask(s, t.arn));
    for (const ExecutionRecord& e : active) {
      if (IsRunningStatus(e.status)) {
        out["CurrentTaskExecutionArn"] = e.arn;
        break;
      }
    }
    if (!out.contains("CurrentTaskExecutionArn") && !active.empty()) {
      out["CurrentTaskExecutionArn"] = active.front().arn;
    }
    // Once every execution has ended, DataSync keeps naming the most recent.
    if (!out.contains("CurrentTaskExecutionArn")) {
      FERRY_API_ASSIGN_OR_RETURN(auto latest,
                                 ctx.store.LatestExecutionOfTask(s, t.arn));
      if (latest) out["CurrentTaskExecutionArn"] = latest->arn;
    }
    if (t.body.contains("Schedule")) {
      out["Schedule"] = {
          {"ScheduleExpression", Str(t.body["Schedule"], "ScheduleExpression")},
          {"Status", t.schedule_status}};
      json details = json::object();
      if (t.schedule_updated_ms > 0) {
        details["StatusUpdateTime"] = EpochSeconds(t.schedule_updated_ms);
      }
      if (!t.schedule_disabled_by.empty()) {
        details["DisabledBy"] = t.schedule_disabled_by;
        details["DisabledReason"] = t.schedule_disabled_reason;
      }
      out["ScheduleDetails"] = details;
    }
    if (!t.error_code.empty()) {
      out["ErrorCode"] = t.error_code;
      out["ErrorDetail"] = "An agent of the task's locations is not available.";
    }
    return out;
  });
}

ApiResult ListTasks(ApiCall& call) {
  ServerContext& ctx = call.ctx;
  auto list = ParseListRequest(call.request, ListFilterTarget::kTasks);
  if (auto* e = std::get_if<ApiError>(&list)) return *e;
  const ListRequest& req = std::get<ListRequest>(list);
  return InTransaction(ctx, [&](SqlSession& s) -> ApiResult {
    FERRY_API_ASSIGN_OR_RETURN(
        FilteredPage page,
        ListFiltered(
            req.after, req.limit,
            [&](const std::string& cursor) {
              return ctx.store.ListTasks(s, cursor, 100);
            },
            [&](const TaskRecord& t) -> Result<std::optional<json>> {
              ListFilterSubject subject;
              subject.location_ids = {t.source_arn, t.destination_arn};
              subject.creation_ms = t.created_ms;
              if (!MatchesAll(req.filters, subject))
                return std::optional<json>();
              FERRY_ASSIGN_OR_RETURN(std::string status, TaskStatus(ctx, s, t));
              json entry = {{"TaskArn", t.arn},
                            {"Status", status},
                            {"TaskMode", t.body.value("TaskMode", "BASIC")}};
              if (!t.name.empty()) entry["Name"] = t.name;
              return std::optional<json>(std::move(entry));
            }));
    json out = {{"Tasks", std::move(page.entries)}};
    if (!page.next.empty())
      out["NextToken"] = EncodeNextToken("ListTasks", page.next);
    return ApiResult(out);
  });
}

ApiResult UpdateTask(ApiCall& call) {
  ServerContext& ctx = call.ctx;
  const json& req = call.request;
  return WithTask(call, [&](SqlSession& s, TaskRecord& t) -> ApiResult {
    if (req.contains("Name")) t.name = Str(req, "Name");
    for (const char* member : kBodyMembers) {
      if (req.contains(member)) t.body[member] = req[member];
    }
    if (auto e = CheckSettings(&t, req.value("Options", json::object()))) {
      return *e;
    }
    if (req.contains("Schedule")) {
      if (auto e = ApplySchedule(ctx, &t, req["Schedule"])) return *e;
    }
    FERRY_API_RETURN_IF_ERROR(ctx.store.UpdateTask(s, t));
    return json::object();
  });
}

ApiResult DeleteTask(ApiCall& call) {
  ServerContext& ctx = call.ctx;
  return WithTask(call, [&](SqlSession& s, TaskRecord& t) -> ApiResult {
    FERRY_API_ASSIGN_OR_RETURN(auto active,
                               ctx.store.ActiveExecutionsOfTask(s, t.arn));
    for (const ExecutionRecord& e : active) {
      if (IsRunningStatus(e.status)) {
        return InvalidRequest("Task " + t.arn + " has a running execution (" +
                              e.arn +
                              "): cancel it, or wait for it to end, first.");
      }
    }
    // Queued executions go with the task.
    FERRY_API_RETURN_IF_ERROR(ctx.store.DeleteTask(s, t.arn));
    return json::object();
  });
}

}  // namespace

void RegisterTaskApis(ApiRegistry* registry) {
  (*registry)["CreateTask"] = CreateTask;
  (*registry)["DescribeTask"] = DescribeTask;
  (*registry)["ListTasks"] = ListTasks;
  (*registry)["UpdateTask"] = UpdateTask;
  (*registry)["DeleteTask"] = DeleteTask;
}

}  // namespace ferry::control
