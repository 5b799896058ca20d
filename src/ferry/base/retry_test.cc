#include "ferry/base/retry.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <thread>
#include <vector>

namespace ferry {
namespace {

using std::chrono::milliseconds;

Status Transient() {
  return Status(StatusCode::kUnavailable, "try again", 0, /*retryable=*/true);
}

RetryPolicy Exact(uint64_t jitter) {
  RetryPolicy p;
  p.jitter = [jitter] { return jitter; };
  return p;
}

TEST(RetryPolicyTest, BackoffIsFullJitterUnderAnExponentialBoundAndTheCap) {
  RetryPolicy p;  // 50 ms base, 2 s cap
  const uint64_t kMax = std::numeric_limits<uint64_t>::max();
  for (int retry = 1; retry <= 12; ++retry) {
    SCOPED_TRACE(retry);
    const milliseconds bound =
        std::min(milliseconds(2000), milliseconds(50) * (1 << (retry - 1)));
    EXPECT_EQ(p.Backoff(retry, 0), Clock::duration::zero());
    // The span is [0, bound]: bound itself is reachable, nothing above it.
    const uint64_t top = static_cast<uint64_t>(bound.count()) * 1000;
    EXPECT_EQ(p.Backoff(retry, top), bound);
    EXPECT_EQ(p.Backoff(retry, top + 1), Clock::duration::zero());
    EXPECT_LE(p.Backoff(retry, kMax), bound);
  }
  EXPECT_EQ(p.Backoff(3, 1000), milliseconds(1));
}

TEST(RetryTest, RetryableFailuresAreRetriedWithBackoffOnTheClock) {
  ManualClock clock;
  clock.set_auto_advance(true);
  const Clock::time_point start = clock.Now();
  RetryPolicy policy = Exact(std::numeric_limits<uint64_t>::max() / 2);
  int calls = 0;
  std::vector<int> seen;
  Status st = Retry(
      policy, &clock, {},
      [&] { return ++calls < 3 ? Transient() : Status::Ok(); },
      [&](const Status& failure, int attempt, Clock::duration delay) {
        EXPECT_TRUE(failure.retryable());
        EXPECT_GT(delay, Clock::duration::zero());
        seen.push_back(attempt);
      });
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(seen, (std::vector<int>{1, 2}));
  EXPECT_EQ(clock.sleeps(), 2);
  EXPECT_EQ(clock.Now() - start, clock.total_slept());
  EXPECT_LE(clock.total_slept(), milliseconds(50 + 100));
}

TEST(RetryTest, ANonRetryableFailureIsReturnedAtOnce) {
  ManualClock clock;
  int calls = 0;
  Status st = Retry(RetryPolicy(), &clock, {}, [&] {
    ++calls;
    return Status::IoError("bad sector");
  });
  EXPECT_EQ(st.code(), StatusCode::kIoError);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(clock.sleeps(), 0);
}

TEST(RetryTest, GivesUpAfterMaxAttemptsWithTheLastFailure) {
  ManualClock clock;
  clock.set_auto_advance(true);
  int calls = 0;
  Status st = Retry(Exact(7), &clock, {}, [&] {
    ++calls;
    return Status(StatusCode::kUnavailable, "attempt " + std::to_string(calls),
                  0, true);
  });
  EXPECT_EQ(calls, 4);
  EXPECT_EQ(clock.sleeps(), 3);
  EXPECT_EQ(st.message(), "attempt 4");
}

TEST(RetryTest, ResultsAreRetriedToo) {
  ManualClock clock;
  clock.set_auto_advance(true);
  int calls = 0;
  Result<int> r = Retry(Exact(0), &clock, {}, [&]() -> Result<int> {
    if (++calls == 1) return Transient();
    return 42;
  });
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, 42);
  EXPECT_EQ(calls, 2);
}

TEST(RetryTest, StopEndsTheBackoff) {
  ManualClock clock;  // never advanced: only the stop can end the sleep
  std::stop_source stop;
  std::atomic<int> calls{0};
  Status st;
  std::jthread worker([&] {
    st = Retry(Exact(std::numeric_limits<uint64_t>::max() / 2), &clock,
               stop.get_token(), [&] {
                 ++calls;
                 return Transient();
               });
  });
  ASSERT_TRUE(clock.AwaitSleepers(1));
  stop.request_stop();
  worker.join();
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace ferry
