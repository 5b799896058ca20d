// ActivationLimiter: how often one client address may ask `ferry server` for
// an activation key. POST /agent/v1/activation needs no credentials, and
// every request it grants stores a certificate request and logs a line, so
// each client address gets a token bucket: a small burst, then one request
// per refill interval. A refused request answers when the next one will be
// admitted, and the log hears of an address's refusals once per log window,
// not once per request. The limiter only counts; AgentService turns its
// decisions into answers and log lines. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>

namespace ferry::control {

// The limits of agent activation (ServerConfig::activation).
struct ActivationLimits {
  // Requests one client address may make at once...
  int burst = 5;
  // ... and then one per this long (3 a minute).
  std::chrono::milliseconds refill_interval{20'000};
  // Activation keys that wait for CreateAgent, over all addresses (and all
  // servers sharing the database); past it the oldest are dropped.
  int max_pending = 256;
  // The certificate request an agent sends (a ferry agent's, P-256, is
  // under 1 KiB; an RSA 4096 one under 2 KiB).
  size_t max_csr_bytes = 4096;
  // Refusals of one address (and drops of pending keys) are logged at most
  // once per this long.
  std::chrono::milliseconds log_window{60'000};
  // Addresses tracked at once (each is a few dozen bytes). Past it, addresses
  // not tracked share one bucket until tracked ones go idle.
  size_t max_tracked_addresses = 4096;
};

class ActivationLimiter {
 public:
  struct Decision {
    bool admitted = false;
    // Refused: how long until a request from the address would be admitted
    // (at least 1 s).
    int64_t retry_after_s = 0;
    // Refused, and the first refusal of this address in the log window: the
    // caller logs it (with `refused_since_log`).
    bool log = false;
    // With `log`: the refusals of this address since the last one logged,
    // this one included.
    int64_t refused_since_log = 0;
    // Whose bucket was charged: the address, its IPv6 /64, or "other
    // addresses" when too many are tracked.
    std::string bucket;
  };

  // `now_ms`: Unix milliseconds (a fake clock in tests).
  ActivationLimiter(ActivationLimits limits, std::function<int64_t()> now_ms);

  // One activation request from `client_address` (as the listener reports
  // the peer: "192.0.2.7", "2001:db8::1", "::ffff:192.0.2.7"; anything else
  // is a bucket of its own).
  Decision Admit(const std::string& client_address);

  // Addresses tracked now (tests).
  size_t tracked() const;

  // The bucket an address is charged to: IPv4 as is (also when mapped into
  // IPv6), IPv6 by its /64 (one host usually holds a whole /64), anything
  // that is not an address as given.
  static std::string BucketOf(const std::string& client_address);

 private:
  struct Bucket {
    // Generic cell rate: the bucket is full once now >= `full_at_ms`; each
    // admitted request moves it one refill interval on, and a request is
    // refused while `full_at_ms` is more than burst - 1 intervals ahead.
    int64_t full_at_ms = 0;
    int64_t log_quiet_until_ms = 0;
    int64_t refused_since_log = 0;
  };
  // Drops buckets that are full and have nothing to log.
  void PruneLocked(int64_t now);

  const ActivationLimits limits_;
  const std::function<int64_t()> now_ms_;
  mutable std::mutex mu_;
  std::map<std::string, Bucket> buckets_;  // GUARDED_BY(mu_)
  Bucket overflow_;                        // GUARDED_BY(mu_)
};

}  // namespace ferry::control
