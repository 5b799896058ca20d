// Execution control: the rules that StartTaskExecution and the scheduler
// share, and the ones DescribeTask and the dispatcher share, so that an
// execution started by hand and one started by the schedule go through the
// same checks.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <variant>

#include "ferry/control/model/api_model.h"
#include "ferry/control/server/server_context.h"

namespace ferry::control {

// Terminal and running statuses, DataSync's names.
bool IsFinalStatus(const std::string& status);  // SUCCESS, ERROR
bool IsRunningStatus(
    const std::string& status);  // LAUNCHING ... VERIFYING, CANCELLING

// Starts an execution of `task_arn`, in a transaction of its own: checks the
// task and its locations exist, merges `overrides` (StartTaskExecution's
// OverrideOptions, Includes, Excludes, ManifestConfig, TaskReportConfig) over
// the task's settings and validates the result (TaskOptions, filters),
// applies TaskQueueing (ENABLED: queue FIFO behind a running execution, at
// most ServerConfig::max_queued_executions waiting; DISABLED: refuse while one
// runs or waits), and records the execution QUEUED. Returns its ARN, or the
// error to send.
std::variant<std::string, ApiError> StartExecution(
    ServerContext& ctx, const std::string& task_arn,
    const nlohmann::json& overrides, bool scheduled);

// DataSync's task status: RUNNING while an execution runs, QUEUED when one
// waits, UNAVAILABLE when an agent its locations need is offline, else
// AVAILABLE.
Result<std::string> TaskStatus(ServerContext& ctx, SqlSession& s,
                               const TaskRecord& task);

// ONLINE when the agent synced within ServerConfig::agent_offline_after.
bool AgentOnline(const ServerContext& ctx, const AgentRecord& agent);

// A location's parameters as an agent needs them (RunExecution's Source and
// Destination): the stored members with its secrets unsealed.
Result<nlohmann::json> LocationParametersWithSecrets(ServerContext& ctx,
                                                     const LocationRecord& r);

}  // namespace ferry::control
