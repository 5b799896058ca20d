#include "ferry/transfer/rate_limiter.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stop_token>
#include <thread>
#include <vector>

#include "ferry/base/clock.h"

namespace ferry {
namespace {

using std::chrono::milliseconds;

// Every test runs on a ManualClock: in simulated time (auto-advance) a wait
// moves the clock to its end at once, so the elapsed time is exact and no
// test waits; without auto-advance, time stands still and only a stop or a
// rate change can end a wait.
Clock::duration Elapsed(ManualClock& clock, Clock::time_point start) {
  return clock.Now() - start;
}

TEST(RateLimiterTest, UnlimitedNeverWaits) {
  ManualClock clock;
  for (int64_t rate : {int64_t{-1}, int64_t{0}}) {
    RateLimiter limiter(rate, &clock);
    EXPECT_EQ(limiter.rate(), rate);
    for (int i = 0; i < 100; ++i) limiter.Acquire(uint64_t{1} << 40, {});
  }
  RateLimiter defaulted(-1, &clock);
  defaulted.Acquire(uint64_t{1} << 40, {});
  EXPECT_EQ(clock.sleeps(), 0);
}

TEST(RateLimiterTest, TheDefaultIsUnlimitedOnTheRealClock) {
  RateLimiter limiter;
  EXPECT_EQ(limiter.rate(), -1);
  limiter.Acquire(uint64_t{1} << 40, {});  // would take forever if limited
}

TEST(RateLimiterTest, ASmallFirstAcquireUsesTheBurst) {
  ManualClock clock;
  RateLimiter limiter(1000000, &clock);
  limiter.Acquire(50000, {});  // 50 ms worth, within the 100 ms burst
  limiter.Acquire(50000, {});  // 100 ms worth: still within it
  EXPECT_EQ(clock.sleeps(), 0);
}

TEST(RateLimiterTest, HoldsTheAverageRate) {
  ManualClock clock;
  clock.set_auto_advance(true);
  const Clock::time_point start = clock.Now();
  RateLimiter limiter(1000000, &clock);  // 1 MB/s
  for (int i = 0; i < 10; ++i) limiter.Acquire(50000, {});
  // 500 KB at 1 MB/s is 0.5 s, less the burst of 0.1 s.
  EXPECT_EQ(Elapsed(clock, start), milliseconds(400));
  EXPECT_EQ(clock.sleeps(), 8);  // the first two fit in the burst
}

TEST(RateLimiterTest, AnIdleLimiterBanksNoMoreThanTheBurst) {
  ManualClock clock;
  clock.set_auto_advance(true);
  RateLimiter limiter(1000000, &clock);
  clock.Advance(std::chrono::seconds(10));  // idle for a long time
  const Clock::time_point start = clock.Now();
  for (int i = 0; i < 10; ++i) limiter.Acquire(50000, {});
  EXPECT_EQ(Elapsed(clock, start), milliseconds(400));
}

TEST(RateLimiterTest, ThreadsShareOneBudget) {
  ManualClock clock;
  clock.set_auto_advance(true);
  const Clock::time_point start = clock.Now();
  RateLimiter limiter(2000000, &clock);  // 2 MB/s
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&] {
        for (int i = 0; i < 4; ++i) limiter.Acquire(50000, {});
      });
    }
  }
  // 800 KB at 2 MB/s: 0.4 s less the burst. Each booking follows the one
  // before, whichever thread made it, so the last ends at exactly 0.3 s.
  EXPECT_EQ(Elapsed(clock, start), milliseconds(300));
}

TEST(RateLimiterTest, StopEndsAWait) {
  ManualClock clock;  // time stands still: only the stop can end the wait
  RateLimiter limiter(1, &clock);  // a byte a second
  std::stop_source stop;
  std::atomic<bool> done{false};
  std::jthread waiter([&] {
    limiter.Acquire(1000000, stop.get_token());
    done = true;
  });
  ASSERT_TRUE(clock.AwaitSleepers(1));
  EXPECT_FALSE(done.load());
  stop.request_stop();
  waiter.join();
  EXPECT_TRUE(done.load());
}

TEST(RateLimiterTest, AStopRequestedBeforehandDoesNotWait) {
  ManualClock clock;
  RateLimiter limiter(1, &clock);
  std::stop_source stop;
  stop.request_stop();
  limiter.Acquire(1000000, stop.get_token());
  EXPECT_EQ(clock.sleeps(), 0);
}

TEST(RateLimiterTest, RaisingTheLimitToUnlimitedReleasesWaiters) {
  ManualClock clock;
  RateLimiter limiter(1, &clock);
  std::atomic<int> done{0};
  {
    std::vector<std::jthread> waiters;
    for (int i = 0; i < 2; ++i) {
      waiters.emplace_back([&] {
        limiter.Acquire(1000000, {});
        ++done;
      });
    }
    ASSERT_TRUE(clock.AwaitSleepers(2));
    EXPECT_EQ(done.load(), 0);
    limiter.SetRate(-1);
    EXPECT_EQ(limiter.rate(), -1);
  }  // joins: a waiter the new rate did not release would hang here
  EXPECT_EQ(done.load(), 2);
}

TEST(RateLimiterTest, AWaiterBooksAgainAtANewRate) {
  ManualClock clock;
  RateLimiter limiter(1, &clock);  // 1.1 MB would take 12 days
  const Clock::time_point start = clock.Now();
  std::atomic<bool> done{false};
  std::jthread waiter([&] {
    limiter.Acquire(1100000, {});
    done = true;
  });
  ASSERT_TRUE(clock.AwaitSleepers(1));
  limiter.SetRate(1000000);  // 1 MB/s: 1.1 MB take 1.1 s less the burst
  // The waiter books again at the new rate and sleeps once more.
  ASSERT_TRUE(clock.AwaitSleeps(2));
  clock.Advance(milliseconds(999));
  EXPECT_FALSE(done.load());
  clock.Advance(milliseconds(1));
  waiter.join();
  EXPECT_TRUE(done.load());
  EXPECT_EQ(Elapsed(clock, start), milliseconds(1000));
}

TEST(RateLimiterTest, ANewRateAppliesToLaterAcquires) {
  ManualClock clock;
  clock.set_auto_advance(true);
  RateLimiter limiter(1, &clock);
  limiter.SetRate(10000000);  // 10 MB/s
  EXPECT_EQ(limiter.rate(), 10000000);
  const Clock::time_point start = clock.Now();
  for (int i = 0; i < 20; ++i) limiter.Acquire(100000, {});
  // 2 MB at 10 MB/s: 0.2 s less the burst. At the old rate: 23 days.
  EXPECT_EQ(Elapsed(clock, start), milliseconds(100));
}

}  // namespace
}  // namespace ferry
