#include "ferry/control/store/database_internal.h"

#include <algorithm>
#include <chrono>
#include <random>
#include <thread>

namespace ferry::store_internal {

Status RunWithRetries(const std::function<Attempt()>& attempt) {
  thread_local std::minstd_rand jitter(std::random_device{}());
  int backoff_ms = kFirstBackoffMs;
  for (int n = 1;; ++n) {
    Attempt result = attempt();
    if (result.status.ok() || !result.retry) return result.status;
    if (n == kMaxTransactionAttempts) {
      return result.status.WithContext("transaction failed " +
                                       std::to_string(n) + " times");
    }
    // Sleep between half and one and a half times the backoff so that two
    // transactions that collided do not collide again in lock step.
    std::uniform_int_distribution<int> spread(backoff_ms * 500,
                                              backoff_ms * 1500);
    std::this_thread::sleep_for(std::chrono::microseconds(spread(jitter)));
    backoff_ms = std::min(backoff_ms * 2, kMaxBackoffMs);
  }
}

namespace {
// The databases whose transactions this thread is inside (rarely more than
// one).
thread_local std::vector<const Database*> active_databases;
}  // namespace

TransactionScope::TransactionScope(const Database* db) : db_(db) {
  if (std::find(active_databases.begin(), active_databases.end(), db) !=
      active_databases.end()) {
    db_ = nullptr;
    status_ = Status::FailedPrecondition(
        "Transaction() called inside a transaction of the same database (" +
        db->Describe() + "); use the SqlSession it was given");
    return;
  }
  active_databases.push_back(db);
}

TransactionScope::~TransactionScope() {
  if (db_ == nullptr) return;
  auto it = std::find(active_databases.begin(), active_databases.end(), db_);
  if (it != active_databases.end()) active_databases.erase(it);
}

Result<int64_t> TrackingSession::Execute(std::string_view sql,
                                         const std::vector<SqlValue>& params) {
  return Track(sql, params, nullptr);
}

Result<std::vector<SqlRow>> TrackingSession::Query(
    std::string_view sql, const std::vector<SqlValue>& params) {
  std::vector<SqlRow> rows;
  Result<int64_t> result = Track(sql, params, &rows);
  if (!result.ok()) return result.status();
  return rows;
}

Result<int64_t> TrackingSession::Track(std::string_view sql,
                                       const std::vector<SqlValue>& params,
                                       std::vector<SqlRow>* rows) {
  if (!first_error_.ok()) {
    return Status::FailedPrecondition(
        "statement " + QuoteSql(sql) +
        " refused: an earlier statement of this transaction failed (" +
        std::string(first_error_.message()) + ")");
  }
  bool conflict = false;
  Result<int64_t> result = CheckText(sql, params);
  if (result.ok()) result = Run(sql, params, rows, &conflict);
  if (!result.ok()) {
    first_error_ = result.status();
    conflict_ = conflict;
  }
  return result;
}

Result<int64_t> TrackingSession::CheckText(
    std::string_view sql, const std::vector<SqlValue>& params) {
  for (size_t i = 0; i < params.size(); ++i) {
    const std::string* text = std::get_if<std::string>(&params[i]);
    if (text != nullptr && text->find('\0') != std::string::npos) {
      return Status::InvalidArgument(
          "statement " + QuoteSql(sql) + ": parameter " +
          std::to_string(i + 1) +
          " holds a NUL byte, which PostgreSQL text cannot store");
    }
  }
  return 0;
}

std::string QuoteSql(std::string_view sql) {
  constexpr size_t kMaxChars = 160;
  std::string out = "\"";
  bool space = false;
  for (char c : sql) {
    if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
      space = true;
      continue;
    }
    if (space && out.size() > 1) out += ' ';
    space = false;
    // Cut only before the first byte of a UTF-8 sequence.
    if (out.size() > kMaxChars &&
        (static_cast<unsigned char>(c) & 0xC0) != 0x80) {
      out += "...";
      break;
    }
    out += c;
  }
  out += '"';
  return out;
}

}  // namespace ferry::store_internal
