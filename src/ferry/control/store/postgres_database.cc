// Database over PostgreSQL (libpq): a small pool of connections, opened as
// needed, each used by one transaction at a time. Transactions run at
// SERIALIZABLE, so that code written against SQLite (which serializes all
// writers) stays correct here: a conflicting transaction fails with SQLSTATE
// 40001 and is run again. Parameters go as text with explicit lengths;
// integers and doubles are typed int8 and float8, text is left for the server
// to infer (so it can fill a column of any type).
#include <libpq-fe.h>

#include <charconv>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <limits>
#include <mutex>
#include <system_error>

#include "ferry/control/store/database.h"
#include "ferry/control/store/database_internal.h"
#include "ferry/control/store/placeholders.h"

namespace ferry {
namespace {

using store_internal::Attempt;
using store_internal::QuoteSql;

constexpr int kMaxConnections = 4;

// Type OIDs from PostgreSQL's catalog/pg_type.h (stable across versions).
constexpr Oid kBoolOid = 16;
constexpr Oid kInt8Oid = 20;
constexpr Oid kInt2Oid = 21;
constexpr Oid kInt4Oid = 23;
constexpr Oid kFloat4Oid = 700;
constexpr Oid kFloat8Oid = 701;

// A libpq message on one line, without its trailing newline.
std::string OneLine(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\n') {
      out += "; ";
    } else {
      out += c;
    }
  }
  while (out.ends_with("; ") || out.ends_with(' ')) out.pop_back();
  while (!out.empty() && out.back() == ';') out.pop_back();
  return out;
}

void ReplaceAll(std::string& text, std::string_view what,
                std::string_view with) {
  if (what.empty()) return;
  for (size_t at = text.find(what); at != std::string::npos;
       at = text.find(what, at + with.size())) {
    text.replace(at, what.size(), with);
  }
}

// The URL with the password of its user info and any password=... query
// parameter replaced by "***"; for messages about a URL libpq cannot parse.
std::string RedactUrl(std::string_view url) {
  std::string out(url);
  size_t scheme = out.find("://");
  if (scheme != std::string::npos) {
    size_t start = scheme + 3;
    size_t end = out.find_first_of("/?", start);
    if (end == std::string::npos) end = out.size();
    size_t at = out.rfind('@', end);
    if (at != std::string::npos && at >= start) {
      size_t colon = out.find(':', start);
      if (colon != std::string::npos && colon < at) {
        out.replace(colon + 1, at - colon - 1, "***");
      }
    }
  }
  for (size_t at = out.find("password="); at != std::string::npos;
       at = out.find("password=", at + 1)) {
    size_t value = at + 9;
    size_t end = out.find_first_of("& ", value);
    if (end == std::string::npos) end = out.size();
    out.replace(value, end - value, "***");
  }
  return out;
}

// What Describe() prints and what the password may look like in messages,
// from the parsed URL.
struct UrlInfo {
  std::string name;
  std::vector<std::string> secrets;
};

Result<UrlInfo> ParseUrl(const std::string& url) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(url.c_str(), &error);
  if (options == nullptr) {
    std::string message = error != nullptr ? OneLine(error) : "out of memory";
    PQfreemem(error);
    // libpq quotes the part it could not parse, which may hold the password.
    if (size_t at = url.find('@'); at != std::string::npos) {
      std::string_view userinfo = std::string_view(url).substr(0, at);
      size_t scheme = userinfo.find("://");
      size_t colon = userinfo.rfind(':');
      if (scheme != std::string::npos && colon != std::string::npos &&
          colon > scheme + 2) {
        ReplaceAll(message, userinfo.substr(colon + 1), "***");
      }
    }
    return Status::InvalidArgument("invalid PostgreSQL URL " + RedactUrl(url) +
                                   ": " + message);
  }
  std::string user, host, port, dbname;
  UrlInfo info;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    std::string_view key = o->keyword;
    if (key == "user") user = o->val;
    if (key == "host") host = o->val;
    if (key == "hostaddr" && host.empty()) host = o->val;
    if (key == "port") port = o->val;
    if (key == "dbname") dbname = o->val;
    if (key == "password" && *o->val != '\0') info.secrets.push_back(o->val);
  }
  PQconninfoFree(options);
  info.name = "postgresql://";
  if (!user.empty()) info.name += user + "@";
  info.name += host;
  if (!port.empty()) info.name += ":" + port;
  info.name += "/" + dbname;
  return info;
}

// The one place libpq errors become Statuses. `retry` is set when running
// the transaction again may succeed: a serialization failure or deadlock,
// or a connection that broke (ROLLBACK and COMMIT callers decide for
// themselves whether the latter is safe).
Status PostgresError(PGconn* conn, const PGresult* result,
                     std::string_view what, bool* retry) {
  const char* sqlstate = result != nullptr
                             ? PQresultErrorField(result, PG_DIAG_SQLSTATE)
                             : nullptr;
  const char* primary =
      result != nullptr ? PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY)
                        : nullptr;
  const char* detail = result != nullptr
                           ? PQresultErrorField(result, PG_DIAG_MESSAGE_DETAIL)
                           : nullptr;
  std::string message(what);
  message += ": ";
  message += OneLine(primary != nullptr ? primary : PQerrorMessage(conn));
  if (detail != nullptr) message += " (" + OneLine(detail) + ")";
  std::string_view state = sqlstate != nullptr ? sqlstate : "";
  if (!state.empty()) message += " [SQLSTATE " + std::string(state) + "]";

  const bool broken = PQstatus(conn) == CONNECTION_BAD;
  *retry = state == "40001" || state == "40P01" || broken;
  if (*retry) {
    return Status(StatusCode::kUnavailable, std::move(message), 0,
                  /*retryable=*/true);
  }
  if (state == "23505") return Status::AlreadyExists(std::move(message));
  if (state.starts_with("23")) {
    return Status::FailedPrecondition(std::move(message));
  }
  if (state.starts_with("22"))
    return Status::InvalidArgument(std::move(message));
  if (state.starts_with("08") || state.starts_with("57P") || state == "55P03") {
    return Status(StatusCode::kUnavailable, std::move(message), 0,
                  /*retryable=*/true);
  }
  if (state.starts_with("53")) {
    return Status(StatusCode::kResourceExhausted, std::move(message));
  }
  if (state == "42501") {
    return Status(StatusCode::kPermissionDenied, std::move(message));
  }
  return Status::Internal(std::move(message));
}

struct ResultCloser {
  void operator()(PGresult* result) const { PQclear(result); }
};
using PgResult = std::unique_ptr<PGresult, ResultCloser>;

bool Succeeded(const PGresult* result) {
  if (result == nullptr) return false;
  ExecStatusType status = PQresultStatus(result);
  return status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
}

template <typename T>
Status ParseNumber(std::string_view text, T* out, int column) {
  auto [end, ec] =
      std::from_chars(text.data(), text.data() + text.size(), *out);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return Status::Internal("column " + std::to_string(column) +
                            ": cannot read number \"" + std::string(text) +
                            "\" from PostgreSQL");
  }
  return Status::Ok();
}

Status ParseDouble(std::string_view text, double* out, int column) {
  // float8out spells the special values out; from_chars wants "inf", "nan".
  if (text == "Infinity") {
    *out = std::numeric_limits<double>::infinity();
  } else if (text == "-Infinity") {
    *out = -std::numeric_limits<double>::infinity();
  } else if (text == "NaN") {
    *out = std::numeric_limits<double>::quiet_NaN();
  } else {
    return ParseNumber(text, out, column);
  }
  return Status::Ok();
}

Result<std::vector<SqlRow>> ReadRows(const PGresult* result) {
  const int rows = PQntuples(result);
  const int columns = PQnfields(result);
  std::vector<SqlRow> out(rows);
  for (int c = 0; c < columns; ++c) {
    const Oid type = PQftype(result, c);
    for (int r = 0; r < rows; ++r) {
      SqlRow& row = out[r];
      if (c == 0) row.reserve(columns);
      if (PQgetisnull(result, r, c)) {
        row.emplace_back(std::monostate());
        continue;
      }
      std::string_view text(PQgetvalue(result, r, c),
                            PQgetlength(result, r, c));
      switch (type) {
        case kInt2Oid:
        case kInt4Oid:
        case kInt8Oid: {
          int64_t value = 0;
          FERRY_RETURN_IF_ERROR(ParseNumber(text, &value, c));
          row.emplace_back(value);
          break;
        }
        case kFloat4Oid:
        case kFloat8Oid: {
          double value = 0;
          FERRY_RETURN_IF_ERROR(ParseDouble(text, &value, c));
          row.emplace_back(value);
          break;
        }
        case kBoolOid:  // as SQLite has it: 1 or 0
          row.emplace_back(int64_t{text == "t" ? 1 : 0});
          break;
        default:
          row.emplace_back(std::string(text));
      }
    }
  }
  return out;
}

// Parameters in the shape PQexecParams takes them; the pointers point into
// `text` and into the caller's values.
struct Parameters {
  std::vector<std::string> text;
  std::vector<Oid> types;
  std::vector<const char*> values;
  std::vector<int> lengths;
};

Parameters EncodeParameters(const std::vector<SqlValue>& params) {
  Parameters out;
  out.text.resize(params.size());
  out.types.resize(params.size(), 0);
  out.values.resize(params.size(), nullptr);
  out.lengths.resize(params.size(), 0);
  for (size_t i = 0; i < params.size(); ++i) {
    char buf[64];
    switch (params[i].index()) {
      case 0:
        continue;  // NULL: no value, type left to the server
      case 1: {
        auto [end, ec] =
            std::to_chars(buf, buf + sizeof(buf), std::get<int64_t>(params[i]));
        out.text[i].assign(buf, end);
        out.types[i] = kInt8Oid;
        break;
      }
      case 2: {
        double d = std::get<double>(params[i]);
        if (std::isnan(d)) {
          out.text[i] = "NaN";
        } else if (std::isinf(d)) {
          out.text[i] = d > 0 ? "Infinity" : "-Infinity";
        } else {
          auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), d);
          out.text[i].assign(buf, end);
        }
        out.types[i] = kFloat8Oid;
        break;
      }
      default: {
        const std::string& s = std::get<std::string>(params[i]);
        // NUL bytes were refused before (TrackingSession).
        out.values[i] = s.c_str();
        out.lengths[i] = static_cast<int>(s.size());
        continue;
      }
    }
    out.values[i] = out.text[i].c_str();
    out.lengths[i] = static_cast<int>(out.text[i].size());
  }
  return out;
}

class PostgresSession final : public store_internal::TrackingSession {
 public:
  PostgresSession(PGconn* conn, const std::string& name)
      : conn_(conn), name_(name) {}

 protected:
  Result<int64_t> Run(std::string_view sql, const std::vector<SqlValue>& params,
                      std::vector<SqlRow>* rows, bool* retry) override {
    const std::string what = name_ + ": " + QuoteSql(sql);
    store_internal::RewrittenSql rewritten =
        store_internal::RewritePlaceholders(sql);
    if (rewritten.placeholders != static_cast<int>(params.size())) {
      return Status::InvalidArgument(
          what + ": the statement has " +
          std::to_string(rewritten.placeholders) + " placeholders but " +
          std::to_string(params.size()) + " parameters were given");
    }
    Parameters encoded = EncodeParameters(params);
    PgResult result(PQexecParams(
        conn_, rewritten.sql.c_str(), static_cast<int>(params.size()),
        encoded.types.data(), encoded.values.data(), encoded.lengths.data(),
        /*paramFormats=*/nullptr, /*resultFormat=*/0));
    if (!Succeeded(result.get())) {
      return PostgresError(conn_, result.get(), what, retry);
    }
    if (rows != nullptr) {
      Result<std::vector<SqlRow>> read = ReadRows(result.get());
      if (!read.ok()) return read.status().WithContext(what);
      *rows = std::move(*read);
    }
    // "SELECT n" counts rows read, not changed.
    if (std::string_view(PQcmdStatus(result.get())).starts_with("SELECT")) {
      return 0;
    }
    std::string_view tuples = PQcmdTuples(result.get());
    int64_t changed = 0;
    if (!tuples.empty()) {
      std::from_chars(tuples.data(), tuples.data() + tuples.size(), changed);
    }
    return changed;
  }

 private:
  PGconn* conn_;
  const std::string& name_;
};

class PostgresDatabase final : public Database {
 public:
  PostgresDatabase(std::string url, UrlInfo info)
      : url_(std::move(url)), info_(std::move(info)) {}
  ~PostgresDatabase() override {
    for (PGconn* conn : idle_) PQfinish(conn);
  }

  Dialect dialect() const override { return Dialect::kPostgres; }
  std::string Describe() const override { return info_.name; }

  Status Transaction(const std::function<Status(SqlSession&)>& fn) override {
    store_internal::TransactionScope scope(this);
    FERRY_RETURN_IF_ERROR(scope.status());
    return store_internal::RunWithRetries([&]() -> Attempt {
      Result<PGconn*> acquired = Acquire();
      if (!acquired.ok()) return {acquired.status(), false};
      Lease lease(this, *acquired);
      PGconn* conn = *acquired;

      bool retry = false;
      PgResult begin(PQexec(conn, "BEGIN ISOLATION LEVEL SERIALIZABLE"));
      if (!Succeeded(begin.get())) {
        // Nothing was done yet: a connection that went stale while idle is
        // replaced by the next attempt.
        return {
            PostgresError(conn, begin.get(), info_.name + ": BEGIN", &retry),
            retry};
      }
      PostgresSession session(conn, info_.name);
      Status status = fn(session);
      if (status.ok() && !session.first_error().ok()) {
        status = session.first_error().WithContext(
            "transaction rolled back after a failed statement");
      }
      if (!status.ok()) {
        PgResult rollback(PQexec(conn, "ROLLBACK"));
        return {std::move(status), session.conflict()};
      }
      PgResult commit(PQexec(conn, "COMMIT"));
      if (!Succeeded(commit.get())) {
        Status error =
            PostgresError(conn, commit.get(), info_.name + ": COMMIT", &retry);
        // If the connection broke, the commit may have happened: only a
        // serialization failure or deadlock is known to have undone it.
        bool broken = PQstatus(conn) == CONNECTION_BAD;
        if (!broken) {
          PgResult rollback(PQexec(conn, "ROLLBACK"));
        }
        return {std::move(error), retry && !broken};
      }
      if (std::string_view(PQcmdStatus(commit.get())) != "COMMIT") {
        return {Status::Internal(info_.name +
                                 ": COMMIT rolled the transaction back"),
                false};
      }
      return {};
    });
  }

  // Opens the first connection, so that a wrong URL fails at open.
  Status Start() {
    Result<PGconn*> conn = Acquire();
    if (!conn.ok()) return conn.status();
    Release(*conn);
    return Status::Ok();
  }

 private:
  // Gives the connection back to the pool (or closes it if it broke).
  class Lease {
   public:
    Lease(PostgresDatabase* db, PGconn* conn) : db_(db), conn_(conn) {}
    ~Lease() { db_->Release(conn_); }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;

   private:
    PostgresDatabase* db_;
    PGconn* conn_;
  };

  Result<PGconn*> Acquire() {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return !idle_.empty() || open_ < kMaxConnections; });
      if (!idle_.empty()) {
        PGconn* conn = idle_.back();
        idle_.pop_back();
        return conn;
      }
      ++open_;
    }
    Result<PGconn*> conn = Connect();
    if (!conn.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      --open_;
      cv_.notify_one();
    }
    return conn;
  }

  void Release(PGconn* conn) {
    const bool usable = PQstatus(conn) == CONNECTION_OK &&
                        PQtransactionStatus(conn) == PQTRANS_IDLE;
    if (!usable) PQfinish(conn);
    std::lock_guard<std::mutex> lock(mu_);
    if (usable) {
      idle_.push_back(conn);
    } else {
      --open_;
    }
    cv_.notify_one();
  }

  Result<PGconn*> Connect() {
    // Keywords before "dbname" are defaults the URL may override.
    const char* keys[] = {"connect_timeout", "client_encoding",
                          "fallback_application_name", "dbname", nullptr};
    const char* values[] = {"10", "UTF8", "ferry", url_.c_str(), nullptr};
    PGconn* conn = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
    if (conn == nullptr) {
      return Status(StatusCode::kResourceExhausted,
                    info_.name + ": connect: out of memory");
    }
    if (PQstatus(conn) != CONNECTION_OK) {
      std::string message = OneLine(PQerrorMessage(conn));
      PQfinish(conn);
      for (const std::string& secret : info_.secrets) {
        ReplaceAll(message, secret, "***");
      }
      return Status(StatusCode::kUnavailable,
                    info_.name + ": connect: " + message, 0,
                    /*retryable=*/true);
    }
    // NOTICEs (e.g. "relation already exists, skipping") would go to stderr.
    PQsetNoticeProcessor(
        conn, [](void*, const char*) {}, nullptr);
    return conn;
  }

  const std::string url_;
  const UrlInfo info_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<PGconn*> idle_;  // GUARDED_BY(mu_)
  int open_ = 0;               // GUARDED_BY(mu_): idle and leased
};

}  // namespace

Result<std::unique_ptr<Database>> OpenPostgresDatabase(const std::string& url) {
  FERRY_ASSIGN_OR_RETURN(UrlInfo info, ParseUrl(url));
  auto db = std::make_unique<PostgresDatabase>(url, std::move(info));
  FERRY_RETURN_IF_ERROR(db->Start());
  return std::unique_ptr<Database>(std::move(db));
}

}  // namespace ferry
