#include "ferry/base/clock.h"

#include <cstdio>
#include <ctime>

namespace ferry {

namespace {

class RealClock : public Clock {
 public:
  time_point Now() override { return SteadyClock::now(); }

  bool SleepUntil(time_point deadline, const std::stop_token& stop) override {
    std::unique_lock lock(mu_);
    // Nothing notifies cv_: only the deadline or `stop` end the wait.
    cv_.wait_until(lock, stop, deadline, [] { return false; });
    return !stop.stop_requested();
  }

 private:
  std::mutex mu_;
  std::condition_variable_any cv_;
};

}  // namespace

Clock* Clock::Real() {
  static RealClock* const clock = new RealClock();
  return clock;
}

ManualClock::ManualClock() : now_(time_point{} + std::chrono::hours(24)) {}

Clock::time_point ManualClock::Now() {
  std::lock_guard lock(mu_);
  time_point t = now_;
  if (tick_ > duration::zero()) {
    now_ += tick_;
    cv_.notify_all();
  }
  return t;
}

bool ManualClock::SleepUntil(time_point deadline, const std::stop_token& stop) {
  std::unique_lock lock(mu_);
  ++sleeps_;
  if (deadline > now_) total_slept_ += deadline - now_;
  if (auto_advance_ && deadline > now_) now_ = deadline;
  ++sleepers_;
  cv_.notify_all();
  bool reached = cv_.wait(lock, stop, [&] { return now_ >= deadline; });
  --sleepers_;
  cv_.notify_all();
  return reached;
}

void ManualClock::Advance(duration d) {
  std::lock_guard lock(mu_);
  now_ += d;
  cv_.notify_all();
}

void ManualClock::set_auto_advance(bool on) {
  std::lock_guard lock(mu_);
  auto_advance_ = on;
}

void ManualClock::set_tick(duration tick) {
  std::lock_guard lock(mu_);
  tick_ = tick;
}

int ManualClock::sleepers() const {
  std::lock_guard lock(mu_);
  return sleepers_;
}

bool ManualClock::AwaitSleepers(int n, std::chrono::seconds limit) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, limit, [&] { return sleepers_ >= n; });
}

bool ManualClock::AwaitSleeps(int n, std::chrono::seconds limit) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, limit, [&] { return sleeps_ >= n; });
}

Clock::duration ManualClock::total_slept() const {
  std::lock_guard lock(mu_);
  return total_slept_;
}

int ManualClock::sleeps() const {
  std::lock_guard lock(mu_);
  return sleeps_;
}

int64_t WallNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string FormatIso8601(int64_t unix_nanos) {
  int64_t secs = unix_nanos / 1000000000;
  int64_t nanos = unix_nanos % 1000000000;
  if (nanos < 0) {
    nanos += 1000000000;
    secs -= 1;
  }
  time_t t = static_cast<time_t>(secs);
  struct tm tm_utc;
  gmtime_r(&t, &tm_utc);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ",
                tm_utc.tm_year + 1900, tm_utc.tm_mon + 1, tm_utc.tm_mday,
                tm_utc.tm_hour, tm_utc.tm_min, tm_utc.tm_sec,
                static_cast<long long>(nanos));
  return buf;
}

std::string FormatIso8601Millis(int64_t unix_nanos) {
  std::string s = FormatIso8601(unix_nanos);  // ...SS.nnnnnnnnnZ
  s.erase(s.size() - 7, 6);
  return s;
}

}  // namespace ferry
