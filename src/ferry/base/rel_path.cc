#include "ferry/base/rel_path.h"

#include <algorithm>
#include <cstdio>

#include "ferry/base/utf8.h"

namespace ferry {

bool RelPath::IsValidName(std::string_view name) {
  if (name.empty() || name == "." || name == "..") return false;
  return name.find('/') == std::string_view::npos &&
         name.find('\0') == std::string_view::npos;
}

Result<RelPath> RelPath::Parse(std::string_view text) {
  if (text.find('\0') != std::string_view::npos) {
    return Status::InvalidArgument("path contains a NUL byte");
  }
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t slash = text.find('/', pos);
    if (slash == std::string_view::npos) slash = text.size();
    std::string_view comp = text.substr(pos, slash - pos);
    if (comp == "." || comp == "..") {
      return Status::InvalidArgument("path '" + EscapeForDisplay(text) +
                                     "' has a '" + std::string(comp) +
                                     "' component");
    }
    if (!comp.empty()) {
      if (!out.empty()) out.push_back('/');
      out.append(comp);
    }
    pos = slash + 1;
  }
  return RelPath(std::move(out));
}

RelPath RelPath::Child(std::string_view name) const {
  std::string p;
  p.reserve(path_.size() + 1 + name.size());
  p = path_;
  if (!p.empty()) p.push_back('/');
  p.append(name);
  return RelPath(std::move(p));
}

std::string_view RelPath::name() const {
  size_t slash = path_.rfind('/');
  if (slash == std::string::npos) return path_;
  return std::string_view(path_).substr(slash + 1);
}

RelPath RelPath::Parent() const {
  size_t slash = path_.rfind('/');
  if (slash == std::string::npos) return RelPath();
  return RelPath(path_.substr(0, slash));
}

size_t RelPath::Depth() const {
  if (path_.empty()) return 0;
  return 1 + static_cast<size_t>(std::count(path_.begin(), path_.end(), '/'));
}

bool RelPath::IsAncestorOf(const RelPath& other) const {
  if (path_.empty()) return !other.path_.empty();
  return other.path_.size() > path_.size() &&
         other.path_.compare(0, path_.size(), path_) == 0 &&
         other.path_[path_.size()] == '/';
}

std::string RelPath::Display() const { return "/" + EscapeForDisplay(path_); }

int ComparePaths(std::string_view a, std::string_view b) {
  size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    unsigned char ca = static_cast<unsigned char>(a[i]);
    unsigned char cb = static_cast<unsigned char>(b[i]);
    if (ca == cb) continue;
    if (ca == '/') return -1;
    if (cb == '/') return 1;
    return ca < cb ? -1 : 1;
  }
  if (a.size() == b.size()) return 0;
  return a.size() < b.size() ? -1 : 1;
}

namespace {

// The code point of one valid UTF-8 sequence (Utf8SequenceLength's).
uint32_t DecodeCodePoint(std::string_view seq) {
  const auto byte = [&](size_t k) {
    return static_cast<uint32_t>(static_cast<unsigned char>(seq[k]));
  };
  switch (seq.size()) {
    case 1:
      return byte(0);
    case 2:
      return (byte(0) & 0x1F) << 6 | (byte(1) & 0x3F);
    case 3:
      return (byte(0) & 0x0F) << 12 | (byte(1) & 0x3F) << 6 | (byte(2) & 0x3F);
    default:
      return (byte(0) & 0x07) << 18 | (byte(1) & 0x3F) << 12 |
             (byte(2) & 0x3F) << 6 | (byte(3) & 0x3F);
  }
}

// Code points that end a line or reorder what follows on it, so that a name
// holding one could pass for something else in a log: the C1 controls
// (U+0085 is a line break), the line and paragraph separators, and the
// bidirectional marks, embeddings, overrides and isolates.
bool ChangesHowALineReads(uint32_t cp) {
  return (cp >= 0x80 && cp <= 0x9F) || cp == 0x061C || cp == 0x200E ||
         cp == 0x200F || (cp >= 0x2028 && cp <= 0x202E) ||
         (cp >= 0x2066 && cp <= 0x2069);
}

std::string Escape(std::string_view bytes, bool backslashes) {
  std::string out;
  out.reserve(bytes.size());
  size_t i = 0;
  while (i < bytes.size()) {
    unsigned char c = static_cast<unsigned char>(bytes[i]);
    if (c == '\\' && backslashes) {
      out += "\\\\";
      ++i;
    } else if (c == '\n') {
      out += "\\n";
      ++i;
    } else if (c == '\t') {
      out += "\\t";
      ++i;
    } else if (c == '\r') {
      out += "\\r";
      ++i;
    } else if (c < 0x20 || c == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02X", c);
      out += buf;
      ++i;
    } else {
      size_t len = Utf8SequenceLength(bytes, i);
      if (len == 0) {
        char buf[8];
        std::snprintf(buf, sizeof(buf), "\\x%02X", c);
        out += buf;
        ++i;
      } else if (const uint32_t cp = DecodeCodePoint(bytes.substr(i, len));
                 ChangesHowALineReads(cp)) {
        char buf[16];
        std::snprintf(buf, sizeof(buf), "\\u{%04X}", cp);
        out += buf;
        i += len;
      } else {
        out.append(bytes.substr(i, len));
        i += len;
      }
    }
  }
  return out;
}

}  // namespace

std::string EscapeForDisplay(std::string_view bytes) {
  return Escape(bytes, /*backslashes=*/true);
}

std::string EscapeControls(std::string_view text) {
  return Escape(text, /*backslashes=*/false);
}

}  // namespace ferry
