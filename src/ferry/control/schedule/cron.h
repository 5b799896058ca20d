// The cron half of Schedule: the six fields of an EventBridge cron(...)
// expression parsed into sets of values, and the search for the next minute
// they all match. Internal to ferry_schedule (schedule.h states what is
// accepted). A Spec is a plain value: thread-compatible.
#pragma once

#include <bitset>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

#include "ferry/base/status.h"

namespace ferry::cron {

inline constexpr int kMinYear = 1970;
inline constexpr int kMaxYear = 2199;

using Minutes = std::chrono::sys_time<std::chrono::minutes>;

// Bit v of a mask stands for value v; weekdays are numbered 0 (Sunday) to 6
// (Saturday) here, one less than in the expression.
struct Spec {
  uint64_t minutes = 0;                        // 0-59
  uint32_t hours = 0;                          // 0-23
  uint16_t months = 0;                         // 1-12
  std::bitset<kMaxYear - kMinYear + 1> years;  // bit y - kMinYear

  // Day-of-month; all of it is ignored when day_of_month_any ('?').
  bool day_of_month_any = false;
  uint32_t days = 0;             // 1-31
  uint32_t nearest_weekday = 0;  // nW: the weekday nearest day n, in-month
  bool last_day = false;         // L
  bool last_weekday = false;     // LW

  // Day-of-week; all of it is ignored when day_of_week_any ('?').
  bool day_of_week_any = false;
  uint8_t weekdays = 0;         // 1-7 in the expression
  uint8_t last_of_weekday = 0;  // nL: the last such weekday of the month
  int nth_weekday = -1;         // n#k: the k-th such weekday (-1: none)
  int nth = 0;
};

// Parses the text between "cron(" and ")". An error's message names the
// field and the problem, without the expression (the caller adds it).
Result<Spec> Parse(std::string_view fields);

// The first minute at or after `from` that the spec matches; nullopt if
// there is none before the end of kMaxYear.
std::optional<Minutes> NextMatch(const Spec& spec, Minutes from);

// The days of month `month` of `year` that the day-of-month and day-of-week
// fields select, as a mask (bit d for day d).
uint32_t MatchingDays(const Spec& spec, int year, int month);

}  // namespace ferry::cron
