#include "ferry/agent/running_execution.h"

#include <algorithm>
#include <cstdio>

#include "ferry/agent/report_delivery.h"
#include "ferry/azure/azure_object_store.h"
#include "ferry/base/clock.h"
#include "ferry/base/rel_path.h"
#include "ferry/diff/manifest.h"
#include "ferry/nfs/nfs_backend.h"
#include "ferry/s3/s3_object_store.h"
#include "ferry/smb/smb_backend.h"
#include "ferry/storage/registry.h"

namespace ferry::agent {
namespace {

using nlohmann::json;

// A path as one RFC 4180 field, so that ParseManifest checks the list
// exactly as it checks a manifest file.
std::string CsvField(const std::string& path) {
  std::string out = "\"";
  for (char c : path) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string ShortId(const std::string& execution_arn) {
  size_t slash = execution_arn.rfind('/');
  return slash == std::string::npos ? execution_arn
                                    : execution_arn.substr(slash + 1);
}

}  // namespace

Result<ExecutionConfig> ConfigFromCommand(const protocol::Command& command,
                                          const EngineSettings& engine,
                                          const std::string& task_report_root) {
  ExecutionConfig config;
  if (!command.options.is_object()) {
    return Status::InvalidArgument("RunExecution.Options is not an object");
  }
  for (const auto& [name, value] : command.options.items()) {
    std::string text;
    if (value.is_string()) {
      text = value.get<std::string>();
    } else if (value.is_number_integer()) {
      text = std::to_string(value.get<int64_t>());
    } else {
      return Status::InvalidArgument("RunExecution.Options." + name +
                                     " is neither a string nor an integer");
    }
    Status st = config.options.Set(name, text);
    if (!st.ok()) {
      return Status::InvalidArgument("RunExecution.Options: " +
                                     std::string(st.message()));
    }
  }
  // The limit now (UpdateTaskExecution may have changed the task's).
  config.options.bytes_per_second = command.bytes_per_second;
  FERRY_RETURN_IF_ERROR(config.options.Validate());
  config.includes = command.includes;
  config.excludes = command.excludes;
  if (command.has_manifest) {
    std::string csv;
    for (const std::string& p : command.manifest) csv += CsvField(p) + "\n";
    auto paths = ParseManifest(csv);
    if (!paths.ok()) {
      return Status::InvalidArgument("RunExecution.Manifest: " +
                                     std::string(paths.status().message()));
    }
    config.manifest =
        std::make_shared<const std::vector<RelPath>>(std::move(paths).value());
  }
  if (command.has_report) {
    if (task_report_root.empty()) {
      return Status::InvalidArgument(
          "RunExecution.Report: this agent has no folder for task reports");
    }
    TaskReportConfig report;
    report.directory = task_report_root;
    report.output_type = command.report_output_type == "SUMMARY_ONLY"
                             ? ReportOutputType::kSummaryOnly
                             : ReportOutputType::kStandard;
    report.level = command.report_level == "ERRORS_ONLY"
                       ? ReportLevel::kErrorsOnly
                       : ReportLevel::kSuccessesAndErrors;
    config.report = std::move(report);
  }
  config.threads = engine.threads;
  config.outage_limit = engine.outage_limit;
  config.task_arn = command.task_arn;
  config.execution_arn = command.execution_arn;
  return config;
}

Result<std::unique_ptr<Backend>> OpenLocation(
    const protocol::LocationSpecMessage& location, bool destination,
    const AgentStorageConfig& config) {
  FERRY_ASSIGN_OR_RETURN(LocationSpec spec, LocationSpecFromMessage(
                                                location, destination, config));
  RegisterBuiltinBackends();
  RegisterS3Backend();
  RegisterSmbBackend();
  RegisterNfsBackend();
  RegisterAzureBackend();
  return OpenBackend(spec);
}

LocationOpener MakeLocationOpener(AgentStorageConfig config) {
  return [config = std::move(config)](
             const protocol::LocationSpecMessage& location, bool destination) {
    return OpenLocation(location, destination, config);
  };
}

json FailedDescribe(const std::string& execution_arn,
                    const std::string& error_code,
                    const std::string& error_detail) {
  return {{"TaskExecutionArn", execution_arn},
          {"Status", "ERROR"},
          {"Result",
           {{"PrepareDuration", 0},
            {"PrepareStatus", "ERROR"},
            {"TotalDuration", 0},
            {"TransferDuration", 0},
            {"TransferStatus", "PENDING"},
            {"VerifyDuration", 0},
            {"VerifyStatus", "PENDING"},
            {"ErrorCode", error_code},
            {"ErrorDetail", error_detail}}}};
}

RunningExecution::RunningExecution(protocol::Command command,
                                   EngineSettings engine,
                                   std::function<void()> on_done,
                                   std::string task_report_root,
                                   LocationOpener open_location)
    : command_(std::move(command)),
      engine_(engine),
      task_report_root_(std::move(task_report_root)),
      on_done_(std::move(on_done)),
      open_location_(std::move(open_location)),
      created_ns_(WallNanos()),
      logs_(std::make_shared<LogBuffer>()),
      bytes_per_second_(command_.bytes_per_second) {
  // The task's LogLevel for the records the server keeps; BASIC at most on
  // the agent's stderr, which is no place for a record per file.
  LogLevel level = LogLevel::kBasic;
  auto it = command_.options.find("LogLevel");
  if (it != command_.options.end() && *it == "OFF") level = LogLevel::kOff;
  if (it != command_.options.end() && *it == "TRANSFER") {
    level = LogLevel::kTransfer;
  }
  log_.set_level(level);
  log_.set_text_level(std::min(level, LogLevel::kBasic));
  log_.set_record_sink([logs = logs_](std::string_view severity,
                                      std::string_view event,
                                      std::string_view text) {
    logs->Append(WallNanos() / 1000000, severity, event, text);
  });
  // The execution ARN is the server's: escaped like the agent's own lines.
  std::string prefix =
      "ferry agent: " + EscapeForDisplay(ShortId(command_.execution_arn)) +
      ": ";
  log_.set_text_sink([prefix](std::string_view line) {
    std::string l = FormatIso8601Millis(WallNanos()) + " " + prefix +
                    std::string(line) + "\n";
    std::fwrite(l.data(), 1, l.size(), stderr);
  });
}

RunningExecution::~RunningExecution() {
  Cancel();
  if (thread_.joinable()) thread_.join();
}

void RunningExecution::Start() {
  if (!thread_.joinable()) thread_ = std::thread([this] { Main(); });
}

void RunningExecution::Cancel() {
  std::lock_guard lock(mu_);
  cancel_ = true;
  if (execution_) execution_->Cancel();
}

void RunningExecution::SetBytesPerSecond(int64_t bytes_per_second) {
  std::lock_guard lock(mu_);
  bytes_per_second_ = bytes_per_second;
  if (execution_) execution_->SetBytesPerSecond(bytes_per_second);
}

void RunningExecution::Abandon() {
  {
    std::lock_guard lock(mu_);
    abandoned_ = true;
  }
  Cancel();
  if (thread_.joinable()) thread_.join();
}

protocol::ExecutionReport RunningExecution::Report() const {
  std::lock_guard lock(mu_);
  if (final_) return *final_;
  protocol::ExecutionReport r;
  r.execution_arn = command_.execution_arn;
  r.final = false;
  if (!execution_) {
    r.status = cancel_ ? "CANCELLING" : "LAUNCHING";
    return r;
  }
  // The status, the counters so far, and each phase's status and duration
  // from the moment it ended (PrepareStatus SUCCESS while the transfer
  // still runs, say).
  ExecutionResult live = execution_->LiveResult();
  if (live.status == ExecutionStatus::kQueued)
    live.status = ExecutionStatus::kLaunching;
  live.start_time_ns = created_ns_;
  live.launch_time_ns = created_ns_;
  r.status = std::string(ExecutionStatusName(live.status));
  r.describe = execution_->Describe(live);
  return r;
}

void RunningExecution::Main() {
  auto finish = [this](json describe) {
    {
      std::lock_guard lock(mu_);
      if (abandoned_) {
        describe["Status"] = "ERROR";
        describe["Result"]["ErrorCode"] = "AgentStopped";
        describe["Result"]["ErrorDetail"] =
            "The agent stopped while the execution ran; files in flight were "
            "not committed.";
      }
      protocol::ExecutionReport r;
      r.execution_arn = command_.execution_arn;
      r.status = describe.value("Status", "ERROR");
      r.describe = std::move(describe);
      r.final = true;
      final_ = std::move(r);
    }
    done_.store(true);
    if (on_done_) on_done_();
  };
  const std::string& arn = command_.execution_arn;

  auto config = ConfigFromCommand(command_, engine_, task_report_root_);
  if (!config.ok()) {
    finish(FailedDescribe(arn, "InvalidRequestException",
                          std::string(config.status().message())));
    return;
  }
  auto open = [&](const protocol::LocationSpecMessage& loc, bool dst,
                  const char* code) -> Result<std::unique_ptr<Backend>> {
    auto backend = open_location_(loc, dst);
    if (!backend.ok()) {
      // Named by its ARN, as the user knows it (the backend's message
      // says where it is: a path, or a bucket and endpoint).
      std::string why = std::string(dst ? "Cannot open the destination "
                                        : "Cannot open the source ") +
                        "location " + loc.arn + ": " +
                        std::string(backend.status().message());
      finish(FailedDescribe(arn,
                            backend.status().code() == StatusCode::kNotSupported
                                ? "UnsupportedLocationType"
                                : code,
                            why));
    }
    return backend;
  };
  if (!command_.manifest_object.type.empty()) {
    auto paths = ReadManifestObject();
    if (!paths.ok()) {
      finish(FailedDescribe(arn, "ManifestError",
                            std::string(paths.status().message())));
      return;
    }
    config->manifest = std::move(paths).value();
  }
  auto src = open(command_.source, false, "SourceLocationError");
  if (!src.ok()) return;
  auto dst = open(command_.destination, true, "DestinationLocationError");
  if (!dst.ok()) return;

  Execution* exec = nullptr;
  {
    std::lock_guard lock(mu_);
    config->options.bytes_per_second = bytes_per_second_;
    execution_ = std::make_unique<Execution>(std::move(src).value(),
                                             std::move(dst).value(),
                                             std::move(config).value(), &log_);
    exec = execution_.get();
    if (cancel_) exec->Cancel();
  }
  ExecutionResult result = exec->Run();
  json describe = exec->Describe(result);
  if (result.report_status == "SUCCESS") {
    describe["ReportResult"] = DeliverReportTo(result.report_folder);
  }
  finish(std::move(describe));
}

Result<std::shared_ptr<const std::vector<RelPath>>>
RunningExecution::ReadManifestObject() {
  const protocol::LocationSpecMessage& m = command_.manifest_object;
  std::string key;
  if (auto it = m.parameters.find("ManifestObjectPath");
      it != m.parameters.end() && it->is_string()) {
    key = it->get<std::string>();
  }
  while (!key.empty() && key.front() == '/') key.erase(0, 1);
  auto path = RelPath::Parse(key);
  if (key.empty() || !path.ok()) {
    return Status::InvalidArgument("ManifestConfig: ManifestObjectPath '" +
                                   key +
                                   "' is not an object key ferry can read");
  }
  protocol::LocationSpecMessage bucket = m;
  bucket.parameters = {{"S3BucketArn", m.parameters.value("S3BucketArn", "")}};
  auto backend = open_location_(bucket, false);
  if (!backend.ok()) {
    return Status(backend.status().code(),
                  "ManifestConfig: cannot open " + m.arn + ": " +
                      std::string(backend.status().message()));
  }
  // A manifest of a million long paths fits; a runaway object does not.
  constexpr size_t kMaxManifestBytes = size_t{256} << 20;
  auto text = ReadWholeFile(backend->get(), *path, kMaxManifestBytes);
  if (!text.ok()) {
    return Status(text.status().code(),
                  "ManifestConfig: cannot read the manifest " + key + " in " +
                      m.arn + ": " + std::string(text.status().message()));
  }
  const std::string version = m.parameters.value("ManifestObjectVersionId", "");
  if (!version.empty()) {
    auto now = (*backend)->Stat(*path);
    if (now.ok() && *now && !(*now)->version.empty() &&
        (*now)->version != version) {
      return Status::FailedPrecondition(
          "ManifestConfig: ManifestObjectVersionId " + version +
          " is not the current version of " + key +
          " (ferry reads the current version only)");
    }
  }
  auto paths = ParseManifest(*text);
  if (!paths.ok()) {
    return Status::InvalidArgument("ManifestConfig: the manifest " + key +
                                   ": " +
                                   std::string(paths.status().message()));
  }
  return std::make_shared<const std::vector<RelPath>>(std::move(paths).value());
}

json RunningExecution::DeliverReportTo(const std::string& report_folder) {
  const protocol::LocationSpecMessage& d = command_.report_destination;
  if (d.type.empty()) {
    // No destination named: the report stays where the agent wrote it.
    return {{"Status", "SUCCESS"},
            {"ErrorDetail",
             "The report is on the agent's machine, in " + report_folder}};
  }
  auto fail = [&](const Status& st) -> json {
    return {{"Status", "ERROR"},
            {"ErrorCode", "ReportDeliveryFailed"},
            {"ErrorDetail", "Cannot deliver the task report to " + d.arn +
                                ": " + std::string(st.message()) +
                                "; it is on the agent's machine, in " +
                                report_folder}};
  };
  // The bucket itself; the Subdirectory is the prefix of the report.
  protocol::LocationSpecMessage bucket = d;
  bucket.parameters = {{"S3BucketArn", d.parameters.value("S3BucketArn", "")}};
  auto backend = open_location_(bucket, true);
  if (!backend.ok()) return fail(backend.status());
  std::string sub = d.parameters.value("Subdirectory", "");
  while (!sub.empty() && sub.front() == '/') sub.erase(0, 1);
  while (!sub.empty() && sub.back() == '/') sub.pop_back();
  RelPath prefix;
  if (!sub.empty()) {
    auto p = RelPath::Parse(sub);
    if (!p.ok()) return fail(p.status());
    prefix = *p;
  }
  auto written = DeliverReport(report_folder, command_.task_arn,
                               command_.execution_arn, backend->get(), prefix);
  if (!written.ok()) return fail(written.status());
  return {{"Status", "SUCCESS"}};
}

}  // namespace ferry::agent
