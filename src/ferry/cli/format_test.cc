#include "ferry/cli/format.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

namespace ferry {
namespace {

TEST(FormatCountTest, GroupsThousands) {
  EXPECT_EQ(FormatCount(0), "0");
  EXPECT_EQ(FormatCount(7), "7");
  EXPECT_EQ(FormatCount(999), "999");
  EXPECT_EQ(FormatCount(1000), "1,000");
  EXPECT_EQ(FormatCount(12345), "12,345");
  EXPECT_EQ(FormatCount(100000), "100,000");
  EXPECT_EQ(FormatCount(1234567), "1,234,567");
  EXPECT_EQ(FormatCount(std::numeric_limits<uint64_t>::max()),
            "18,446,744,073,709,551,615");
}

TEST(FormatBytesTest, BinaryUnitsWithOneDecimal) {
  EXPECT_EQ(FormatBytes(0), "0 B");
  EXPECT_EQ(FormatBytes(1), "1 B");
  EXPECT_EQ(FormatBytes(1023), "1023 B");
  EXPECT_EQ(FormatBytes(1024), "1.0 KiB");
  EXPECT_EQ(FormatBytes(1536), "1.5 KiB");
  EXPECT_EQ(FormatBytes(uint64_t{1} << 20), "1.0 MiB");
  EXPECT_EQ(FormatBytes(uint64_t{3} << 29), "1.5 GiB");
  EXPECT_EQ(FormatBytes(uint64_t{5} << 40), "5.0 TiB");
  EXPECT_EQ(FormatBytes(uint64_t{1} << 50), "1.0 PiB");
  // PiB is the largest unit.
  EXPECT_EQ(FormatBytes(uint64_t{1} << 60), "1024.0 PiB");
}

TEST(FormatRateTest, BytesPerSecond) {
  EXPECT_EQ(FormatRate(0), "0 B/s");
  EXPECT_EQ(FormatRate(512), "512 B/s");
  EXPECT_EQ(FormatRate(100.0 * (1 << 20)), "100.0 MiB/s");
  EXPECT_EQ(FormatRate(-5), "0 B/s");
}

TEST(FormatMillisTest, SecondsMinutesHours) {
  EXPECT_EQ(FormatMillis(0), "0.000 s");
  EXPECT_EQ(FormatMillis(1234), "1.234 s");
  EXPECT_EQ(FormatMillis(59999), "59.999 s");
  EXPECT_EQ(FormatMillis(60000), "1 min 00 s");
  EXPECT_EQ(FormatMillis(123000), "2 min 03 s");
  EXPECT_EQ(FormatMillis(3599999), "59 min 59 s");
  EXPECT_EQ(FormatMillis(3600000), "1 h 00 min");
  EXPECT_EQ(FormatMillis(3725000), "1 h 02 min");
  EXPECT_EQ(FormatMillis(int64_t{100} * 3600000 + 59 * 60000), "100 h 59 min");
}

}  // namespace
}  // namespace ferry
