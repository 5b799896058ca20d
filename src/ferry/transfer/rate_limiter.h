// RateLimiter: caps the bytes per second all transfer workers together may
// move (DataSync's BytesPerSecond). A shared virtual clock: each Acquire(n)
// books n / rate seconds after the previous booking and sleeps until its
// slot, allowing at most kBurst of slack, so any window of a second or more
// averages within a few percent of the limit. The rate may change while
// transfers run (UpdateTaskExecution): waiters wake and book again at the
// new rate. Time comes from a Clock (the real one unless a test injects a
// ManualClock). Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <stop_token>

#include "ferry/base/clock.h"

namespace ferry {

class RateLimiter {
 public:
  static constexpr std::chrono::milliseconds kBurst{100};

  // bytes_per_second <= 0 means unlimited. `clock` is not owned and must
  // outlive the limiter.
  explicit RateLimiter(int64_t bytes_per_second = -1,
                       Clock* clock = Clock::Real());

  void SetRate(int64_t bytes_per_second);
  int64_t rate() const;

  // Blocks until `bytes` may pass, or until `stop` is requested.
  void Acquire(uint64_t bytes, const std::stop_token& stop);

 private:
  Clock* const clock_;
  mutable std::mutex mu_;
  int64_t rate_;            // GUARDED_BY(mu_)
  Clock::time_point next_;  // GUARDED_BY(mu_): the end of the last booking
  // Requested (and replaced) by SetRate, to wake the current waiters.
  std::stop_source rate_changed_;  // GUARDED_BY(mu_)
};

}  // namespace ferry
