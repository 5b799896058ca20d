// The dialect-independent parts of Database: value accessors, the
// single-statement helpers, OpenDatabase and schema migrations.
#include "ferry/control/store/database.h"

#include <chrono>
#include <ctime>
#include <string>

namespace ferry {
namespace {

std::string_view ValueKind(const SqlValue& value) {
  switch (value.index()) {
    case 0:
      return "NULL";
    case 1:
      return "an integer";
    case 2:
      return "a double";
    default:
      return "text";
  }
}

Status CheckColumn(const SqlRow& row, size_t column) {
  if (column < row.size()) return Status::Ok();
  return Status::Internal("column " + std::to_string(column) +
                          " is out of range: the row has " +
                          std::to_string(row.size()) + " columns");
}

Status TypeMismatch(const SqlRow& row, size_t column, std::string_view want) {
  return Status::Internal("column " + std::to_string(column) + " holds " +
                          std::string(ValueKind(row[column])) + ", not " +
                          std::string(want));
}

// Now as "YYYY-MM-DDTHH:MM:SSZ".
std::string UtcNow() {
  std::time_t now =
      std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// An arbitrary constant: the key of the PostgreSQL advisory lock that makes
// two servers starting at once create the schema_version table one after the
// other.
constexpr int64_t kMigrationLockKey = 0x66657272790001;  // "ferry" 1

Result<int64_t> SchemaVersion(SqlSession& session) {
  FERRY_ASSIGN_OR_RETURN(
      std::vector<SqlRow> rows,
      session.Query("SELECT COALESCE(MAX(version), 0) FROM schema_version"));
  if (rows.size() != 1) {
    return Status::Internal("reading the schema version returned " +
                            std::to_string(rows.size()) + " rows");
  }
  FERRY_ASSIGN_OR_RETURN(std::optional<int64_t> version, SqlInt(rows[0], 0));
  return version.value_or(0);
}

Status CheckMigrations(const std::vector<Migration>& migrations) {
  int previous = 0;
  for (const Migration& m : migrations) {
    if (m.version <= previous) {
      return Status::InvalidArgument(
          "migration versions must be positive and increasing: " +
          std::to_string(m.version) + " (" + m.description + ") comes after " +
          std::to_string(previous));
    }
    if (!m.apply) {
      return Status::InvalidArgument("migration " + std::to_string(m.version) +
                                     " has no apply function");
    }
    previous = m.version;
  }
  return Status::Ok();
}

}  // namespace

Result<std::optional<int64_t>> SqlInt(const SqlRow& row, size_t column) {
  FERRY_RETURN_IF_ERROR(CheckColumn(row, column));
  const SqlValue& value = row[column];
  if (std::holds_alternative<std::monostate>(value)) {
    return std::optional<int64_t>();
  }
  if (const int64_t* i = std::get_if<int64_t>(&value)) {
    return std::optional<int64_t>(*i);
  }
  return TypeMismatch(row, column, "an integer");
}

Result<std::optional<std::string>> SqlText(const SqlRow& row, size_t column) {
  FERRY_RETURN_IF_ERROR(CheckColumn(row, column));
  const SqlValue& value = row[column];
  if (std::holds_alternative<std::monostate>(value)) {
    return std::optional<std::string>();
  }
  if (const std::string* s = std::get_if<std::string>(&value)) {
    return std::optional<std::string>(*s);
  }
  return TypeMismatch(row, column, "text");
}

Result<int64_t> Database::Execute(std::string_view sql,
                                  const std::vector<SqlValue>& params) {
  int64_t changed = 0;
  FERRY_RETURN_IF_ERROR(Transaction([&](SqlSession& session) -> Status {
    FERRY_ASSIGN_OR_RETURN(changed, session.Execute(sql, params));
    return Status::Ok();
  }));
  return changed;
}

Result<std::vector<SqlRow>> Database::Query(
    std::string_view sql, const std::vector<SqlValue>& params) {
  std::vector<SqlRow> rows;
  FERRY_RETURN_IF_ERROR(Transaction([&](SqlSession& session) -> Status {
    FERRY_ASSIGN_OR_RETURN(rows, session.Query(sql, params));
    return Status::Ok();
  }));
  return rows;
}

Result<std::unique_ptr<Database>> OpenDatabase(const std::string& spec) {
  if (spec.starts_with("postgresql://") || spec.starts_with("postgres://")) {
    return OpenPostgresDatabase(spec);
  }
  // "sqlite:PATH", as Describe() prints it, names the file PATH.
  std::string path = spec.starts_with("sqlite:") ? spec.substr(7) : spec;
  if (path.empty()) {
    return Status::InvalidArgument(
        "empty database: expected a SQLite file path or a postgresql:// URL");
  }
  return OpenSqliteDatabase(path);
}

Status Migrate(Database& db, const std::vector<Migration>& migrations) {
  FERRY_RETURN_IF_ERROR(CheckMigrations(migrations));
  const Database::Dialect dialect = db.dialect();
  const bool postgres = dialect == Database::Dialect::kPostgres;
  const int newest = migrations.empty() ? 0 : migrations.back().version;

  int64_t current = 0;
  Status status = db.Transaction([&](SqlSession& session) -> Status {
    if (postgres) {
      FERRY_RETURN_IF_ERROR(
          session.Query("SELECT pg_advisory_xact_lock(?)", {kMigrationLockKey})
              .status());
    }
    FERRY_RETURN_IF_ERROR(
        session
            .Execute("CREATE TABLE IF NOT EXISTS schema_version ("
                     "version BIGINT PRIMARY KEY, description TEXT NOT NULL, "
                     "applied_at TEXT NOT NULL)")
            .status());
    FERRY_ASSIGN_OR_RETURN(current, SchemaVersion(session));
    return Status::Ok();
  });
  if (!status.ok()) return status.WithContext("reading the schema version");
  if (current > newest) {
    return Status::FailedPrecondition(
        db.Describe() + " has schema version " + std::to_string(current) +
        ", newer than the newest this ferry knows (" + std::to_string(newest) +
        "): a newer ferry wrote it");
  }

  for (const Migration& step : migrations) {
    if (step.version <= current) continue;
    status = db.Transaction([&](SqlSession& session) -> Status {
      if (postgres) {
        // Taken before the transaction's first query, so that its snapshot
        // shows what a server migrating at the same time committed.
        FERRY_RETURN_IF_ERROR(
            session
                .Execute(
                    "LOCK TABLE schema_version IN SHARE ROW EXCLUSIVE MODE")
                .status());
      }
      FERRY_ASSIGN_OR_RETURN(int64_t now_current, SchemaVersion(session));
      if (now_current >= step.version) return Status::Ok();  // done by another
      FERRY_RETURN_IF_ERROR(step.apply(session, dialect));
      return session
          .Execute(
              "INSERT INTO schema_version (version, description, applied_at) "
              "VALUES (?, ?, ?)",
              {int64_t{step.version}, step.description, UtcNow()})
          .status();
    });
    if (!status.ok()) {
      return status.WithContext("migration " + std::to_string(step.version) +
                                " (" + step.description + ")");
    }
  }
  return Status::Ok();
}

}  // namespace ferry
