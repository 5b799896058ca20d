// GetTaskExecutionLogs (ferry's own): the log records an execution's agent
// shipped (execution_logs.h), a page at a time, by Seq.
#include "ferry/control/server/api.h"
#include "ferry/control/server/api_helpers.h"
#include "ferry/control/server/execution_logs.h"

namespace ferry::control {
namespace {

using nlohmann::json;

constexpr int kDefaultMaxResults = 1000;

ApiResult GetTaskExecutionLogs(ApiCall& call) {
  const std::string arn = Str(call.request, "TaskExecutionArn");
  if (auto e = CheckArnScope(call.ctx, arn)) return *e;
  // The model has checked the types and ranges.
  const int64_t start = call.request.value("StartSeq", int64_t{1});
  const int limit = call.request.value("MaxResults", kDefaultMaxResults);
  return InTransaction(call.ctx, [&](SqlSession& s) -> ApiResult {
    FERRY_API_ASSIGN_OR_RETURN(auto e, call.ctx.store.GetExecution(s, arn));
    if (!e) return ExecutionNotFound(arn);
    FERRY_API_ASSIGN_OR_RETURN(ExecutionLogPage page,
                               ReadExecutionLogs(s, *e, start, limit));
    json records = json::array();
    for (const protocol::LogRecord& r : page.records) {
      records.push_back({{"Seq", r.seq},
                         {"Time", EpochSeconds(r.time_ms)},
                         {"Level", r.level},
                         {"Event", r.event},
                         {"Message", r.message}});
    }
    return json{{"Records", std::move(records)},
                {"NextSeq", page.next_seq},
                {"Complete", page.complete}};
  });
}

}  // namespace

void RegisterExecutionLogApis(ApiRegistry* registry) {
  (*registry)["GetTaskExecutionLogs"] = GetTaskExecutionLogs;
}

}  // namespace ferry::control
