#include "ferry/options/filter.h"

namespace ferry {
namespace {

std::string Quote(std::string_view s) {
  return "\"" + EscapeForDisplay(s) + "\"";
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace

Result<std::vector<Filter::Pattern>> Filter::ParseValue(std::string_view value,
                                                        bool include) {
  const char* kind = include ? "include" : "exclude";
  std::vector<Pattern> out;
  if (value.empty()) return out;
  if (value.size() > kMaxFilterLength) {
    return Status::InvalidArgument(
        std::string("The ") + kind + " filter is " +
        std::to_string(value.size()) + " characters long; at most " +
        std::to_string(kMaxFilterLength) + " are allowed");
  }
  size_t pos = 0;
  while (pos <= value.size()) {
    // Split at the next unescaped '|'.
    size_t end = pos;
    while (end < value.size() && value[end] != '|') {
      if (value[end] == '\\' && end + 1 < value.size()) ++end;
      ++end;
    }
    std::string_view raw = value.substr(pos, end - pos);
    pos = end + 1;

    Pattern p;
    p.text = std::string(raw);
    if (raw.empty()) {
      return Status::InvalidArgument(std::string("Invalid ") + kind +
                                     " filter " + Quote(value) +
                                     ": it contains an empty pattern");
    }
    std::string current;
    bool star_pending = false;
    bool first = true;
    for (size_t i = 0; i < raw.size(); ++i) {
      char c = raw[i];
      if (c == '\\') {
        if (i + 1 >= raw.size() ||
            (raw[i + 1] != '*' && raw[i + 1] != '|' && raw[i + 1] != '\\')) {
          return Status::InvalidArgument(
              std::string("Invalid ") + kind + " filter pattern " + Quote(raw) +
              ": '\\' must be followed by '*', '|' or '\\'");
        }
        if (first) current.push_back('/');  // implicit root anchor
        current.push_back(raw[++i]);
        first = false;
        continue;
      }
      if (c == '*') {
        if (include && i + 1 != raw.size()) {
          return Status::InvalidArgument("Invalid include filter pattern " +
                                         Quote(raw) +
                                         ": '*' is only allowed as the last "
                                         "character of an include pattern");
        }
        if (first) p.leading_star = true;
        if (!first || !current.empty()) {
          p.parts.push_back(std::move(current));
          current.clear();
        }
        star_pending = true;
        first = false;
        continue;
      }
      if (first && c != '/') current.push_back('/');  // implicit root anchor
      current.push_back(c);
      star_pending = false;
      first = false;
    }
    p.trailing_star = star_pending;
    if (!star_pending) {
      // "/dir/" means the same as "/dir".
      while (current.size() > 1 && current.back() == '/') current.pop_back();
      if (current == "/") {
        // "/" alone: everything.
        p.leading_star = true;
        p.trailing_star = true;
        current.clear();
      }
      if (!current.empty()) p.parts.push_back(std::move(current));
    }
    // Drop empty literal runs created by "**".
    std::vector<std::string> parts;
    for (auto& s : p.parts) {
      if (!s.empty()) parts.push_back(std::move(s));
    }
    p.parts = std::move(parts);
    out.push_back(std::move(p));
    if (end >= value.size()) break;
  }
  return out;
}

Result<Filter> Filter::Parse(std::string_view includes,
                             std::string_view excludes) {
  Filter f;
  FERRY_ASSIGN_OR_RETURN(f.includes_, ParseValue(includes, true));
  FERRY_ASSIGN_OR_RETURN(f.excludes_, ParseValue(excludes, false));
  return f;
}

bool Filter::GlobMatch(const Pattern& p, std::string_view s) {
  if (p.parts.empty()) return p.leading_star || p.trailing_star || s.empty();
  size_t first = 0;
  size_t last = p.parts.size();
  size_t pos = 0;
  if (!p.leading_star) {
    if (!StartsWith(s, p.parts[0])) return false;
    pos = p.parts[0].size();
    first = 1;
    if (p.parts.size() == 1 && !p.trailing_star) return pos == s.size();
  }
  if (!p.trailing_star && last > first) {
    const std::string& tail = p.parts[last - 1];
    if (!EndsWith(s, tail) || s.size() - tail.size() < pos) return false;
    s = s.substr(0, s.size() - tail.size());
    --last;
  }
  for (size_t i = first; i < last; ++i) {
    size_t found = s.find(p.parts[i], pos);
    if (found == std::string_view::npos) return false;
    pos = found + p.parts[i].size();
  }
  return true;
}

bool Filter::IncludeMatches(const Pattern& p, std::string_view path) {
  if (p.parts.empty()) return true;
  const std::string& lit = p.parts[0];
  if (p.trailing_star) return StartsWith(path, lit);
  return path == lit || (StartsWith(path, lit) && path[lit.size()] == '/');
}

bool Filter::IncludeLeadsTo(const Pattern& p, std::string_view dir) {
  if (p.parts.empty()) return true;
  const std::string& lit = p.parts[0];
  return lit.size() > dir.size() && StartsWith(lit, dir) &&
         lit[dir.size()] == '/';
}

FilterDecision Filter::Decide(const RelPath& path, bool is_dir) const {
  if (path.IsRoot()) return FilterDecision::kInclude;
  std::string full = "/" + path.str();
  // An excluded folder excludes everything beneath it: the item's own path
  // and each of its folders' paths are checked.
  const std::string_view whole(full);
  for (size_t end = full.find('/', 1);; end = full.find('/', end + 1)) {
    std::string_view prefix = whole.substr(0, end);
    if (EndsWith(prefix, ".snapshot")) return FilterDecision::kExcluded;
    for (const Pattern& p : excludes_) {
      if (GlobMatch(p, prefix)) return FilterDecision::kExcluded;
    }
    if (end == std::string::npos) break;
  }
  if (includes_.empty()) return FilterDecision::kInclude;
  for (const Pattern& p : includes_) {
    if (IncludeMatches(p, full)) return FilterDecision::kInclude;
  }
  if (is_dir) {
    for (const Pattern& p : includes_) {
      if (IncludeLeadsTo(p, full)) return FilterDecision::kTraverse;
    }
  }
  return FilterDecision::kNotIncluded;
}

}  // namespace ferry
