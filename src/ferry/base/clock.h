// Time for the engine: a Clock interface that the rate limiter, retry
// backoff and execution timings read and sleep on, so tests can run them on
// a ManualClock without waiting; plus wall-clock timestamps for reports.
//
// Clock::Real() is the process's steady clock. A ManualClock only moves when
// a test advances it (or, in auto-advance mode, when someone sleeps). Both
// are thread-safe; sleeps end early when their std::stop_token is requested.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <stop_token>
#include <string>

namespace ferry {

using SteadyClock = std::chrono::steady_clock;

class Clock {
 public:
  using time_point = SteadyClock::time_point;
  using duration = SteadyClock::duration;

  virtual ~Clock() = default;

  virtual time_point Now() = 0;

  // Blocks until Now() >= `deadline` (true) or until `stop` is requested
  // (false; at once if it already is).
  virtual bool SleepUntil(time_point deadline, const std::stop_token& stop) = 0;

  bool SleepFor(duration d, const std::stop_token& stop) {
    return SleepUntil(Now() + d, stop);
  }

  // Milliseconds from `start` to now.
  int64_t MillisSince(time_point start) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Now() - start)
        .count();
  }

  // The steady clock of the process; never null, never destroyed.
  static Clock* Real();
};

// A clock for tests: time stands still until Advance() moves it, and then
// every sleeper whose deadline has passed wakes. With auto-advance on, a
// sleeper moves time to its own deadline at once (simulated time: code that
// sleeps runs at full speed, and Now() tells how long it would have taken).
// With a tick set, every Now() moves time on by the tick after reading it.
class ManualClock : public Clock {
 public:
  // Starts at an arbitrary, fixed point (far from the steady clock's epoch,
  // so that subtracting a few seconds from Now() stays positive).
  ManualClock();

  time_point Now() override;
  bool SleepUntil(time_point deadline, const std::stop_token& stop) override;

  void Advance(duration d);
  void set_auto_advance(bool on);
  void set_tick(duration tick);

  // How many threads are asleep in SleepUntil now.
  int sleepers() const;
  // Blocks until at least `n` threads are asleep in SleepUntil (a test's way
  // of knowing that the code under test has reached a wait); false if that
  // has not happened within `limit` of real time.
  bool AwaitSleepers(int n,
                     std::chrono::seconds limit = std::chrono::seconds(30));
  // Blocks until SleepUntil has been called at least `n` times in all (a
  // sleeper counted here has fixed its deadline); false after `limit`.
  bool AwaitSleeps(int n,
                   std::chrono::seconds limit = std::chrono::seconds(30));
  // Total time the sleepers asked for, and how many sleeps there were.
  duration total_slept() const;
  int sleeps() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable_any cv_;
  time_point now_;             // GUARDED_BY(mu_)
  bool auto_advance_ = false;  // GUARDED_BY(mu_)
  duration tick_{0};           // GUARDED_BY(mu_)
  int sleepers_ = 0;           // GUARDED_BY(mu_)
  int sleeps_ = 0;             // GUARDED_BY(mu_)
  duration total_slept_{0};    // GUARDED_BY(mu_)
};

// Wall-clock now, in nanoseconds since the Unix epoch.
int64_t WallNanos();

// "2026-11-25T20:00:11.123456789Z" for a time in ns since the epoch.
std::string FormatIso8601(int64_t unix_nanos);
// The same to the millisecond, "2026-11-25T20:00:11.123Z": a log line's.
std::string FormatIso8601Millis(int64_t unix_nanos);

}  // namespace ferry
