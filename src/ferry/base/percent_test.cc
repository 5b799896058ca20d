#include "ferry/base/percent.h"

#include <gtest/gtest.h>

namespace ferry {
namespace {

TEST(PercentTest, DecodesEscapesAndLeavesBrokenOnesAlone) {
  EXPECT_EQ(PercentDecode("a%20b%2Fc%2f"), "a b/c/");
  EXPECT_EQ(PercentDecode("100%"), "100%");
  EXPECT_EQ(PercentDecode("%4"), "%4");
  EXPECT_EQ(PercentDecode("%zz%41"), "%zzA");
  EXPECT_EQ(PercentDecode("%00"), std::string(1, '\0'));
}

TEST(PercentTest, PlusIsASpaceOnlyInForms) {
  EXPECT_EQ(PercentDecode("a+b%2B"), "a+b+");
  EXPECT_EQ(PercentDecode("a+b%2B", true), "a b+");
}

}  // namespace
}  // namespace ferry
