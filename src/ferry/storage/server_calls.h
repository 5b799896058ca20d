// How the file-server backends (SMB, NFS) call their server: each call is
// retried on network faults with backoff, each retry reported to the
// backend's StorageObserver, and once a call has used up its retries the
// server is taken as down: until a call succeeds every call gets one
// attempt, so that the engine's own retries of a failed operation cost one
// call each, and its OutageWatch (which probes the server through the same
// calls) decides quickly whether the server is back, or stays down and the
// run is to stop. The failure stays retryable. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <stop_token>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "ferry/base/clock.h"
#include "ferry/base/retry.h"
#include "ferry/base/status.h"
#include "ferry/storage/backend.h"

namespace ferry {

class ServerCalls {
 public:
  // `server` names it in the final failure ("the server nas stays
  // unreachable"). The default policy waits about 10 s on average (18 s at
  // most): a server restarted for maintenance is waited for.
  explicit ServerCalls(
      std::string server,
      RetryPolicy policy = {.max_attempts = 8,
                            .base = std::chrono::milliseconds(250),
                            .cap = std::chrono::milliseconds(5000),
                            .jitter = {}})
      : server_(std::move(server)), policy_(std::move(policy)) {}

  void SetObserver(StorageObserver* observer) { observer_.store(observer); }

  // Runs `op` (returning Status or Result<T>) until it succeeds or fails
  // for good; `what` and `where` name it in the retry reports ("write",
  // "smb://nas/share/a.txt").
  template <typename Op>
  auto Call(std::string_view what, std::string_view where, Op&& op)
      -> std::invoke_result_t<Op&> {
    RetryPolicy policy = policy_;
    if (down_.load()) policy.max_attempts = 1;
    auto outcome = Retry(
        policy, Clock::Real(), std::stop_token(), op,
        [&](const Status& st, int attempt, Clock::duration delay) {
          if (StorageObserver* o = observer_.load()) {
            o->OnStorageRetry(std::string(what) + " " + std::string(where), st,
                              attempt, delay);
          }
        });
    const Status& st = retry_internal::StatusOf(outcome);
    if (st.ok()) {
      down_.store(false);
      return outcome;
    }
    if (!st.retryable()) return outcome;
    if (down_.exchange(true)) return outcome;
    return Status(st.code(),
                  std::string(st.message()) + " (the server " + server_ +
                      " is unreachable: " +
                      std::to_string(policy.max_attempts) + " tries failed)",
                  st.sys_errno(), true);
  }

 private:
  const std::string server_;
  const RetryPolicy policy_;
  std::atomic<StorageObserver*> observer_{nullptr};
  std::atomic<bool> down_{false};  // retries used up; not since recovered
};

}  // namespace ferry
