// Database: the one narrow SQL interface the control plane's state goes
// through, with a SQLite implementation (the default: one file in the data
// directory, WAL) and a PostgreSQL one (several server replicas sharing one
// database). Statements use `?` placeholders in both; the PostgreSQL
// implementation rewrites them to $1, $2, ... Values are NULL, 64-bit
// integers, doubles or text (JSON goes in text). Thread-safe: a Database may be
// used from many threads at once (a pool of connections, or one connection
// behind a mutex); a Transaction is used by the thread that runs it.
//
// Both dialects behave alike where ferry's code could tell: transactions are
// serializable (SQLite admits one writer at a time; PostgreSQL runs them
// SERIALIZABLE and retries the ones that conflict), a failed statement fails
// its whole transaction, text holds no NUL bytes, and errors map to the same
// codes: a unique violation is AlreadyExists, another constraint violation
// FailedPrecondition, a conflict or lost connection Unavailable (retryable).
// Messages name the database, the statement and what the database said.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "ferry/base/status.h"

namespace ferry {

using SqlValue = std::variant<std::monostate, int64_t, double, std::string>;
using SqlRow = std::vector<SqlValue>;

// Reading values of a row: NULL is nullopt; a type mismatch is an Internal
// error naming the column.
Result<std::optional<int64_t>> SqlInt(const SqlRow& row, size_t column);
Result<std::optional<std::string>> SqlText(const SqlRow& row, size_t column);

// Statements run inside one transaction.
class SqlSession {
 public:
  virtual ~SqlSession() = default;
  // Runs one statement (a second one in `sql` is an error); returns the number
  // of rows it changed. One parameter per `?`. On PostgreSQL integers go as
  // int8 and doubles as float8 (a function taking only integer wants
  // CAST(? AS INTEGER)), text untyped; results come back int2/int4/int8 as
  // integers, float4/float8 as doubles, bool as 1 or 0, everything else as
  // text.
  virtual Result<int64_t> Execute(std::string_view sql,
                                  const std::vector<SqlValue>& params = {}) = 0;
  virtual Result<std::vector<SqlRow>> Query(
      std::string_view sql, const std::vector<SqlValue>& params = {}) = 0;
};

class Database {
 public:
  enum class Dialect { kSqlite, kPostgres };

  virtual ~Database() = default;
  virtual Dialect dialect() const = 0;
  // "sqlite:/path/state.db" or "postgresql://user@host/db" (no password).
  virtual std::string Describe() const = 0;

  // Runs `fn` in one transaction: committed if it returns OK, rolled back
  // otherwise. Retried (a few times, with backoff) when the database reports
  // a serialization failure or a busy lock, so `fn` must be safe to re-run.
  // Once a statement failed, the session refuses the next ones and the
  // transaction rolls back even if `fn` returns OK (PostgreSQL aborts the
  // transaction there; SQLite is made to do the same). `fn` must not call
  // Transaction() of the same database (FailedPrecondition).
  virtual Status Transaction(const std::function<Status(SqlSession&)>& fn) = 0;

  // A single statement in its own transaction.
  Result<int64_t> Execute(std::string_view sql,
                          const std::vector<SqlValue>& params = {});
  Result<std::vector<SqlRow>> Query(std::string_view sql,
                                    const std::vector<SqlValue>& params = {});
};

// Opens (creating if needed) a SQLite database file in WAL mode.
Result<std::unique_ptr<Database>> OpenSqliteDatabase(const std::string& path);
// Connects to PostgreSQL; `url` is a libpq connection URI.
Result<std::unique_ptr<Database>> OpenPostgresDatabase(const std::string& url);
// "postgresql://..." or "postgres://..." -> PostgreSQL; anything else is a
// SQLite file path, optionally written "sqlite:PATH" as Describe() prints it.
Result<std::unique_ptr<Database>> OpenDatabase(const std::string& spec);

// Schema migrations: numbered steps, each applied once, in order, in its own
// transaction, recorded in a `schema_version` table. SQL in a step may differ
// per dialect.
struct Migration {
  int version;
  std::string description;
  std::function<Status(SqlSession&, Database::Dialect)> apply;
};
// Applies the steps not applied yet; fails if the database holds a newer
// version than the newest step (a newer ferry wrote it).
Status Migrate(Database& db, const std::vector<Migration>& migrations);

}  // namespace ferry
