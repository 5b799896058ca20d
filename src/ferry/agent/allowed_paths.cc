#include "ferry/agent/allowed_paths.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace ferry::agent {
namespace {

std::string Join(const std::vector<std::string_view>& parts, size_t begin,
                 size_t end) {
  std::string out;
  for (size_t i = begin; i < end; ++i) {
    out += '/';
    out += parts[i];
  }
  return out;
}

}  // namespace

Result<std::string> NormalizePath(std::string_view path) {
  if (path.empty() || path.front() != '/') {
    return Status::InvalidArgument("'" + std::string(path) +
                                   "' is not an absolute path");
  }
  std::vector<std::string_view> parts;
  size_t at = 0;
  while (at < path.size()) {
    size_t slash = path.find('/', at);
    if (slash == std::string_view::npos) slash = path.size();
    std::string_view part = path.substr(at, slash - at);
    at = slash + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
      continue;
    }
    parts.push_back(part);
  }
  // The longest leading part that exists (as an entry: a dangling symlink
  // exists too, and is an error below rather than a name to create).
  size_t exists = parts.size();
  for (; exists > 0; --exists) {
    struct stat st {};
    if (::lstat(Join(parts, 0, exists).c_str(), &st) == 0) break;
    if (errno != ENOENT && errno != ENOTDIR) {
      return Status::FailedPrecondition("cannot resolve " +
                                        Join(parts, 0, exists) + ": " +
                                        std::strerror(errno));
    }
  }
  std::string out;
  if (exists > 0) {
    const std::string existing = Join(parts, 0, exists);
    std::unique_ptr<char, decltype(&std::free)> real(
        ::realpath(existing.c_str(), nullptr), &std::free);
    if (!real) {
      return Status::FailedPrecondition(
          "cannot resolve " + existing + ": " + std::strerror(errno) +
          (errno == ENOENT ? " (a symlink to nothing?)" : ""));
    }
    out = real.get();
    if (out == "/") out.clear();
  }
  out += Join(parts, exists, parts.size());
  return out.empty() ? std::string("/") : out;
}

bool IsWithin(std::string_view path, std::string_view dir) {
  if (dir == "/") return !path.empty() && path.front() == '/';
  return path.starts_with(dir) &&
         (path.size() == dir.size() || path[dir.size()] == '/');
}

Result<std::string> CheckAllowedPath(const std::string& path,
                                     const std::vector<std::string>& allowed) {
  if (allowed.empty()) return path;
  FERRY_ASSIGN_OR_RETURN(std::string normal, NormalizePath(path));
  std::string list;
  for (const std::string& dir : allowed) {
    list += (list.empty() ? "" : ", ") + dir;
    auto normal_dir = NormalizePath(dir);
    if (normal_dir.ok() && IsWithin(normal, *normal_dir)) return normal;
  }
  return Status(StatusCode::kPermissionDenied,
                "Path '" + path + "'" +
                    (normal == path ? std::string()
                                    : " (" + normal +
                                          " once '..' and symlinks are "
                                          "resolved)") +
                    " is outside the paths this agent may use: " + list +
                    " (ferry agent --allowed-path)");
}

}  // namespace ferry::agent
