#include "ferry/cli/start_wait.h"

#include <unistd.h>

#include <algorithm>
#include <iostream>

#include "ferry/cli/wait_execution.h"

namespace ferry {

void AddStartWait(ApiCommandArgs& args, ApiCommandHooks& hooks,
                  StartWaitArgs& wait) {
  ApiOperationCommand* start = args.Find("StartTaskExecution");
  if (start == nullptr || start->app == nullptr) return;
  start->app->add_flag("--wait", wait.wait,
                       "Wait until the execution ends, drawing its progress "
                       "on a terminal; print the final "
                       "DescribeTaskExecution response; exit 0 only for "
                       "SUCCESS");
  start->app->add_option("--wait-interval-ms", wait.interval_ms,
                         "With --wait: how often to poll (default 1000)");
  start->app->add_flag("--no-progress", wait.no_progress,
                       "With --wait: never draw the progress line");
  const ApiCommandHooks* h = &hooks;
  hooks.after_call["StartTaskExecution"] =
      [&wait, h](const ApiOperationCommand&, ApiClient& client,
                 const nlohmann::json&,
                 const nlohmann::json& response) -> std::optional<int> {
    if (!wait.wait) return std::nullopt;
    std::ostream& out = h->out ? *h->out : std::cout;
    auto arn = response.find("TaskExecutionArn");
    if (arn == response.end() || !arn->is_string()) {
      std::cerr << "ferry: StartTaskExecution answered no TaskExecutionArn\n";
      return 1;
    }
    WaitOptions options;
    options.interval =
        std::chrono::milliseconds(std::clamp(wait.interval_ms, 50, 600000));
    options.progress = !wait.no_progress && ::isatty(2);
    return WaitForExecution(
        arn->get<std::string>(),
        [&client](const std::string& execution_arn) {
          return client.Call("DescribeTaskExecution",
                             {{"TaskExecutionArn", execution_arn}});
        },
        options, out);
  };
}

}  // namespace ferry
