#include "ferry/transfer/rate_limiter.h"

#include <algorithm>
#include <thread>

namespace ferry {

RateLimiter::RateLimiter(int64_t bytes_per_second)
    : rate_(bytes_per_second), next_(std::chrono::steady_clock::now()) {}

void RateLimiter::SetRate(int64_t bytes_per_second) {
  std::lock_guard lock(mu_);
  rate_ = bytes_per_second;
  next_ = std::chrono::steady_clock::now();
}

int64_t RateLimiter::rate() const {
  std::lock_guard lock(mu_);
  return rate_;
}

void RateLimiter::Acquire(uint64_t bytes, const std::stop_token& stop) {
  std::chrono::steady_clock::time_point wake;
  {
    std::lock_guard lock(mu_);
    if (rate_ <= 0) return;
    auto now = std::chrono::steady_clock::now();
    next_ = std::max(next_, now - kBurst);
    next_ += std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(static_cast<double>(bytes) /
                                      static_cast<double>(rate_)));
    wake = next_ - kBurst;
  }
  // Sleep in short steps so that cancellation and rate changes are prompt.
  while (!stop.stop_requested()) {
    auto now = std::chrono::steady_clock::now();
    if (now >= wake) return;
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
        wake - now, std::chrono::milliseconds(200)));
    std::lock_guard lock(mu_);
    if (rate_ <= 0) return;
  }
}

}  // namespace ferry
