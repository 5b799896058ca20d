#include "ferry/base/outage_watch.h"

#include <algorithm>
#include <utility>

namespace ferry {

OutageWatch::OutageWatch(Clock* clock, OutageOptions options, Probe probe,
                         OnEvent on_event)
    : clock_(clock ? clock : Clock::Real()),
      options_(options),
      probe_(std::move(probe)),
      on_event_(std::move(on_event)) {}

bool OutageWatch::down() const {
  std::lock_guard lock(mu_);
  return state_ == State::kDown;
}

Status OutageWatch::ProbeUnlocked(std::unique_lock<std::mutex>& lock) {
  probing_ = true;
  lock.unlock();
  Status p = probe_();
  lock.lock();
  probing_ = false;
  ++probes_;
  last_probe_ = p;
  last_probe_at_ = clock_->Now();
  return p;
}

bool OutageWatch::Recover(const Status& failure, const std::stop_token& stop) {
  std::unique_lock lock(mu_);
  // Whether this caller saw the location out: then its coming back is the
  // answer (try again), not a sign that the failure was the file's own.
  bool saw_out = false;
  // Events are reported in the order they happen, outside mu_.
  auto report = [&](Event event, const Status& why) {
    std::unique_lock events(event_mu_);
    lock.unlock();
    if (on_event_) on_event_(event, why, failure);
    events.unlock();
    lock.lock();
  };
  // Down: once its event was handled.
  auto down = [&](const Status& why) {
    state_ = State::kDown;
    cv_.notify_all();
    report(Event::kDown, why);
    down_reported_ = true;
    cv_.notify_all();
    return false;
  };
  while (!stop.stop_requested()) {
    if (state_ == State::kDown) {
      cv_.wait(lock, stop, [&] { return down_reported_; });
      return false;
    }
    if (state_ == State::kUp) {
      if (saw_out) return true;
      // Back a moment ago: this failure may well be the outage's, seen
      // late; the operation tries again.
      if (back_at_ && clock_->Now() - *back_at_ < options_.probe_fresh) {
        return true;
      }
      if (probing_) {  // share the probe under way
        const uint64_t seen = probes_;
        cv_.wait(lock, stop, [&] { return probes_ != seen; });
        continue;
      }
      if (probes_ > 0 && last_probe_.ok() &&
          clock_->Now() - last_probe_at_ < options_.probe_fresh) {
        return false;
      }
      // The location has not answered since the probe began at least (a
      // probe of a server that is gone may itself take long: the backend
      // retries it first).
      const Clock::time_point began = clock_->Now();
      const Status p = ProbeUnlocked(lock);
      cv_.notify_all();
      if (p.ok()) return false;
      if (state_ != State::kUp) continue;  // raced with another prober
      out_since_ = began;
      next_delay_ = options_.first_probe_delay;
      if (clock_->Now() - out_since_ >= options_.limit) return down(p);
      state_ = State::kOut;
      saw_out = true;
      report(Event::kOut, p);
      continue;
    }
    // Out: one caller probes with backoff, the others wait for it.
    saw_out = true;
    if (probing_) {
      const uint64_t seen = probes_;
      cv_.wait(lock, stop, [&] { return probes_ != seen; });
      continue;
    }
    const Clock::duration delay = next_delay_;
    next_delay_ = std::min(next_delay_ * 2, options_.max_probe_delay);
    probing_ = true;
    lock.unlock();
    const bool slept = clock_->SleepFor(delay, stop);
    lock.lock();
    probing_ = false;
    if (!slept) {
      ++probes_;
      cv_.notify_all();
      return false;
    }
    const Status p = ProbeUnlocked(lock);
    if (p.ok()) {
      state_ = State::kUp;
      back_at_ = clock_->Now();
      cv_.notify_all();
      report(Event::kBack, p);
      return true;
    }
    if (clock_->Now() - out_since_ >= options_.limit) return down(p);
    cv_.notify_all();
  }
  return false;
}

}  // namespace ferry
