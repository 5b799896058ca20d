// RetryPolicy and Retry(): the one way ferry retries an operation that failed
// with a retryable Status (Status::retryable(): a timeout, a dropped
// connection, a full table of descriptors). Bounded attempts, exponential
// backoff with full jitter (a uniformly random delay between zero and the
// exponential bound, so that many workers that failed together do not retry
// together), sleeps on an injectable Clock and ended by a std::stop_token.
// A non-retryable failure is returned at once. Stateless; thread-safe.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <stop_token>
#include <type_traits>
#include <utility>

#include "ferry/base/clock.h"
#include "ferry/base/status.h"

namespace ferry {

struct RetryPolicy {
  int max_attempts = 4;  // the first attempt included; 1 = never retry
  std::chrono::milliseconds base{50};
  std::chrono::milliseconds cap{2000};
  // The source of randomness for the jitter; null = RetryJitter(). Tests set
  // it to make delays exact.
  std::function<uint64_t()> jitter;

  // The delay before retry number `retry` (1 for the first retry): uniform in
  // [0, min(cap, base * 2^(retry-1))], chosen by `random` (any 64-bit value).
  Clock::duration Backoff(int retry, uint64_t random) const;
};

// A random 64-bit value for Backoff() (a per-thread generator).
uint64_t RetryJitter();

// Called before each backoff sleep: the failure, the attempt that failed
// (1-based) and the delay before the next one.
namespace retry_internal {
inline const Status& StatusOf(const Status& s) { return s; }
template <typename T>
const Status& StatusOf(const Result<T>& r) {
  return r.status();
}
}  // namespace retry_internal

// Calls `op` (returning Status or Result<T>) until it succeeds, fails with a
// non-retryable status, policy.max_attempts are used up, or `stop` is
// requested during a backoff; returns the last outcome.
// `on_retry(failure, attempt, delay)` is called before each wait. It is a
// template parameter, not a std::function: Retry wraps every block read and
// write, and must cost nothing when the first attempt succeeds.
template <typename Op, typename OnRetry>
auto Retry(const RetryPolicy& policy, Clock* clock, const std::stop_token& stop,
           Op&& op, OnRetry&& on_retry) -> std::invoke_result_t<Op&> {
  const int attempts = std::max(1, policy.max_attempts);
  for (int attempt = 1;; ++attempt) {
    auto outcome = op();
    const Status& st = retry_internal::StatusOf(outcome);
    if (st.ok() || !st.retryable() || attempt >= attempts) return outcome;
    const Clock::duration delay = policy.Backoff(
        attempt, policy.jitter ? policy.jitter() : RetryJitter());
    on_retry(st, attempt, delay);
    if (!clock->SleepFor(delay, stop)) return outcome;
  }
}

template <typename Op>
auto Retry(const RetryPolicy& policy, Clock* clock, const std::stop_token& stop,
           Op&& op) -> std::invoke_result_t<Op&> {
  return Retry(policy, clock, stop, std::forward<Op>(op),
               [](const Status&, int, Clock::duration) {});
}

}  // namespace ferry
