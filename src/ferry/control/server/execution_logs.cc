#include "ferry/control/server/execution_logs.h"

#include <algorithm>

#include "ferry/control/server/execution_control.h"

namespace ferry::control {
namespace {

// Rows per INSERT statement (6 parameters each).
constexpr size_t kInsertBatch = 100;

// What the server knows of one execution's records.
struct LogState {
  bool exists = false;
  int64_t records = 0;               // rows in execution_logs
  int64_t highest_seq = 0;           // the highest Seq stored
  int64_t rotated_seq = 0;           // Seqs up to here were dropped (0: none)
  int64_t dropped = 0;               // records dropped by rotation
  std::optional<int64_t> final_seq;  // the last Seq, once a final report said
};

int64_t Int(const std::optional<int64_t>& i) { return i.value_or(0); }

Result<LogState> GetState(SqlSession& s, const std::string& arn) {
  FERRY_ASSIGN_OR_RETURN(
      auto rows,
      s.Query("SELECT records, highest_seq, rotated_seq, dropped, final_seq "
              "FROM execution_log_state WHERE execution_arn = ?",
              {arn}));
  LogState st;
  if (rows.empty()) return st;
  st.exists = true;
  FERRY_ASSIGN_OR_RETURN(auto records, SqlInt(rows[0], 0));
  FERRY_ASSIGN_OR_RETURN(auto highest, SqlInt(rows[0], 1));
  FERRY_ASSIGN_OR_RETURN(auto rotated, SqlInt(rows[0], 2));
  FERRY_ASSIGN_OR_RETURN(auto dropped, SqlInt(rows[0], 3));
  FERRY_ASSIGN_OR_RETURN(st.final_seq, SqlInt(rows[0], 4));
  st.records = Int(records);
  st.highest_seq = Int(highest);
  st.rotated_seq = Int(rotated);
  st.dropped = Int(dropped);
  return st;
}

Status PutState(SqlSession& s, const std::string& arn, const LogState& st) {
  SqlValue final_seq = st.final_seq ? SqlValue(*st.final_seq) : SqlValue();
  if (!st.exists) {
    return s
        .Execute(
            "INSERT INTO execution_log_state (execution_arn, records, "
            "highest_seq, rotated_seq, dropped, final_seq) VALUES (?, ?, ?, "
            "?, ?, ?)",
            {arn, st.records, st.highest_seq, st.rotated_seq, st.dropped,
             final_seq})
        .status();
  }
  return s
      .Execute(
          "UPDATE execution_log_state SET records = ?, highest_seq = ?, "
          "rotated_seq = ?, dropped = ?, final_seq = ? WHERE execution_arn = ?",
          {st.records, st.highest_seq, st.rotated_seq, st.dropped, final_seq,
           arn})
      .status();
}

// Inserts `records` (by Seq, each above st->rotated_seq), ignoring Seqs
// already stored.
Status Insert(SqlSession& s, const std::string& arn,
              const std::vector<const protocol::LogRecord*>& records,
              LogState* st) {
  for (size_t i = 0; i < records.size(); i += kInsertBatch) {
    const size_t n = std::min(kInsertBatch, records.size() - i);
    std::string sql =
        "INSERT INTO execution_logs (execution_arn, seq, time_ms, level, "
        "event, message) VALUES ";
    std::vector<SqlValue> params;
    params.reserve(n * 6);
    for (size_t k = 0; k < n; ++k) {
      const protocol::LogRecord& r = *records[i + k];
      sql += k == 0 ? "(?, ?, ?, ?, ?, ?)" : ", (?, ?, ?, ?, ?, ?)";
      params.insert(params.end(),
                    {arn, r.seq, r.time_ms, r.level, r.event, r.message});
      st->highest_seq = std::max(st->highest_seq, r.seq);
    }
    sql += " ON CONFLICT DO NOTHING";
    FERRY_ASSIGN_OR_RETURN(int64_t inserted, s.Execute(sql, params));
    st->records += inserted;
  }
  return Status::Ok();
}

// Past `max` records, the oldest go; one record, with the Seq of the last
// of them, says how many went in all.
Status Rotate(SqlSession& s, const std::string& arn, int64_t max, int64_t now,
              LogState* st) {
  max = std::max<int64_t>(max, 2);
  if (st->records <= max) return Status::Ok();
  const int64_t go = st->records - max + 1;  // room for the marker
  FERRY_ASSIGN_OR_RETURN(
      auto rows, s.Query("SELECT seq FROM execution_logs WHERE execution_arn "
                         "= ? ORDER BY seq LIMIT 1 OFFSET ?",
                         {arn, go - 1}));
  if (rows.empty()) return Status::Internal("execution log rotation: no row");
  FERRY_ASSIGN_OR_RETURN(auto cutoff_value, SqlInt(rows[0], 0));
  const int64_t cutoff = Int(cutoff_value);
  FERRY_ASSIGN_OR_RETURN(
      int64_t deleted,
      s.Execute(
          "DELETE FROM execution_logs WHERE execution_arn = ? AND seq <= ?",
          {arn, cutoff}));
  // The marker of an earlier rotation is the oldest row: it went too.
  st->dropped += deleted - (st->rotated_seq > 0 ? 1 : 0);
  st->records -= deleted;
  st->rotated_seq = cutoff;
  const std::string message =
      std::to_string(st->dropped) +
      " earlier log record(s) of this execution were dropped: the server "
      "keeps at most " +
      std::to_string(max) + " per execution";
  FERRY_RETURN_IF_ERROR(
      s.Execute("INSERT INTO execution_logs (execution_arn, seq, time_ms, "
                "level, event, message) VALUES (?, ?, ?, ?, ?, ?)",
                {arn, cutoff, now, std::string("WARN"),
                 std::string(kServerDroppedRecordsEvent), message})
          .status());
  ++st->records;
  return Status::Ok();
}

// Executions whose records go: ended before `cutoff_ms`, or gone.
constexpr char kExpiredExecutions[] =
    "SELECT l.execution_arn FROM execution_log_state l LEFT JOIN executions "
    "e ON e.arn = l.execution_arn WHERE e.arn IS NULL OR (e.end_ms > 0 AND "
    "e.end_ms < ?)";

}  // namespace

Status CreateExecutionLogTables(SqlSession& s) {
  const char* statements[] = {
      "CREATE TABLE execution_logs (execution_arn TEXT NOT NULL, seq BIGINT "
      "NOT NULL, time_ms BIGINT NOT NULL, level TEXT NOT NULL, event TEXT "
      "NOT NULL, message TEXT NOT NULL, PRIMARY KEY (execution_arn, seq))",
      "CREATE TABLE execution_log_state (execution_arn TEXT PRIMARY KEY, "
      "records BIGINT NOT NULL, highest_seq BIGINT NOT NULL, rotated_seq "
      "BIGINT NOT NULL, dropped BIGINT NOT NULL, final_seq BIGINT)",
  };
  for (const char* sql : statements) {
    FERRY_RETURN_IF_ERROR(s.Execute(sql).status());
  }
  return Status::Ok();
}

Status StoreExecutionLogs(ServerContext& ctx, SqlSession& s,
                          const std::string& agent_arn,
                          const protocol::SyncRequest& request,
                          protocol::SyncResponse* response) {
  const int64_t now = ctx.now_ms();
  for (const protocol::ExecutionReport& r : request.executions) {
    if (r.logs.empty() && r.logs_seq == 0 && !r.final) continue;
    if (response->logs_stored.size() >= protocol::kMaxExecutionsPerSync) {
      break;
    }
    FERRY_ASSIGN_OR_RETURN(auto e, ctx.store.GetExecution(s, r.execution_arn));
    if (!e) {
      // Nothing to keep them with: the agent may forget them.
      if (r.logs_seq > 0) response->logs_stored[r.execution_arn] = r.logs_seq;
      continue;
    }
    if (e->agent_arn != agent_arn) continue;
    FERRY_ASSIGN_OR_RETURN(LogState st, GetState(s, e->arn));
    const LogState before = st;
    std::vector<const protocol::LogRecord*> fresh;
    for (const protocol::LogRecord& l : r.logs) {
      if (l.seq > st.rotated_seq) fresh.push_back(&l);
    }
    FERRY_RETURN_IF_ERROR(Insert(s, e->arn, fresh, &st));
    if (r.final) st.final_seq = std::max(st.final_seq.value_or(0), r.logs_seq);
    FERRY_RETURN_IF_ERROR(
        Rotate(s, e->arn, ctx.config.logs.max_records_per_execution, now, &st));
    if (!st.exists || st.records != before.records ||
        st.highest_seq != before.highest_seq ||
        st.rotated_seq != before.rotated_seq ||
        st.final_seq != before.final_seq) {
      FERRY_RETURN_IF_ERROR(PutState(s, e->arn, st));
    }
    if (!r.logs.empty() || r.logs_seq > 0) {
      response->logs_stored[e->arn] = st.highest_seq;
    }
  }
  return Status::Ok();
}

Result<int64_t> PruneExecutionLogs(ServerContext& ctx, SqlSession& s,
                                   int64_t now_ms) {
  const int64_t cutoff =
      now_ms - std::chrono::duration_cast<std::chrono::milliseconds>(
                   ctx.config.logs.retention)
                   .count();
  FERRY_ASSIGN_OR_RETURN(
      int64_t records,
      s.Execute(std::string("DELETE FROM execution_logs WHERE execution_arn "
                            "IN (") +
                    kExpiredExecutions + ")",
                {cutoff}));
  FERRY_RETURN_IF_ERROR(
      s.Execute(std::string("DELETE FROM execution_log_state WHERE "
                            "execution_arn IN (") +
                    kExpiredExecutions + ")",
                {cutoff})
          .status());
  return records;
}

Status DeleteTaskExecutionLogs(SqlSession& s, const std::string& task_arn) {
  for (const char* table : {"execution_logs", "execution_log_state"}) {
    FERRY_RETURN_IF_ERROR(
        s.Execute(std::string("DELETE FROM ") + table +
                      " WHERE execution_arn IN (SELECT arn FROM executions "
                      "WHERE task_arn = ?)",
                  {task_arn})
            .status());
  }
  return Status::Ok();
}

Result<ExecutionLogPage> ReadExecutionLogs(SqlSession& s,
                                           const ExecutionRecord& e,
                                           int64_t start_seq, int limit) {
  ExecutionLogPage page;
  start_seq = std::max<int64_t>(start_seq, 1);
  FERRY_ASSIGN_OR_RETURN(
      auto rows,
      s.Query("SELECT seq, time_ms, level, event, message FROM execution_logs "
              "WHERE execution_arn = ? AND seq >= ? ORDER BY seq LIMIT ?",
              {e.arn, start_seq, static_cast<int64_t>(limit) + 1}));
  const bool more = rows.size() > static_cast<size_t>(limit);
  if (more) rows.resize(static_cast<size_t>(limit));
  for (const SqlRow& row : rows) {
    protocol::LogRecord r;
    FERRY_ASSIGN_OR_RETURN(auto seq, SqlInt(row, 0));
    FERRY_ASSIGN_OR_RETURN(auto time, SqlInt(row, 1));
    FERRY_ASSIGN_OR_RETURN(auto level, SqlText(row, 2));
    FERRY_ASSIGN_OR_RETURN(auto event, SqlText(row, 3));
    FERRY_ASSIGN_OR_RETURN(auto message, SqlText(row, 4));
    r.seq = Int(seq);
    r.time_ms = Int(time);
    r.level = level.value_or("");
    r.event = event.value_or("");
    r.message = message.value_or("");
    page.records.push_back(std::move(r));
  }
  page.next_seq =
      page.records.empty() ? start_seq : page.records.back().seq + 1;
  FERRY_ASSIGN_OR_RETURN(LogState st, GetState(s, e.arn));
  // An execution the server ended without a final report from its agent
  // (AgentOffline, say) has what arrived.
  const bool all_stored = !st.final_seq || st.highest_seq >= *st.final_seq;
  page.complete = IsFinalStatus(e.status) && all_stored && !more;
  return page;
}

}  // namespace ferry::control
