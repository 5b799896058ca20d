// Time helpers shared by the stages: a monotonic stopwatch for durations and
// wall-clock timestamps for reports.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace ferry {

using SteadyClock = std::chrono::steady_clock;

inline int64_t MillisSince(SteadyClock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             SteadyClock::now() - start)
      .count();
}

// Wall-clock now, in nanoseconds since the Unix epoch.
int64_t WallNanos();

// "2026-11-25T20:00:11.123456789Z" for a time in ns since the epoch.
std::string FormatIso8601(int64_t unix_nanos);

}  // namespace ferry
