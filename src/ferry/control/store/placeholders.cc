#include "ferry/control/store/placeholders.h"

namespace ferry::store_internal {
namespace {

bool IsIdentifierChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '_' || c == '$' ||
         static_cast<unsigned char>(c) >= 0x80;
}

bool IsTagStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         static_cast<unsigned char>(c) >= 0x80;
}

// The end (one past the closing quote) of a literal or quoted identifier that
// opens at `start` with `quote`; a doubled quote stands for itself, and with
// `backslashes` a backslash escapes the next character.
size_t EndOfQuoted(std::string_view sql, size_t start, char quote,
                   bool backslashes) {
  size_t i = start + 1;
  while (i < sql.size()) {
    if (backslashes && sql[i] == '\\') {
      i += 2;
    } else if (sql[i] == quote) {
      if (i + 1 < sql.size() && sql[i + 1] == quote) {
        i += 2;
      } else {
        return i + 1;
      }
    } else {
      ++i;
    }
  }
  return sql.size();
}

// The end of a /* */ comment opening at `start`; PostgreSQL nests them.
size_t EndOfBlockComment(std::string_view sql, size_t start) {
  int depth = 0;
  size_t i = start;
  while (i < sql.size()) {
    if (sql.substr(i, 2) == "/*") {
      ++depth;
      i += 2;
    } else if (sql.substr(i, 2) == "*/") {
      i += 2;
      if (--depth == 0) return i;
    } else {
      ++i;
    }
  }
  return sql.size();
}

// If a dollar quote ($$ or $tag$) opens at `start`, the end of its body and
// closing tag; otherwise 0.
size_t EndOfDollarQuoted(std::string_view sql, size_t start) {
  size_t i = start + 1;
  if (i < sql.size() && IsTagStart(sql[i])) {
    while (i < sql.size() && IsIdentifierChar(sql[i]) && sql[i] != '$') ++i;
  }
  if (i >= sql.size() || sql[i] != '$') return 0;
  std::string_view tag = sql.substr(start, i + 1 - start);
  size_t close = sql.find(tag, i + 1);
  return close == std::string_view::npos ? sql.size() : close + tag.size();
}

}  // namespace

RewrittenSql RewritePlaceholders(std::string_view sql) {
  RewrittenSql out;
  out.sql.reserve(sql.size() + 16);
  size_t i = 0;
  while (i < sql.size()) {
    const char c = sql[i];
    const bool after_identifier = i > 0 && IsIdentifierChar(sql[i - 1]);
    size_t end = i + 1;
    if (c == '\'') {
      // E'...' (or e'...') takes backslash escapes; the E must be a word of
      // its own, not the end of an identifier like "some'.
      const bool escapes = i > 0 && (sql[i - 1] == 'E' || sql[i - 1] == 'e') &&
                           !(i > 1 && IsIdentifierChar(sql[i - 2]));
      end = EndOfQuoted(sql, i, '\'', escapes);
    } else if (c == '"') {
      end = EndOfQuoted(sql, i, '"', false);
    } else if (c == '-' && sql.substr(i, 2) == "--") {
      size_t newline = sql.find('\n', i);
      end = newline == std::string_view::npos ? sql.size() : newline + 1;
    } else if (c == '/' && sql.substr(i, 2) == "/*") {
      end = EndOfBlockComment(sql, i);
    } else if (c == '$' && !after_identifier) {
      size_t dollar_end = EndOfDollarQuoted(sql, i);
      if (dollar_end != 0) end = dollar_end;
    } else if (c == '?') {
      out.sql += '$';
      out.sql += std::to_string(++out.placeholders);
      ++i;
      continue;
    }
    out.sql.append(sql.substr(i, end - i));
    i = end;
  }
  return out;
}

}  // namespace ferry::store_internal
