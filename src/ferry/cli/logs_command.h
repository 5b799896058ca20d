// `ferry logs EXECUTION_ARN [--follow]`: prints the log records that an
// execution's agent shipped to the server (GetTaskExecutionLogs), one line
// each, `TIME LEVEL MESSAGE`, with everything a peer sent escaped
// (EscapeForDisplay) so that no record can end its line or forge another.
// With --follow it polls until the execution has ended and every record is
// printed (the response's Complete). Endpoint and credentials as every API
// command takes them. Not thread-safe.
#pragma once

#include <CLI/CLI.hpp>
#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>

#include "ferry/base/status.h"
#include "ferry/client/client_config.h"

namespace ferry {

struct LogsArgs {
  std::string execution_arn;
  bool follow = false;
  int interval_ms = 1000;
  int64_t start_seq = 1;
  ClientFlags flags;
};

// Adds the `logs` subcommand; `args` must outlive parsing and running.
void AddLogsCommand(CLI::App& app, LogsArgs& args);
// Runs it (after parsing chose it): the exit status.
int RunLogs(const LogsArgs& args);

// One GetTaskExecutionLogs call: the response, or why not.
using GetLogsFn =
    std::function<Result<nlohmann::json>(const nlohmann::json& request)>;

struct PrintLogsOptions {
  int64_t start_seq = 1;
  bool follow = false;
  std::chrono::milliseconds interval{1000};  // between polls when following
  // Failed calls that may succeed later (a server restarting) are retried
  // for this long.
  std::chrono::milliseconds give_up_after{60000};
  // How to wait (tests); default std::this_thread::sleep_for.
  std::function<void(std::chrono::milliseconds)> sleep;
};

// Pages through the records of `execution_arn` with `get`, printing each
// to `out`; without `follow` up to the last stored one, with it until the
// execution has ended and Complete. Returns the exit status: 0, or 1 with
// the error on `err`.
int PrintExecutionLogs(const std::string& execution_arn, const GetLogsFn& get,
                       const PrintLogsOptions& options, std::ostream& out,
                       std::ostream& err);

// "2026-11-25T20:00:11.123Z INFO Transferred /a/b" for one record of a
// response, every field escaped.
std::string FormatLogRecord(const nlohmann::json& record);

}  // namespace ferry
