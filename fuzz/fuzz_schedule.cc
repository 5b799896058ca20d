// Fuzzes Schedule::Parse (TaskSchedule.ScheduleExpression from the API) and
// NextAfter: the first line is the expression, the next 8 bytes (if any) the
// time to search after and the 8 after those the anchor, as nanoseconds
// since the epoch, little-endian.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string_view>

#include "ferry/control/schedule/schedule.h"

namespace {

using TimePoint = ferry::Schedule::TimePoint;

TimePoint TakeTime(std::string_view* rest, TimePoint otherwise) {
  if (rest->size() < 8) return otherwise;
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) {
    v = v << 8 | static_cast<unsigned char>((*rest)[static_cast<size_t>(i)]);
  }
  rest->remove_prefix(8);
  return TimePoint(TimePoint::duration(static_cast<int64_t>(v)));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string_view expression = text;
  std::string_view rest;
  if (size_t nl = text.find('\n'); nl != std::string_view::npos) {
    expression = text.substr(0, nl);
    rest = text.substr(nl + 1);
  }
  // 2024-01-01T00:00:00Z.
  const TimePoint base(std::chrono::seconds(1704067200));
  const TimePoint after = TakeTime(&rest, base);
  const TimePoint anchor = TakeTime(&rest, base);

  auto parsed = ferry::Schedule::Parse(expression);
  if (!parsed.ok()) {
    if (parsed.status().message().substr(0, 29) !=
        "Invalid schedule expression \"") {
      std::abort();
    }
    return 0;
  }
  const ferry::Schedule& schedule = *parsed;
  if (schedule.expression() != expression) std::abort();
  if (!ferry::Schedule::Parse(schedule.expression()).ok()) std::abort();

  std::optional<TimePoint> next = schedule.NextAfter(after, anchor);
  ferry::Schedule copy = schedule;
  if (copy.NextAfter(after, anchor) != next) std::abort();
  if (!next) return 0;
  // Strictly later, and nothing skipped between `after` and it.
  if (*next <= after) std::abort();
  if (schedule.NextAfter(*next - TimePoint::duration(1), anchor) != next) {
    std::abort();
  }
  if (!schedule.is_rate()) {
    // Whole minutes within EventBridge's years.
    using std::chrono::minutes;
    if (std::chrono::floor<minutes>(*next) != *next) std::abort();
    const std::chrono::year_month_day ymd(
        std::chrono::floor<std::chrono::days>(*next));
    if (ymd.year() < std::chrono::year(1970) ||
        ymd.year() > std::chrono::year(2199)) {
      std::abort();
    }
  }
  return 0;
}
