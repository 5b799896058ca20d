// Waiting for a task execution that a ferry server runs, as `ferry
// start-task-execution --wait` does: polls DescribeTaskExecution, draws the
// progress line of `ferry sync` (Progress::Render) on a terminal, and prints
// the final DescribeTaskExecution response as JSON. The API call itself is
// the caller's (a function), so that this knows nothing of endpoints and
// signing. Not thread-safe; one wait per call.
#pragma once

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>

#include "ferry/base/status.h"
#include "ferry/execution/counters.h"

namespace ferry {

// DescribeTaskExecution for an execution ARN: the response, or why not.
using DescribeExecutionFn =
    std::function<Result<nlohmann::json>(const std::string& execution_arn)>;

struct WaitOptions {
  std::chrono::milliseconds interval{1000};  // between polls
  bool progress = false;  // draw the progress line on stderr (a terminal)
  // Failed polls in a row are retried (a server restarting) for this long
  // before the wait gives up.
  std::chrono::milliseconds give_up_after{60000};
};

// Polls until the execution is SUCCESS or ERROR, then writes the last
// response to `out` (indented JSON). Returns the exit code: 0 for SUCCESS,
// 1 for ERROR, 2 when the execution could not be described (the message on
// stderr).
int WaitForExecution(const std::string& execution_arn,
                     const DescribeExecutionFn& describe,
                     const WaitOptions& options, std::ostream& out);

// The counters of a DescribeTaskExecution response (0 where absent).
CounterSnapshot CountersFromDescribe(const nlohmann::json& describe);

}  // namespace ferry
