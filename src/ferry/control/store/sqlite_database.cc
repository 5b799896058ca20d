// Database over SQLite: one connection behind a mutex. The control plane's
// transactions are short, and SQLite lets one writer in at a time anyway; a
// single connection also means transactions of one process never conflict, so
// only other processes on the same file can make BEGIN wait (busy timeout) or
// fail busy (retried). Transactions begin IMMEDIATE: every one may write, and
// taking the write lock up front avoids the read-to-write upgrade that fails
// without waiting.
#include <sqlite3.h>

#include <mutex>

#include "ferry/control/store/database.h"
#include "ferry/control/store/database_internal.h"

namespace ferry {
namespace {

using store_internal::Attempt;
using store_internal::QuoteSql;

constexpr int kBusyTimeoutMs = 5000;

bool IsConflict(int rc) {
  int primary = rc & 0xff;
  return primary == SQLITE_BUSY || primary == SQLITE_LOCKED;
}

// The one place SQLite result codes become Statuses. Read the message before
// anything else runs on the connection.
Status SqliteError(sqlite3* db, int rc, std::string_view what) {
  std::string message(what);
  message += ": ";
  message += db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status(StatusCode::kUnavailable, std::move(message), 0,
                    /*retryable=*/true);
    case SQLITE_CONSTRAINT:
      if (rc == SQLITE_CONSTRAINT_UNIQUE ||
          rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
        return Status::AlreadyExists(std::move(message));
      }
      return Status::FailedPrecondition(std::move(message));
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
      return Status::IoError(std::move(message));
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Status::DataLoss(std::move(message));
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return Status(StatusCode::kPermissionDenied, std::move(message));
    case SQLITE_RANGE:
    case SQLITE_MISMATCH:
    case SQLITE_TOOBIG:
      return Status::InvalidArgument(std::move(message));
    default:
      return Status::Internal(std::move(message));
  }
}

// Finalizes a prepared statement when it goes out of scope.
struct StatementCloser {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using Statement = std::unique_ptr<sqlite3_stmt, StatementCloser>;

class SqliteSession final : public store_internal::TrackingSession {
 public:
  SqliteSession(sqlite3* db, const std::string& name) : db_(db), name_(name) {}

 protected:
  Result<int64_t> Run(std::string_view sql, const std::vector<SqlValue>& params,
                      std::vector<SqlRow>* rows, bool* conflict) override {
    const std::string what = name_ + ": " + QuoteSql(sql);
    sqlite3_stmt* raw = nullptr;
    const char* tail = nullptr;
    int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()),
                                &raw, &tail);
    Statement stmt(raw);
    if (rc != SQLITE_OK) {
      *conflict = IsConflict(rc);
      return SqliteError(db_, rc, what);
    }
    if (stmt == nullptr) {
      return Status::InvalidArgument(what + ": no statement");
    }
    FERRY_RETURN_IF_ERROR(CheckNothingAfter(tail, sql, what));
    const int expected = sqlite3_bind_parameter_count(stmt.get());
    if (expected != static_cast<int>(params.size())) {
      return Status::InvalidArgument(
          what + ": the statement has " + std::to_string(expected) +
          " placeholders but " + std::to_string(params.size()) +
          " parameters were given");
    }
    for (size_t i = 0; i < params.size(); ++i) {
      rc = Bind(stmt.get(), static_cast<int>(i + 1), params[i]);
      if (rc != SQLITE_OK) return SqliteError(db_, rc, what);
    }

    const sqlite3_int64 total_before = sqlite3_total_changes64(db_);
    while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
      if (rows != nullptr) rows->push_back(ReadRow(stmt.get()));
    }
    if (rc != SQLITE_DONE) {
      *conflict = IsConflict(rc);
      return SqliteError(db_, rc, what);
    }
    // sqlite3_changes64() keeps the count of the last INSERT, UPDATE or
    // DELETE; a statement that changed nothing must not report it.
    if (sqlite3_total_changes64(db_) == total_before) return 0;
    return sqlite3_changes64(db_);
  }

 private:
  // One statement per call: a second one would be silently ignored.
  Status CheckNothingAfter(const char* tail, std::string_view sql,
                           const std::string& what) {
    const char* end = sql.data() + sql.size();
    if (tail == nullptr || tail >= end) return Status::Ok();
    sqlite3_stmt* next = nullptr;
    int rc = sqlite3_prepare_v2(db_, tail, static_cast<int>(end - tail), &next,
                                nullptr);
    sqlite3_finalize(next);
    if (rc == SQLITE_OK && next == nullptr) return Status::Ok();  // comments
    return Status::InvalidArgument(what +
                                   ": holds more than one statement; run "
                                   "them one at a time");
  }

  static int Bind(sqlite3_stmt* stmt, int index, const SqlValue& value) {
    switch (value.index()) {
      case 0:
        return sqlite3_bind_null(stmt, index);
      case 1:
        return sqlite3_bind_int64(stmt, index, std::get<int64_t>(value));
      case 2:
        return sqlite3_bind_double(stmt, index, std::get<double>(value));
      default: {
        const std::string& text = std::get<std::string>(value);
        return sqlite3_bind_text64(stmt, index, text.data(), text.size(),
                                   SQLITE_TRANSIENT, SQLITE_UTF8);
      }
    }
  }

  static SqlRow ReadRow(sqlite3_stmt* stmt) {
    const int columns = sqlite3_column_count(stmt);
    SqlRow row;
    row.reserve(columns);
    for (int c = 0; c < columns; ++c) {
      switch (sqlite3_column_type(stmt, c)) {
        case SQLITE_NULL:
          row.emplace_back(std::monostate());
          break;
        case SQLITE_INTEGER:
          row.emplace_back(int64_t{sqlite3_column_int64(stmt, c)});
          break;
        case SQLITE_FLOAT:
          row.emplace_back(sqlite3_column_double(stmt, c));
          break;
        default: {  // TEXT, or a BLOB read as bytes
          const void* data = sqlite3_column_blob(stmt, c);
          const int size = sqlite3_column_bytes(stmt, c);
          row.emplace_back(
              data == nullptr
                  ? std::string()
                  : std::string(static_cast<const char*>(data), size));
        }
      }
    }
    return row;
  }

  sqlite3* db_;
  const std::string& name_;
};

class SqliteDatabase final : public Database {
 public:
  SqliteDatabase(sqlite3* db, std::string path)
      : db_(db), name_("sqlite:" + std::move(path)) {}
  ~SqliteDatabase() override { sqlite3_close_v2(db_); }

  Dialect dialect() const override { return Dialect::kSqlite; }
  std::string Describe() const override { return name_; }

  Status Transaction(const std::function<Status(SqlSession&)>& fn) override {
    store_internal::TransactionScope scope(this);
    FERRY_RETURN_IF_ERROR(scope.status());
    return store_internal::RunWithRetries([&]() -> Attempt {
      std::lock_guard<std::mutex> lock(mu_);
      // Whatever `fn` does, the connection leaves this attempt outside any
      // transaction: a failed attempt (or an exception) rolls back here.
      struct RollbackOnExit {
        SqliteDatabase* db;
        ~RollbackOnExit() { db->Rollback(); }
      } rollback_on_exit{this};
      int rc = sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
      if (rc != SQLITE_OK) {
        return {SqliteError(db_, rc, name_ + ": BEGIN"), IsConflict(rc)};
      }
      SqliteSession session(db_, name_);
      Status status = fn(session);
      if (status.ok() && !session.first_error().ok()) {
        status = session.first_error().WithContext(
            "transaction rolled back after a failed statement");
      }
      if (!status.ok()) {
        return {std::move(status), session.conflict()};
      }
      rc = sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr);
      if (rc != SQLITE_OK) {
        return {SqliteError(db_, rc, name_ + ": COMMIT"), IsConflict(rc)};
      }
      return {};
    });
  }

 private:
  // REQUIRES: mu_ held. Does nothing outside a transaction (after a commit,
  // or after an error on which SQLite rolled back by itself).
  void Rollback() {
    if (sqlite3_get_autocommit(db_) == 0) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    }
  }

  std::mutex mu_;
  sqlite3* const db_;  // GUARDED_BY(mu_)
  const std::string name_;
};

// Runs a pragma and returns its first result column as text ("" if none).
Result<std::string> Pragma(sqlite3* db, const std::string& name,
                           const std::string& sql) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db, sql.c_str(), -1, &raw, nullptr);
  Statement stmt(raw);
  if (rc != SQLITE_OK) return SqliteError(db, rc, name + ": " + sql);
  std::string value;
  while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
    if (value.empty() && sqlite3_column_text(stmt.get(), 0) != nullptr) {
      value = reinterpret_cast<const char*>(sqlite3_column_text(stmt.get(), 0));
    }
  }
  if (rc != SQLITE_DONE) return SqliteError(db, rc, name + ": " + sql);
  return value;
}

}  // namespace

Result<std::unique_ptr<Database>> OpenSqliteDatabase(const std::string& path) {
  const std::string name = "sqlite:" + path;
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(
      path.c_str(), &db,
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
      nullptr);
  if (rc != SQLITE_OK) {
    Status error = SqliteError(db, rc, name + ": open");
    sqlite3_close_v2(db);
    return error;
  }
  auto database = std::make_unique<SqliteDatabase>(db, path);
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  // Double-quoted strings are identifiers, as in PostgreSQL, not string
  // literals when no such column exists.
  sqlite3_db_config(db, SQLITE_DBCONFIG_DQS_DML, 0, nullptr);
  sqlite3_db_config(db, SQLITE_DBCONFIG_DQS_DDL, 0, nullptr);

  FERRY_ASSIGN_OR_RETURN(std::string mode,
                         Pragma(db, name, "PRAGMA journal_mode = WAL"));
  if (mode != "wal") {
    return Status::NotSupported(name + ": cannot use WAL mode (journal mode " +
                                mode + ")");
  }
  FERRY_RETURN_IF_ERROR(Pragma(db, name, "PRAGMA foreign_keys = ON").status());
  FERRY_ASSIGN_OR_RETURN(std::string fk,
                         Pragma(db, name, "PRAGMA foreign_keys"));
  if (fk != "1") {
    return Status::NotSupported(name +
                                ": this SQLite does not enforce foreign keys");
  }
  return std::unique_ptr<Database>(std::move(database));
}

}  // namespace ferry
