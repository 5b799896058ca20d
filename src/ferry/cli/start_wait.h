// `ferry start-task-execution ... --wait`: after StartTaskExecution, polls
// DescribeTaskExecution until the execution ends, drawing the progress line
// of `ferry sync` on a terminal, prints the final DescribeTaskExecution
// response and exits 0 only for SUCCESS (1 for ERROR). Without --wait the
// command prints StartTaskExecution's response as usual.
#pragma once

#include "ferry/client/commands.h"

namespace ferry {

struct StartWaitArgs {
  bool wait = false;
  int interval_ms = 1000;
  bool no_progress = false;
};

// Adds --wait, --wait-interval-ms and --no-progress to start-task-execution
// (if `args` has it) and the hook that honours them. `wait` and `hooks` must
// outlive running the command.
void AddStartWait(ApiCommandArgs& args, ApiCommandHooks& hooks,
                  StartWaitArgs& wait);

}  // namespace ferry
