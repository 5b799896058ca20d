// Execution's deletions: the --max-delete bound, the deletes themselves
// (after every copy succeeded), and stale temporary files of killed runs.
#include <cerrno>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "ferry/base/clock.h"
#include "ferry/execution/execution.h"
#include "ferry/execution/task_report.h"
#include "ferry/verify/journal.h"

namespace ferry {

namespace {

std::string FormatPercent(double p) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g%%", p);
  return buf;
}

}  // namespace

bool Execution::DeletesWithinBound(std::string* why) const {
  const uint64_t planned = counters_.estimated_files_to_delete.load() +
                           counters_.estimated_folders_to_delete.load();
  const uint64_t listed =
      counters_.files_listed_at_destination_for_delete.load() +
      counters_.folders_listed_at_destination_for_delete.load();
  if (config_.max_delete >= 0 &&
      planned > static_cast<uint64_t>(config_.max_delete)) {
    *why = "Refused to delete " + std::to_string(planned) +
           " items: more than --max-delete " +
           std::to_string(config_.max_delete) + ". Nothing was deleted.";
    return false;
  }
  if (config_.max_delete_percent >= 0 && listed > 0 &&
      static_cast<double>(planned) * 100.0 >
          config_.max_delete_percent * static_cast<double>(listed)) {
    char pct[32];
    std::snprintf(
        pct, sizeof(pct), "%.1f%%",
        static_cast<double>(planned) * 100.0 / static_cast<double>(listed));
    *why = "Refused to delete " + std::to_string(planned) + " of " +
           std::to_string(listed) + " items at the destination (" + pct +
           "): more than --max-delete " +
           FormatPercent(config_.max_delete_percent) + ". Nothing was deleted.";
    return false;
  }
  return true;
}

StagingCleanup Execution::StagingCleanupNow() {
  StagingCleanup cleanup;
  cleanup.now = std::chrono::system_clock::now();
  cleanup.on_removed = [this](const RelPath& path, const std::string& what) {
    log_->Write("INFO", "StaleTempRemoved",
                "Removed " + what + " at " + path.Display() +
                    ", left by an interrupted run",
                {{"path", path.Display()}});
  };
  return cleanup;
}

void Execution::RemoveStaleStaging(const Entry& staging) {
  Status st = dst_->CleanupStagingEntry(staging, StagingCleanupNow());
  if (!st.ok()) {
    log_->Write("WARN", "StaleTempNotRemoved",
                "Cannot remove " + staging.path.Display() + ": " +
                    std::string(st.message()),
                {{"path", staging.path.Display()}});
  }
}

void Execution::RunDeletes(Journal* deletes) {
  Status st = deletes->Rewind();
  if (!st.ok()) {
    log_->Write("ERROR", "DeleteFailed",
                "Cannot read the deletion list: " + st.ToString());
    return;
  }
  const MetadataPolicy policy = config_.options.Policy();
  std::vector<RelPath> dirs;  // deleted folders still open, outermost first
  std::set<std::string, PathLess> touched;  // surviving folders that lost items
  auto report_delete = [&](const Entry& e, const Status& s) {
    if (!report_) return;
    nlohmann::json rec = {{"RelativePath", e.path.Display()},
                          {"DstMetadata", ReportMetadata(e)},
                          {"DeleteTimestamp", FormatIso8601(WallNanos())},
                          {"DeleteStatus", s.ok() ? "SUCCESS" : "FAILED"}};
    if (!s.ok()) rec["FailureReason"] = std::string(s.message());
    report_->Deleted(std::move(rec), !s.ok());
  };
  std::vector<Entry> dir_entries;  // parallel to `dirs`, for the report
  auto remove_dir = [&](const RelPath& dir) {
    Status s = dst_->Remove(dir);
    // Already gone: a folder an object store held only as the prefix of
    // what was just deleted beneath it (no marker of its own).
    if (s.IsNotFound()) s = Status::Ok();
    if (!dir_entries.empty()) {
      if (s.code() != StatusCode::kAlreadyExists)
        report_delete(dir_entries.back(), s);
      dir_entries.pop_back();
    }
    if (s.ok()) {
      Bump(counters_.folders_deleted);
      if (log_->transfer()) {
        log_->Write("INFO", "Deleted", "Deleted directory " + dir.Display(),
                    {{"path", dir.Display()}, {"type", "directory"}});
      }
    } else if (s.code() == StatusCode::kAlreadyExists) {
      log_->Write(
          "INFO", "DeleteKept",
          "Kept folder " + dir.Display() + ": it still holds excluded items",
          {{"path", dir.Display()}});
    } else {
      Bump(counters_.folders_failed_delete);
      log_->Write(
          "ERROR", "DeleteFailed",
          "Failed to delete " + dir.Display() + ": " + std::string(s.message()),
          {{"path", dir.Display()}, {"reason", std::string(s.message())}});
    }
  };
  // Files go in batches (an object store deletes up to 1000 per request);
  // a batch is flushed before any folder is removed, so a folder is empty
  // of what was deleted when its turn comes.
  constexpr size_t kDeleteBatch = 1000;
  std::vector<Entry> pending;
  auto flush = [&] {
    if (pending.empty()) return;
    std::vector<RelPath> paths;
    paths.reserve(pending.size());
    for (const Entry& e : pending) paths.push_back(e.path);
    std::vector<Status> results = dst_->RemoveFiles(paths, stop_.get_token());
    for (size_t i = 0; i < pending.size(); ++i) {
      const Entry& e = pending[i];
      const Status& s =
          i < results.size() ? results[i] : Status::Internal("no result");
      if (s.code() == StatusCode::kCancelled) break;  // not attempted
      report_delete(e, s);
      if (s.ok()) {
        Bump(counters_.files_deleted);
        if (log_->transfer()) {
          log_->Write("INFO", "Deleted",
                      "Deleted " + std::string(EntryKindName(e.kind)) + " " +
                          e.path.Display(),
                      {{"path", e.path.Display()},
                       {"type", std::string(EntryKindName(e.kind))}});
        }
      } else {
        Bump(counters_.files_failed_delete);
        log_->Write(
            "ERROR", "DeleteFailed",
            "Failed to delete " + e.path.Display() + ": " +
                std::string(s.message()),
            {{"path", e.path.Display()}, {"reason", std::string(s.message())}});
      }
    }
    pending.clear();
  };
  JournalRecord rec;
  while (!stop_.stop_requested()) {
    auto more = deletes->Next(&rec);
    if (!more.ok()) {
      log_->Write("ERROR", "DeleteFailed", more.status().ToString());
      break;
    }
    if (!*more) break;
    const Entry& e = rec.applied;
    while (!dirs.empty() && !dirs.back().IsAncestorOf(e.path)) {
      flush();
      remove_dir(dirs.back());
      dirs.pop_back();
    }
    if (dirs.empty()) touched.insert(e.path.Parent().str());
    if (e.is_dir()) {
      dirs.push_back(e.path);
      dir_entries.push_back(e);
      continue;
    }
    pending.push_back(e);
    if (pending.size() >= kDeleteBatch) flush();
  }
  flush();
  while (!dirs.empty()) {
    remove_dir(dirs.back());
    dirs.pop_back();
  }
  // Deleting changed the mtime of the folders that held the deleted items.
  for (const std::string& p : touched) {
    auto rel = RelPath::Parse(p);
    if (!rel.ok()) continue;
    auto src_entry = src_->Stat(*rel);
    if (src_entry.ok() && src_entry->has_value() && (*src_entry)->is_dir()) {
      Status s = dst_->SetMetadata(*rel, **src_entry, policy);
      if (!s.ok()) {
        log_->Write("ERROR", "MetadataFailed",
                    "Cannot restore the metadata of " + rel->Display() + ": " +
                        s.ToString());
      }
    }
  }
}

}  // namespace ferry
