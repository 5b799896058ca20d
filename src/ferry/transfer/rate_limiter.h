// RateLimiter: caps the bytes per second all transfer workers together may
// move (DataSync's BytesPerSecond). A shared virtual clock: each Acquire(n)
// books n / rate seconds after the previous booking and sleeps until its
// slot, allowing at most kBurst of slack, so any window of a second or more
// averages within a few percent of the limit. The rate may change while
// transfers run (UpdateTaskExecution). Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <stop_token>

namespace ferry {

class RateLimiter {
 public:
  // bytes_per_second <= 0 means unlimited.
  explicit RateLimiter(int64_t bytes_per_second = -1);

  void SetRate(int64_t bytes_per_second);
  int64_t rate() const;

  // Blocks until `bytes` may pass, or until `stop` is requested.
  void Acquire(uint64_t bytes, const std::stop_token& stop);

 private:
  static constexpr std::chrono::milliseconds kBurst{100};
  mutable std::mutex mu_;
  int64_t rate_;                                // GUARDED_BY(mu_)
  std::chrono::steady_clock::time_point next_;  // GUARDED_BY(mu_)
};

}  // namespace ferry
