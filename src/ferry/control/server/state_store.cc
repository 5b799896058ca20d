#include "ferry/control/server/state_store.h"

#include <algorithm>

#include "ferry/control/server/execution_logs.h"

namespace ferry::control {
namespace {

using nlohmann::json;

Result<json> ParseJson(const std::optional<std::string>& text,
                       const char* what) {
  if (!text || text->empty()) return json::object();
  json j = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded())
    return Status::Internal(std::string("stored ") + what + " is not JSON");
  return j;
}

std::string Text(const std::optional<std::string>& t) {
  return t ? *t : std::string();
}
int64_t Int(const std::optional<int64_t>& i) { return i ? *i : 0; }

// Appends "WHERE key > ? ORDER BY key LIMIT ?" paging to `sql`.
std::vector<SqlValue> PageParams(std::vector<SqlValue> params,
                                 const std::string& after, int limit) {
  params.push_back(after);
  params.push_back(static_cast<int64_t>(limit) + 1);
  return params;
}

template <typename T>
void TrimPage(Page<T>* page, int limit,
              const std::function<std::string(const T&)>& key) {
  if (static_cast<int>(page->items.size()) > limit) {
    page->items.resize(static_cast<size_t>(limit));
    page->next_key = key(page->items.back());
  }
}

// --- Row decoding: columns in the order of the SELECTs below. ---

constexpr char kActivationColumns[] =
    "activation_key, poll_token_hash, csr_pem, hostname, version, created_ms, "
    "expires_ms, "
    "agent_arn, certificate_pem";

Result<ActivationRecord> ReadActivation(const SqlRow& row) {
  ActivationRecord r;
  FERRY_ASSIGN_OR_RETURN(auto key, SqlText(row, 0));
  FERRY_ASSIGN_OR_RETURN(auto hash, SqlText(row, 1));
  FERRY_ASSIGN_OR_RETURN(auto csr, SqlText(row, 2));
  FERRY_ASSIGN_OR_RETURN(auto host, SqlText(row, 3));
  FERRY_ASSIGN_OR_RETURN(auto version, SqlText(row, 4));
  FERRY_ASSIGN_OR_RETURN(auto created, SqlInt(row, 5));
  FERRY_ASSIGN_OR_RETURN(auto expires, SqlInt(row, 6));
  FERRY_ASSIGN_OR_RETURN(auto agent, SqlText(row, 7));
  FERRY_ASSIGN_OR_RETURN(auto cert, SqlText(row, 8));
  r.activation_key = Text(key);
  r.poll_token_hash = Text(hash);
  r.csr_pem = Text(csr);
  r.hostname = Text(host);
  r.version = Text(version);
  r.created_ms = Int(created);
  r.expires_ms = Int(expires);
  r.agent_arn = Text(agent);
  r.certificate_pem = Text(cert);
  return r;
}

constexpr char kAgentColumns[] =
    "arn, name, hostname, version, certificate_pem, created_ms, last_seen_ms";

Result<AgentRecord> ReadAgent(const SqlRow& row) {
  AgentRecord r;
  FERRY_ASSIGN_OR_RETURN(auto arn, SqlText(row, 0));
  FERRY_ASSIGN_OR_RETURN(auto name, SqlText(row, 1));
  FERRY_ASSIGN_OR_RETURN(auto host, SqlText(row, 2));
  FERRY_ASSIGN_OR_RETURN(auto version, SqlText(row, 3));
  FERRY_ASSIGN_OR_RETURN(auto cert, SqlText(row, 4));
  FERRY_ASSIGN_OR_RETURN(auto created, SqlInt(row, 5));
  FERRY_ASSIGN_OR_RETURN(auto seen, SqlInt(row, 6));
  r.arn = Text(arn);
  r.name = Text(name);
  r.hostname = Text(host);
  r.version = Text(version);
  r.certificate_pem = Text(cert);
  r.created_ms = Int(created);
  r.last_seen_ms = Int(seen);
  return r;
}

constexpr char kLocationColumns[] =
    "arn, type, uri, params, sealed_secrets, created_ms";

Result<LocationRecord> ReadLocation(SqlSession& s, const SqlRow& row) {
  LocationRecord r;
  FERRY_ASSIGN_OR_RETURN(auto arn, SqlText(row, 0));
  FERRY_ASSIGN_OR_RETURN(auto type, SqlText(row, 1));
  FERRY_ASSIGN_OR_RETURN(auto uri, SqlText(row, 2));
  FERRY_ASSIGN_OR_RETURN(auto params, SqlText(row, 3));
  FERRY_ASSIGN_OR_RETURN(auto secrets, SqlText(row, 4));
  FERRY_ASSIGN_OR_RETURN(auto created, SqlInt(row, 5));
  r.arn = Text(arn);
  r.type = Text(type);
  r.uri = Text(uri);
  FERRY_ASSIGN_OR_RETURN(r.params, ParseJson(params, "location parameters"));
  r.sealed_secrets = Text(secrets);
  r.created_ms = Int(created);
  FERRY_ASSIGN_OR_RETURN(auto agents,
                         s.Query("SELECT agent_arn FROM location_agents WHERE "
                                 "location_arn = ? ORDER BY ordinal",
                                 {r.arn}));
  for (const SqlRow& a : agents) {
    FERRY_ASSIGN_OR_RETURN(auto agent, SqlText(a, 0));
    r.agent_arns.push_back(Text(agent));
  }
  return r;
}

constexpr char kTaskColumns[] =
    "arn, name, source_arn, destination_arn, body, schedule_status, "
    "schedule_disabled_by, "
    "schedule_disabled_reason, schedule_anchor_ms, next_run_ms, "
    "scheduled_failures, "
    "error_code, created_ms, schedule_updated_ms";

Result<TaskRecord> ReadTask(const SqlRow& row) {
  TaskRecord r;
  FERRY_ASSIGN_OR_RETURN(auto arn, SqlText(row, 0));
  FERRY_ASSIGN_OR_RETURN(auto name, SqlText(row, 1));
  FERRY_ASSIGN_OR_RETURN(auto src, SqlText(row, 2));
  FERRY_ASSIGN_OR_RETURN(auto dst, SqlText(row, 3));
  FERRY_ASSIGN_OR_RETURN(auto body, SqlText(row, 4));
  FERRY_ASSIGN_OR_RETURN(auto status, SqlText(row, 5));
  FERRY_ASSIGN_OR_RETURN(auto by, SqlText(row, 6));
  FERRY_ASSIGN_OR_RETURN(auto reason, SqlText(row, 7));
  FERRY_ASSIGN_OR_RETURN(auto anchor, SqlInt(row, 8));
  FERRY_ASSIGN_OR_RETURN(auto next, SqlInt(row, 9));
  FERRY_ASSIGN_OR_RETURN(auto failures, SqlInt(row, 10));
  FERRY_ASSIGN_OR_RETURN(auto error, SqlText(row, 11));
  FERRY_ASSIGN_OR_RETURN(auto created, SqlInt(row, 12));
  FERRY_ASSIGN_OR_RETURN(auto updated, SqlInt(row, 13));
  r.arn = Text(arn);
  r.name = Text(name);
  r.source_arn = Text(src);
  r.destination_arn = Text(dst);
  FERRY_ASSIGN_OR_RETURN(r.body, ParseJson(body, "task"));
  r.schedule_status = Text(status);
  r.schedule_disabled_by = Text(by);
  r.schedule_disabled_reason = Text(reason);
  r.schedule_anchor_ms = Int(anchor);
  r.next_run_ms = Int(next);
  r.scheduled_failures = Int(failures);
  r.error_code = Text(error);
  r.created_ms = Int(created);
  r.schedule_updated_ms = Int(updated);
  return r;
}

std::vector<SqlValue> TaskValues(const TaskRecord& r) {
  return {r.name,
          r.source_arn,
          r.destination_arn,
          r.body.dump(),
          r.schedule_status,
          r.schedule_disabled_by,
          r.schedule_disabled_reason,
          r.schedule_anchor_ms,
          r.next_run_ms,
          r.scheduled_failures,
          r.error_code,
          r.created_ms,
          r.schedule_updated_ms,
          r.arn};
}

constexpr char kExecutionColumns[] =
    "arn, task_arn, seq, status, body, describe, agent_arn, start_ms, "
    "launch_ms, end_ms, "
    "cancel_requested, bytes_per_second, scheduled, updated_ms";

Result<ExecutionRecord> ReadExecution(const SqlRow& row) {
  ExecutionRecord r;
  FERRY_ASSIGN_OR_RETURN(auto arn, SqlText(row, 0));
  FERRY_ASSIGN_OR_RETURN(auto task, SqlText(row, 1));
  FERRY_ASSIGN_OR_RETURN(auto seq, SqlInt(row, 2));
  FERRY_ASSIGN_OR_RETURN(auto status, SqlText(row, 3));
  FERRY_ASSIGN_OR_RETURN(auto body, SqlText(row, 4));
  FERRY_ASSIGN_OR_RETURN(auto describe, SqlText(row, 5));
  FERRY_ASSIGN_OR_RETURN(auto agent, SqlText(row, 6));
  FERRY_ASSIGN_OR_RETURN(auto start, SqlInt(row, 7));
  FERRY_ASSIGN_OR_RETURN(auto launch, SqlInt(row, 8));
  FERRY_ASSIGN_OR_RETURN(auto end, SqlInt(row, 9));
  FERRY_ASSIGN_OR_RETURN(auto cancel, SqlInt(row, 10));
  FERRY_ASSIGN_OR_RETURN(auto bps, SqlInt(row, 11));
  FERRY_ASSIGN_OR_RETURN(auto scheduled, SqlInt(row, 12));
  FERRY_ASSIGN_OR_RETURN(auto updated, SqlInt(row, 13));
  r.arn = Text(arn);
  r.task_arn = Text(task);
  r.seq = Int(seq);
  r.status = Text(status);
  FERRY_ASSIGN_OR_RETURN(r.body, ParseJson(body, "execution"));
  FERRY_ASSIGN_OR_RETURN(r.describe, ParseJson(describe, "execution report"));
  r.agent_arn = Text(agent);
  r.start_ms = Int(start);
  r.launch_ms = Int(launch);
  r.end_ms = Int(end);
  r.cancel_requested = Int(cancel) != 0;
  r.bytes_per_second = bps ? *bps : -1;
  r.scheduled = Int(scheduled) != 0;
  r.updated_ms = Int(updated);
  return r;
}

std::vector<SqlValue> ExecutionValues(const ExecutionRecord& r) {
  return {r.task_arn,         r.seq,
          r.status,           r.body.dump(),
          r.describe.dump(),  r.agent_arn,
          r.start_ms,         r.launch_ms,
          r.end_ms,           static_cast<int64_t>(r.cancel_requested ? 1 : 0),
          r.bytes_per_second, static_cast<int64_t>(r.scheduled ? 1 : 0),
          r.updated_ms,       r.arn};
}

// The executions a query of kExecutionColumns returns, in its order.
// `tail` follows "FROM executions" (WHERE, ORDER BY, LIMIT, locks).
Result<std::vector<ExecutionRecord>> QueryExecutions(
    SqlSession& s, const std::string& tail,
    const std::vector<SqlValue>& params) {
  FERRY_ASSIGN_OR_RETURN(auto rows,
                         s.Query(std::string("SELECT ") + kExecutionColumns +
                                     " FROM executions " + tail,
                                 params));
  std::vector<ExecutionRecord> out;
  for (const SqlRow& row : rows) {
    FERRY_ASSIGN_OR_RETURN(ExecutionRecord r, ReadExecution(row));
    out.push_back(std::move(r));
  }
  return out;
}

template <typename T>
Result<std::optional<T>> One(
    Result<std::vector<SqlRow>> rows,
    const std::function<Result<T>(const SqlRow&)>& read) {
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::optional<T>();
  FERRY_ASSIGN_OR_RETURN(T r, read(rows->front()));
  return std::optional<T>(std::move(r));
}

Status ExpectOneRow(Result<int64_t> changed, const std::string& what) {
  if (!changed.ok()) return changed.status();
  if (*changed == 0) return Status::NotFound(what + " not found");
  return Status::Ok();
}

}  // namespace

SealedPlace StateStore::AccessKeySecretPlace(const std::string& access_key_id) {
  return {"access_keys", "sealed_secret", access_key_id};
}

SealedPlace StateStore::LocationSecretsPlace(const std::string& location_arn) {
  return {"locations", "sealed_secrets", location_arn};
}

std::vector<Migration> StateStore::Migrations(const Sealer& sealer) {
  return {
      {1, "the control plane's first schema",
       [](SqlSession& s, Database::Dialect) -> Status {
         const char* statements[] = {
             "CREATE TABLE access_keys (access_key_id TEXT PRIMARY KEY, "
             "sealed_secret TEXT NOT "
             "NULL, created_ms BIGINT NOT NULL)",
             "CREATE TABLE activations (activation_key TEXT PRIMARY KEY, "
             "poll_token_hash TEXT "
             "NOT NULL, csr_pem TEXT NOT NULL, hostname TEXT, version TEXT, "
             "created_ms BIGINT NOT "
             "NULL, expires_ms BIGINT NOT NULL, agent_arn TEXT, "
             "certificate_pem TEXT)",
             "CREATE TABLE agents (arn TEXT PRIMARY KEY, name TEXT, hostname "
             "TEXT, version TEXT, "
             "certificate_pem TEXT, created_ms BIGINT NOT NULL, last_seen_ms "
             "BIGINT)",
             "CREATE TABLE locations (arn TEXT PRIMARY KEY, type TEXT NOT "
             "NULL, uri TEXT NOT "
             "NULL, params TEXT NOT NULL, sealed_secrets TEXT, created_ms "
             "BIGINT NOT NULL)",
             "CREATE TABLE location_agents (location_arn TEXT NOT NULL, "
             "agent_arn TEXT NOT NULL, "
             "ordinal BIGINT NOT NULL, PRIMARY KEY (location_arn, agent_arn))",
             "CREATE INDEX location_agents_by_agent ON location_agents "
             "(agent_arn)",
             "CREATE TABLE tasks (arn TEXT PRIMARY KEY, name TEXT, source_arn "
             "TEXT NOT NULL, "
             "destination_arn TEXT NOT NULL, body TEXT NOT NULL, "
             "schedule_status TEXT, "
             "schedule_disabled_by TEXT, schedule_disabled_reason TEXT, "
             "schedule_anchor_ms "
             "BIGINT, next_run_ms BIGINT, scheduled_failures BIGINT, "
             "error_code TEXT, created_ms "
             "BIGINT NOT NULL)",
             "CREATE TABLE executions (arn TEXT PRIMARY KEY, task_arn TEXT NOT "
             "NULL, seq BIGINT "
             "NOT NULL, status TEXT NOT NULL, body TEXT NOT NULL, describe "
             "TEXT, agent_arn TEXT, "
             "start_ms BIGINT NOT NULL, launch_ms BIGINT, end_ms BIGINT, "
             "cancel_requested BIGINT "
             "NOT NULL DEFAULT 0, bytes_per_second BIGINT, scheduled BIGINT "
             "NOT NULL DEFAULT 0, "
             "updated_ms BIGINT)",
             "CREATE INDEX executions_by_task ON executions (task_arn, seq)",
             "CREATE INDEX executions_by_status ON executions (status, seq)",
             "CREATE TABLE execution_seq (id BIGINT PRIMARY KEY, next_seq "
             "BIGINT NOT NULL)",
             "INSERT INTO execution_seq (id, next_seq) VALUES (1, 1)",
             "CREATE TABLE tags (resource_arn TEXT NOT NULL, tag_key TEXT NOT "
             "NULL, tag_value "
             "TEXT, PRIMARY KEY (resource_arn, tag_key))",
         };
         for (const char* sql : statements) {
           auto r = s.Execute(sql);
           if (!r.ok()) return r.status();
         }
         return Status::Ok();
       }},
      {2, "when a task's schedule status changed; tasks by location",
       [](SqlSession& s, Database::Dialect) -> Status {
         const char* statements[] = {
             "ALTER TABLE tasks ADD COLUMN schedule_updated_ms BIGINT",
             "CREATE INDEX tasks_by_source ON tasks (source_arn)",
             "CREATE INDEX tasks_by_destination ON tasks (destination_arn)",
         };
         for (const char* sql : statements) {
           FERRY_RETURN_IF_ERROR(s.Execute(sql).status());
         }
         return Status::Ok();
       }},
      {3, "sealed secrets bound to their rows",
       [&sealer](SqlSession& s, Database::Dialect) -> Status {
         // Values sealed without associated data ("v1:"), resealed for the
         // row that holds them; one that does not open (another key, or
         // changed) stops the migration, naming its row.
         struct Column {
           const char* table;
           const char* key;
           const char* column;
         };
         for (const Column& c :
              {Column{"access_keys", "access_key_id", "sealed_secret"},
               Column{"locations", "arn", "sealed_secrets"}}) {
           FERRY_ASSIGN_OR_RETURN(
               std::vector<SqlRow> rows,
               s.Query(std::string("SELECT ") + c.key + ", " + c.column +
                       " FROM " + c.table + " WHERE " + c.column +
                       " LIKE 'v1:%'"));
           for (const SqlRow& row : rows) {
             FERRY_ASSIGN_OR_RETURN(std::optional<std::string> key_text,
                                    SqlText(row, 0));
             FERRY_ASSIGN_OR_RETURN(std::optional<std::string> sealed,
                                    SqlText(row, 1));
             const std::string key = Text(key_text);
             const std::string what =
                 std::string(c.table) + " row " + key + " (" + c.column + ")";
             Result<std::string> opened = sealer.OpenUnbound(Text(sealed));
             if (!opened.ok()) return opened.status().WithContext(what);
             Result<std::string> resealed =
                 sealer.Seal(*opened, {c.table, c.column, key});
             std::fill(opened->begin(), opened->end(), '\0');
             if (!resealed.ok()) return resealed.status().WithContext(what);
             FERRY_RETURN_IF_ERROR(s.Execute(std::string("UPDATE ") + c.table +
                                                 " SET " + c.column +
                                                 " = ? WHERE " + c.key + " = ?",
                                             {*resealed, key})
                                       .status());
           }
         }
         return Status::Ok();
       }},
      {4, "execution log records (execution_logs.h)",
       [](SqlSession& s, Database::Dialect) -> Status {
         return CreateExecutionLogTables(s);
       }},
  };
}

// --- Activations ---

Status StateStore::PutActivation(SqlSession& s, const ActivationRecord& r) {
  return s
      .Execute(std::string("INSERT INTO activations (") + kActivationColumns +
                   ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
               {r.activation_key, r.poll_token_hash, r.csr_pem, r.hostname,
                r.version, r.created_ms, r.expires_ms, r.agent_arn,
                r.certificate_pem})
      .status();
}

Result<std::optional<ActivationRecord>> StateStore::GetActivation(
    SqlSession& s, const std::string& key) {
  return One<ActivationRecord>(
      s.Query(std::string("SELECT ") + kActivationColumns +
                  " FROM activations WHERE activation_key = ?",
              {key}),
      ReadActivation);
}

Status StateStore::UpdateActivation(SqlSession& s, const ActivationRecord& r) {
  return ExpectOneRow(
      s.Execute("UPDATE activations SET agent_arn = ?, certificate_pem = ? "
                "WHERE activation_key "
                "= ?",
                {r.agent_arn, r.certificate_pem, r.activation_key}),
      "activation key");
}

Status StateStore::DeleteExpiredActivations(SqlSession& s, int64_t now_ms) {
  return s
      .Execute(
          "DELETE FROM activations WHERE expires_ms < ? AND (agent_arn IS NULL "
          "OR agent_arn "
          "= '')",
          {now_ms})
      .status();
}

Result<int64_t> StateStore::CountPendingActivations(SqlSession& s) {
  FERRY_ASSIGN_OR_RETURN(
      auto rows, s.Query("SELECT COUNT(*) FROM activations WHERE agent_arn IS "
                         "NULL OR agent_arn = ''"));
  if (rows.size() != 1) return Status::Internal("COUNT(*) gave no row");
  FERRY_ASSIGN_OR_RETURN(auto n, SqlInt(rows.front(), 0));
  return n.value_or(0);
}

Result<int64_t> StateStore::DeleteOldestPendingActivations(SqlSession& s,
                                                           int64_t n) {
  if (n <= 0) return int64_t{0};
  return s.Execute(
      "DELETE FROM activations WHERE activation_key IN (SELECT "
      "activation_key FROM activations WHERE agent_arn IS NULL OR agent_arn "
      "= '' ORDER BY created_ms, activation_key LIMIT ?)",
      {n});
}

// --- Agents ---

Status StateStore::PutAgent(SqlSession& s, const AgentRecord& r) {
  return s
      .Execute(std::string("INSERT INTO agents (") + kAgentColumns +
                   ") VALUES (?, ?, ?, ?, ?, ?, ?)",
               {r.arn, r.name, r.hostname, r.version, r.certificate_pem,
                r.created_ms, r.last_seen_ms})
      .status();
}

Result<std::optional<AgentRecord>> StateStore::GetAgent(
    SqlSession& s, const std::string& arn) {
  return One<AgentRecord>(s.Query(std::string("SELECT ") + kAgentColumns +
                                      " FROM agents WHERE arn = ?",
                                  {arn}),
                          ReadAgent);
}

Result<Page<AgentRecord>> StateStore::ListAgents(SqlSession& s,
                                                 const std::string& after,
                                                 int limit) {
  FERRY_ASSIGN_OR_RETURN(
      auto rows, s.Query(std::string("SELECT ") + kAgentColumns +
                             " FROM agents WHERE arn > ? ORDER BY arn LIMIT ?",
                         PageParams({}, after, limit)));
  Page<AgentRecord> page;
  for (const SqlRow& row : rows) {
    FERRY_ASSIGN_OR_RETURN(AgentRecord r, ReadAgent(row));
    page.items.push_back(std::move(r));
  }
  TrimPage<AgentRecord>(&page, limit,
                        [](const AgentRecord& r) { return r.arn; });
  return page;
}

Status StateStore::UpdateAgent(SqlSession& s, const AgentRecord& r) {
  return ExpectOneRow(s.Execute("UPDATE agents SET name = ?, hostname = ?, "
                                "version = ?, certificate_pem = ?, "
                                "last_seen_ms = ? WHERE arn = ?",
                                {r.name, r.hostname, r.version,
                                 r.certificate_pem, r.last_seen_ms, r.arn}),
                      "agent " + r.arn);
}

Status StateStore::DeleteAgent(SqlSession& s, const std::string& arn) {
  FERRY_RETURN_IF_ERROR(ExpectOneRow(
      s.Execute("DELETE FROM agents WHERE arn = ?", {arn}), "agent " + arn));
  FERRY_RETURN_IF_ERROR(
      s.Execute("DELETE FROM location_agents WHERE agent_arn = ?", {arn})
          .status());
  return DeleteAllTags(s, arn);
}

// --- Locations ---

Status StateStore::PutLocation(SqlSession& s, const LocationRecord& r) {
  FERRY_RETURN_IF_ERROR(s.Execute(std::string("INSERT INTO locations (") +
                                      kLocationColumns +
                                      ") VALUES (?, ?, ?, ?, ?, ?)",
                                  {r.arn, r.type, r.uri, r.params.dump(),
                                   r.sealed_secrets, r.created_ms})
                            .status());
  for (size_t i = 0; i < r.agent_arns.size(); ++i) {
    FERRY_RETURN_IF_ERROR(
        s.Execute("INSERT INTO location_agents (location_arn, agent_arn, "
                  "ordinal) VALUES (?, "
                  "?, ?)",
                  {r.arn, r.agent_arns[i], static_cast<int64_t>(i)})
            .status());
  }
  return Status::Ok();
}

Result<std::optional<LocationRecord>> StateStore::GetLocation(
    SqlSession& s, const std::string& arn) {
  FERRY_ASSIGN_OR_RETURN(auto rows,
                         s.Query(std::string("SELECT ") + kLocationColumns +
                                     " FROM locations WHERE arn = ?",
                                 {arn}));
  if (rows.empty()) return std::optional<LocationRecord>();
  FERRY_ASSIGN_OR_RETURN(LocationRecord r, ReadLocation(s, rows.front()));
  return std::optional<LocationRecord>(std::move(r));
}

Result<Page<LocationRecord>> StateStore::ListLocations(SqlSession& s,
                                                       const std::string& after,
                                                       int limit) {
  FERRY_ASSIGN_OR_RETURN(
      auto rows,
      s.Query(std::string("SELECT ") + kLocationColumns +
                  " FROM locations WHERE arn > ? ORDER BY arn LIMIT ?",
              PageParams({}, after, limit)));
  Page<LocationRecord> page;
  for (const SqlRow& row : rows) {
    FERRY_ASSIGN_OR_RETURN(LocationRecord r, ReadLocation(s, row));
    page.items.push_back(std::move(r));
  }
  TrimPage<LocationRecord>(&page, limit,
                           [](const LocationRecord& r) { return r.arn; });
  return page;
}

Status StateStore::UpdateLocation(SqlSession& s, const LocationRecord& r) {
  FERRY_RETURN_IF_ERROR(ExpectOneRow(
      s.Execute("UPDATE locations SET type = ?, uri = ?, params = ?, "
                "sealed_secrets = ? WHERE "
                "arn = ?",
                {r.type, r.uri, r.params.dump(), r.sealed_secrets, r.arn}),
      "location " + r.arn));
  FERRY_RETURN_IF_ERROR(
      s.Execute("DELETE FROM location_agents WHERE location_arn = ?", {r.arn})
          .status());
  for (size_t i = 0; i < r.agent_arns.size(); ++i) {
    FERRY_RETURN_IF_ERROR(
        s.Execute("INSERT INTO location_agents (location_arn, agent_arn, "
                  "ordinal) VALUES (?, "
                  "?, ?)",
                  {r.arn, r.agent_arns[i], static_cast<int64_t>(i)})
            .status());
  }
  return Status::Ok();
}

Status StateStore::DeleteLocation(SqlSession& s, const std::string& arn) {
  FERRY_RETURN_IF_ERROR(
      ExpectOneRow(s.Execute("DELETE FROM locations WHERE arn = ?", {arn}),
                   "location " + arn));
  FERRY_RETURN_IF_ERROR(
      s.Execute("DELETE FROM location_agents WHERE location_arn = ?", {arn})
          .status());
  return DeleteAllTags(s, arn);
}

Result<std::vector<std::string>> StateStore::TasksUsingLocation(
    SqlSession& s, const std::string& arn) {
  FERRY_ASSIGN_OR_RETURN(
      auto rows,
      s.Query(
          "SELECT arn FROM tasks WHERE source_arn = ? OR destination_arn = ? "
          "ORDER BY arn",
          {arn, arn}));
  std::vector<std::string> out;
  for (const SqlRow& row : rows) {
    FERRY_ASSIGN_OR_RETURN(auto t, SqlText(row, 0));
    out.push_back(Text(t));
  }
  return out;
}

Result<std::vector<std::string>> StateStore::LocationsOfAgent(
    SqlSession& s, const std::string& agent_arn) {
  FERRY_ASSIGN_OR_RETURN(auto rows,
                         s.Query("SELECT location_arn FROM location_agents "
                                 "WHERE agent_arn = ? ORDER BY "
                                 "location_arn",
                                 {agent_arn}));
  std::vector<std::string> out;
  for (const SqlRow& row : rows) {
    FERRY_ASSIGN_OR_RETURN(auto l, SqlText(row, 0));
    out.push_back(Text(l));
  }
  return out;
}

// --- Tasks ---

Status StateStore::PutTask(SqlSession& s, const TaskRecord& r) {
  return s
      .Execute(
          "INSERT INTO tasks (name, source_arn, destination_arn, body, "
          "schedule_status, "
          "schedule_disabled_by, schedule_disabled_reason, schedule_anchor_ms, "
          "next_run_ms, "
          "scheduled_failures, error_code, created_ms, schedule_updated_ms, "
          "arn) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
          TaskValues(r))
      .status();
}

Result<std::optional<TaskRecord>> StateStore::GetTask(SqlSession& s,
                                                      const std::string& arn) {
  return One<TaskRecord>(s.Query(std::string("SELECT ") + kTaskColumns +
                                     " FROM tasks WHERE arn = ?",
                                 {arn}),
                         ReadTask);
}

Result<Page<TaskRecord>> StateStore::ListTasks(SqlSession& s,
                                               const std::string& after,
                                               int limit) {
  FERRY_ASSIGN_OR_RETURN(
      auto rows, s.Query(std::string("SELECT ") + kTaskColumns +
                             " FROM tasks WHERE arn > ? ORDER BY arn LIMIT ?",
                         PageParams({}, after, limit)));
  Page<TaskRecord> page;
  for (const SqlRow& row : rows) {
    FERRY_ASSIGN_OR_RETURN(TaskRecord r, ReadTask(row));
    page.items.push_back(std::move(r));
  }
  TrimPage<TaskRecord>(&page, limit, [](const TaskRecord& r) { return r.arn; });
  return page;
}

Status StateStore::UpdateTask(SqlSession& s, const TaskRecord& r) {
  return ExpectOneRow(s.Execute("UPDATE tasks SET name = ?, source_arn = ?, "
                                "destination_arn = ?, body = ?, "
                                "schedule_status = ?, schedule_disabled_by = "
                                "?, schedule_disabled_reason = ?, "
                                "schedule_anchor_ms = ?, next_run_ms = ?, "
                                "scheduled_failures = ?, error_code = ?, "
                                "created_ms = ?, schedule_updated_ms = ? "
                                "WHERE arn = ?",
                                TaskValues(r)),
                      "task " + r.arn);
}

Status StateStore::DeleteTask(SqlSession& s, const std::string& arn) {
  FERRY_RETURN_IF_ERROR(ExpectOneRow(
      s.Execute("DELETE FROM tasks WHERE arn = ?", {arn}), "task " + arn));
  FERRY_RETURN_IF_ERROR(
      s.Execute("DELETE FROM tags WHERE resource_arn IN (SELECT arn FROM "
                "executions WHERE task_arn = ?)",
                {arn})
          .status());
  FERRY_RETURN_IF_ERROR(DeleteTaskExecutionLogs(s, arn));
  FERRY_RETURN_IF_ERROR(
      s.Execute("DELETE FROM executions WHERE task_arn = ?", {arn}).status());
  return DeleteAllTags(s, arn);
}

Result<std::vector<TaskRecord>> StateStore::DueTasks(SqlSession& s,
                                                     int64_t now_ms) {
  FERRY_ASSIGN_OR_RETURN(
      auto rows, s.Query(std::string("SELECT ") + kTaskColumns +
                             " FROM tasks WHERE schedule_status = 'ENABLED' "
                             "AND next_run_ms > 0 "
                             "AND next_run_ms <= ? ORDER BY next_run_ms",
                         {now_ms}));
  std::vector<TaskRecord> out;
  for (const SqlRow& row : rows) {
    FERRY_ASSIGN_OR_RETURN(TaskRecord r, ReadTask(row));
    out.push_back(std::move(r));
  }
  return out;
}

// --- Executions ---

Status StateStore::PutExecution(SqlSession& s, const ExecutionRecord& r) {
  return s
      .Execute(
          "INSERT INTO executions (task_arn, seq, status, body, describe, "
          "agent_arn, "
          "start_ms, launch_ms, end_ms, cancel_requested, bytes_per_second, "
          "scheduled, "
          "updated_ms, arn) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
          ExecutionValues(r))
      .status();
}

Result<std::optional<ExecutionRecord>> StateStore::GetExecution(
    SqlSession& s, const std::string& arn) {
  return One<ExecutionRecord>(
      s.Query(std::string("SELECT ") + kExecutionColumns +
                  " FROM executions WHERE arn = ?",
              {arn}),
      ReadExecution);
}

Result<Page<ExecutionRecord>> StateStore::ListExecutions(
    SqlSession& s, const std::string& task_arn, const std::string& after,
    int limit) {
  // Paged by start order; the key is the sequence number.
  int64_t after_seq = 0;
  if (!after.empty()) {
    try {
      after_seq = std::stoll(after);
    } catch (...) {
      return Status::InvalidArgument("bad page key");
    }
  }
  std::string tail = "WHERE seq > ?";
  std::vector<SqlValue> params = {after_seq};
  if (!task_arn.empty()) {
    tail += " AND task_arn = ?";
    params.push_back(task_arn);
  }
  tail += " ORDER BY seq LIMIT ?";
  params.push_back(static_cast<int64_t>(limit) + 1);
  Page<ExecutionRecord> page;
  FERRY_ASSIGN_OR_RETURN(page.items, QueryExecutions(s, tail, params));
  TrimPage<ExecutionRecord>(&page, limit, [](const ExecutionRecord& r) {
    return std::to_string(r.seq);
  });
  return page;
}

Status StateStore::UpdateExecution(SqlSession& s, const ExecutionRecord& r) {
  return ExpectOneRow(
      s.Execute(
          "UPDATE executions SET task_arn = ?, seq = ?, status = ?, body = ?, "
          "describe = ?, "
          "agent_arn = ?, start_ms = ?, launch_ms = ?, end_ms = ?, "
          "cancel_requested = ?, "
          "bytes_per_second = ?, scheduled = ?, updated_ms = ? WHERE arn = ?",
          ExecutionValues(r)),
      "execution " + r.arn);
}

Result<std::vector<ExecutionRecord>> StateStore::ExecutionsInStatus(
    SqlSession& s, const std::vector<std::string>& statuses, bool lock) {
  if (statuses.empty()) return std::vector<ExecutionRecord>();
  std::string tail = "WHERE status IN (";
  std::vector<SqlValue> params;
  for (size_t i = 0; i < statuses.size(); ++i) {
    tail += i ? ", ?" : "?";
    params.push_back(statuses[i]);
  }
  tail += ") ORDER BY seq";
  if (lock) tail += " FOR UPDATE SKIP LOCKED";
  return QueryExecutions(s, tail, params);
}

Result<std::vector<ExecutionRecord>> StateStore::ExecutionsOfAgent(
    SqlSession& s, const std::string& agent_arn) {
  return QueryExecutions(s,
                         "WHERE agent_arn = ? AND status NOT IN ('SUCCESS', "
                         "'ERROR', 'QUEUED') ORDER BY seq",
                         {agent_arn});
}

Result<std::vector<ExecutionRecord>> StateStore::ActiveExecutionsOfTask(
    SqlSession& s, const std::string& task_arn) {
  return QueryExecutions(
      s,
      "WHERE task_arn = ? AND status NOT IN ('SUCCESS', 'ERROR') ORDER BY seq",
      {task_arn});
}

Result<std::optional<ExecutionRecord>> StateStore::LatestExecutionOfTask(
    SqlSession& s, const std::string& task_arn) {
  FERRY_ASSIGN_OR_RETURN(
      auto latest,
      QueryExecutions(s, "WHERE task_arn = ? ORDER BY seq DESC LIMIT 1",
                      {task_arn}));
  if (latest.empty()) return std::optional<ExecutionRecord>();
  return std::optional<ExecutionRecord>(std::move(latest.front()));
}

Result<int64_t> StateStore::NextExecutionSeq(SqlSession& s) {
  FERRY_ASSIGN_OR_RETURN(
      auto rows, s.Query("SELECT next_seq FROM execution_seq WHERE id = 1"));
  if (rows.empty()) return Status::Internal("execution sequence missing");
  FERRY_ASSIGN_OR_RETURN(auto next, SqlInt(rows.front(), 0));
  FERRY_RETURN_IF_ERROR(
      s.Execute("UPDATE execution_seq SET next_seq = ? WHERE id = 1",
                {Int(next) + 1})
          .status());
  return Int(next);
}

// --- Tags ---

Status StateStore::PutTags(SqlSession& s, const std::string& arn,
                           const std::map<std::string, std::string>& tags) {
  for (const auto& [key, value] : tags) {
    FERRY_RETURN_IF_ERROR(
        s.Execute("DELETE FROM tags WHERE resource_arn = ? AND tag_key = ?",
                  {arn, key})
            .status());
    FERRY_RETURN_IF_ERROR(s.Execute("INSERT INTO tags (resource_arn, tag_key, "
                                    "tag_value) VALUES (?, ?, ?)",
                                    {arn, key, value})
                              .status());
  }
  return Status::Ok();
}

Status StateStore::RemoveTags(SqlSession& s, const std::string& arn,
                              const std::vector<std::string>& keys) {
  for (const std::string& key : keys) {
    FERRY_RETURN_IF_ERROR(
        s.Execute("DELETE FROM tags WHERE resource_arn = ? AND tag_key = ?",
                  {arn, key})
            .status());
  }
  return Status::Ok();
}

Result<Page<std::pair<std::string, std::string>>> StateStore::ListTags(
    SqlSession& s, const std::string& arn, const std::string& after,
    int limit) {
  FERRY_ASSIGN_OR_RETURN(
      auto rows,
      s.Query("SELECT tag_key, tag_value FROM tags WHERE resource_arn = ? AND "
              "tag_key > ? ORDER BY tag_key LIMIT ?",
              PageParams({arn}, after, limit)));
  Page<std::pair<std::string, std::string>> page;
  for (const SqlRow& row : rows) {
    FERRY_ASSIGN_OR_RETURN(auto k, SqlText(row, 0));
    FERRY_ASSIGN_OR_RETURN(auto v, SqlText(row, 1));
    page.items.emplace_back(Text(k), Text(v));
  }
  TrimPage<std::pair<std::string, std::string>>(
      &page, limit,
      [](const std::pair<std::string, std::string>& t) { return t.first; });
  return page;
}

Status StateStore::DeleteAllTags(SqlSession& s, const std::string& arn) {
  return s.Execute("DELETE FROM tags WHERE resource_arn = ?", {arn}).status();
}

// --- Access keys ---

Status StateStore::PutAccessKey(SqlSession& s, const std::string& access_key_id,
                                const std::string& sealed_secret,
                                int64_t now_ms) {
  return s
      .Execute(
          "INSERT INTO access_keys (access_key_id, sealed_secret, created_ms) "
          "VALUES (?, ?, "
          "?)",
          {access_key_id, sealed_secret, now_ms})
      .status();
}

Result<std::optional<std::string>> StateStore::GetAccessKey(
    SqlSession& s, const std::string& access_key_id) {
  FERRY_ASSIGN_OR_RETURN(
      auto rows,
      s.Query("SELECT sealed_secret FROM access_keys WHERE access_key_id = ?",
              {access_key_id}));
  if (rows.empty()) return std::optional<std::string>();
  FERRY_ASSIGN_OR_RETURN(auto secret, SqlText(rows.front(), 0));
  return std::optional<std::string>(Text(secret));
}

}  // namespace ferry::control
