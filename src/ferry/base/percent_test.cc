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

TEST(PercentEncodeTest, KeepsOnlyUnreservedBytesAndOptionallySlashes) {
  EXPECT_EQ(PercentEncode("a b/~*", false), "a%20b%2F~%2A");
  EXPECT_EQ(PercentEncode("dir/caf\xc3\xa9 %.txt", true),
            "dir/caf%C3%A9%20%25.txt");
  EXPECT_EQ(PercentEncode("", true), "");
  const std::string all_bytes = [] {
    std::string s;
    for (int c = 0; c < 256; ++c) s += static_cast<char>(c);
    return s;
  }();
  EXPECT_EQ(PercentDecode(PercentEncode(all_bytes, false)), all_bytes);
}

}  // namespace
}  // namespace ferry
