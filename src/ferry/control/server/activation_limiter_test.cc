#include "ferry/control/server/activation_limiter.h"

#include <gtest/gtest.h>

#include <string>

namespace ferry::control {
namespace {

constexpr int64_t kStart = 1'800'000'000'000;

class ActivationLimiterTest : public ::testing::Test {
 protected:
  ActivationLimits Limits() {
    ActivationLimits limits;
    limits.burst = 3;
    limits.refill_interval = std::chrono::seconds(20);
    limits.log_window = std::chrono::seconds(60);
    return limits;
  }
  std::function<int64_t()> Clock() {
    return [this] { return now_; };
  }
  int64_t now_ = kStart;
};

TEST_F(ActivationLimiterTest, ABurstThenOnePerInterval) {
  ActivationLimiter limiter(Limits(), Clock());
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(limiter.Admit("192.0.2.7").admitted) << i;
  }
  ActivationLimiter::Decision refused = limiter.Admit("192.0.2.7");
  EXPECT_FALSE(refused.admitted);
  EXPECT_EQ(refused.retry_after_s, 20);
  EXPECT_EQ(refused.bucket, "192.0.2.7");

  // A refused request costs nothing: 19.5 s on, one more second to wait.
  now_ += 19'500;
  refused = limiter.Admit("192.0.2.7");
  EXPECT_FALSE(refused.admitted);
  EXPECT_EQ(refused.retry_after_s, 1);
  now_ += 500;
  EXPECT_TRUE(limiter.Admit("192.0.2.7").admitted);
  EXPECT_FALSE(limiter.Admit("192.0.2.7").admitted);

  // Other addresses have buckets of their own.
  EXPECT_TRUE(limiter.Admit("192.0.2.8").admitted);

  // Idle for the burst's worth of intervals, the bucket is full again.
  now_ += 3 * 20'000;
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(limiter.Admit("192.0.2.7").admitted) << i;
  }
  EXPECT_FALSE(limiter.Admit("192.0.2.7").admitted);
}

TEST_F(ActivationLimiterTest, RetryAfterCountsWholeSecondsUp) {
  ActivationLimits limits = Limits();
  limits.burst = 1;
  limits.refill_interval = std::chrono::milliseconds(2'500);
  ActivationLimiter limiter(limits, Clock());
  EXPECT_TRUE(limiter.Admit("192.0.2.7").admitted);
  EXPECT_EQ(limiter.Admit("192.0.2.7").retry_after_s, 3);
  now_ += 2'499;
  EXPECT_EQ(limiter.Admit("192.0.2.7").retry_after_s, 1);
  now_ += 1;
  EXPECT_TRUE(limiter.Admit("192.0.2.7").admitted);
}

TEST_F(ActivationLimiterTest, RefusalsAreLoggedOncePerAddressAndWindow) {
  ActivationLimiter limiter(Limits(), Clock());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(limiter.Admit("192.0.2.7").admitted);
  ASSERT_TRUE(limiter.Admit("192.0.2.9").admitted);

  ActivationLimiter::Decision first = limiter.Admit("192.0.2.7");
  EXPECT_FALSE(first.admitted);
  EXPECT_TRUE(first.log);
  EXPECT_EQ(first.refused_since_log, 1);
  int logged = 0;
  for (int i = 0; i < 100; ++i) {
    now_ += 100;  // 10 s in all: still refused, still in the window
    ActivationLimiter::Decision d = limiter.Admit("192.0.2.7");
    EXPECT_FALSE(d.admitted);
    logged += d.log;
  }
  EXPECT_EQ(logged, 0);

  // Another address's first refusal is logged in the same window.
  ASSERT_TRUE(limiter.Admit("192.0.2.9").admitted);
  ASSERT_TRUE(limiter.Admit("192.0.2.9").admitted);
  EXPECT_TRUE(limiter.Admit("192.0.2.9").log);

  // The next window's first refusal says how many went unlogged.
  now_ += 60'000;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(limiter.Admit("192.0.2.7").admitted);
  ActivationLimiter::Decision next = limiter.Admit("192.0.2.7");
  EXPECT_FALSE(next.admitted);
  EXPECT_TRUE(next.log);
  EXPECT_EQ(next.refused_since_log, 101);
}

TEST_F(ActivationLimiterTest, AnIpv6HostIsItsSlash64AndMappedIpv4IsIpv4) {
  EXPECT_EQ(ActivationLimiter::BucketOf("2001:db8:1:2:aaaa::1"),
            "2001:db8:1:2::/64");
  EXPECT_EQ(ActivationLimiter::BucketOf("2001:db8:1:2:bbbb:cccc:dddd:eeee"),
            "2001:db8:1:2::/64");
  EXPECT_EQ(ActivationLimiter::BucketOf("::ffff:192.0.2.7"), "192.0.2.7");
  EXPECT_EQ(ActivationLimiter::BucketOf("192.0.2.7"), "192.0.2.7");
  EXPECT_EQ(ActivationLimiter::BucketOf("not an address"), "not an address");

  ActivationLimiter limiter(Limits(), Clock());
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(
        limiter.Admit("2001:db8:1:2::" + std::to_string(i + 1)).admitted);
  }
  ActivationLimiter::Decision d = limiter.Admit("2001:db8:1:2::99");
  EXPECT_FALSE(d.admitted);
  EXPECT_EQ(d.bucket, "2001:db8:1:2::/64");
  EXPECT_TRUE(limiter.Admit("2001:db8:1:3::1").admitted);
  // ::ffff:192.0.2.7 and 192.0.2.7 are one client.
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(limiter.Admit("192.0.2.7").admitted);
  EXPECT_FALSE(limiter.Admit("::ffff:192.0.2.7").admitted);
}

TEST_F(ActivationLimiterTest, TrackedAddressesAreBoundedAndIdleOnesForgotten) {
  ActivationLimits limits = Limits();
  limits.max_tracked_addresses = 4;
  ActivationLimiter limiter(limits, Clock());
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(limiter.Admit("198.51.100." + std::to_string(i)).admitted);
  }
  EXPECT_EQ(limiter.tracked(), 4u);
  // A fifth address while the four are busy: the shared bucket, which
  // refuses like any other once drained.
  for (int i = 0; i < 3; ++i) {
    ActivationLimiter::Decision d =
        limiter.Admit("203.0.113." + std::to_string(i));
    EXPECT_TRUE(d.admitted);
    EXPECT_EQ(d.bucket, "other addresses");
  }
  ActivationLimiter::Decision d = limiter.Admit("203.0.113.50");
  EXPECT_FALSE(d.admitted);
  EXPECT_EQ(d.bucket, "other addresses");
  EXPECT_EQ(limiter.tracked(), 4u);

  // Once the four are idle (their buckets full again), they are forgotten
  // and new addresses get buckets of their own.
  now_ += 20'000;
  d = limiter.Admit("203.0.113.60");
  EXPECT_TRUE(d.admitted);
  EXPECT_EQ(d.bucket, "203.0.113.60");
  EXPECT_EQ(limiter.tracked(), 1u);
}

}  // namespace
}  // namespace ferry::control
