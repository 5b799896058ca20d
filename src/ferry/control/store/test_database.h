// Test support for the store's and the server's tests: the PostgreSQL server
// the tests share, and a fresh, empty database per test,
// SQLite (a temporary file) or PostgreSQL (a new schema in the throwaway
// cluster tests/support/postgres.sh runs). The PostgreSQL URL is
// $FERRY_TEST_PG_URL, else the one the ctest fixture started
// ($FERRY_TEST_PG_STATE/url), else a cluster this process starts on first
// use and stops at exit. A PostgreSQL test fails, not skips, without one.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "ferry/control/store/database.h"

namespace ferry::control::testing {

enum class Backend { kSqlite, kPostgres };

inline std::string BackendName(Backend b) {
  return b == Backend::kSqlite ? "Sqlite" : "Postgres";
}

inline void PrintTo(Backend b, std::ostream* os) { *os << BackendName(b); }

class PostgresServer : public ::testing::Environment {
 public:
  static Result<std::string> Url() {
    std::lock_guard<std::mutex> lock(mu_);
    if (!url_.has_value()) url_ = Find();
    return *url_;
  }

  void TearDown() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (own_state_.empty()) return;
    std::string command = std::string(FERRY_POSTGRES_SH) + " stop '" +
                          own_state_ + "' >/dev/null";
    if (std::system(command.c_str()) != 0) {
      std::fprintf(stderr, "failed: %s\n", command.c_str());
    }
    std::filesystem::remove_all(
        std::filesystem::path(own_state_).parent_path());
  }

 private:
  static std::string Trim(std::string s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) {
      s.pop_back();
    }
    return s;
  }

  static Result<std::string> Find() {
    if (const char* url = std::getenv("FERRY_TEST_PG_URL"); url && *url) {
      return std::string(url);
    }
    if (const char* state = std::getenv("FERRY_TEST_PG_STATE");
        state && *state) {
      std::FILE* f = std::fopen((std::string(state) + "/url").c_str(), "r");
      if (f == nullptr) {
        return Status::FailedPrecondition(
            std::string("no PostgreSQL URL in ") + state +
            "/url: the store_postgres_start test did not run or failed");
      }
      char line[512] = {};
      const bool read = std::fgets(line, sizeof(line), f) != nullptr;
      std::fclose(f);
      return Trim(read ? line : "");
    }
    std::string dir = ::testing::TempDir() + "ferry_server_pg.XXXXXX";
    if (mkdtemp(dir.data()) == nullptr) {
      return Status::IoError("mkdtemp " + dir + " failed");
    }
    own_state_ = dir + "/postgres";
    std::string command =
        std::string(FERRY_POSTGRES_SH) + " start '" + own_state_ + "'";
    std::FILE* pipe = popen(command.c_str(), "r");
    if (pipe == nullptr) return Status::IoError("cannot run " + command);
    std::string out;
    char buf[256];
    while (std::fgets(buf, sizeof(buf), pipe) != nullptr) out += buf;
    int rc = pclose(pipe);
    out = Trim(out);
    if (rc != 0 || out.empty()) {
      return Status::FailedPrecondition(
          "could not start a PostgreSQL server for the tests (" + command +
          " failed; its message is above)");
    }
    return out;
  }

  static inline std::mutex mu_;
  static inline std::optional<Result<std::string>> url_;
  static inline std::string own_state_;
};

[[maybe_unused]] inline ::testing::Environment* const kPostgresEnvironment =
    ::testing::AddGlobalTestEnvironment(new PostgresServer);

// One fresh database; dropped (schema) or deleted (file) on destruction.
class TestDatabase {
 public:
  static Result<std::unique_ptr<TestDatabase>> Create(Backend backend) {
    auto t = std::unique_ptr<TestDatabase>(new TestDatabase);
    if (backend == Backend::kSqlite) {
      t->dir_ = ::testing::TempDir() + "ferry_server_db.XXXXXX";
      if (mkdtemp(t->dir_.data()) == nullptr) {
        return Status::IoError("mkdtemp failed");
      }
      t->spec_ = t->dir_ + "/state.db";
    } else {
      FERRY_ASSIGN_OR_RETURN(std::string url, PostgresServer::Url());
      FERRY_ASSIGN_OR_RETURN(t->admin_, OpenPostgresDatabase(url));
      static std::atomic<int> counter{0};
      t->schema_ = "server_test_" + std::to_string(getpid()) + "_" +
                   std::to_string(counter++);
      FERRY_RETURN_IF_ERROR(
          t->admin_->Execute("CREATE SCHEMA " + t->schema_).status());
      t->spec_ = url + (url.find('?') == std::string::npos ? "?" : "&") +
                 "options=-csearch_path%3D" + t->schema_;
    }
    FERRY_ASSIGN_OR_RETURN(t->db, OpenDatabase(t->spec_));
    return t;
  }

  ~TestDatabase() {
    db.reset();
    if (admin_) {
      auto dropped = admin_->Execute("DROP SCHEMA " + schema_ + " CASCADE");
      if (!dropped.ok()) {
        std::fprintf(stderr, "dropping %s: %s\n", schema_.c_str(),
                     dropped.status().ToString().c_str());
      }
    }
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  // The spec another handle (another "server") opens.
  const std::string& spec() const { return spec_; }

  std::unique_ptr<Database> db;

 private:
  TestDatabase() = default;
  std::string dir_;
  std::string spec_;
  std::string schema_;
  std::unique_ptr<Database> admin_;
};

}  // namespace ferry::control::testing
