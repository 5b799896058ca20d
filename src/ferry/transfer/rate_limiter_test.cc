#include "ferry/transfer/rate_limiter.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stop_token>
#include <thread>
#include <vector>

namespace ferry {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono_literals::operator""ms;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

TEST(RateLimiterTest, UnlimitedNeverWaits) {
  for (int64_t rate : {int64_t{-1}, int64_t{0}}) {
    RateLimiter limiter(rate);
    EXPECT_EQ(limiter.rate(), rate);
    auto start = Clock::now();
    for (int i = 0; i < 100; ++i) limiter.Acquire(uint64_t{1} << 40, {});
    EXPECT_LT(SecondsSince(start), 0.05);
  }
  RateLimiter defaulted;
  auto start = Clock::now();
  defaulted.Acquire(uint64_t{1} << 40, {});
  EXPECT_LT(SecondsSince(start), 0.05);
}

TEST(RateLimiterTest, ASmallFirstAcquireUsesTheBurst) {
  RateLimiter limiter(1000000);
  auto start = Clock::now();
  limiter.Acquire(50000, {});  // 50 ms worth, within the 100 ms burst
  EXPECT_LT(SecondsSince(start), 0.04);
}

TEST(RateLimiterTest, HoldsTheAverageRate) {
  RateLimiter limiter(1000000);  // 1 MB/s
  auto start = Clock::now();
  for (int i = 0; i < 10; ++i) limiter.Acquire(50000, {});
  // 500 KB at 1 MB/s is 0.5 s, less the burst of 0.1 s.
  double elapsed = SecondsSince(start);
  EXPECT_GE(elapsed, 0.38);
  EXPECT_LT(elapsed, 1.5);
}

TEST(RateLimiterTest, ThreadsShareOneBudget) {
  RateLimiter limiter(2000000);  // 2 MB/s
  auto start = Clock::now();
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&] {
        for (int i = 0; i < 4; ++i) limiter.Acquire(50000, {});
      });
    }
  }
  // 800 KB at 2 MB/s: 0.4 s less the burst.
  double elapsed = SecondsSince(start);
  EXPECT_GE(elapsed, 0.28);
  EXPECT_LT(elapsed, 1.5);
}

TEST(RateLimiterTest, StopEndsAWaitPromptly) {
  RateLimiter limiter(1);  // a byte a second
  std::stop_source stop;
  auto start = Clock::now();
  std::jthread waiter([&] { limiter.Acquire(1000000, stop.get_token()); });
  std::this_thread::sleep_for(50ms);
  stop.request_stop();
  waiter.join();
  EXPECT_LT(SecondsSince(start), 0.6);
}

TEST(RateLimiterTest, RaisingTheLimitToUnlimitedReleasesWaiters) {
  RateLimiter limiter(1);
  std::atomic<bool> done{false};
  auto start = Clock::now();
  std::jthread waiter([&] {
    limiter.Acquire(1000000, {});
    done = true;
  });
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(done.load());
  limiter.SetRate(-1);
  EXPECT_EQ(limiter.rate(), -1);
  waiter.join();
  EXPECT_LT(SecondsSince(start), 0.6);
}

TEST(RateLimiterTest, ANewRateAppliesToLaterAcquires) {
  RateLimiter limiter(1);
  limiter.SetRate(10000000);  // 10 MB/s
  EXPECT_EQ(limiter.rate(), 10000000);
  auto start = Clock::now();
  for (int i = 0; i < 20; ++i) limiter.Acquire(100000, {});
  // 2 MB at 10 MB/s: 0.2 s less the burst. At the old rate: 23 days.
  double elapsed = SecondsSince(start);
  EXPECT_GE(elapsed, 0.08);
  EXPECT_LT(elapsed, 0.6);
}

}  // namespace
}  // namespace ferry
