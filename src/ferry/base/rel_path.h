// RelPath: a validated path relative to a location's root.
//
// The one way a path names something under a root: '/'-separated components,
// no leading or trailing '/', no empty, "." or ".." component, no NUL byte. The
// root itself is the empty path. Bytes are kept as they are (names need not be
// UTF-8). Anything built from untrusted input goes through Parse(); Child()
// takes a single validated name. Immutable value type, thread-compatible.
#pragma once

#include <compare>
#include <string>
#include <string_view>

#include "ferry/base/status.h"

namespace ferry {

class RelPath {
 public:
  RelPath() = default;  // the root

  // Accepts "a/b/c"; a leading "/" and a trailing "/" are tolerated and
  // dropped, as are empty components ("a//b"). Rejects "." and ".."
  // components and NUL bytes.
  static Result<RelPath> Parse(std::string_view text);

  // True if `name` is a valid single path component.
  static bool IsValidName(std::string_view name);

  // REQUIRES: IsValidName(name).
  RelPath Child(std::string_view name) const;

  bool IsRoot() const { return path_.empty(); }
  const std::string& str() const { return path_; }
  // The last component; empty for the root.
  std::string_view name() const;
  // The containing directory; the root's parent is the root.
  RelPath Parent() const;
  // Number of components (0 for the root).
  size_t Depth() const;
  // True if `other` lies strictly beneath this path.
  bool IsAncestorOf(const RelPath& other) const;

  bool operator==(const RelPath& other) const = default;

  // "/"-prefixed form for logs and reports ("/" for the root).
  std::string Display() const;

 private:
  explicit RelPath(std::string p) : path_(std::move(p)) {}
  std::string path_;
};

// The order every entry stream is sorted in: component by component, bytes
// compared unsigned. Equivalently a byte-wise compare where '/' sorts before
// every other byte, so a directory's contents follow it directly.
int ComparePaths(std::string_view a, std::string_view b);
inline int ComparePaths(const RelPath& a, const RelPath& b) {
  return ComparePaths(a.str(), b.str());
}

struct PathLess {
  bool operator()(const RelPath& a, const RelPath& b) const {
    return ComparePaths(a, b) < 0;
  }
  bool operator()(std::string_view a, std::string_view b) const {
    return ComparePaths(a, b) < 0;
  }
};

// Escapes a path for a one-line log or report: control bytes, backslashes and
// bytes that are not valid UTF-8 become \xNN, \n, \t, \\ escapes; code
// points that break a line or reorder it (C1 controls, U+2028/U+2029, the
// bidirectional controls) become \u{XXXX}; other valid UTF-8 passes
// unchanged.
std::string EscapeForDisplay(std::string_view bytes);

// The same for a message already made of escaped parts (a log record's
// text): backslashes pass as they are, everything else as above.
std::string EscapeControls(std::string_view text);

}  // namespace ferry
