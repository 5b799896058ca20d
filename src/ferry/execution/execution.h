// Execution: one run of a task, end to end, on two backends: the
// ExecutionRunner of the architecture. It wires scan -> diff -> transfer ->
// delete -> verify, keeps the counters and the status DescribeTaskExecution
// reports, and owns nothing but that wiring.
//
// Run() blocks on the calling thread (the planner); status(), counters(),
// LiveResult() and Cancel() may be called from any other thread while it
// runs.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "ferry/base/clock.h"
#include "ferry/base/digest.h"
#include "ferry/base/outage_watch.h"
#include "ferry/diff/plan.h"
#include "ferry/execution/counters.h"
#include "ferry/execution/execution_log.h"
#include "ferry/execution/task_report.h"
#include "ferry/options/filter.h"
#include "ferry/options/task_options.h"
#include "ferry/storage/backend.h"
#include "ferry/transfer/rate_limiter.h"

namespace ferry {

class Journal;

enum class ExecutionStatus : uint8_t {
  kQueued,
  kLaunching,
  kPreparing,
  kTransferring,
  kVerifying,
  kCancelling,
  kSuccess,
  kError,
};
std::string_view ExecutionStatusName(ExecutionStatus status);

enum class PhaseStatus : uint8_t { kPending, kSuccess, kError };
std::string_view PhaseStatusName(PhaseStatus status);

struct ExecutionConfig {
  TaskOptions options;
  std::string includes;  // DataSync filter values ("" = none)
  std::string excludes;
  int threads = 0;       // transfer workers; 0 = chosen from the core count
  int scan_threads = 2;  // directory listings read ahead, per location
  DigestAlgorithm digest = DigestAlgorithm::kXxh3_128;
  bool fsync = false;  // fsync each file before renaming it into place
  bool xattrs = true;  // preserve extended attributes (where both sides can)
  bool acls = true;    // preserve POSIX ACLs (where both sides can)
  // Read attributes in every scan to find attribute-only changes, instead
  // of judging by ctime (see DiffOptions::AttributeCheck).
  bool xattr_check_always = false;
  // Where a listing gives no metadata (object stores), take an item that
  // was written after its source last changed as unchanged instead of
  // reading its metadata (DiffOptions::written_after_margin_ns).
  bool trust_write_times = true;
  uint64_t chunk_size = 16 * kBlockSize;
  std::string task_arn;  // for the report; synthesized when empty
  // The execution's ARN (an agent runs the one its server named);
  // synthesized under `task_arn` when empty.
  std::string execution_arn;
  // Refuse to delete more than this many items (-1: no limit), or more than
  // this percentage of what the destination holds (-1: no limit).
  int64_t max_delete = -1;
  double max_delete_percent = -1;
  // Transfer exactly these files (sorted, from ParseManifest) instead of
  // scanning; null = scan. A manifest never deletes.
  std::shared_ptr<const std::vector<RelPath>> manifest;
  // Write a task report into this folder.
  std::optional<TaskReportConfig> report;
  // Plan only: every decision goes to `on_plan` and nothing is written.
  bool dry_run = false;
  std::function<void(const PlanItem& item)> on_plan;
  // How long a location may stay unreachable (nothing it is asked answers,
  // while the workers wait for it) before the execution stops with
  // SourceLocationError or DestinationLocationError naming it.
  std::chrono::seconds outage_limit{300};
  // The clock for durations, the bandwidth limit and retry backoff; not
  // owned; null = the real steady clock. Tests pass a ManualClock.
  Clock* clock = nullptr;
};

// What DescribeTaskExecution reports at the end (and, for the live fields,
// while running: Execution::LiveResult).
struct ExecutionResult {
  ExecutionStatus status = ExecutionStatus::kQueued;
  int64_t start_time_ns = 0;
  int64_t launch_time_ns = 0;
  int64_t end_time_ns = 0;
  int64_t prepare_ms = 0;
  int64_t transfer_ms = 0;
  int64_t verify_ms = 0;
  int64_t total_ms = 0;
  PhaseStatus prepare_status = PhaseStatus::kPending;
  PhaseStatus transfer_status = PhaseStatus::kPending;
  PhaseStatus verify_status = PhaseStatus::kPending;
  std::string error_code;
  std::string error_detail;
  CounterSnapshot counters;
  // Files that kept changing while they were read (a sample).
  std::vector<std::string> changed_files;
  uint64_t changed_file_count = 0;
  // Operations retried after a retryable failure (each logged).
  uint64_t retries = 0;
  // The task report: SUCCESS or ERROR (empty when none was asked for).
  std::string report_status;
  std::string report_error;
  std::string report_folder;
};

class Execution {
 public:
  Execution(std::unique_ptr<Backend> src, std::unique_ptr<Backend> dst,
            ExecutionConfig config, ExecutionLog* log);
  ~Execution();
  Execution(const Execution&) = delete;
  Execution& operator=(const Execution&) = delete;

  // Runs the execution to its end. Never throws; failures are in the result.
  ExecutionResult Run();

  // Asks an execution that has not finished to stop: CANCELLING at once,
  // then ERROR (OperationCanceled) when Run returns. A finished execution
  // stays as it finished. May be called before Run.
  void Cancel();

  // Changes the bandwidth limit (BytesPerSecond; -1: unlimited) of the
  // execution, before or while it runs (UpdateTaskExecution): the transfer
  // workers take the new rate with their next block.
  void SetBytesPerSecond(int64_t bytes_per_second);
  int64_t bytes_per_second() const { return limiter_.rate(); }

  ExecutionStatus status() const { return status_.load(); }
  const ExecutionCounters& counters() const { return counters_; }

  // What DescribeTaskExecution shows while the execution runs: the status,
  // the counters so far, and each phase's status and duration from the
  // moment that phase ends. PREPARING lasts until a transfer worker starts
  // on the first item (or the listing ends). PrepareStatus turns SUCCESS or
  // ERROR when the listing and comparison end, while the transfer they
  // overlap may go on; from then on the Estimated* and *Prepared counters
  // and FilesListed/FoldersListed are final (before, they grow).
  // TransferStatus and TransferDuration follow when the transfer and
  // deletions end, VerifyStatus, VerifyDuration and TotalDuration when Run
  // ends; a phase that has not ended is PENDING with a duration of 0. After
  // Run returns, its result's status, phases, durations and counters.
  ExecutionResult LiveResult() const;
  const ExecutionConfig& config() const { return config_; }
  const std::string& execution_arn() const { return execution_arn_; }

  // The DescribeTaskExecution response for `result`.
  nlohmann::json Describe(const ExecutionResult& result) const;

 private:
  struct RunState;  // one Run's working state (execution.cc)
  struct PhasesRun {
    bool prepare = false;
    bool transfer = false;
    bool verify = false;
  };
  // A phase's status and duration as LiveResult shows them: set when the
  // phase ends (the duration before the status), and by Finalize, which
  // leaves an ended phase as it was.
  struct LivePhase {
    std::atomic<PhaseStatus> status{PhaseStatus::kPending};
    std::atomic<int64_t> ms{0};
    void End(PhaseStatus s, int64_t duration_ms) {
      ms.store(duration_ms);
      status.store(s);
    }
  };

  // Moves the status to `to` if the status machine allows it from where it
  // is now (compare-and-swap): forward through the running states, CANCELLING
  // from a running state, SUCCESS or ERROR once; once CANCELLING only ERROR
  // may follow. False when refused.
  bool Transition(ExecutionStatus to);

  // The execution's OutageWatch: probes both locations, logs an outage and
  // its end, and stops the run when a location stays down.
  std::unique_ptr<OutageWatch> WatchOutages(RunState& run);

  // Run's phases, in order. Launch and Prepare return false when the run
  // ends there (the reason is in the result); Finish is the one exit.
  bool Launch(RunState& run);   // options, filters, task report
  bool Prepare(RunState& run);  // scans and diff, feeding the transfer
  void CheckDryRunDeletes(RunState& run);
  // DiffOptions::written_after_margin_ns for these two locations.
  int64_t WrittenAfterMargin() const;
  void AwaitTransfer(RunState& run);
  void DeleteAndSync(RunState& run);
  void Verify(RunState& run);
  ExecutionResult Finish(RunState& run);

  void RunDeletes(Journal* deletes);
  // False (with the reason logged) when the planned deletions pass the
  // --max-delete bound.
  bool DeletesWithinBound(std::string* why) const;
  // Abandoned staging at the destination (Backend::CleanupStaging).
  StagingCleanup StagingCleanupNow();
  void RemoveStaleStaging(const Entry& staging);
  void Finalize(ExecutionResult* result, const PhasesRun& ran);
  void FinishReport(ExecutionResult* result);

  std::unique_ptr<Backend> src_;
  std::unique_ptr<Backend> dst_;
  const ExecutionConfig config_;
  ExecutionLog* const log_;
  Clock* const clock_;
  std::string execution_arn_;
  std::stop_source stop_;
  std::atomic<ExecutionStatus> status_{ExecutionStatus::kQueued};
  std::atomic<int64_t> start_time_ns_{0};
  std::atomic<int64_t> launch_time_ns_{0};
  LivePhase prepare_;
  LivePhase transfer_;
  LivePhase verify_;
  std::atomic<int64_t> total_ms_{0};
  ExecutionCounters counters_;
  RateLimiter limiter_;  // shared by the transfer workers
  std::unique_ptr<TaskReport> report_;
};

}  // namespace ferry
