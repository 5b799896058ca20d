// Rewriting the `?` placeholders ferry's SQL uses into PostgreSQL's $1, $2,
// ... A `?` inside a string literal ('...', E'...' with backslash escapes,
// $tag$...$tag$), a quoted identifier ("...") or a comment (-- and nested
// /* */) is left alone; every other `?` is a placeholder, so PostgreSQL's
// jsonb operators ?, ?| and ?& cannot be written directly (use the functions
// jsonb_exists, jsonb_exists_any, jsonb_exists_all). Internal to ferry_store.
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace ferry::store_internal {

struct RewrittenSql {
  std::string sql;
  int placeholders = 0;
};

// Never fails: text it cannot make sense of (an unterminated literal) is
// copied as it is, for PostgreSQL to report.
RewrittenSql RewritePlaceholders(std::string_view sql);

}  // namespace ferry::store_internal
