#include "ferry/control/server/activation_limiter.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <utility>

namespace ferry::control {

ActivationLimiter::ActivationLimiter(ActivationLimits limits,
                                     std::function<int64_t()> now_ms)
    : limits_(std::move(limits)), now_ms_(std::move(now_ms)) {}

std::string ActivationLimiter::BucketOf(const std::string& client_address) {
  in_addr v4{};
  if (::inet_pton(AF_INET, client_address.c_str(), &v4) == 1) {
    return client_address;
  }
  in6_addr v6{};
  if (::inet_pton(AF_INET6, client_address.c_str(), &v6) != 1) {
    return client_address;
  }
  char text[INET6_ADDRSTRLEN] = {};
  if (IN6_IS_ADDR_V4MAPPED(&v6)) {
    std::memcpy(&v4, &v6.s6_addr[12], 4);
    ::inet_ntop(AF_INET, &v4, text, sizeof(text));
    return text;
  }
  std::fill(&v6.s6_addr[8], &v6.s6_addr[16], 0);
  ::inet_ntop(AF_INET6, &v6, text, sizeof(text));
  return std::string(text) + "/64";
}

void ActivationLimiter::PruneLocked(int64_t now) {
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    if (it->second.full_at_ms <= now && it->second.log_quiet_until_ms <= now) {
      it = buckets_.erase(it);
    } else {
      ++it;
    }
  }
}

ActivationLimiter::Decision ActivationLimiter::Admit(
    const std::string& client_address) {
  const int64_t now = now_ms_();
  const int64_t interval =
      std::max<int64_t>(1, limits_.refill_interval.count());
  const int64_t burst = std::max(1, limits_.burst);
  Decision d;
  d.bucket = BucketOf(client_address);

  std::lock_guard lock(mu_);
  Bucket* b = nullptr;
  auto it = buckets_.find(d.bucket);
  if (it != buckets_.end()) {
    b = &it->second;
  } else {
    if (buckets_.size() >= limits_.max_tracked_addresses) PruneLocked(now);
    if (buckets_.size() < limits_.max_tracked_addresses) {
      b = &buckets_[d.bucket];
    } else {
      b = &overflow_;
      d.bucket = "other addresses";
    }
  }

  const int64_t start = std::max(b->full_at_ms, now);
  const int64_t ahead = start - now;
  if (ahead <= (burst - 1) * interval) {
    b->full_at_ms = start + interval;
    d.admitted = true;
    return d;
  }
  const int64_t wait_ms = ahead - (burst - 1) * interval;
  d.retry_after_s = std::max<int64_t>(1, (wait_ms + 999) / 1000);
  ++b->refused_since_log;
  if (now >= b->log_quiet_until_ms) {
    d.log = true;
    d.refused_since_log = b->refused_since_log;
    b->refused_since_log = 0;
    b->log_quiet_until_ms = now + limits_.log_window.count();
  }
  return d;
}

size_t ActivationLimiter::tracked() const {
  std::lock_guard lock(mu_);
  return buckets_.size();
}

}  // namespace ferry::control
