// Execution logs on the server: the log records agents ship with their sync
// reports (docs/protocol.md), kept per execution in the execution_logs table
// (schema migration 4), bounded and rotated (ServerConfig::logs), and read
// back by GetTaskExecutionLogs. The records are stored as the agent sent
// them; whoever displays them escapes them. Stateless functions that work
// inside the caller's transaction; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ferry/base/status.h"
#include "ferry/control/server/server_context.h"
#include "ferry/protocol/agent_protocol.h"

namespace ferry::control {

// The Event of the record that stands for records the server dropped past
// ServerConfig::logs.max_records_per_execution.
inline constexpr char kServerDroppedRecordsEvent[] = "ServerDroppedRecords";

// The schema of migration 4: the records, and per execution what the
// server knows of them.
Status CreateExecutionLogTables(SqlSession& s);

// Stores the Logs of `request`'s reports from agent `agent_arn` (a Seq
// already stored, or dropped by rotation, is ignored), notes the last Seq a
// final report announces, rotates past the bound, and answers in
// response->logs_stored the highest Seq stored per execution. The records
// of an execution the server does not know (its task was deleted) are
// dropped and answered as stored; those of an execution assigned to
// another agent are ignored. Called by AgentService::Sync inside its
// transaction, after the reports themselves were taken.
Status StoreExecutionLogs(ServerContext& ctx, SqlSession& s,
                          const std::string& agent_arn,
                          const protocol::SyncRequest& request,
                          protocol::SyncResponse* response);

// Deletes the records of executions that ended more than
// ServerConfig::logs.retention before `now_ms`, or that no longer exist
// (their task was deleted). Returns how many records went.
Result<int64_t> PruneExecutionLogs(ServerContext& ctx, SqlSession& s,
                                   int64_t now_ms);

// Deletes every record of the executions of `task_arn` (DeleteTask).
Status DeleteTaskExecutionLogs(SqlSession& s, const std::string& task_arn);

struct ExecutionLogPage {
  std::vector<protocol::LogRecord> records;  // by Seq
  int64_t next_seq = 1;                      // where the next page starts
  // The execution has ended, every record its agent announced is stored,
  // and this page reaches the last one.
  bool complete = false;
};

// The records of execution `e` from Seq `start_seq` on, at most `limit`.
Result<ExecutionLogPage> ReadExecutionLogs(SqlSession& s,
                                           const ExecutionRecord& e,
                                           int64_t start_seq, int limit);

}  // namespace ferry::control
