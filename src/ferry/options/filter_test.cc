#include "ferry/options/filter.h"

#include <gtest/gtest.h>

#include <ostream>
#include <string>

namespace ferry {

void PrintTo(FilterDecision d, std::ostream* os) {
  switch (d) {
    case FilterDecision::kInclude:
      *os << "kInclude";
      return;
    case FilterDecision::kTraverse:
      *os << "kTraverse";
      return;
    case FilterDecision::kExcluded:
      *os << "kExcluded";
      return;
    case FilterDecision::kNotIncluded:
      *os << "kNotIncluded";
      return;
  }
}

namespace {

constexpr FilterDecision kInclude = FilterDecision::kInclude;
constexpr FilterDecision kTraverse = FilterDecision::kTraverse;
constexpr FilterDecision kExcluded = FilterDecision::kExcluded;
constexpr FilterDecision kNotIncluded = FilterDecision::kNotIncluded;

Filter MustParse(std::string_view includes, std::string_view excludes) {
  auto f = Filter::Parse(includes, excludes);
  EXPECT_TRUE(f.ok()) << f.status().ToString();
  return f.ok() ? *f : Filter();
}

FilterDecision Decide(const Filter& f, std::string_view path, bool is_dir) {
  return f.Decide(RelPath::Parse(path).value(), is_dir);
}

TEST(FilterTest, DefaultIncludesEverything) {
  Filter f;
  EXPECT_FALSE(f.has_includes());
  EXPECT_EQ(Decide(f, "a", false), kInclude);
  EXPECT_EQ(Decide(f, "a/b/c", true), kInclude);
  EXPECT_EQ(f.Decide(RelPath(), true), kInclude);
}

TEST(FilterTest, SnapshotPathsAreAlwaysExcluded) {
  for (const Filter& f : {Filter(), MustParse("/a", ""), MustParse("", "/x")}) {
    EXPECT_EQ(Decide(f, ".snapshot", true), kExcluded);
    EXPECT_EQ(Decide(f, "a/.snapshot", true), kExcluded);
    EXPECT_EQ(Decide(f, "a/x.snapshot", false), kExcluded);
    EXPECT_EQ(Decide(f, "a/.snapshot/hourly/file", false), kExcluded);
  }
  Filter f;
  EXPECT_EQ(Decide(f, "snapshot", true), kInclude);
  EXPECT_EQ(Decide(f, ".snapshots", true), kInclude);
  EXPECT_EQ(Decide(f, ".snapshot2", false), kInclude);
}

TEST(FilterTest, ExcludeMatchesTheFolderAndEverythingBeneath) {
  for (const char* pattern : {"/tmp", "/tmp/", "tmp", "tmp/"}) {
    SCOPED_TRACE(pattern);
    Filter f = MustParse("", pattern);
    EXPECT_EQ(Decide(f, "tmp", true), kExcluded);
    EXPECT_EQ(Decide(f, "tmp", false), kExcluded);
    EXPECT_EQ(Decide(f, "tmp/x", false), kExcluded);
    EXPECT_EQ(Decide(f, "tmp/x/y", true), kExcluded);
    EXPECT_EQ(Decide(f, "tmpx", false), kInclude);
    EXPECT_EQ(Decide(f, "tm", true), kInclude);
    // Anchored at the root.
    EXPECT_EQ(Decide(f, "a/tmp", true), kInclude);
  }
}

TEST(FilterTest, ExcludeWithNestedPath) {
  Filter f = MustParse("", "/a/b");
  EXPECT_EQ(Decide(f, "a", true), kInclude);
  EXPECT_EQ(Decide(f, "a/b", true), kExcluded);
  EXPECT_EQ(Decide(f, "a/b/c", false), kExcluded);
  EXPECT_EQ(Decide(f, "a/bc", false), kInclude);
  EXPECT_EQ(Decide(f, "b", true), kInclude);
}

TEST(FilterTest, ExcludeStarsMayBeAnywhere) {
  Filter f = MustParse("", "*.tmp|*/temp|/logs/*/old|/x*y");
  EXPECT_EQ(Decide(f, "a.tmp", false), kExcluded);
  EXPECT_EQ(Decide(f, "d/e/b.tmp", false), kExcluded);
  EXPECT_EQ(Decide(f, "d/b.tmpx", false), kInclude);
  EXPECT_EQ(Decide(f, "temp", true), kExcluded);
  EXPECT_EQ(Decide(f, "a/b/temp", true), kExcluded);
  EXPECT_EQ(Decide(f, "a/b/temp/inner", false), kExcluded);
  EXPECT_EQ(Decide(f, "a/btemp", true), kInclude);
  EXPECT_EQ(Decide(f, "logs/2024/old", true), kExcluded);
  EXPECT_EQ(Decide(f, "logs/2024/05/old", true), kExcluded);  // '*' spans '/'
  EXPECT_EQ(Decide(f, "logs/old", true), kInclude);
  EXPECT_EQ(Decide(f, "logs/2024/older", true), kInclude);
  EXPECT_EQ(Decide(f, "xy", false), kExcluded);
  EXPECT_EQ(Decide(f, "x123y", false), kExcluded);
  EXPECT_EQ(Decide(f, "x/y", false), kExcluded);
  EXPECT_EQ(Decide(f, "ax123y", false), kInclude);
  EXPECT_EQ(Decide(f, "x123yz", false), kInclude);
}

TEST(FilterTest, ExcludeStarPatternsCoverFolderContents) {
  Filter f = MustParse("", "*.tmp|/cache*");
  EXPECT_EQ(Decide(f, "build.tmp", true), kExcluded);
  EXPECT_EQ(Decide(f, "build.tmp/obj/a.o", false), kExcluded);
  EXPECT_EQ(Decide(f, "cache2", true), kExcluded);
  EXPECT_EQ(Decide(f, "cache2/file", false), kExcluded);
}

TEST(FilterTest, SlashAloneExcludesEverything) {
  Filter f = MustParse("", "/");
  EXPECT_EQ(Decide(f, "a", false), kExcluded);
  EXPECT_EQ(Decide(f, "a/b", true), kExcluded);
  EXPECT_EQ(f.Decide(RelPath(), true), kInclude);  // the root itself stays
}

TEST(FilterTest, MatchingIsCaseSensitive) {
  Filter f = MustParse("/Docs", "/Tmp");
  EXPECT_EQ(Decide(f, "Tmp", true), kExcluded);
  EXPECT_EQ(Decide(f, "tmp", true), kNotIncluded);
  EXPECT_EQ(Decide(f, "Docs", true), kInclude);
  EXPECT_EQ(Decide(f, "docs", true), kNotIncluded);
}

TEST(FilterTest, IncludeMatchesTheFolderItsContentsAndTheWayThere) {
  Filter f = MustParse("/a/b/c", "");
  EXPECT_TRUE(f.has_includes());
  EXPECT_EQ(Decide(f, "a", true), kTraverse);
  EXPECT_EQ(Decide(f, "a/b", true), kTraverse);
  EXPECT_EQ(Decide(f, "a/b/c", true), kInclude);
  EXPECT_EQ(Decide(f, "a/b/c", false), kInclude);
  EXPECT_EQ(Decide(f, "a/b/c/d/e", false), kInclude);
  EXPECT_EQ(Decide(f, "a/b/cd", false), kNotIncluded);
  EXPECT_EQ(Decide(f, "a/x", true), kNotIncluded);
  EXPECT_EQ(Decide(f, "a/x", false), kNotIncluded);
  EXPECT_EQ(Decide(f, "z", true), kNotIncluded);
  // Only folders lead anywhere.
  EXPECT_EQ(Decide(f, "a", false), kNotIncluded);
  EXPECT_EQ(Decide(f, "ab", true), kNotIncluded);
}

TEST(FilterTest, IncludeWithTrailingStar) {
  Filter f = MustParse("/documents*|/photos/2024*", "");
  EXPECT_EQ(Decide(f, "documents", true), kInclude);
  EXPECT_EQ(Decide(f, "documents-old", false), kInclude);
  EXPECT_EQ(Decide(f, "documents2/x/y", false), kInclude);
  EXPECT_EQ(Decide(f, "doc", true), kNotIncluded);
  EXPECT_EQ(Decide(f, "photos", true), kTraverse);
  EXPECT_EQ(Decide(f, "photos/2024-05", true), kInclude);
  EXPECT_EQ(Decide(f, "photos/2023", true), kNotIncluded);
  EXPECT_EQ(Decide(f, "x/documents", false), kNotIncluded);
}

TEST(FilterTest, ExcludeWinsOverInclude) {
  Filter f = MustParse("/data", "/data/private|*.bak");
  EXPECT_EQ(Decide(f, "data", true), kInclude);
  EXPECT_EQ(Decide(f, "data/public.txt", false), kInclude);
  EXPECT_EQ(Decide(f, "data/private", true), kExcluded);
  EXPECT_EQ(Decide(f, "data/x.bak", false), kExcluded);
  EXPECT_EQ(Decide(f, "other.bak", false), kExcluded);
}

TEST(FilterTest, IncludeStarBeforeTheEndIsRejectedQuotingThePattern) {
  for (const char* value : {"*.txt", "/a*/b", "/ok|/x*y"}) {
    auto f = Filter::Parse(value, "");
    ASSERT_FALSE(f.ok()) << value;
    EXPECT_EQ(f.status().code(), StatusCode::kInvalidArgument);
    std::string_view msg = f.status().message();
    EXPECT_NE(msg.find("include"), std::string_view::npos) << msg;
    EXPECT_NE(msg.find("last character"), std::string_view::npos) << msg;
  }
  auto f = Filter::Parse("/ok|/x*y", "");
  EXPECT_NE(f.status().message().find("\"/x*y\""), std::string_view::npos)
      << f.status().message();
  EXPECT_EQ(f.status().message().find("/ok"), std::string_view::npos)
      << "only the offending pattern should be quoted: "
      << f.status().message();
}

TEST(FilterTest, BackslashEscapesStarBarAndBackslash) {
  Filter f = MustParse("", "/a\\*b|/c\\|d|/e\\\\f");
  EXPECT_EQ(Decide(f, "a*b", false), kExcluded);
  EXPECT_EQ(Decide(f, "axb", false), kInclude);
  EXPECT_EQ(Decide(f, "c|d", false), kExcluded);
  EXPECT_EQ(Decide(f, "c", false), kInclude);
  EXPECT_EQ(Decide(f, "d", false), kInclude);
  EXPECT_EQ(Decide(f, "e\\f", false), kExcluded);
  // An escaped star is allowed anywhere in an include.
  Filter inc = MustParse("/weird\\*name", "");
  EXPECT_EQ(Decide(inc, "weird*name", false), kInclude);
  EXPECT_EQ(Decide(inc, "weirdXname", false), kNotIncluded);
  // A leading escape is still anchored at the root.
  Filter lead = MustParse("", "\\*star");
  EXPECT_EQ(Decide(lead, "*star", false), kExcluded);
  EXPECT_EQ(Decide(lead, "a/*star", false), kInclude);
}

TEST(FilterTest, BadEscapesAreRejected) {
  for (const char* value : {"/a\\b", "/trailing\\"}) {
    auto f = Filter::Parse("", value);
    EXPECT_FALSE(f.ok()) << value;
    EXPECT_EQ(f.status().code(), StatusCode::kInvalidArgument);
  }
}

TEST(FilterTest, EmptyPatternsAreRejected) {
  for (const char* value : {"|", "/a||/b", "/a|", "|/a"}) {
    EXPECT_FALSE(Filter::Parse("", value).ok()) << value;
    EXPECT_FALSE(Filter::Parse(value, "").ok()) << value;
  }
  EXPECT_TRUE(Filter::Parse("", "").ok());
}

TEST(FilterTest, ValueLengthIsLimited) {
  std::string at_limit = "/" + std::string(kMaxFilterLength - 1, 'a');
  ASSERT_EQ(at_limit.size(), 102400u);
  EXPECT_TRUE(Filter::Parse(at_limit, "").ok());
  EXPECT_TRUE(Filter::Parse("", at_limit).ok());
  std::string over = at_limit + "b";
  for (bool include : {true, false}) {
    auto f = include ? Filter::Parse(over, "") : Filter::Parse("", over);
    ASSERT_FALSE(f.ok());
    EXPECT_EQ(f.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(f.status().message().find("102400"), std::string_view::npos)
        << f.status().message();
  }
}

TEST(FilterTest, ManyPatternsEachMatch) {
  std::string value;
  for (int i = 0; i < 500; ++i) {
    if (i) value += "|";
    value += "/dir" + std::to_string(i);
  }
  Filter f = MustParse("", value);
  EXPECT_EQ(Decide(f, "dir0", true), kExcluded);
  EXPECT_EQ(Decide(f, "dir499/x", false), kExcluded);
  EXPECT_EQ(Decide(f, "dir500", true), kInclude);
}

}  // namespace
}  // namespace ferry
