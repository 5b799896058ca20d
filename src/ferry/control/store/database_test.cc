// One suite, run against SQLite (a temporary file) and PostgreSQL (a
// throwaway cluster on 127.0.0.1, see tests/support/postgres.sh). The
// PostgreSQL half fails, not skips, when no server can be started.
#include "ferry/control/store/database.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <mutex>
#include <thread>

#include "ferry/control/store/test_database.h"

namespace ferry {
namespace {

using namespace std::chrono_literals;

using control::testing::Backend;
using control::testing::PostgresServer;

// Opens a fresh, empty store for each test: a new SQLite file, or a new
// schema in the shared PostgreSQL database (so tests running at the same
// time do not see each other's tables).
class StoreTest : public ::testing::Test {
 protected:
  void Open(Backend backend) {
    backend_ = backend;
    if (backend == Backend::kSqlite) {
      dir_ = ::testing::TempDir() + "ferry_store_test.XXXXXX";
      ASSERT_NE(mkdtemp(dir_.data()), nullptr);
      spec_ = dir_ + "/state.db";
    } else {
      Result<std::string> url = PostgresServer::Url();
      ASSERT_TRUE(url.ok()) << url.status().ToString();
      base_url_ = *url;
      Result<std::unique_ptr<Database>> admin = OpenPostgresDatabase(*url);
      ASSERT_TRUE(admin.ok()) << admin.status().ToString();
      admin_ = std::move(*admin);
      static std::atomic<int> counter{0};
      schema_ =
          "test_" + std::to_string(getpid()) + "_" + std::to_string(counter++);
      ASSERT_TRUE(admin_->Execute("CREATE SCHEMA " + schema_).ok());
      spec_ = WithParameter(*url, "options=-csearch_path%3D" + schema_);
    }
    Result<std::unique_ptr<Database>> db = OpenDatabase(spec_);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(*db);
  }

  void TearDown() override {
    db_.reset();
    if (admin_ != nullptr) {
      EXPECT_TRUE(admin_->Execute("DROP SCHEMA " + schema_ + " CASCADE").ok());
    }
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  static std::string WithParameter(const std::string& url,
                                   const std::string& parameter) {
    return url + (url.find('?') == std::string::npos ? "?" : "&") + parameter;
  }

  // A second handle on the same store, as another server process has it.
  std::unique_ptr<Database> OpenAnother() {
    Result<std::unique_ptr<Database>> db = OpenDatabase(spec_);
    EXPECT_TRUE(db.ok()) << db.status().ToString();
    return db.ok() ? std::move(*db) : nullptr;
  }

  bool postgres() const { return backend_ == Backend::kPostgres; }

  void MustExecute(const std::string& sql,
                   const std::vector<SqlValue>& params = {}) {
    Result<int64_t> result = db_->Execute(sql, params);
    ASSERT_TRUE(result.ok()) << result.status().ToString();
  }

  int64_t MustQueryInt(const std::string& sql,
                       const std::vector<SqlValue>& params = {}) {
    Result<std::vector<SqlRow>> rows = db_->Query(sql, params);
    EXPECT_TRUE(rows.ok()) << rows.status().ToString();
    if (!rows.ok() || rows->size() != 1) return -999;
    Result<std::optional<int64_t>> value = SqlInt((*rows)[0], 0);
    EXPECT_TRUE(value.ok()) << value.status().ToString();
    return value.ok() ? value->value_or(-1) : -999;
  }

  Backend backend_ = Backend::kSqlite;
  std::string dir_;
  std::string spec_;
  std::string base_url_;
  std::string schema_;
  std::unique_ptr<Database> admin_;
  std::unique_ptr<Database> db_;
};

class DatabaseTest : public StoreTest,
                     public ::testing::WithParamInterface<Backend> {
 protected:
  void SetUp() override { Open(GetParam()); }
};

INSTANTIATE_TEST_SUITE_P(Backends, DatabaseTest,
                         ::testing::Values(Backend::kSqlite,
                                           Backend::kPostgres),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                           return info.param == Backend::kSqlite ? "Sqlite"
                                                                 : "Postgres";
                         });

TEST_P(DatabaseTest, DescribesItselfByDialect) {
  if (postgres()) {
    EXPECT_EQ(db_->dialect(), Database::Dialect::kPostgres);
    EXPECT_TRUE(db_->Describe().starts_with("postgresql://postgres@127.0.0.1:"))
        << db_->Describe();
  } else {
    EXPECT_EQ(db_->dialect(), Database::Dialect::kSqlite);
    EXPECT_EQ(db_->Describe(), "sqlite:" + spec_);
  }
}

TEST_P(DatabaseTest, RoundTripsEveryValueType) {
  MustExecute(
      "CREATE TABLE v (id BIGINT PRIMARY KEY, i BIGINT, d DOUBLE PRECISION, "
      "t TEXT)");
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<SqlRow> rows = {
      {int64_t{1}, std::numeric_limits<int64_t>::min(), -1.5, std::string()},
      {int64_t{2}, std::numeric_limits<int64_t>::max(), 1e300,
       std::string("it's \"quoted\", 'twice'' ? and a \\ backslash")},
      {int64_t{3}, int64_t{0}, 3.141592653589793,
       std::string("Grüße, 日本語, emoji 🚀, tab\tnewline\n")},
      {int64_t{4}, std::monostate(), std::monostate(), std::monostate()},
      {int64_t{5}, int64_t{-1}, inf, std::string("?")},
      {int64_t{6}, int64_t{42}, -inf, std::string("'); DROP TABLE v; --")},
      {int64_t{7}, int64_t{1} << 53, 5e-324, std::string("$1 $$ ?")},
  };
  for (const SqlRow& row : rows) {
    Result<int64_t> changed =
        db_->Execute("INSERT INTO v (id, i, d, t) VALUES (?, ?, ?, ?)", row);
    ASSERT_TRUE(changed.ok()) << changed.status().ToString();
    EXPECT_EQ(*changed, 1);
  }
  Result<std::vector<SqlRow>> read =
      db_->Query("SELECT id, i, d, t FROM v ORDER BY id");
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(*read, rows);

  // Parameters come back as the types they went in.
  Result<std::vector<SqlRow>> echo =
      db_->Query("SELECT ?, ?, ?, ?",
                 {int64_t{7}, 2.5, std::string("x"), std::monostate()});
  ASSERT_TRUE(echo.ok()) << echo.status().ToString();
  EXPECT_EQ(*echo, (std::vector<SqlRow>{
                       {int64_t{7}, 2.5, std::string("x"), std::monostate()}}));
}

TEST_P(DatabaseTest, RefusesTextHoldingNul) {
  MustExecute("CREATE TABLE t (s TEXT)");
  Result<int64_t> result =
      db_->Execute("INSERT INTO t (s) VALUES (?)", {std::string("a\0b", 3)});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(result.status().message().find("NUL"), std::string::npos)
      << result.status().ToString();
}

TEST_P(DatabaseTest, CountsChangedRows) {
  Result<int64_t> created = db_->Execute("CREATE TABLE t (id BIGINT)");
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_EQ(*created, 0);
  for (int64_t i = 1; i <= 3; ++i) MustExecute("INSERT INTO t VALUES (?)", {i});
  EXPECT_EQ(*db_->Execute("UPDATE t SET id = id + 10"), 3);
  EXPECT_EQ(*db_->Execute("UPDATE t SET id = 0 WHERE id > 100"), 0);
  EXPECT_EQ(*db_->Execute("SELECT id FROM t"), 0);
  EXPECT_EQ(*db_->Execute("DELETE FROM t WHERE id < ?", {int64_t{13}}), 2);
  Result<std::vector<SqlRow>> empty =
      db_->Query("SELECT id FROM t WHERE id = ?", {int64_t{99}});
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST_P(DatabaseTest, LeavesPlaceholdersInLiteralsAndCommentsAlone) {
  MustExecute("CREATE TABLE t (id BIGINT, s TEXT)");
  MustExecute("INSERT INTO t (id, s) VALUES (?, 'what? it''s ?') -- one more ?",
              {int64_t{1}});
  Result<std::vector<SqlRow>> rows = db_->Query(
      "SELECT '?', ? /* ? */, s, \"id\" FROM t WHERE s LIKE '%?%' AND id = ?",
      {std::string("p"), int64_t{1}});
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  EXPECT_EQ(*rows,
            (std::vector<SqlRow>{{std::string("?"), std::string("p"),
                                  std::string("what? it's ?"), int64_t{1}}}));
}

TEST_P(DatabaseTest, RefusesAWrongNumberOfParameters) {
  for (const std::vector<SqlValue>& params :
       {std::vector<SqlValue>{int64_t{1}},
        std::vector<SqlValue>{int64_t{1}, int64_t{2}, int64_t{3}}}) {
    Result<std::vector<SqlRow>> rows = db_->Query("SELECT ?, '?', ?", params);
    ASSERT_FALSE(rows.ok());
    EXPECT_EQ(rows.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(rows.status().message().find("2 placeholders but " +
                                           std::to_string(params.size())),
              std::string::npos)
        << rows.status().ToString();
  }
}

TEST_P(DatabaseTest, RefusesSeveralStatementsInOneCall) {
  Result<int64_t> result =
      db_->Execute("CREATE TABLE a (x BIGINT); CREATE TABLE b (x BIGINT)");
  EXPECT_FALSE(result.ok());
  EXPECT_FALSE(db_->Query("SELECT * FROM b").ok());
  // A trailing semicolon or comment is no second statement.
  EXPECT_TRUE(db_->Execute("CREATE TABLE c (x BIGINT); -- done").ok());
}

TEST_P(DatabaseTest, TransactionCommits) {
  MustExecute("CREATE TABLE t (id BIGINT PRIMARY KEY)");
  Status status = db_->Transaction([](SqlSession& session) -> Status {
    FERRY_RETURN_IF_ERROR(
        session.Execute("INSERT INTO t VALUES (?)", {int64_t{1}}).status());
    FERRY_RETURN_IF_ERROR(
        session.Execute("INSERT INTO t VALUES (?)", {int64_t{2}}).status());
    // The transaction sees its own writes.
    FERRY_ASSIGN_OR_RETURN(std::vector<SqlRow> rows,
                           session.Query("SELECT COUNT(*) FROM t"));
    if (rows != std::vector<SqlRow>{{int64_t{2}}}) {
      return Status::Internal("own writes not visible");
    }
    return Status::Ok();
  });
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(MustQueryInt("SELECT COUNT(*) FROM t"), 2);
}

TEST_P(DatabaseTest, TransactionRollsBackWhenFnFails) {
  MustExecute("CREATE TABLE t (id BIGINT PRIMARY KEY)");
  int calls = 0;
  Status status = db_->Transaction([&](SqlSession& session) -> Status {
    ++calls;
    FERRY_RETURN_IF_ERROR(
        session.Execute("INSERT INTO t VALUES (?)", {int64_t{1}}).status());
    return Status::NotFound("the task went away");
  });
  EXPECT_EQ(status.code(), StatusCode::kNotFound);
  EXPECT_EQ(status.message(), "the task went away");
  EXPECT_EQ(calls, 1);  // not a conflict: not retried
  EXPECT_EQ(MustQueryInt("SELECT COUNT(*) FROM t"), 0);
}

TEST_P(DatabaseTest, FailedStatementRollsBackEvenIfFnReturnsOk) {
  MustExecute("CREATE TABLE t (id BIGINT PRIMARY KEY)");
  MustExecute("INSERT INTO t VALUES (1)");
  Status later;
  Status status = db_->Transaction([&](SqlSession& session) -> Status {
    EXPECT_TRUE(session.Execute("INSERT INTO t VALUES (2)").ok());
    EXPECT_FALSE(session.Execute("INSERT INTO t VALUES (1)").ok());
    later = session.Execute("INSERT INTO t VALUES (3)").status();
    return Status::Ok();  // ignoring the failure does not commit
  });
  EXPECT_EQ(status.code(), StatusCode::kAlreadyExists) << status.ToString();
  EXPECT_EQ(later.code(), StatusCode::kFailedPrecondition) << later.ToString();
  EXPECT_EQ(MustQueryInt("SELECT COUNT(*) FROM t"), 1);
  // The connection is fine afterwards.
  MustExecute("INSERT INTO t VALUES (2)");
  EXPECT_EQ(MustQueryInt("SELECT COUNT(*) FROM t"), 2);
}

TEST_P(DatabaseTest, RefusesANestedTransaction) {
  Status inner;
  Status outer = db_->Transaction([&](SqlSession&) -> Status {
    inner = db_->Transaction([](SqlSession&) { return Status::Ok(); });
    return Status::Ok();
  });
  EXPECT_TRUE(outer.ok()) << outer.ToString();
  EXPECT_EQ(inner.code(), StatusCode::kFailedPrecondition) << inner.ToString();
  // A transaction of another database may run inside.
  std::unique_ptr<Database> other = OpenAnother();
  ASSERT_NE(other, nullptr);
  if (postgres()) {
    Status nested = db_->Transaction([&](SqlSession&) -> Status {
      return other->Execute("CREATE TABLE nested (x BIGINT)").status();
    });
    EXPECT_TRUE(nested.ok()) << nested.ToString();
  }
}

TEST_P(DatabaseTest, ErrorsCarryTheDatabaseMessage) {
  MustExecute("CREATE TABLE parent (id BIGINT PRIMARY KEY)");
  MustExecute(
      "CREATE TABLE child (id BIGINT PRIMARY KEY, parent BIGINT NOT NULL "
      "REFERENCES parent (id))");
  MustExecute("INSERT INTO parent VALUES (1)");

  Result<std::vector<SqlRow>> missing = db_->Query("SELECT * FROM no_such");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find(db_->Describe()), std::string::npos)
      << missing.status().ToString();
  EXPECT_NE(missing.status().message().find("SELECT * FROM no_such"),
            std::string::npos);
  EXPECT_NE(missing.status().message().find(
                postgres() ? "relation \"no_such\" does not exist"
                           : "no such table: no_such"),
            std::string::npos)
      << missing.status().ToString();

  Result<int64_t> duplicate = db_->Execute("INSERT INTO parent VALUES (1)");
  EXPECT_EQ(duplicate.status().code(), StatusCode::kAlreadyExists);
  EXPECT_NE(duplicate.status().message().find(
                postgres() ? "duplicate key value violates unique constraint"
                           : "UNIQUE constraint failed: parent.id"),
            std::string::npos)
      << duplicate.status().ToString();

  Result<int64_t> orphan = db_->Execute("INSERT INTO child VALUES (1, 2)");
  EXPECT_EQ(orphan.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(orphan.status().message().find(
                postgres() ? "violates foreign key constraint"
                           : "FOREIGN KEY constraint failed"),
            std::string::npos)
      << orphan.status().ToString();

  Result<int64_t> syntax = db_->Execute("SELEKT 1");
  EXPECT_FALSE(syntax.ok());
  EXPECT_NE(syntax.status().message().find("syntax error"), std::string::npos)
      << syntax.status().ToString();
}

// Two threads increment one row by reading and writing it back. The first
// attempt of thread A reads, then waits until B has started, so on
// PostgreSQL their transactions overlap: one of them fails with a
// serialization failure and is run again. On SQLite (one connection) B waits
// for A. Either way no increment is lost.
TEST_P(DatabaseTest, ConflictingWritersAreRetriedAndBothLand) {
  MustExecute("CREATE TABLE counter (id BIGINT PRIMARY KEY, v BIGINT)");
  MustExecute("INSERT INTO counter VALUES (1, 0)");
  auto increment = [](SqlSession& session,
                      const std::function<void()>& between) -> Status {
    FERRY_ASSIGN_OR_RETURN(std::vector<SqlRow> rows,
                           session.Query("SELECT v FROM counter WHERE id = 1"));
    FERRY_ASSIGN_OR_RETURN(std::optional<int64_t> v, SqlInt(rows.at(0), 0));
    between();
    return session.Execute("UPDATE counter SET v = ? WHERE id = 1", {*v + 1})
        .status();
  };
  std::atomic<bool> b_started{false};
  std::atomic<bool> b_done{false};
  std::atomic<int> a_attempts{0};
  std::atomic<int> b_attempts{0};
  Status a_status, b_status;
  std::thread a([&] {
    a_status = db_->Transaction([&](SqlSession& session) {
      const bool first = a_attempts++ == 0;
      return increment(session, [&] {
        if (!first) return;
        auto deadline = std::chrono::steady_clock::now() + 5s;
        while (!b_started && std::chrono::steady_clock::now() < deadline) {
          std::this_thread::sleep_for(1ms);
        }
        if (postgres()) {
          // B reads, writes and commits meanwhile (A holds no row lock).
          deadline = std::chrono::steady_clock::now() + 5s;
          while (!b_done && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(1ms);
          }
        } else {
          // B waits for the connection A holds; let it get there.
          std::this_thread::sleep_for(100ms);
        }
      });
    });
  });
  std::thread b([&] {
    while (a_attempts == 0) std::this_thread::sleep_for(1ms);
    b_started = true;
    b_status = db_->Transaction([&](SqlSession& session) {
      ++b_attempts;
      return increment(session, [] {});
    });
    b_done = true;
  });
  a.join();
  b.join();
  ASSERT_TRUE(a_status.ok()) << a_status.ToString();
  ASSERT_TRUE(b_status.ok()) << b_status.ToString();
  EXPECT_EQ(MustQueryInt("SELECT v FROM counter WHERE id = 1"), 2);
  if (postgres()) {
    EXPECT_GE(a_attempts + b_attempts, 3) << "no transaction was retried";
  }
}

TEST_P(DatabaseTest, ConcurrentIncrementsAreNotLost) {
  MustExecute("CREATE TABLE counter (id BIGINT PRIMARY KEY, v BIGINT)");
  MustExecute("INSERT INTO counter VALUES (1, 0)");
  constexpr int kThreads = 2;
  constexpr int kIncrements = 25;
  std::atomic<int> attempts{0};
  std::vector<Status> errors(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kIncrements && errors[t].ok(); ++i) {
        errors[t] = db_->Transaction([&](SqlSession& session) -> Status {
          ++attempts;
          FERRY_ASSIGN_OR_RETURN(
              std::vector<SqlRow> rows,
              session.Query("SELECT v FROM counter WHERE id = ?",
                            {int64_t{1}}));
          FERRY_ASSIGN_OR_RETURN(std::optional<int64_t> v,
                                 SqlInt(rows.at(0), 0));
          return session
              .Execute("UPDATE counter SET v = ? WHERE id = ?",
                       {*v + 1, int64_t{1}})
              .status();
        });
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (const Status& s : errors) EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(MustQueryInt("SELECT v FROM counter WHERE id = 1"),
            kThreads * kIncrements);
  RecordProperty("attempts", attempts.load());
}

// Several threads, on this handle and on a second one (as a second server
// process would), insert and read at once.
TEST_P(DatabaseTest, ServesSeveralThreadsAtOnce) {
  MustExecute(
      "CREATE TABLE items (thread BIGINT, n BIGINT, PRIMARY KEY (thread, n))");
  std::unique_ptr<Database> other = OpenAnother();
  ASSERT_NE(other, nullptr);
  constexpr int kThreads = 4;
  constexpr int kRows = 25;
  std::vector<Status> errors(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    Database* db = t % 2 == 0 ? db_.get() : other.get();
    threads.emplace_back([&, db, t] {
      for (int64_t n = 0; n < kRows && errors[t].ok(); ++n) {
        errors[t] = db->Execute("INSERT INTO items (thread, n) VALUES (?, ?)",
                                {int64_t{t}, n})
                        .status();
        if (!errors[t].ok()) break;
        Result<std::vector<SqlRow>> rows = db->Query(
            "SELECT COUNT(*) FROM items WHERE thread = ?", {int64_t{t}});
        if (!rows.ok()) {
          errors[t] = rows.status();
        } else if ((*rows)[0][0] != SqlValue(n + 1)) {
          errors[t] = Status::Internal("thread " + std::to_string(t) +
                                       " does not see its own rows");
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (const Status& s : errors) EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(MustQueryInt("SELECT COUNT(*) FROM items"), kThreads * kRows);
}

// Migrations that record the order they ran in. Step 3 needs step 2's table.
std::vector<Migration> Steps(std::vector<int>* applied, int last) {
  const std::vector<std::pair<std::string, std::string>> all = {
      {"create tasks", "CREATE TABLE tasks (id BIGINT PRIMARY KEY)"},
      {"create tags", "CREATE TABLE tags (task BIGINT, k TEXT)"},
      {"seed tags", "INSERT INTO tags VALUES (1, 'k')"},
      {"create agents", "CREATE TABLE agents (id BIGINT PRIMARY KEY)"},
  };
  std::vector<Migration> steps;
  for (int v = 1; v <= last; ++v) {
    std::string sql = all[v - 1].second;
    steps.push_back(
        {v, all[v - 1].first,
         [applied, v, sql](SqlSession& session, Database::Dialect) -> Status {
           applied->push_back(v);
           return session.Execute(sql).status();
         }});
  }
  return steps;
}

TEST_P(DatabaseTest, MigrationsApplyOnceAndInOrder) {
  std::vector<int> applied;
  Status status = Migrate(*db_, Steps(&applied, 3));
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(applied, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(MustQueryInt("SELECT COUNT(*) FROM tags"), 1);

  status = Migrate(*db_, Steps(&applied, 3));
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(applied, (std::vector<int>{1, 2, 3}));

  status = Migrate(*db_, Steps(&applied, 4));
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(applied, (std::vector<int>{1, 2, 3, 4}));

  Result<std::vector<SqlRow>> rows = db_->Query(
      "SELECT version, description, applied_at FROM schema_version ORDER BY "
      "version");
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ASSERT_EQ(rows->size(), 4u);
  EXPECT_EQ((*rows)[3][0], SqlValue(int64_t{4}));
  EXPECT_EQ((*rows)[3][1], SqlValue(std::string("create agents")));
  Result<std::optional<std::string>> at = SqlText((*rows)[0], 2);
  ASSERT_TRUE(at.ok() && at->has_value());
  EXPECT_EQ((*at)->size(), 20u) << **at;  // 2025-01-02T03:04:05Z
}

TEST_P(DatabaseTest, MigrationsSeeTheirDialect) {
  std::optional<Database::Dialect> seen;
  Status status = Migrate(
      *db_, {{1, "look", [&](SqlSession&, Database::Dialect d) -> Status {
                seen = d;
                return Status::Ok();
              }}});
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(seen, db_->dialect());
}

TEST_P(DatabaseTest, MigrationRefusesANewerSchema) {
  std::vector<int> applied;
  ASSERT_TRUE(Migrate(*db_, Steps(&applied, 3)).ok());
  applied.clear();
  for (int known : {2, 0}) {
    Status status = Migrate(*db_, Steps(&applied, known));
    EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition)
        << status.ToString();
    EXPECT_NE(status.message().find("schema version 3, newer than the newest "
                                    "this ferry knows (" +
                                    std::to_string(known) + ")"),
              std::string::npos)
        << status.ToString();
  }
  EXPECT_TRUE(applied.empty());
}

TEST_P(DatabaseTest, FailedMigrationIsRolledBackAndReported) {
  std::vector<int> applied;
  std::vector<Migration> steps = Steps(&applied, 1);
  steps.push_back(
      {2, "half done", [](SqlSession& session, Database::Dialect) {
         Status created =
             session.Execute("CREATE TABLE half (x BIGINT)").status();
         if (!created.ok()) return created;
         return Status::Internal("boom");
       }});
  Status status = Migrate(*db_, steps);
  EXPECT_EQ(status.code(), StatusCode::kInternal);
  EXPECT_EQ(status.message(), "migration 2 (half done): boom");
  EXPECT_EQ(MustQueryInt("SELECT MAX(version) FROM schema_version"), 1);
  EXPECT_FALSE(db_->Query("SELECT * FROM half").ok());

  steps = Steps(&applied, 2);
  status = Migrate(*db_, steps);
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(applied, (std::vector<int>{1, 2}));
}

TEST_P(DatabaseTest, MigrationsMustBeNumberedUpwards) {
  auto noop = [](SqlSession&, Database::Dialect) { return Status::Ok(); };
  for (const std::vector<Migration>& bad :
       {std::vector<Migration>{{2, "b", noop}, {1, "a", noop}},
        std::vector<Migration>{{1, "a", noop}, {1, "again", noop}},
        std::vector<Migration>{{0, "zero", noop}},
        std::vector<Migration>{{1, "no function", nullptr}}}) {
    Status status = Migrate(*db_, bad);
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status.ToString();
  }
}

// PostgreSQL only: what a pool of connections to a server must handle.
class PostgresDatabaseTest : public StoreTest {
 protected:
  void SetUp() override { Open(Backend::kPostgres); }
};

TEST_F(PostgresDatabaseTest, ReplacesAConnectionTheServerClosed) {
  Result<std::vector<SqlRow>> pid = db_->Query("SELECT pg_backend_pid()");
  ASSERT_TRUE(pid.ok()) << pid.status().ToString();
  Result<std::vector<SqlRow>> killed = admin_->Query(
      "SELECT pg_terminate_backend(CAST(? AS INTEGER))", {(*pid)[0][0]});
  ASSERT_TRUE(killed.ok()) << killed.status().ToString();
  ASSERT_EQ((*killed)[0][0], SqlValue(int64_t{1}));  // bool true
  // The pooled connection is dead; the next transaction gets a new one.
  Result<std::vector<SqlRow>> again = db_->Query("SELECT pg_backend_pid()");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_NE((*again)[0][0], (*pid)[0][0]);
}

TEST_F(PostgresDatabaseTest, RunsTransactionsInParallel) {
  // Transaction A waits inside until B has committed: only possible with
  // more than one connection.
  MustExecute("CREATE TABLE t (id BIGINT PRIMARY KEY)");
  std::atomic<bool> b_done{false};
  Status a_status;
  std::thread a([&] {
    a_status = db_->Transaction([&](SqlSession& session) -> Status {
      auto deadline = std::chrono::steady_clock::now() + 5s;
      while (!b_done && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(1ms);
      }
      if (!b_done) return Status::Internal("B did not run while A was open");
      return session.Execute("INSERT INTO t VALUES (1)").status();
    });
  });
  Status b_status = db_->Execute("INSERT INTO t VALUES (2)").status();
  b_done = true;
  a.join();
  EXPECT_TRUE(a_status.ok()) << a_status.ToString();
  EXPECT_TRUE(b_status.ok()) << b_status.ToString();
  EXPECT_EQ(MustQueryInt("SELECT COUNT(*) FROM t"), 2);
}

TEST_F(PostgresDatabaseTest, KeepsThePasswordOutOfNamesAndErrors) {
  // Trust authentication ignores the password, so the URL still connects.
  std::string url = base_url_;
  url.replace(url.find("postgres@"), 9, "postgres:Hunter2Secret@");
  Result<std::unique_ptr<Database>> db = OpenPostgresDatabase(url);
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  EXPECT_EQ((*db)->Describe().find("Hunter2Secret"), std::string::npos);
  Result<std::vector<SqlRow>> error = (*db)->Query("SELECT * FROM nothing");
  ASSERT_FALSE(error.ok());
  EXPECT_EQ(error.status().message().find("Hunter2Secret"), std::string::npos);
}

TEST(DatabaseOpenTest, PostgresErrorsDoNotLeakThePassword) {
  for (const std::string url :
       {"postgresql://ferry:Hunter2Secret@127.0.0.1:1/db",
        "postgresql://ferry:Hunter2Secret@127.0.0.1:1/db?connect_timeout=x",
        "postgresql://ferry:Hunter2Secret@[::1/db",
        "postgresql://ferry@127.0.0.1:1/db?password=Hunter2Secret&bogus=1",
        "postgres://ferry:Hunter2%53ecret@127.0.0.1:99999/db"}) {
    Result<std::unique_ptr<Database>> db = OpenDatabase(url);
    ASSERT_FALSE(db.ok()) << url;
    EXPECT_EQ(db.status().ToString().find("Hunter2"), std::string::npos)
        << db.status().ToString();
  }
  Result<std::unique_ptr<Database>> refused =
      OpenPostgresDatabase("postgresql://ferry:Hunter2Secret@127.0.0.1:1/db");
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(refused.status().retryable());
  EXPECT_NE(
      refused.status().message().find("postgresql://ferry@127.0.0.1:1/db"),
      std::string::npos)
      << refused.status().ToString();
}

TEST(DatabaseOpenTest, SqliteUsesWalAndForeignKeys) {
  std::string dir = ::testing::TempDir() + "ferry_sqlite_test.XXXXXX";
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  {
    Result<std::unique_ptr<Database>> db =
        OpenDatabase("sqlite:" + dir + "/s.db");
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    EXPECT_EQ((*db)->Describe(), "sqlite:" + dir + "/s.db");
    Result<std::vector<SqlRow>> mode = (*db)->Query("PRAGMA journal_mode");
    ASSERT_TRUE(mode.ok()) << mode.status().ToString();
    EXPECT_EQ(*mode, (std::vector<SqlRow>{{std::string("wal")}}));
    Result<std::vector<SqlRow>> fk = (*db)->Query("PRAGMA foreign_keys");
    ASSERT_TRUE(fk.ok());
    EXPECT_EQ(*fk, (std::vector<SqlRow>{{int64_t{1}}}));
    // Double quotes name identifiers, as in PostgreSQL.
    EXPECT_FALSE((*db)->Query("SELECT \"not a column\"").ok());
  }
  std::filesystem::remove_all(dir);
}

TEST(DatabaseOpenTest, SqliteReportsWhatItCannotOpen) {
  Result<std::unique_ptr<Database>> db =
      OpenDatabase("/nonexistent-dir/ferry/state.db");
  ASSERT_FALSE(db.ok());
  EXPECT_NE(
      db.status().message().find("sqlite:/nonexistent-dir/ferry/state.db"),
      std::string::npos)
      << db.status().ToString();
  EXPECT_NE(db.status().message().find("unable to open"), std::string::npos)
      << db.status().ToString();
  EXPECT_EQ(OpenDatabase("").status().code(), StatusCode::kInvalidArgument);
}

TEST(SqlValueTest, ReadsIntegersAndText) {
  const SqlRow row = {int64_t{42}, std::string("x"), std::monostate(), 1.5};
  EXPECT_EQ(*SqlInt(row, 0), std::optional<int64_t>(42));
  EXPECT_EQ(*SqlText(row, 1), std::optional<std::string>("x"));
  EXPECT_EQ(*SqlInt(row, 2), std::nullopt);
  EXPECT_EQ(*SqlText(row, 2), std::nullopt);

  Result<std::optional<int64_t>> text_as_int = SqlInt(row, 1);
  EXPECT_EQ(text_as_int.status().code(), StatusCode::kInternal);
  EXPECT_EQ(text_as_int.status().message(),
            "column 1 holds text, not an integer");
  EXPECT_EQ(SqlText(row, 0).status().message(),
            "column 0 holds an integer, not text");
  EXPECT_EQ(SqlInt(row, 3).status().message(),
            "column 3 holds a double, not an integer");
  EXPECT_EQ(SqlInt(row, 4).status().message(),
            "column 4 is out of range: the row has 4 columns");
}

}  // namespace
}  // namespace ferry
