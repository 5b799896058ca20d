// OutageWatch: tells a location that is down from a file that failed.
//
// Retry() gives an operation a few quick attempts, enough for a dropped
// connection or a busy server. A file server that restarts, or an object
// store that is down, takes longer than that; and one that stays down would
// otherwise fail every file of the tree on its own, one after the other, for
// hours. So an operation that used up its attempts on a retryable failure
// asks Recover() whether to try again:
//
//  - The watch probes the locations (the caller's `probe`, a cheap call on
//    each). They answer: the failure was the operation's own, and it stands.
//  - One does not: it is out. Every operation that asks from then on waits
//    (so the workers stop working through the tree) while one of them probes
//    again, with backoff; when the location answers, they all try again.
//  - It has not answered for `limit`: it is down. `on_down` is called once
//    (the execution stops with an error that names the location), and every
//    Recover() returns false from then on.
//
// Thread-safe. Waits end early when their stop_token is requested.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <stop_token>

#include "ferry/base/clock.h"
#include "ferry/base/status.h"

namespace ferry {

// How many times one operation is tried again after outages, at most.
inline constexpr int kMaxOutageRetries = 3;

struct OutageOptions {
  // How long a location may stay unreachable before the execution stops.
  Clock::duration limit = std::chrono::minutes(5);
  // The probes' backoff while it is out: first, doubling up to max.
  Clock::duration first_probe_delay = std::chrono::milliseconds(500);
  Clock::duration max_probe_delay = std::chrono::seconds(15);
  // A probe that answered this recently is taken as the answer; a failure
  // this soon after the location came back is tried again.
  Clock::duration probe_fresh = std::chrono::seconds(1);
};

class OutageWatch {
 public:
  // OK when every location answers; otherwise a failure naming the one that
  // does not (its message is shown to the user).
  using Probe = std::function<Status()>;
  // `state` is one of the events below; `why` the probe's failure (OK for
  // kBack), `last` the failure of the operation that asked.
  enum class Event : uint8_t { kOut, kBack, kDown };
  using OnEvent =
      std::function<void(Event event, const Status& why, const Status& last)>;

  OutageWatch(Clock* clock, OutageOptions options, Probe probe,
              OnEvent on_event);
  OutageWatch(const OutageWatch&) = delete;
  OutageWatch& operator=(const OutageWatch&) = delete;

  // After an operation used up its attempts on the retryable `failure`:
  // true when it should try again (the location was out and is back), false
  // when `failure` stands (the locations answer, or one is down, or `stop`
  // was requested). Once a location is down, false is returned only after
  // the kDown event was handled (so a stop it requests is seen by every
  // caller that gets false on its account).
  bool Recover(const Status& failure, const std::stop_token& stop);

  bool down() const;

 private:
  enum class State : uint8_t { kUp, kOut, kDown };

  // Runs the probe with mu_ released (the caller holds `lock` and the
  // prober role).
  Status ProbeUnlocked(std::unique_lock<std::mutex>& lock);

  Clock* const clock_;
  const OutageOptions options_;
  const Probe probe_;
  const OnEvent on_event_;

  std::mutex event_mu_;  // held while on_event_ runs: one event at a time
  mutable std::mutex mu_;
  std::condition_variable_any cv_;
  State state_ = State::kUp;           // GUARDED_BY(mu_)
  bool probing_ = false;               // GUARDED_BY(mu_)
  bool down_reported_ = false;         // GUARDED_BY(mu_): kDown handled
  uint64_t probes_ = 0;                // GUARDED_BY(mu_): probes finished
  Status last_probe_;                  // GUARDED_BY(mu_)
  Clock::time_point last_probe_at_{};  // GUARDED_BY(mu_)
  Clock::time_point out_since_{};      // GUARDED_BY(mu_)
  std::optional<Clock::time_point> back_at_;  // GUARDED_BY(mu_)
  Clock::duration next_delay_{};              // GUARDED_BY(mu_)
};

}  // namespace ferry
