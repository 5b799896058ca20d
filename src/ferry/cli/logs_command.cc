#include "ferry/cli/logs_command.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <iostream>
#include <thread>

#include "ferry/base/rel_path.h"
#include "ferry/client/commands.h"

namespace ferry {
namespace {

using nlohmann::json;

// Records asked for per call.
constexpr int kPageSize = 1000;

std::string TimeText(const json& time) {
  if (!time.is_number()) return "-";
  const double seconds = time.get<double>();
  if (!std::isfinite(seconds) || seconds < 0 || seconds > 1e11) return "-";
  const auto ms = static_cast<int64_t>(std::llround(seconds * 1000));
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  char out[80];
  std::snprintf(out, sizeof(out), "%s.%03dZ", buf, static_cast<int>(ms % 1000));
  return out;
}

std::string Field(const json& record, const char* name) {
  auto it = record.find(name);
  if (it == record.end() || !it->is_string()) return "";
  // The agent wrote the message with its paths escaped already.
  return EscapeControls(it->get<std::string>());
}

}  // namespace

std::string FormatLogRecord(const json& record) {
  if (!record.is_object()) return "- - (not a record)";
  std::string level = Field(record, "Level");
  return TimeText(record.value("Time", json())) + " " +
         (level.empty() ? "-" : level) + " " + Field(record, "Message");
}

int PrintExecutionLogs(const std::string& execution_arn, const GetLogsFn& get,
                       const PrintLogsOptions& options, std::ostream& out,
                       std::ostream& err) {
  using Clock = std::chrono::steady_clock;
  auto sleep = [&](std::chrono::milliseconds d) {
    if (options.sleep) {
      options.sleep(d);
    } else {
      std::this_thread::sleep_for(d);
    }
  };
  int64_t next = std::max<int64_t>(options.start_seq, 1);
  auto failing_since = Clock::time_point();
  while (true) {
    auto page = get({{"TaskExecutionArn", execution_arn},
                     {"StartSeq", next},
                     {"MaxResults", kPageSize}});
    if (!page.ok()) {
      const auto now = Clock::now();
      if (failing_since == Clock::time_point()) failing_since = now;
      if (!page.status().retryable() ||
          now - failing_since >= options.give_up_after) {
        err << "ferry logs: " << EscapeForDisplay(page.status().message())
            << "\n";
        return 1;
      }
      sleep(options.interval);
      continue;
    }
    failing_since = Clock::time_point();
    const json& records = page->value("Records", json::array());
    size_t n = 0;
    if (records.is_array()) {
      for (const json& r : records) {
        out << FormatLogRecord(r) << "\n";
        ++n;
      }
    }
    out.flush();
    const json& next_seq = page->value("NextSeq", json());
    if (next_seq.is_number_integer() && next_seq.get<int64_t>() > next) {
      next = next_seq.get<int64_t>();
    }
    if (page->value("Complete", false)) return 0;
    if (n >= static_cast<size_t>(kPageSize)) continue;  // more stored
    if (!options.follow) return 0;
    sleep(options.interval);
  }
}

void AddLogsCommand(CLI::App& app, LogsArgs& args) {
  CLI::App* sub = app.add_subcommand(
      "logs",
      "Print the log of a task execution that a ferry server ran: the "
      "records (LogLevel BASIC: errors and milestones; TRANSFER: also one "
      "per file transferred and verified) its agent sent, one line each, "
      "TIME LEVEL MESSAGE");
  sub->add_option("EXECUTION_ARN", args.execution_arn,
                  "The task execution's ARN")
      ->required();
  sub->add_flag("--follow,-f", args.follow,
                "Keep printing records as they arrive until the execution "
                "has ended and its agent has sent them all");
  sub->add_option("--start-seq", args.start_seq,
                  "Begin at this record (records are numbered from 1)");
  sub->add_option("--interval-ms", args.interval_ms,
                  "With --follow: how often to poll (default 1000)");
  AddClientFlags(sub, args.flags);
}

int RunLogs(const LogsArgs& args) {
  auto client = ConnectApiClient(args.flags, ProcessEnvironment());
  if (!client.ok()) {
    std::cerr << client.status().message() << "\n";
    return 1;
  }
  PrintLogsOptions options;
  options.start_seq = args.start_seq;
  options.follow = args.follow;
  options.interval =
      std::chrono::milliseconds(std::clamp(args.interval_ms, 50, 600000));
  return PrintExecutionLogs(
      args.execution_arn,
      [&](const json& request) {
        return (*client)->Call("GetTaskExecutionLogs", request);
      },
      options, std::cout, std::cerr);
}

}  // namespace ferry
