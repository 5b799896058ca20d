// TaskReport: DataSync's task report, written to a directory.
//
// A summary (the DescribeTaskExecution counters, settings, times and
// locations) and, for STANDARD reports, one JSON list per category of what
// the execution transferred, verified, skipped and deleted, with DataSync's
// field names. ERRORS_ONLY keeps only the failed records. Records are written
// as they happen, so memory does not grow with the file count, and a list is
// split into files of at most kMaxReportFileBytes. Layout:
//   DIR/<exec-id>/<exec-id>.summary-v1.json
//   DIR/<exec-id>/<exec-id>.files-transferred-v1-00001.json (-00002 ...)
//   ... files-verified, files-skipped, files-deleted
// Each list file is {"TaskExecutionArn": ..., "<Category>": [records]}.
// Thread-safe.
#pragma once

#include <cstdio>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "ferry/base/status.h"
#include "ferry/storage/entry.h"

namespace ferry {

inline constexpr size_t kMaxReportFileBytes = 5 * 1000 * 1000;

enum class ReportOutputType : uint8_t { kSummaryOnly, kStandard };
enum class ReportLevel : uint8_t { kErrorsOnly, kSuccessesAndErrors };

struct TaskReportConfig {
  std::string directory;
  ReportOutputType output_type = ReportOutputType::kStandard;
  ReportLevel level = ReportLevel::kSuccessesAndErrors;
  // A list's files hold at most this many bytes (DataSync's 5 MB; tests
  // split smaller lists).
  size_t max_file_bytes = kMaxReportFileBytes;
};

// DataSync's SrcMetadata/DstMetadata object for an entry.
nlohmann::json ReportMetadata(const Entry& e);

class TaskReport {
 public:
  // Creates DIR/<exec-id>/.
  static Result<std::unique_ptr<TaskReport>> Open(
      const TaskReportConfig& config, const std::string& execution_arn);
  ~TaskReport();

  // `failed` records are kept at every level; others only with
  // SUCCESSES_AND_ERRORS.
  void Transferred(nlohmann::json record, bool failed);
  void Verified(nlohmann::json record, bool failed);
  void Skipped(nlohmann::json record, bool failed);
  void Deleted(nlohmann::json record, bool failed);

  // Closes the lists and writes the summary. Returns the report's folder.
  Result<std::string> Finish(nlohmann::json summary);

  const std::string& folder() const { return folder_; }

 private:
  class List;
  TaskReport(TaskReportConfig config, std::string arn, std::string folder,
             std::string id);
  void Add(List* list, nlohmann::json record, bool failed);

  const TaskReportConfig config_;
  const std::string arn_;
  const std::string folder_;
  const std::string id_;
  std::unique_ptr<List> transferred_;
  std::unique_ptr<List> verified_;
  std::unique_ptr<List> skipped_;
  std::unique_ptr<List> deleted_;
};

}  // namespace ferry
