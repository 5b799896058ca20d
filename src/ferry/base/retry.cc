#include "ferry/base/retry.h"

#include <random>

namespace ferry {

Clock::duration RetryPolicy::Backoff(int retry, uint64_t random) const {
  using std::chrono::milliseconds;
  const int64_t cap_ms = std::max<int64_t>(0, cap.count());
  int64_t bound = std::max<int64_t>(0, base.count());
  for (int i = 1; i < retry && bound < cap_ms; ++i) bound *= 2;
  bound = std::min(bound, cap_ms);
  // Full jitter, in microseconds so that small bounds still spread.
  const uint64_t span = static_cast<uint64_t>(bound) * 1000 + 1;
  return std::chrono::duration_cast<Clock::duration>(
      std::chrono::microseconds(static_cast<int64_t>(random % span)));
}

uint64_t RetryJitter() {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  return rng();
}

}  // namespace ferry
