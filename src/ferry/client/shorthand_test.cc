#include "ferry/client/shorthand.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace ferry {
namespace {

using nlohmann::json;

json Parse(std::string_view text) {
  Result<json> r = ParseShorthand(text);
  EXPECT_TRUE(r.ok()) << text << ": " << r.status().ToString();
  return r.ok() ? *r : json();
}

std::string Error(std::string_view text) {
  Result<json> r = ParseShorthand(text);
  EXPECT_FALSE(r.ok()) << text << " parsed as " << (r.ok() ? r->dump() : "");
  return r.ok() ? "" : std::string(r.status().message());
}

// The cases below were checked against the aws CLI's own parser
// (awscli.shorthand.ShorthandParser).
TEST(ShorthandTest, KeyValuePairs) {
  EXPECT_EQ(Parse("foo=bar"), json({{"foo", "bar"}}));
  EXPECT_EQ(Parse("VerifyMode=NONE,TransferMode=ALL"),
            json({{"VerifyMode", "NONE"}, {"TransferMode", "ALL"}}));
  EXPECT_EQ(Parse("a = b , c = d"), json({{"a", "b"}, {"c", "d"}}));
  EXPECT_EQ(Parse("a=,b="), json({{"a", ""}, {"b", ""}}));
  EXPECT_EQ(Parse("a="), json({{"a", ""}}));
  EXPECT_EQ(Parse("Key=a.b-c_d/e:f#g"), json({{"Key", "a.b-c_d/e:f#g"}}));
  // The first value may hold '='; later ones may not.
  EXPECT_EQ(Parse("k=a=b"), json({{"k", "a=b"}}));
  EXPECT_EQ(Parse("Value=*.tmp|*/cache"), json({{"Value", "*.tmp|*/cache"}}));
  EXPECT_EQ(Parse("Value=/x y z "), json({{"Value", "/x y z"}}));
  EXPECT_EQ(Parse("k=d\xC3\xA9j\xC3\xA0"), json({{"k", "d\xC3\xA9j\xC3\xA0"}}));
}

TEST(ShorthandTest, CommaSeparatedValuesAreLists) {
  EXPECT_EQ(Parse("a=b,c"), json({{"a", {"b", "c"}}}));
  EXPECT_EQ(Parse("foo=bar,baz,qux"), json({{"foo", {"bar", "baz", "qux"}}}));
  EXPECT_EQ(Parse("a=b,c,d=e"), json({{"a", {"b", "c"}}, {"d", "e"}}));
  EXPECT_EQ(Parse("a=b,c=d,e"), json({{"a", "b"}, {"c", {"d", "e"}}}));
  EXPECT_EQ(Parse("k=a=b,c"), json({{"k", {"a=b", "c"}}}));
  EXPECT_EQ(Parse("a=b\\,c"), json({{"a", "b,c"}}));
}

TEST(ShorthandTest, QuotedValues) {
  EXPECT_EQ(Parse("a='b,c'"), json({{"a", "b,c"}}));
  EXPECT_EQ(Parse("a=\"b,c\",d=e"), json({{"a", "b,c"}, {"d", "e"}}));
  EXPECT_EQ(Parse("a='it\\'s'"), json({{"a", "it's"}}));
  EXPECT_EQ(Parse("a=\"say \\\"hi\\\"\""), json({{"a", "say \"hi\""}}));
  EXPECT_EQ(Parse("a='back\\\\slash'"), json({{"a", "back\\slash"}}));
  EXPECT_EQ(Parse("a='x y',b='1',c"), json({{"a", "x y"}, {"b", {"1", "c"}}}));
}

TEST(ShorthandTest, ExplicitListsAndNestedStructures) {
  EXPECT_EQ(Parse("a=[b,c]"), json({{"a", {"b", "c"}}}));
  EXPECT_EQ(Parse("a=[]"), json({{"a", json::array()}}));
  EXPECT_EQ(Parse("a=[b]"), json({{"a", {"b"}}}));
  EXPECT_EQ(Parse("a={b=c,d=e}"), json({{"a", {{"b", "c"}, {"d", "e"}}}}));
  EXPECT_EQ(Parse("a=[{b=c},{d=e}],f=g"),
            json({{"a", {{{"b", "c"}}, {{"d", "e"}}}}, {"f", "g"}}));
  EXPECT_EQ(Parse("a={b=[c, d], e={f='g'}}"),
            json({{"a", {{"b", {"c", "d"}}, {"e", {{"f", "g"}}}}}}));
}

TEST(ShorthandTest, ErrorsPointAtTheProblem) {
  EXPECT_EQ(Error("VerifyMode"),
            "Expected: '=', received: 'EOF' for input:\nVerifyMode\n"
            "          ^");
  EXPECT_EQ(Error("a=[b"),
            "Expected: ',', received: 'EOF' for input:\na=[b\n    ^");
  EXPECT_EQ(Error("a=b,a=c"),
            "Second instance of key \"a\" encountered for input:\na=b,a=c\n"
            "    ^\nThis is often because there is a preceding \",\" instead "
            "of a space.");
  EXPECT_EQ(Error("a='b"),
            "Expected: '<singled quoted>', received: '<none>' for input:\n"
            "a='b\n  ^");
  EXPECT_EQ(Parse("=b"), json({{"", "b"}}));  // as the aws CLI parses it
}

TEST(ShorthandTest, ErrorLocationOnMultipleLines) {
  EXPECT_EQ(Parse("a=b,\nc"), json({{"a", {"b", "c"}}}));
  EXPECT_EQ(Error("a=b,\nc=[d"),
            "Expected: ',', received: 'EOF' for input:\na=b,\nc=[d\n    ^");
}

TEST(ShorthandTest, ValuesFromFilesWithAtEquals) {
  std::filesystem::path path =
      std::filesystem::temp_directory_path() /
      ("ferry-shorthand-" + std::to_string(getpid()) + ".txt");
  std::ofstream(path) << "from, a file";
  EXPECT_EQ(Parse("Value@=file://" + path.string()),
            json({{"Value", "from, a file"}}));
  // Without '@' the text is the value.
  EXPECT_EQ(Parse("Value=file://x"), json({{"Value", "file://x"}}));
  std::filesystem::remove(path);
  EXPECT_NE(Error("Value@=file://" + path.string()).find("Unable to load"),
            std::string::npos);
}

}  // namespace
}  // namespace ferry
