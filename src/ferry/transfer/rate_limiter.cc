#include "ferry/transfer/rate_limiter.h"

#include <algorithm>

namespace ferry {

RateLimiter::RateLimiter(int64_t bytes_per_second, Clock* clock)
    : clock_(clock), rate_(bytes_per_second), next_(clock_->Now()) {}

void RateLimiter::SetRate(int64_t bytes_per_second) {
  std::lock_guard lock(mu_);
  rate_ = bytes_per_second;
  next_ = clock_->Now();
  rate_changed_.request_stop();
  rate_changed_ = std::stop_source();
}

int64_t RateLimiter::rate() const {
  std::lock_guard lock(mu_);
  return rate_;
}

void RateLimiter::Acquire(uint64_t bytes, const std::stop_token& stop) {
  while (!stop.stop_requested()) {
    Clock::time_point wake;
    std::stop_token changed;
    {
      std::lock_guard lock(mu_);
      if (rate_ <= 0) return;
      const Clock::time_point now = clock_->Now();
      // An idle limiter does not bank time: at most kBurst ahead of now.
      next_ = std::max(next_, now);
      next_ += std::chrono::duration_cast<Clock::duration>(
          std::chrono::duration<double>(static_cast<double>(bytes) /
                                        static_cast<double>(rate_)));
      wake = next_ - kBurst;
      if (wake <= now) return;
      changed = rate_changed_.get_token();
    }
    // Wake for the slot, a cancellation or a new rate, whichever is first.
    std::stop_source interrupt;
    std::stop_callback on_stop(stop,
                               [&interrupt] { interrupt.request_stop(); });
    std::stop_callback on_change(changed,
                                 [&interrupt] { interrupt.request_stop(); });
    if (clock_->SleepUntil(wake, interrupt.get_token())) return;
    // Cancelled (the loop ends), or the rate changed: SetRate dropped the
    // bookings, so book these bytes again at the new rate.
  }
}

}  // namespace ferry
