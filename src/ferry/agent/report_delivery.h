// What an agent reads from and writes to object storage around an
// execution: the manifest object of ManifestConfig, and the task report
// delivered where TaskReportConfig.Destination names. Both go through the
// storage seam, so any backend serves them. Thread-compatible.
#pragma once

#include <cstddef>
#include <string>

#include "ferry/base/rel_path.h"
#include "ferry/base/status.h"
#include "ferry/storage/backend.h"

namespace ferry::agent {

// The whole content of the file at `path`, refusing one larger than
// `max_bytes` (a manifest is read into memory). Errors name the location
// and the path.
Result<std::string> ReadWholeFile(Backend* backend, const RelPath& path,
                                  size_t max_bytes);

// Writes the bytes of the local file `local_path` to `path` (a staged
// write, committed only when complete; parents created where the backend
// has real directories).
Status CopyLocalFile(const std::string& local_path, Backend* backend,
                     const RelPath& path);

// Delivers the report files in `report_folder` (as TaskReport wrote them)
// beneath `prefix` of `backend` the way DataSync lays reports out:
// PREFIX/Summary-Reports/TASK-ID/EXEC-ID/<summary file> and
// PREFIX/Detailed-Reports/TASK-ID/EXEC-ID/<lists>. Returns the number of
// files written.
Result<size_t> DeliverReport(const std::string& report_folder,
                             const std::string& task_arn,
                             const std::string& execution_arn, Backend* backend,
                             const RelPath& prefix);

}  // namespace ferry::agent
