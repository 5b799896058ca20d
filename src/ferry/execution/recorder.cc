#include "ferry/execution/recorder.h"

#include <cstdio>

#include "ferry/base/clock.h"
#include "ferry/diff/manifest.h"
#include "ferry/execution/execution.h"

namespace ferry {
namespace {

constexpr size_t kChangedFileSample = 20;
// Paths remembered so that verification does not report them twice.
constexpr size_t kMaxRememberedFailures = 1000000;

bool IsFolder(EntryKind kind) { return kind == EntryKind::kDirectory; }

}  // namespace

std::string MetaLine(const Entry& e) {
  char buf[256];
  std::snprintf(
      buf, sizeof(buf),
      "type=%c mode=%04o uid=%u gid=%u size=%llu atime=%lld/%u mtime=%lld/%u "
      "extAttrsHash=%llu",
      EntryKindLetter(e.kind), e.mode, e.uid, e.gid,
      static_cast<unsigned long long>(e.size),
      static_cast<long long>(e.atime.sec), e.atime.nsec,
      static_cast<long long>(e.mtime.sec), e.mtime.nsec,
      static_cast<unsigned long long>(e.xattr_hash));
  return buf;
}

Recorder::Recorder(ExecutionCounters* counters, ExecutionLog* log,
                   Journal* journal, TaskReport* report,
                   std::function<void()> on_first_work)
    : c_(*counters),
      log_(log),
      journal_(journal),
      report_(report),
      on_first_work_(std::move(on_first_work)) {}

void Recorder::OnPlanned(const PlanItem& item) {
  if (item.src.is_dir()) {
    Bump(c_.estimated_folders_to_transfer);
    Bump(c_.folders_prepared);
  } else {
    Bump(c_.estimated_files_to_transfer);
    Bump(c_.files_prepared);
    if (item.action != PlanAction::kUpdateMetadata &&
        item.action != PlanAction::kLink) {
      Bump(c_.estimated_bytes_to_transfer, item.src.size);
    }
  }
  if (log_->transfer()) {
    log_->Write("INFO", "Planned",
                std::string(PlanActionName(item.action)) + " " +
                    item.src.path.Display() + " (" + item.reason + ")",
                {{"path", item.src.path.Display()},
                 {"action", std::string(PlanActionName(item.action))},
                 {"reason", item.reason}});
  }
}

void Recorder::OnSkipped(const PlanItem& item) {
  Bump(item.src.is_dir() ? c_.folders_skipped : c_.files_skipped);
  NoteNotVerified(item.src.path);
  if (report_) {
    report_->Skipped({{"RelativePath", item.src.path.Display()},
                      {"SrcMetadata", ReportMetadata(item.src)},
                      {"SkippedTimestamp", FormatIso8601(WallNanos())},
                      {"SkippedReason", item.reason}},
                     false);
  }
  if (log_->transfer()) {
    log_->Write("INFO", "Skipped",
                "Skipped " + item.src.path.Display() + ": " + item.reason,
                {{"path", item.src.path.Display()}, {"reason", item.reason}});
  }
}

void Recorder::OnPrepareFailed(const PlanItem& item) {
  Bump(item.src.is_dir() ? c_.folders_failed_prepare : c_.files_failed_prepare);
  NoteNotVerified(item.src.path);
  const bool missing = item.action == PlanAction::kFailMissing &&
                       item.reason.rfind(kManifestFileDoesNotExist, 0) == 0;
  const std::string code =
      missing ? std::string(kManifestFileDoesNotExist) : "PrepareFailed";
  if (report_) {
    report_->Skipped({{"RelativePath", item.src.path.Display()},
                      {"SkippedTimestamp", FormatIso8601(WallNanos())},
                      {"SkippedReason", item.reason},
                      {"FailureCode", code}},
                     true);
  }
  log_->Write("ERROR", "PrepareFailed",
              "Cannot transfer " + item.src.path.Display() + ": " + item.reason,
              {{"path", item.src.path.Display()},
               {"reason", item.reason},
               {"code", code}});
}

void Recorder::OnListFailed(const Entry& dir, const char* side,
                            const Status& st) {
  Bump(c_.folders_failed_list);
  NoteNotVerified(dir.path);
  const std::string shown = dir.path.Display();
  const std::string why(st.message());
  if (report_) {
    report_->Skipped({{"RelativePath", shown},
                      {"SrcMetadata", ReportMetadata(dir)},
                      {"SkippedTimestamp", FormatIso8601(WallNanos())},
                      {"SkippedReason", std::string("cannot list the ") + side +
                                            " folder: " + why},
                      {"FailureCode", "ListFailed"}},
                     true);
  }
  log_->Write("ERROR", "ListFailed",
              std::string("Cannot list ") + side + " folder " + shown + ": " +
                  why + " (nothing beneath it is transferred or deleted)",
              {{"path", shown}, {"location", side}, {"reason", why}});
}

void Recorder::OnBytes(uint64_t bytes) {
  Bump(c_.bytes_transferred, bytes);
  Bump(c_.bytes_compressed, bytes);
}

void Recorder::OnItemDone(const PlanItem& item, const ItemResult& r) {
  if (r.status.IsCancelled()) return;
  const bool folder = IsFolder(item.src.kind);
  const std::string shown = item.src.path.Display();
  if (report_) {
    nlohmann::json rec = {
        {"RelativePath", shown},
        {"SrcMetadata", ReportMetadata(r.status.ok() ? r.applied : item.src)},
        {"Overwrite", item.dst ? "True" : "False"},
        {"TransferTimestamp", FormatIso8601(WallNanos())},
        {"TransferType", item.action == PlanAction::kLink ? "HARD_LINK"
                         : r.metadata_only                ? "METADATA_ONLY"
                                           : "CONTENT_AND_METADATA"},
        {"TransferStatus", r.status.ok() ? "SUCCESS" : "FAILED"}};
    if (!r.status.ok()) {
      rec["FailureReason"] = std::string(r.status.message());
      rec["FailureCode"] = std::string(StatusCodeName(r.status.code()));
    }
    if (r.changed_while_read) rec["ChangedWhileRead"] = "True";
    report_->Transferred(std::move(rec), !r.status.ok());
  }
  if (!r.status.ok()) {
    Bump(folder ? c_.folders_failed_transfer : c_.files_failed_transfer);
    NoteNotVerified(item.src.path);
    log_->Write(
        "ERROR", "TransferFailed",
        "Failed to transfer " + shown + ": " + std::string(r.status.message()),
        {{"path", shown},
         {"reason", std::string(r.status.message())},
         {"code", std::string(StatusCodeName(r.status.code()))}});
    return;
  }
  Bump(folder ? c_.folders_transferred : c_.files_transferred);
  Bump(c_.bytes_written, r.bytes);
  if (journal_) {
    JournalRecord rec;
    rec.applied = r.applied;
    rec.digest = r.digest;
    rec.metadata_only = r.metadata_only;
    Status st = journal_->Append(rec);
    if (!st.ok()) log_->Write("ERROR", "JournalFailed", st.ToString());
  }
  if (r.changed_while_read) {
    {
      std::lock_guard lock(mu_);
      ++changed_count_;
      if (changed_.size() < kChangedFileSample) changed_.push_back(shown);
    }
    log_->Write("WARN", "FileChangedDuringTransfer",
                "File " + shown +
                    " kept changing while it was read; transferred as read "
                    "(run the task "
                    "again to get its final version)",
                {{"path", shown}});
  }
  if (log_->transfer()) {
    std::string what = item.action == PlanAction::kLink ? "Hard-linked "
                       : r.metadata_only                ? "Updated metadata of "
                                                        : "Transferred ";
    log_->Write(
        "INFO", "Transferred",
        what + std::string(EntryKindName(item.src.kind)) + " " + shown +
            (item.src.is_file() && !r.metadata_only
                 ? ", " + std::to_string(r.bytes) + " bytes, " +
                       std::string(DigestAlgorithmName(r.digest.algorithm)) +
                       " " + r.digest.Hex()
                 : ""),
        {{"path", shown},
         {"type", std::string(EntryKindName(item.src.kind))},
         {"bytes", r.bytes},
         {"metadataOnly", r.metadata_only},
         {"checksum", r.digest.Hex()}});
  }
}

void Recorder::NoteNotVerified(const RelPath& path) {
  std::lock_guard lock(mu_);
  if (failed_.size() < kMaxRememberedFailures) failed_.insert(path.str());
}

bool Recorder::NotVerified(const RelPath& path) {
  std::lock_guard lock(mu_);
  return failed_.count(path.str()) > 0;
}

void Recorder::OnVerified(const VerifyOutcome& o) {
  const bool folder = IsFolder(o.kind);
  const std::string shown = o.path.Display();
  if (report_) {
    nlohmann::json rec = {{"RelativePath", shown},
                          {"VerifyTimestamp", FormatIso8601(WallNanos())},
                          {"VerifyStatus", o.ok() ? "SUCCESS" : "FAILED"}};
    if (o.src) rec["SrcMetadata"] = ReportMetadata(*o.src);
    if (o.dst) rec["DstMetadata"] = ReportMetadata(*o.dst);
    if (!o.src_digest.empty() || !o.dst_digest.empty()) {
      const Digest& any = o.src_digest.empty() ? o.dst_digest : o.src_digest;
      rec["ChecksumAlgorithm"] =
          std::string(DigestAlgorithmName(any.algorithm));
      if (!o.src_digest.empty()) rec["SrcChecksum"] = o.src_digest.Hex();
      if (!o.dst_digest.empty()) rec["DstChecksum"] = o.dst_digest.Hex();
    }
    if (!o.ok()) {
      rec["FailureReason"] = o.detail;
      rec["FailureCode"] = std::string(VerifyFailureCode(o.failure));
    }
    report_->Verified(std::move(rec), !o.ok());
  }
  if (o.ok()) {
    Bump(folder ? c_.folders_verified : c_.files_verified);
    if (log_->transfer()) {
      log_->Write("INFO", "Verified",
                  "Verified " + std::string(EntryKindName(o.kind)) + " " +
                      shown +
                      (o.dst_digest.empty() ? "" : ", " + o.dst_digest.Hex()),
                  {{"path", shown}, {"checksum", o.dst_digest.Hex()}});
    }
    return;
  }
  Bump(folder ? c_.folders_failed_verify : c_.files_failed_verify);
  if (!log_->basic()) return;
  nlohmann::json f = {{"path", shown},
                      {"code", std::string(VerifyFailureCode(o.failure))},
                      {"reason", o.detail}};
  std::string text = "Verification failed <> " + shown + " (" +
                     std::string(VerifyFailureCode(o.failure)) + ": " +
                     o.detail + ")";
  if (o.src) {
    text += "\n[NOTICE] " + shown + " srcMeta: " + MetaLine(*o.src);
    f["srcMeta"] = MetaLine(*o.src);
  }
  if (!o.src_digest.empty()) {
    text += "\n[NOTICE] srcHash:" + o.src_digest.Hex();
    f["srcHash"] = o.src_digest.Hex();
  }
  if (o.dst) {
    text += "\n[NOTICE] " + shown + " dstMeta: " + MetaLine(*o.dst);
    f["dstMeta"] = MetaLine(*o.dst);
  }
  if (!o.dst_digest.empty()) {
    text += "\n[NOTICE] dstHash:" + o.dst_digest.Hex();
    f["dstHash"] = o.dst_digest.Hex();
  }
  log_->Write("NOTICE", "VerificationFailed", text, std::move(f));
}

void Recorder::OnRetry(const RelPath& path, std::string_view operation,
                       const Status& failure, int attempt,
                       Clock::duration delay) {
  retries_.fetch_add(1, std::memory_order_relaxed);
  const int64_t delay_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(delay).count();
  log_->Write("WARN", "Retrying",
              "Retrying " + std::string(operation) + " of " + path.Display() +
                  " in " + std::to_string(delay_ms) + " ms (attempt " +
                  std::to_string(attempt) + " failed: " + failure.ToString() +
                  ")",
              {{"path", path.Display()},
               {"operation", std::string(operation)},
               {"attempt", attempt},
               {"delayMs", delay_ms},
               {"reason", failure.ToString()}});
}

void Recorder::OnBytesOnWire(uint64_t as_read, uint64_t on_wire) {
  c_.bytes_on_wire_adjustment.fetch_add(
      static_cast<int64_t>(on_wire) - static_cast<int64_t>(as_read),
      std::memory_order_relaxed);
}

void Recorder::OnStorageRetry(std::string_view operation, const Status& failure,
                              int attempt, std::chrono::nanoseconds delay) {
  retries_.fetch_add(1, std::memory_order_relaxed);
  const int64_t delay_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(delay).count();
  log_->Write("WARN", "Retrying",
              "Retrying " + std::string(operation) + " in " +
                  std::to_string(delay_ms) + " ms (attempt " +
                  std::to_string(attempt) + " failed: " + failure.ToString() +
                  ")",
              {{"operation", std::string(operation)},
               {"attempt", attempt},
               {"delayMs", delay_ms},
               {"reason", failure.ToString()}});
}

void Recorder::TakeChanged(ExecutionResult* r) {
  std::lock_guard lock(mu_);
  r->changed_files = changed_;
  r->changed_file_count = changed_count_;
}

}  // namespace ferry
