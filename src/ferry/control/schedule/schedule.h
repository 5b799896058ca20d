// Schedules: EventBridge schedule expressions as DataSync takes them in
// Schedule.ScheduleExpression, parsed once and asked for the next time they
// fire. All times are UTC.
//   rate(value unit): unit minute|minutes|hour|hours|day|days; value a
//     positive integer, singular unit only with 1 ("rate(1 hour)",
//     "rate(5 minutes)"). Fires every value*unit from a start time.
//   cron(minutes hours day-of-month month day-of-week year): six fields,
//     with `*`, `,`, `-`, `/`; `?` in exactly one of day-of-month and
//     day-of-week; `L` (last day of month / last <weekday>L), `W` (nearest
//     weekday, `LW`), `#` (nth weekday: `3#2`); months 1-12 or JAN-DEC,
//     weekdays 1-7 (1 = Sunday) or SUN-SAT; years 1970-2199.
// Where EventBridge's documentation leaves room: a rate's first run is one
// interval after the anchor; cron fires at the start of each matching
// minute; ranges may wrap (hours 20-2, FRI-MON) except in the year field;
// day-of-week takes no `/` (EventBridge's table lists none); `nW` does not
// fire in a month without day n; `L`, `LW` and `nW` may share a list with
// other days, while `#` must stand alone; names, `L` and `W` are
// case-insensitive, "cron"/"rate" and rate units are not; Quartz's `L-n`
// is rejected; a rate is at most 36500 days; expressions are at most 256
// characters (DataSync's limit).
// Thread-compatible value type.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "ferry/base/status.h"

namespace ferry {

class Schedule {
 public:
  using TimePoint = std::chrono::system_clock::time_point;

  // Errors quote the expression and say what is wrong with which field.
  static Result<Schedule> Parse(std::string_view expression);

  // The first time strictly after `after` at which it fires; nullopt if it
  // never fires again (a cron whose years are over). For rate(), times are
  // counted from `anchor` (the task's creation or the schedule's last change).
  std::optional<TimePoint> NextAfter(TimePoint after, TimePoint anchor) const;

  const std::string& expression() const { return expression_; }
  bool is_rate() const;

  Schedule(const Schedule&);
  Schedule& operator=(const Schedule&);
  Schedule(Schedule&&) noexcept;
  Schedule& operator=(Schedule&&) noexcept;
  ~Schedule();

 private:
  struct Impl;
  Schedule(std::string expression, std::unique_ptr<Impl> impl);
  std::string expression_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry
