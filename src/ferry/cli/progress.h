// Progress: the live one-line status of a running execution on a terminal
// (phase, files and bytes done of the estimate, rate, ETA), redrawn a few
// times a second from its own thread, and the place log lines go through so
// that they do not tear the line. Off a terminal it draws nothing.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "ferry/execution/execution.h"

namespace ferry {

class Progress {
 public:
  // Draws on stderr when `enabled` (the caller checks isatty).
  Progress(const Execution* execution, bool enabled);
  ~Progress();

  void Start();
  void Stop();  // clears the line
  // Prints a log line above the progress line.
  void PrintLine(std::string_view line);

  // The line for the given state (exposed for tests).
  static std::string Render(std::string_view phase, const CounterSnapshot& c,
                            double rate_bytes_per_s);

 private:
  void Loop();
  void DrawLocked();

  const Execution* const execution_;
  const bool enabled_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool drawn_ = false;
  double rate_ = 0;
  std::thread thread_;
};

}  // namespace ferry
