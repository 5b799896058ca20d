#include "ferry/diff/manifest.h"

#include <algorithm>

namespace ferry {

Result<std::vector<RelPath>> ParseManifest(std::string_view csv) {
  std::vector<RelPath> out;
  size_t pos = 0;
  size_t line = 1;
  if (csv.substr(0, 3) == "\xEF\xBB\xBF") pos = 3;  // UTF-8 byte order mark
  while (pos < csv.size()) {
    const size_t record_line = line;
    std::vector<std::string> fields(1);
    bool quoted_field = false;
    // One record: fields separated by ',', ended by LF or CRLF (or the end).
    while (true) {
      std::string& field = fields.back();
      if (pos < csv.size() && csv[pos] == '"' && field.empty() &&
          !quoted_field) {
        quoted_field = true;
        ++pos;
        while (true) {
          if (pos >= csv.size()) {
            return Status::InvalidArgument("manifest line " +
                                           std::to_string(record_line) +
                                           ": a quoted field is not closed");
          }
          char c = csv[pos++];
          if (c == '"') {
            if (pos < csv.size() && csv[pos] == '"') {
              field.push_back('"');
              ++pos;
              continue;
            }
            break;
          }
          if (c == '\n') ++line;
          field.push_back(c);
        }
        if (pos < csv.size() && csv[pos] != ',' && csv[pos] != '\n' &&
            csv[pos] != '\r') {
          return Status::InvalidArgument("manifest line " +
                                         std::to_string(line) +
                                         ": text after a closing quote");
        }
        continue;
      }
      if (pos >= csv.size()) break;
      char c = csv[pos];
      if (c == ',') {
        fields.emplace_back();
        quoted_field = false;
        ++pos;
        continue;
      }
      if (c == '\r' && pos + 1 < csv.size() && csv[pos + 1] == '\n') {
        pos += 2;
        ++line;
        break;
      }
      if (c == '\n') {
        ++pos;
        ++line;
        break;
      }
      if (c == '"') {
        return Status::InvalidArgument("manifest line " + std::to_string(line) +
                                       ": a quote inside an unquoted field");
      }
      field.push_back(c);
      ++pos;
    }
    if (fields.size() == 1 && fields[0].empty() && !quoted_field)
      continue;  // blank line
    if (fields.size() > 2) {
      return Status::InvalidArgument(
          "manifest line " + std::to_string(record_line) +
          ": expected a path and at most a version, found " +
          std::to_string(fields.size()) + " fields");
    }
    const std::string& text = fields[0];
    if (text.empty()) {
      return Status::InvalidArgument(
          "manifest line " + std::to_string(record_line) + ": empty path");
    }
    auto path = RelPath::Parse(text);
    if (!path.ok()) {
      return Status::InvalidArgument("manifest line " +
                                     std::to_string(record_line) + ": " +
                                     std::string(path.status().message()));
    }
    if (path->IsRoot()) {
      return Status::InvalidArgument(
          "manifest line " + std::to_string(record_line) +
          ": the path names the location root, not a file");
    }
    out.push_back(std::move(path).value());
  }
  std::sort(out.begin(), out.end(), PathLess());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

ManifestPlanner::ManifestPlanner(
    Backend* src, Backend* dst,
    std::shared_ptr<const std::vector<RelPath>> paths, DiffOptions options,
    bool transfer_all)
    : src_(src),
      dst_(dst),
      paths_(std::move(paths)),
      options_(std::move(options)),
      transfer_all_(transfer_all) {}

Result<std::optional<Entry>> ManifestPlanner::StatSource(const RelPath& path) {
  FERRY_ASSIGN_OR_RETURN(std::optional<Entry> e, src_->Stat(path));
  if (e && options_.map_source) options_.map_source(&*e);
  return e;
}

Result<bool> ManifestPlanner::Next(PlanItem* out) {
  while (pending_.empty()) {
    if (next_ >= paths_->size()) return false;
    const RelPath& path = (*paths_)[next_++];
    // The folders on the way, outermost first, each once.
    std::vector<RelPath> chain;
    for (RelPath p = path.Parent(); !p.IsRoot(); p = p.Parent())
      chain.push_back(p);
    std::reverse(chain.begin(), chain.end());
    while (!open_dirs_.empty() && !open_dirs_.back().IsAncestorOf(path))
      open_dirs_.pop_back();
    std::vector<PlanItem> items;
    for (const RelPath& dir : chain) {
      if (std::find(open_dirs_.begin(), open_dirs_.end(), dir) !=
          open_dirs_.end())
        continue;
      auto s = StatSource(dir);
      if (!s.ok() || !*s || !(*s)->is_dir()) break;  // the file below fails
      auto d = transfer_all_
                   ? Result<std::optional<Entry>>(std::optional<Entry>())
                   : dst_->Stat(dir);
      if (!d.ok()) break;
      items.push_back(
          PlanPath(std::move(**s), std::move(*d), !transfer_all_, options_));
      open_dirs_.push_back(dir);
    }
    auto s = StatSource(path);
    PlanItem item;
    item.src.path = path;
    if (!s.ok()) {
      item.action = PlanAction::kFailMissing;
      item.reason =
          "cannot read it at the source: " + std::string(s.status().message());
    } else if (!*s) {
      item.action = PlanAction::kFailMissing;
      item.reason =
          std::string(kManifestFileDoesNotExist) + ": not at the source";
    } else if ((*s)->is_dir()) {
      item.action = PlanAction::kFailMissing;
      item.reason = "the manifest lists a folder; it must list files";
    } else {
      ++found_;
      auto d = transfer_all_
                   ? Result<std::optional<Entry>>(std::optional<Entry>())
                   : dst_->Stat(path);
      if (!d.ok()) {
        item.action = PlanAction::kFailUnlisted;
        item.reason = "cannot read it at the destination: " +
                      std::string(d.status().message());
      } else {
        item =
            PlanPath(std::move(**s), std::move(*d), !transfer_all_, options_);
      }
    }
    bool emit = item.action == PlanAction::kFailMissing ||
                links_.Apply(&item, options_);
    if (emit) items.push_back(std::move(item));
    std::reverse(items.begin(), items.end());
    pending_ = std::move(items);
  }
  *out = std::move(pending_.back());
  pending_.pop_back();
  return true;
}

}  // namespace ferry
