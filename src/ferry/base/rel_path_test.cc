#include "ferry/base/rel_path.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace ferry {
namespace {

RelPath MustParse(std::string_view text) {
  auto r = RelPath::Parse(text);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : RelPath();
}

TEST(RelPathTest, ParsesComponents) {
  RelPath p = MustParse("a/b/c");
  EXPECT_EQ(p.str(), "a/b/c");
  EXPECT_EQ(p.name(), "c");
  EXPECT_EQ(p.Depth(), 3u);
  EXPECT_FALSE(p.IsRoot());
}

TEST(RelPathTest, ToleratesLeadingTrailingAndRepeatedSlashes) {
  EXPECT_EQ(MustParse("/a/b/").str(), "a/b");
  EXPECT_EQ(MustParse("a//b").str(), "a/b");
  EXPECT_EQ(MustParse("///a///").str(), "a");
}

TEST(RelPathTest, EmptyAndSlashAreTheRoot) {
  EXPECT_TRUE(MustParse("").IsRoot());
  EXPECT_TRUE(MustParse("/").IsRoot());
  EXPECT_TRUE(MustParse("//").IsRoot());
  EXPECT_TRUE(RelPath().IsRoot());
  EXPECT_EQ(RelPath().Depth(), 0u);
  EXPECT_EQ(RelPath().name(), "");
}

TEST(RelPathTest, RejectsDotAndDotDotComponents) {
  for (const char* bad : {".", "..", "./a", "a/.", "a/./b", "../a", "a/..",
                          "a/../b", "/..", "a/b/../../.."}) {
    auto r = RelPath::Parse(bad);
    EXPECT_FALSE(r.ok()) << "accepted '" << bad << "'";
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(RelPathTest, RejectsNulBytes) {
  using std::string_literals::operator""s;
  EXPECT_FALSE(RelPath::Parse("a\0b"s).ok());
  EXPECT_FALSE(RelPath::Parse("\0"s).ok());
}

TEST(RelPathTest, KeepsOtherNamesByteForByte) {
  for (std::string name :
       {"...", ".a", "a.", "..a", "a..", " lead", "tail ", "back\\slash",
        "new\nline", "tab\t", "\xff\xfe", "caf\xc3\xa9", "-dash", "a:b"}) {
    auto r = RelPath::Parse("dir/" + name);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->name(), name);
    EXPECT_EQ(r->str(), "dir/" + name);
    EXPECT_TRUE(RelPath::IsValidName(name));
  }
}

TEST(RelPathTest, ParseErrorsKeepTheMessageOnOneLine) {
  auto r = RelPath::Parse("bad\nname/../x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().find('\n'), std::string_view::npos)
      << r.status().message();
}

TEST(RelPathTest, IsValidName) {
  using std::string_literals::operator""s;
  EXPECT_FALSE(RelPath::IsValidName(""));
  EXPECT_FALSE(RelPath::IsValidName("."));
  EXPECT_FALSE(RelPath::IsValidName(".."));
  EXPECT_FALSE(RelPath::IsValidName("a/b"));
  EXPECT_FALSE(RelPath::IsValidName("/"));
  EXPECT_FALSE(RelPath::IsValidName("a\0"s));
  EXPECT_TRUE(RelPath::IsValidName("a"));
  EXPECT_TRUE(RelPath::IsValidName("..."));
  EXPECT_TRUE(RelPath::IsValidName(std::string(255, 'x')));
}

TEST(RelPathTest, ChildAndParent) {
  RelPath root;
  RelPath a = root.Child("a");
  EXPECT_EQ(a.str(), "a");
  RelPath ab = a.Child("b c");
  EXPECT_EQ(ab.str(), "a/b c");
  EXPECT_EQ(ab.Parent(), a);
  EXPECT_EQ(a.Parent(), root);
  EXPECT_TRUE(root.Parent().IsRoot());
  EXPECT_EQ(ab.Depth(), 2u);
  EXPECT_EQ(ab, MustParse("a/b c"));
  EXPECT_FALSE(ab == a);
}

TEST(RelPathTest, IsAncestorOf) {
  RelPath root;
  RelPath a = MustParse("a");
  RelPath ab = MustParse("a/b");
  RelPath abc = MustParse("a/b/c");
  EXPECT_TRUE(root.IsAncestorOf(a));
  EXPECT_TRUE(root.IsAncestorOf(abc));
  EXPECT_FALSE(root.IsAncestorOf(root));
  EXPECT_TRUE(a.IsAncestorOf(ab));
  EXPECT_TRUE(a.IsAncestorOf(abc));
  EXPECT_FALSE(a.IsAncestorOf(a));
  EXPECT_FALSE(ab.IsAncestorOf(a));
  EXPECT_FALSE(a.IsAncestorOf(MustParse("ab")));
  EXPECT_FALSE(a.IsAncestorOf(MustParse("ab/c")));
  EXPECT_FALSE(a.IsAncestorOf(root));
}

TEST(RelPathTest, DisplayIsSlashPrefixedAndEscaped) {
  EXPECT_EQ(RelPath().Display(), "/");
  EXPECT_EQ(MustParse("a/b").Display(), "/a/b");
  EXPECT_EQ(MustParse("a/x\ny").Display(), "/a/x\\ny");
}

TEST(ComparePathsTest, BasicOrder) {
  EXPECT_EQ(ComparePaths("a", "a"), 0);
  EXPECT_LT(ComparePaths("a", "b"), 0);
  EXPECT_GT(ComparePaths("b", "a"), 0);
  EXPECT_LT(ComparePaths("", "a"), 0);
  EXPECT_LT(ComparePaths("a", "ab"), 0);
  EXPECT_LT(ComparePaths("a", "a/b"), 0);
}

TEST(ComparePathsTest, SlashSortsBeforeEveryOtherByte) {
  // A directory's contents directly follow it: "a/z" before "a-b", "a.b",
  // "a0" and "a\x01".
  for (const char* other : {"a-b", "a.b", "a0", "a b", "a\x01", "a!"}) {
    EXPECT_LT(ComparePaths("a/z", other), 0) << other;
    EXPECT_GT(ComparePaths(other, "a/z"), 0) << other;
  }
}

TEST(ComparePathsTest, BytesCompareUnsigned) {
  EXPECT_GT(ComparePaths("\x80", "z"), 0);
  EXPECT_GT(ComparePaths("a/\xff", "a/~"), 0);
  EXPECT_LT(ComparePaths("Z", "a"), 0);
}

// Component by component with unsigned bytes: the definition in the header.
int ReferenceCompare(const std::string& a, const std::string& b) {
  auto split = [](const std::string& s) {
    std::vector<std::string> parts;
    size_t pos = 0;
    while (pos <= s.size() && !s.empty()) {
      size_t slash = s.find('/', pos);
      if (slash == std::string::npos) slash = s.size();
      parts.push_back(s.substr(pos, slash - pos));
      pos = slash + 1;
    }
    return parts;
  };
  auto ua = split(a);
  auto ub = split(b);
  auto less = [](const std::string& x, const std::string& y) {
    return std::lexicographical_compare(
        x.begin(), x.end(), y.begin(), y.end(), [](char c, char d) {
          return static_cast<unsigned char>(c) < static_cast<unsigned char>(d);
        });
  };
  if (std::lexicographical_compare(ua.begin(), ua.end(), ub.begin(), ub.end(),
                                   less)) {
    return -1;
  }
  if (std::lexicographical_compare(ub.begin(), ub.end(), ua.begin(), ua.end(),
                                   less)) {
    return 1;
  }
  return 0;
}

TEST(ComparePathsTest, MatchesComponentWiseOrderOnRandomPaths) {
  std::mt19937 rng(5);
  const std::string alphabet = std::string("ab-./0 ") + "\x01\x7f\x80\xff";
  auto random_path = [&] {
    std::string p;
    int comps = 1 + static_cast<int>(rng() % 3);
    for (int c = 0; c < comps; ++c) {
      if (c) p.push_back('/');
      int len = 1 + static_cast<int>(rng() % 3);
      for (int i = 0; i < len; ++i) {
        char ch;
        do {
          ch = alphabet[rng() % alphabet.size()];
        } while (ch == '/');
        p.push_back(ch);
      }
    }
    return p;
  };
  for (int i = 0; i < 20000; ++i) {
    std::string a = random_path();
    std::string b = random_path();
    int got = ComparePaths(a, b);
    int want = ReferenceCompare(a, b);
    ASSERT_EQ((got > 0) - (got < 0), want)
        << EscapeForDisplay(a) << " vs " << EscapeForDisplay(b);
  }
}

TEST(ComparePathsTest, PathLessSortsADepthFirstWalk) {
  std::vector<std::string> paths = {"b",     "a-b", "a/c", "a",
                                    "a/b/x", "a/b", "a.b", "A"};
  std::sort(paths.begin(), paths.end(), PathLess());
  EXPECT_EQ(paths, (std::vector<std::string>{"A", "a", "a/b", "a/b/x", "a/c",
                                             "a-b", "a.b", "b"}));
  std::set<RelPath, PathLess> set = {MustParse("a-b"), MustParse("a/z"),
                                     MustParse("a")};
  std::vector<std::string> got;
  for (const RelPath& p : set) got.push_back(p.str());
  EXPECT_EQ(got, (std::vector<std::string>{"a", "a/z", "a-b"}));
  EXPECT_EQ(ComparePaths(MustParse("a/z"), MustParse("a-b")), -1);
}

TEST(EscapeForDisplayTest, EscapesControlBytesAndBackslashes) {
  EXPECT_EQ(EscapeForDisplay("plain name.txt"), "plain name.txt");
  EXPECT_EQ(EscapeForDisplay("a\nb"), "a\\nb");
  EXPECT_EQ(EscapeForDisplay("a\tb\rc"), "a\\tb\\rc");
  EXPECT_EQ(EscapeForDisplay("back\\slash"), "back\\\\slash");
  EXPECT_EQ(EscapeForDisplay(std::string_view("\x01\x1f\x7f", 3)),
            "\\x01\\x1F\\x7F");
  using std::string_literals::operator""s;
  EXPECT_EQ(EscapeForDisplay("a\0b"s), "a\\x00b");
}

TEST(EscapeForDisplayTest, ValidUtf8PassesInvalidIsEscaped) {
  EXPECT_EQ(EscapeForDisplay("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
            "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
  EXPECT_EQ(EscapeForDisplay("\xff"), "\\xFF");
  EXPECT_EQ(EscapeForDisplay("a\xc3"), "a\\xC3");                  // truncated
  EXPECT_EQ(EscapeForDisplay("\xc0\x80"), "\\xC0\\x80");           // overlong
  EXPECT_EQ(EscapeForDisplay("\xed\xa0\x80"), "\\xED\\xA0\\x80");  // surrogate
  EXPECT_EQ(EscapeForDisplay("\xf4\x90\x80\x80"),
            "\\xF4\\x90\\x80\\x80");               // beyond U+10FFFF
  EXPECT_EQ(EscapeForDisplay("\xc3("), "\\xC3(");  // bad continuation
}

TEST(EscapeForDisplayTest, CodePointsThatBreakOrReorderALineAreEscaped) {
  // RIGHT-TO-LEFT OVERRIDE would show "evil\u202Etxt.exe" as "evilexe.txt".
  EXPECT_EQ(EscapeForDisplay("evil\xe2\x80\xaetxt.exe"),
            "evil\\u{202E}txt.exe");
  EXPECT_EQ(EscapeForDisplay("a\xe2\x80\xa8"
                             "b"),
            "a\\u{2028}b");  // LINE SEP
  EXPECT_EQ(EscapeForDisplay("a\xc2\x85"
                             "b"),
            "a\\u{0085}b");  // NEL
  EXPECT_EQ(EscapeForDisplay("\xe2\x81\xa6x\xe2\x81\xa9"),
            "\\u{2066}x\\u{2069}");                      // isolates
  EXPECT_EQ(EscapeForDisplay("\xd8\x9c"), "\\u{061C}");  // ARABIC LETTER MARK
  // Their neighbours pass.
  EXPECT_EQ(EscapeForDisplay("\xe2\x80\xa7\xe2\x80\xaf\xc2\xa0"),
            "\xe2\x80\xa7\xe2\x80\xaf\xc2\xa0");
  // And an escape cannot be forged.
  EXPECT_NE(EscapeForDisplay("\xe2\x80\xae"), EscapeForDisplay("\\u{202E}"));
}

TEST(EscapeForDisplayTest, DistinctNamesStayDistinct) {
  // A backslash is escaped, so an escape sequence cannot be forged.
  EXPECT_NE(EscapeForDisplay("\n"), EscapeForDisplay("\\n"));
  EXPECT_NE(EscapeForDisplay("\xff"), EscapeForDisplay("\\xFF"));
}

}  // namespace
}  // namespace ferry
