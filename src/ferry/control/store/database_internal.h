// What the SQLite and PostgreSQL implementations of Database share: the
// transaction retry loop, the refusal of nested transactions, and a session
// base class that remembers the first failed statement. Internal to
// ferry_store; nothing outside src/ferry/control/store includes it.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/base/status.h"
#include "ferry/control/store/database.h"

namespace ferry::store_internal {

// The outcome of one attempt at a transaction. `retry` says that running the
// whole transaction again is safe and may succeed: the database reported a
// conflict with another transaction (busy lock, serialization failure,
// deadlock), or the connection failed before anything was sent.
struct Attempt {
  Status status;
  bool retry = false;
};

// How many times Transaction() runs `fn` at most, and the backoff between
// attempts (doubling from the first, capped, with jitter).
inline constexpr int kMaxTransactionAttempts = 10;
inline constexpr int kFirstBackoffMs = 2;
inline constexpr int kMaxBackoffMs = 100;

// Calls `attempt` until it succeeds, fails without `retry`, or
// kMaxTransactionAttempts attempts have failed; sleeps between attempts.
// The last failure comes back with the number of attempts in its message.
Status RunWithRetries(const std::function<Attempt()>& attempt);

// Marks "this thread is inside a transaction of `db`" for its lifetime, so
// that a nested Transaction() on the same database fails cleanly instead of
// deadlocking on the connection it already holds.
class TransactionScope {
 public:
  explicit TransactionScope(const Database* db);
  ~TransactionScope();
  TransactionScope(const TransactionScope&) = delete;
  TransactionScope& operator=(const TransactionScope&) = delete;

  // FailedPrecondition if this thread was already inside a transaction of
  // the same database when the scope was made.
  const Status& status() const { return status_; }

 private:
  const Database* db_;
  Status status_;
};

// A session that fails the whole transaction once one statement failed: the
// later statements are refused, and Transaction() rolls back even if `fn`
// returns OK. PostgreSQL aborts a transaction at its first error anyway;
// doing the same on SQLite keeps the two dialects alike.
class TrackingSession : public SqlSession {
 public:
  Result<int64_t> Execute(std::string_view sql,
                          const std::vector<SqlValue>& params) final;
  Result<std::vector<SqlRow>> Query(std::string_view sql,
                                    const std::vector<SqlValue>& params) final;

  // The first failed statement's status; OK if none failed.
  const Status& first_error() const { return first_error_; }
  // Whether a statement failed with a conflict worth retrying.
  bool conflict() const { return conflict_; }

 protected:
  // Runs one statement. Fills `rows` (when not null) with its result rows and
  // returns the number of rows it changed. Sets `*conflict` when the failure
  // is a busy lock, a serialization failure or a deadlock.
  virtual Result<int64_t> Run(std::string_view sql,
                              const std::vector<SqlValue>& params,
                              std::vector<SqlRow>* rows, bool* conflict) = 0;

 private:
  // Text parameters must not hold NUL bytes: libpq would cut them there,
  // so SQLite refuses them too.
  static Result<int64_t> CheckText(std::string_view sql,
                                   const std::vector<SqlValue>& params);
  Result<int64_t> Track(std::string_view sql,
                        const std::vector<SqlValue>& params,
                        std::vector<SqlRow>* rows);

  Status first_error_;
  bool conflict_ = false;
};

// The statement as error messages quote it: whitespace runs collapsed, cut
// after about 160 characters.
std::string QuoteSql(std::string_view sql);

}  // namespace ferry::store_internal
