// RunningExecution: one execution an agent runs for its server. It turns the
// server's RunExecution command into the engine's terms (the two locations as
// backends, ExecutionConfig from the task's effective options, filters and
// manifest), runs the Execution on a thread of its own, passes cancellation
// and bandwidth changes on, and answers what the next sync reports about it:
// the status, live counters and phase statuses while it runs, the final
// DescribeTaskExecution once it has ended. Its log records (at the task's
// LogLevel) collect in a LogBuffer that the session ships to the server;
// the agent's stderr gets BASIC at most. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "ferry/agent/execution_logs.h"
#include "ferry/agent/location_spec.h"
#include "ferry/base/status.h"
#include "ferry/execution/execution.h"
#include "ferry/protocol/agent_protocol.h"

namespace ferry::agent {

// What the agent's operator sets for every execution it runs (`ferry
// agent` flags; DataSync's API has no member for either).
struct EngineSettings {
  int threads = 0;  // transfer workers (0: one per core)
  // How long a location may stay unreachable before the execution ends.
  std::chrono::seconds outage_limit{300};
};

// The ExecutionConfig a RunExecution command asks for: every Options member
// through TaskOptions::Set, BytesPerSecond from the command, the filters, the
// manifest (its paths checked and sorted as a manifest file's would be),
// and the agent's `engine` settings. Errors are InvalidArgument, naming the
// member. A command that asks for a task report gets one written under
// `task_report_root` (an error when that is empty).
Result<ExecutionConfig> ConfigFromCommand(
    const protocol::Command& command, const EngineSettings& engine,
    const std::string& task_report_root = "");

// Opens a location as a backend (LocationSpecFromMessage, then the backend
// registry). A LOCAL destination is created if missing.
Result<std::unique_ptr<Backend>> OpenLocation(
    const protocol::LocationSpecMessage& location, bool destination,
    const AgentStorageConfig& config = {});

// How a RunningExecution opens its two locations: OpenLocation, or what a
// test puts in its place (a decorator over it, say).
using LocationOpener = std::function<Result<std::unique_ptr<Backend>>(
    const protocol::LocationSpecMessage& location, bool destination)>;
LocationOpener MakeLocationOpener(AgentStorageConfig config);

// A final DescribeTaskExecution for an execution that ended before the
// engine ran (e.g. a location that could not be opened).
nlohmann::json FailedDescribe(const std::string& execution_arn,
                              const std::string& error_code,
                              const std::string& error_detail);

class RunningExecution {
 public:
  // `on_done` runs (on the execution's thread) once the final report is
  // ready, so that the session can send it without waiting for the next
  // poll. `engine`: the agent's settings for every execution.
  // Task reports (TaskReportConfig) are written under `task_report_root`,
  // in a folder per execution: ferry cannot deliver them to the S3 bucket
  // the configuration names yet, and the final ReportResult says so and
  // where the report is. The locations are opened with `open_location`.
  RunningExecution(protocol::Command command, EngineSettings engine,
                   std::function<void()> on_done,
                   std::string task_report_root = "",
                   LocationOpener open_location = MakeLocationOpener({}));
  // Cancels the execution if it still runs and waits for its thread.
  ~RunningExecution();
  RunningExecution(const RunningExecution&) = delete;
  RunningExecution& operator=(const RunningExecution&) = delete;

  // Starts the thread (once).
  void Start();
  // CancelExecution: CANCELLING, then ERROR OperationCanceled.
  void Cancel();
  // SetBandwidth: the engine's rate limiter takes the new rate at once.
  void SetBytesPerSecond(int64_t bytes_per_second);
  // The agent stops: cancels and waits; the final report says so
  // (ErrorCode AgentStopped) instead of OperationCanceled.
  void Abandon();

  // What the next sync says about this execution. While it runs: the
  // engine's status (PREPARING until the transfer starts on the first
  // item) and a DescribeTaskExecution with the counters so far and a
  // `Result` with each phase's status and duration as it ended
  // (Execution::LiveResult); once it has ended, the final one.
  protocol::ExecutionReport Report() const;
  bool done() const { return done_.load(); }
  // The execution's log records the server has not stored yet (LogLevel
  // BASIC or TRANSFER; none for OFF).
  const std::shared_ptr<LogBuffer>& logs() const { return logs_; }
  const std::string& execution_arn() const { return command_.execution_arn; }

 private:
  // ManifestConfig's object, read and parsed (sorted paths).
  Result<std::shared_ptr<const std::vector<RelPath>>> ReadManifestObject();
  // Delivers the report written in `report_folder` where TaskReportConfig
  // says; returns the ReportResult to show.
  nlohmann::json DeliverReportTo(const std::string& report_folder);

  void Main();

  const protocol::Command command_;
  const EngineSettings engine_;
  const std::string task_report_root_;
  const std::function<void()> on_done_;
  const LocationOpener open_location_;
  const int64_t created_ns_;
  const std::shared_ptr<LogBuffer> logs_;
  ExecutionLog log_;

  mutable std::mutex mu_;
  std::unique_ptr<Execution> execution_;  // GUARDED_BY(mu_) (set once)
  bool cancel_ = false;                   // GUARDED_BY(mu_)
  bool abandoned_ = false;                // GUARDED_BY(mu_)
  int64_t bytes_per_second_;              // GUARDED_BY(mu_)
  std::optional<protocol::ExecutionReport> final_;  // GUARDED_BY(mu_)
  std::atomic<bool> done_{false};
  std::thread thread_;
};

}  // namespace ferry::agent
