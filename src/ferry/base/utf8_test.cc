#include "ferry/base/utf8.h"

#include <gtest/gtest.h>

namespace ferry {
namespace {

TEST(Utf8Test, AcceptsWellFormedText) {
  for (const char* ok :
       {"", "plain", "caf\xc3\xa9", "\xe2\x82\xac 5", "\xf0\x9f\x98\x80",
        "\xef\xbf\xbf", "\xf4\x8f\xbf\xbf"}) {
    EXPECT_TRUE(IsValidUtf8(ok)) << ok;
  }
}

TEST(Utf8Test, RefusesMalformedText) {
  for (const char* bad :
       {"\xff", "\xfe\xff", "\x80", "\xc3", "\xc3\x28", "\xc0\xaf",
        "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
        "\xf8\x88\x80\x80\x80", "ok\xe2\x82"}) {
    EXPECT_FALSE(IsValidUtf8(bad)) << testing::PrintToString(bad);
  }
}

TEST(Utf8Test, CodePointsCountCharactersNotBytes) {
  EXPECT_EQ(Utf8CodePoints(""), 0u);
  EXPECT_EQ(Utf8CodePoints("plain"), 5u);
  EXPECT_EQ(Utf8CodePoints("caf\xc3\xa9"), 4u);
  EXPECT_EQ(Utf8CodePoints("\xe2\x82\xac 5"), 3u);
  EXPECT_EQ(Utf8CodePoints("\xf0\x9f\x98\x80!"), 2u);
}

}  // namespace
}  // namespace ferry
