#include "ferry/control/store/placeholders.h"

#include <gtest/gtest.h>

namespace ferry::store_internal {
namespace {

std::string Rewrite(std::string_view sql) {
  return RewritePlaceholders(sql).sql;
}

TEST(PlaceholdersTest, NumbersPlaceholdersInOrder) {
  RewrittenSql r = RewritePlaceholders(
      "INSERT INTO t (a, b, c) VALUES (?, ?,?) RETURNING id");
  EXPECT_EQ(r.sql, "INSERT INTO t (a, b, c) VALUES ($1, $2,$3) RETURNING id");
  EXPECT_EQ(r.placeholders, 3);
  EXPECT_EQ(RewritePlaceholders("SELECT 1").placeholders, 0);
  EXPECT_EQ(Rewrite("?"), "$1");
}

TEST(PlaceholdersTest, LeavesStringLiteralsAlone) {
  EXPECT_EQ(Rewrite("SELECT '?', ?"), "SELECT '?', $1");
  EXPECT_EQ(Rewrite("SELECT 'it''s ?', ?"), "SELECT 'it''s ?', $1");
  EXPECT_EQ(Rewrite("SELECT '', ?, ''''"), "SELECT '', $1, ''''");
  // Standard strings take no backslash escapes: the literal ends at the '.
  EXPECT_EQ(Rewrite("SELECT 'a\\', ?"), "SELECT 'a\\', $1");
}

TEST(PlaceholdersTest, EscapeStringsTakeBackslashes) {
  EXPECT_EQ(Rewrite("SELECT E'it\\'s ?', ?"), "SELECT E'it\\'s ?', $1");
  EXPECT_EQ(Rewrite("SELECT e'\\\\', ?"), "SELECT e'\\\\', $1");
  // An identifier ending in e is no E prefix.
  EXPECT_EQ(Rewrite("SELECT 1 AS some'x\\', ?"), "SELECT 1 AS some'x\\', $1");
}

TEST(PlaceholdersTest, LeavesQuotedIdentifiersAlone) {
  EXPECT_EQ(Rewrite("SELECT \"a?b\", ? FROM \"t\"\"?\""),
            "SELECT \"a?b\", $1 FROM \"t\"\"?\"");
}

TEST(PlaceholdersTest, LeavesCommentsAlone) {
  EXPECT_EQ(Rewrite("SELECT ? -- why?\n, ?"), "SELECT $1 -- why?\n, $2");
  EXPECT_EQ(Rewrite("SELECT ? -- why?"), "SELECT $1 -- why?");
  EXPECT_EQ(Rewrite("SELECT /* ? /* nested ? */ ? */ ?"),
            "SELECT /* ? /* nested ? */ ? */ $1");
  // A lone - or / is an operator.
  EXPECT_EQ(Rewrite("SELECT ? - ?, ? / ?"), "SELECT $1 - $2, $3 / $4");
}

TEST(PlaceholdersTest, LeavesDollarQuotesAlone) {
  EXPECT_EQ(Rewrite("SELECT $$ ? $$, ?"), "SELECT $$ ? $$, $1");
  EXPECT_EQ(Rewrite("SELECT $fn$ it's ? $x$ $fn$, ?"),
            "SELECT $fn$ it's ? $x$ $fn$, $1");
  // $1 is a positional parameter, and a$b$ an identifier: no quotes.
  EXPECT_EQ(Rewrite("SELECT $1, a$b$, ?"), "SELECT $1, a$b$, $1");
}

TEST(PlaceholdersTest, CopiesUnterminatedTextForTheServerToReport) {
  EXPECT_EQ(Rewrite("SELECT ?, 'open ?"), "SELECT $1, 'open ?");
  EXPECT_EQ(Rewrite("SELECT ?, /* open ?"), "SELECT $1, /* open ?");
  EXPECT_EQ(Rewrite("SELECT ?, $q$ open ?"), "SELECT $1, $q$ open ?");
}

TEST(PlaceholdersTest, KeepsUnicode) {
  EXPECT_EQ(Rewrite("SELECT 'Grüße ?', ?, \"日本\""),
            "SELECT 'Grüße ?', $1, \"日本\"");
}

}  // namespace
}  // namespace ferry::store_internal
