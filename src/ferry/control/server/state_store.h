// StateStore: the control plane's records and the SQL that keeps them: the
// only code that knows the schema. Every method works inside a transaction
// the caller opened with Database::Transaction, so that a handler can read,
// check and write atomically (e.g. "fewer than 50 queued executions, then
// queue one"). Request-shaped data (task options, filters, location
// parameters) is kept as JSON text; what the server queries on has columns.
// Times are Unix milliseconds. (Execution log records have their tables and
// queries in execution_logs.h; their migration is one of these.) Stateless
// apart from the Database it is given; thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "ferry/base/status.h"
#include "ferry/control/store/database.h"
#include "ferry/control/store/sealer.h"

namespace ferry::control {

struct ActivationRecord {
  std::string activation_key;
  std::string poll_token_hash;  // SHA-256 hex of the agent's poll token
  std::string csr_pem;
  std::string hostname;
  std::string version;
  int64_t created_ms = 0;
  int64_t expires_ms = 0;
  std::string agent_arn;        // set once CreateAgent used the key
  std::string certificate_pem;  // idem
};

struct AgentRecord {
  std::string arn;
  std::string name;
  std::string hostname;
  std::string version;
  std::string certificate_pem;
  int64_t created_ms = 0;
  int64_t last_seen_ms = 0;  // 0: never connected
};

struct LocationRecord {
  std::string arn;
  std::string
      type;  // "LOCAL", "NFS", "SMB", "OBJECT_STORAGE", "AZURE_BLOB", "HDFS"
  std::string uri;  // LocationUri
  // The Create/Update request members that are not secret (as given).
  nlohmann::json params = nlohmann::json::object();
  // The secret members, as a JSON object sealed by the Sealer ("" = none).
  std::string sealed_secrets;
  std::vector<std::string> agent_arns;
  int64_t created_ms = 0;
};

struct TaskRecord {
  std::string arn;
  std::string name;
  std::string source_arn;
  std::string destination_arn;
  // Options, Excludes, Includes, ManifestConfig, TaskReportConfig,
  // CloudWatchLogGroupArn, TaskMode, Schedule (as CreateTask/UpdateTask take
  // them; Options complete with defaults).
  nlohmann::json body = nlohmann::json::object();
  std::string schedule_status;  // "ENABLED", "DISABLED" or "" (no schedule)
  std::string schedule_disabled_by;  // "USER" or "SERVICE"
  std::string schedule_disabled_reason;
  int64_t schedule_anchor_ms = 0;   // rate() counts from here
  int64_t schedule_updated_ms = 0;  // the schedule's Status last changed
  int64_t next_run_ms = 0;          // 0: none planned
  int64_t scheduled_failures = 0;   // consecutive failed scheduled runs
  std::string error_code;           // why the task is UNAVAILABLE, if it is
  int64_t created_ms = 0;
};

struct ExecutionRecord {
  std::string arn;
  std::string task_arn;
  int64_t seq = 0;     // start order (FIFO queueing)
  std::string status;  // DataSync's TaskExecutionStatus
  // The effective Options, Includes, Excludes, ManifestConfig and
  // TaskReportConfig of this execution.
  nlohmann::json body = nlohmann::json::object();
  // The last DescribeTaskExecution-shaped report of the agent (counters,
  // Result, ...), merged into DescribeTaskExecution responses.
  nlohmann::json describe = nlohmann::json::object();
  std::string agent_arn;  // the agent running it
  int64_t start_ms = 0;
  int64_t launch_ms = 0;
  int64_t end_ms = 0;
  bool cancel_requested = false;
  int64_t bytes_per_second = -1;  // the limit now (UpdateTaskExecution)
  bool scheduled = false;         // started by the schedule
  int64_t updated_ms = 0;         // last report from the agent
};

template <typename T>
struct Page {
  std::vector<T> items;
  std::string next_key;  // the key to continue after ("" = end)
};

class StateStore {
 public:
  // The schema, as migrations (for Migrate in store/database.h). One of
  // them reseals, with `sealer` (used until Migrate returns), the secrets
  // sealed before each was bound to its row.
  static std::vector<Migration> Migrations(const Sealer& sealer);

  // Where sealed values are kept: the Sealer binds each to its place.
  static SealedPlace AccessKeySecretPlace(const std::string& access_key_id);
  static SealedPlace LocationSecretsPlace(const std::string& location_arn);

  // Activations.
  Status PutActivation(SqlSession& s, const ActivationRecord& r);
  Result<std::optional<ActivationRecord>> GetActivation(SqlSession& s,
                                                        const std::string& key);
  Status UpdateActivation(SqlSession& s, const ActivationRecord& r);
  Status DeleteExpiredActivations(SqlSession& s, int64_t now_ms);
  // Activations no agent was created with yet (expired ones too, until
  // DeleteExpiredActivations removes them).
  Result<int64_t> CountPendingActivations(SqlSession& s);
  // Deletes the `n` pending activations made first; returns how many went.
  Result<int64_t> DeleteOldestPendingActivations(SqlSession& s, int64_t n);

  // Agents.
  Status PutAgent(SqlSession& s, const AgentRecord& r);
  Result<std::optional<AgentRecord>> GetAgent(SqlSession& s,
                                              const std::string& arn);
  Result<Page<AgentRecord>> ListAgents(SqlSession& s, const std::string& after,
                                       int limit);
  Status UpdateAgent(SqlSession& s, const AgentRecord& r);
  Status DeleteAgent(SqlSession& s, const std::string& arn);

  // Locations.
  Status PutLocation(SqlSession& s, const LocationRecord& r);
  Result<std::optional<LocationRecord>> GetLocation(SqlSession& s,
                                                    const std::string& arn);
  Result<Page<LocationRecord>> ListLocations(SqlSession& s,
                                             const std::string& after,
                                             int limit);
  Status UpdateLocation(SqlSession& s, const LocationRecord& r);
  Status DeleteLocation(SqlSession& s, const std::string& arn);
  // Tasks that use a location (as source or destination).
  Result<std::vector<std::string>> TasksUsingLocation(SqlSession& s,
                                                      const std::string& arn);
  // Locations bound to an agent.
  Result<std::vector<std::string>> LocationsOfAgent(
      SqlSession& s, const std::string& agent_arn);

  // Tasks.
  Status PutTask(SqlSession& s, const TaskRecord& r);
  Result<std::optional<TaskRecord>> GetTask(SqlSession& s,
                                            const std::string& arn);
  Result<Page<TaskRecord>> ListTasks(SqlSession& s, const std::string& after,
                                     int limit);
  Status UpdateTask(SqlSession& s, const TaskRecord& r);
  // Deletes the task, its executions, their log records and the tags of
  // both.
  Status DeleteTask(SqlSession& s, const std::string& arn);
  // Tasks whose schedule is ENABLED and due at `now_ms`.
  Result<std::vector<TaskRecord>> DueTasks(SqlSession& s, int64_t now_ms);

  // Executions.
  Status PutExecution(SqlSession& s, const ExecutionRecord& r);
  Result<std::optional<ExecutionRecord>> GetExecution(SqlSession& s,
                                                      const std::string& arn);
  // Executions of a task (all tasks when `task_arn` is empty), newest first
  // is not DataSync's order: ListTaskExecutions is in start order.
  Result<Page<ExecutionRecord>> ListExecutions(SqlSession& s,
                                               const std::string& task_arn,
                                               const std::string& after,
                                               int limit);
  Status UpdateExecution(SqlSession& s, const ExecutionRecord& r);
  // Executions in any of `statuses` (all tasks), in start order. With
  // `lock` (PostgreSQL), the rows are locked FOR UPDATE SKIP LOCKED so that
  // several servers do not claim the same one.
  Result<std::vector<ExecutionRecord>> ExecutionsInStatus(
      SqlSession& s, const std::vector<std::string>& statuses,
      bool lock = false);
  Result<std::vector<ExecutionRecord>> ExecutionsOfAgent(
      SqlSession& s, const std::string& agent_arn);
  // The executions of a task that have not ended (QUEUED, LAUNCHING ...
  // CANCELLING), in start order.
  Result<std::vector<ExecutionRecord>> ActiveExecutionsOfTask(
      SqlSession& s, const std::string& task_arn);
  // The task's most recently started execution, whatever its status.
  Result<std::optional<ExecutionRecord>> LatestExecutionOfTask(
      SqlSession& s, const std::string& task_arn);
  Result<int64_t> NextExecutionSeq(SqlSession& s);

  // Tags of any resource.
  Status PutTags(SqlSession& s, const std::string& arn,
                 const std::map<std::string, std::string>& tags);
  Status RemoveTags(SqlSession& s, const std::string& arn,
                    const std::vector<std::string>& keys);
  Result<Page<std::pair<std::string, std::string>>> ListTags(
      SqlSession& s, const std::string& arn, const std::string& after,
      int limit);
  Status DeleteAllTags(SqlSession& s, const std::string& arn);

  // Access keys of API callers: the secret is sealed.
  Status PutAccessKey(SqlSession& s, const std::string& access_key_id,
                      const std::string& sealed_secret, int64_t now_ms);
  Result<std::optional<std::string>> GetAccessKey(
      SqlSession& s, const std::string& access_key_id);
};

}  // namespace ferry::control
