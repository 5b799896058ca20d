// Filter: DataSync's SIMPLE_PATTERN include and exclude filters.
//
// A filter value is patterns joined by '|' (at most 102,400 characters).
// Patterns are matched against the path relative to the location root,
// written with a leading '/' ("/photos/2024/a.jpg"); a pattern that does not
// start with '/' or '*' is taken as starting with '/'. '*' matches any run of
// characters, '/' included. A pattern matches an item and, when the item is a
// folder, everything beneath it ("/dir" and "/dir/" are the same). `\` escapes
// '*', '|' and '\'. Matching is case sensitive. In include patterns '*' may
// only be the last character. Paths ending in ".snapshot" are always
// excluded. Immutable after Parse; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "ferry/base/rel_path.h"
#include "ferry/base/status.h"

namespace ferry {

inline constexpr size_t kMaxFilterLength = 102400;

enum class FilterDecision : uint8_t {
  kInclude,      // transfer it (and, for a folder, look inside)
  kTraverse,     // a folder on the way to included items: keep it, look inside
  kExcluded,     // matched an exclude pattern: skip it and what is beneath it
  kNotIncluded,  // outside every include pattern: skip it
};

class Filter {
 public:
  Filter() = default;  // includes everything but ".snapshot" paths

  // `includes` and `excludes` are filter values as DataSync takes them
  // (empty = none). Errors quote the offending pattern.
  static Result<Filter> Parse(std::string_view includes,
                              std::string_view excludes);

  FilterDecision Decide(const RelPath& path, bool is_dir) const;
  bool has_includes() const { return !includes_.empty(); }

 private:
  struct Pattern {
    std::string text;                // as written, for messages
    std::vector<std::string> parts;  // literal runs between '*'
    bool leading_star = false;
    bool trailing_star = false;
  };
  static Result<std::vector<Pattern>> ParseValue(std::string_view value,
                                                 bool include);
  static bool GlobMatch(const Pattern& p, std::string_view path);
  static bool IncludeMatches(const Pattern& p, std::string_view path);
  static bool IncludeLeadsTo(const Pattern& p, std::string_view dir);

  std::vector<Pattern> includes_;
  std::vector<Pattern> excludes_;
};

}  // namespace ferry
