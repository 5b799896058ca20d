#include "ferry/base/clock.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <stop_token>
#include <thread>

namespace ferry {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(ManualClockTest, StandsStillUntilAdvanced) {
  ManualClock clock;
  const Clock::time_point t0 = clock.Now();
  EXPECT_EQ(clock.Now(), t0);
  clock.Advance(seconds(3));
  EXPECT_EQ(clock.Now(), t0 + seconds(3));
  EXPECT_EQ(clock.MillisSince(t0), 3000);
}

TEST(ManualClockTest, ASleeperWakesOnlyOnceTimePassesItsDeadline) {
  ManualClock clock;
  const Clock::time_point deadline = clock.Now() + seconds(10);
  std::promise<bool> woke;
  std::future<bool> result = woke.get_future();
  std::jthread sleeper([&] { woke.set_value(clock.SleepUntil(deadline, {})); });
  ASSERT_TRUE(clock.AwaitSleepers(1));
  clock.Advance(seconds(9));
  // Short of the deadline: the sleeper is notified, re-checks and sleeps on.
  // (A sleeper that wrongly returned is caught here only if it has already
  // returned; the deterministic part is that it does return, with true,
  // once the deadline is reached.)
  EXPECT_EQ(clock.sleepers(), 1);
  EXPECT_EQ(result.wait_for(seconds(0)), std::future_status::timeout);
  clock.Advance(seconds(1));
  EXPECT_TRUE(result.get());
  EXPECT_EQ(clock.sleepers(), 0);
}

TEST(ManualClockTest, StopEndsASleep) {
  ManualClock clock;
  std::stop_source stop;
  std::promise<bool> woke;
  std::future<bool> result = woke.get_future();
  std::jthread sleeper(
      [&] { woke.set_value(clock.SleepFor(seconds(100), stop.get_token())); });
  ASSERT_TRUE(clock.AwaitSleepers(1));
  stop.request_stop();
  EXPECT_FALSE(result.get());
  std::stop_source stopped;
  stopped.request_stop();
  EXPECT_FALSE(clock.SleepFor(seconds(1), stopped.get_token()));
}

TEST(ManualClockTest, AutoAdvanceJumpsToTheDeadline) {
  ManualClock clock;
  clock.set_auto_advance(true);
  const Clock::time_point t0 = clock.Now();
  EXPECT_TRUE(clock.SleepFor(milliseconds(250), {}));
  EXPECT_TRUE(clock.SleepFor(milliseconds(750), {}));
  EXPECT_EQ(clock.Now() - t0, seconds(1));
  EXPECT_EQ(clock.sleeps(), 2);
  EXPECT_EQ(clock.total_slept(), seconds(1));
}

TEST(ManualClockTest, ATickMovesTimeOnEveryReading) {
  ManualClock clock;
  clock.set_tick(milliseconds(5));
  const Clock::time_point t0 = clock.Now();
  EXPECT_EQ(clock.Now(), t0 + milliseconds(5));
  EXPECT_EQ(clock.Now(), t0 + milliseconds(10));
}

TEST(ManualClockTest, AwaitSleepersGivesUpWhenNobodySleeps) {
  ManualClock clock;
  EXPECT_FALSE(clock.AwaitSleepers(1, seconds(0)));
}

// The real clock: here the sleeping is what is tested, so it is real (and
// short).
TEST(FormatIso8601Test, NanosecondsAndMilliseconds) {
  const int64_t t = 1764990000LL * 1000000000 + 123456789;
  EXPECT_EQ(FormatIso8601(t), "2025-12-06T03:00:00.123456789Z");
  EXPECT_EQ(FormatIso8601Millis(t), "2025-12-06T03:00:00.123Z");
  EXPECT_EQ(FormatIso8601Millis(-1), "1969-12-31T23:59:59.999Z");
}

TEST(RealClockTest, SleepsUntilTheDeadline) {
  Clock* clock = Clock::Real();
  const Clock::time_point t0 = clock->Now();
  EXPECT_TRUE(clock->SleepFor(milliseconds(20), {}));
  EXPECT_GE(clock->Now() - t0, milliseconds(20));
}

TEST(RealClockTest, StopEndsASleepPromptly) {
  Clock* clock = Clock::Real();
  std::stop_source stop;
  const Clock::time_point t0 = clock->Now();
  std::jthread canceller([&] { stop.request_stop(); });
  EXPECT_FALSE(clock->SleepFor(seconds(60), stop.get_token()));
  EXPECT_LT(clock->Now() - t0, seconds(30));
}

}  // namespace
}  // namespace ferry
