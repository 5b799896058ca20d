#include "ferry/control/model/model_pattern.h"

#include <gtest/gtest.h>

#include <string>

namespace ferry {
namespace {

ModelPattern MustCompile(const std::string& pattern) {
  Result<ModelPattern> p = ModelPattern::Compile(pattern);
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return std::move(p).value();
}

TEST(ModelPatternTest, TheWholeValueMustMatch) {
  ModelPattern p = MustCompile("[a-z]+");
  EXPECT_TRUE(p.FullMatch("abc"));
  EXPECT_FALSE(p.FullMatch("abc1"));
  EXPECT_FALSE(p.FullMatch("1abc"));
  EXPECT_FALSE(p.FullMatch(""));
  // An alternative that matches only a prefix is not enough, but the
  // matcher backtracks into the one that matches all.
  ModelPattern alt = MustCompile("a|ab");
  EXPECT_TRUE(alt.FullMatch("ab"));
  EXPECT_EQ(alt.pattern(), "a|ab");
}

TEST(ModelPatternTest, DollarDoesNotAcceptATrailingNewline) {
  ModelPattern p = MustCompile("^abc$");
  EXPECT_TRUE(p.FullMatch("abc"));
  EXPECT_FALSE(p.FullMatch("abc\n"));
}

TEST(ModelPatternTest, JavaEscapesAndClasses) {
  EXPECT_TRUE(MustCompile("\\A[0-9]+\\z").FullMatch("123"));
  // \uXXXX as Java writes it.
  ModelPattern no_nul = MustCompile("^[^\\u0000\\u2028\\r\\n]{1,5}$");
  EXPECT_TRUE(no_nul.FullMatch("ab"));
  EXPECT_FALSE(no_nul.FullMatch(std::string("a\0b", 3)));
  EXPECT_FALSE(no_nul.FullMatch("a\xE2\x80\xA8"));  // U+2028
  // \p{..} is Unicode; \s and \w are ASCII, as in Java.
  EXPECT_TRUE(MustCompile("^[\\p{L}]+$").FullMatch("\xC3\xA9t\xC3\xA9"));
  EXPECT_FALSE(MustCompile("^\\w+$").FullMatch("\xC3\xA9"));
  EXPECT_FALSE(MustCompile("^\\s$").FullMatch("\xC2\xA0"));  // NBSP
  EXPECT_TRUE(MustCompile("^[\\p{Zs}]$").FullMatch("\xC2\xA0"));
  // '.' matches no line terminator.
  ModelPattern dot = MustCompile("^.*$");
  EXPECT_TRUE(dot.FullMatch("a b"));
  EXPECT_FALSE(dot.FullMatch("a\nb"));
  EXPECT_FALSE(dot.FullMatch("a\rb"));
  EXPECT_FALSE(dot.FullMatch("a\xC2\x85"));  // U+0085
  // Lengths count characters, not bytes.
  EXPECT_TRUE(MustCompile("^.{2}$").FullMatch("\xC3\xA9\xC3\xA9"));
}

TEST(ModelPatternTest, InvalidUtf8NeverMatches) {
  EXPECT_FALSE(MustCompile("^.*$").FullMatch("\xFF"));
  EXPECT_FALSE(MustCompile("^[^\\x00]+$").FullMatch("a\xC3"));
}

TEST(ModelPatternTest, BadPatternIsAnError) {
  Result<ModelPattern> p = ModelPattern::Compile("[a-");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(p.status().message().find("[a-"), std::string_view::npos);
}

TEST(ModelPatternTest, CatastrophicBacktrackingIsBounded) {
  ModelPattern p = MustCompile("^(a+)+$");
  std::string value(40, 'a');
  value += "!";
  EXPECT_FALSE(p.FullMatch(value));  // returns (no match) instead of hanging
}

TEST(ModelPatternTest, CopiesShareTheCompiledCode) {
  ModelPattern a = MustCompile("^x$");
  ModelPattern b = a;
  EXPECT_TRUE(b.FullMatch("x"));
  EXPECT_TRUE(a.FullMatch("x"));
}

}  // namespace
}  // namespace ferry
