#include "ferry/control/schedule/schedule.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace ferry {
namespace {

using std::chrono::days;
using std::chrono::floor;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;
using std::chrono::sys_days;
using std::chrono::year_month_day;
using TimePoint = Schedule::TimePoint;

TimePoint At(int y, int mo, int d, int h = 0, int mi = 0, int s = 0) {
  return sys_days(year_month_day(std::chrono::year(y),
                                 std::chrono::month(static_cast<unsigned>(mo)),
                                 std::chrono::day(static_cast<unsigned>(d)))) +
         hours(h) + minutes(mi) + seconds(s);
}

// "2024-03-05 10:00" (":SS" only when not zero), or "never".
std::string Format(std::optional<TimePoint> t) {
  if (!t) return "never";
  const sys_days day = floor<days>(*t);
  const year_month_day ymd(day);
  const auto secs = floor<seconds>(*t - day).count();
  char buf[64];
  std::snprintf(
      buf, sizeof buf, "%04d-%02u-%02u %02lld:%02lld",
      static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
      static_cast<unsigned>(ymd.day()), static_cast<long long>(secs / 3600),
      static_cast<long long>(secs / 60 % 60));
  std::string out = buf;
  if (secs % 60 != 0) {
    std::snprintf(buf, sizeof buf, ":%02lld",
                  static_cast<long long>(secs % 60));
    out += buf;
  }
  return out;
}

Schedule MustParse(std::string_view expression) {
  auto r = Schedule::Parse(expression);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return *Schedule::Parse("rate(1 day)");
  return std::move(r).value();
}

// The next `n` runs after `after` as text.
std::vector<std::string> Runs(std::string_view expression, TimePoint after,
                              int n, TimePoint anchor = TimePoint()) {
  Schedule s = MustParse(expression);
  std::vector<std::string> out;
  std::optional<TimePoint> t = after;
  for (int i = 0; i < n; ++i) {
    t = s.NextAfter(*t, anchor);
    out.push_back(Format(t));
    if (!t) break;
  }
  return out;
}

std::string Next(std::string_view expression, TimePoint after,
                 TimePoint anchor = TimePoint()) {
  return Runs(expression, after, 1, anchor)[0];
}

using V = std::vector<std::string>;

// ---- EventBridge's documented examples ------------------------------------

TEST(ScheduleCronTest, DailyAtTen) {
  const char* e = "cron(0 10 * * ? *)";
  EXPECT_EQ(Next(e, At(2024, 3, 5, 9, 59)), "2024-03-05 10:00");
  EXPECT_EQ(Next(e, At(2024, 3, 5, 9, 59, 59)), "2024-03-05 10:00");
  // Strictly after: a run exactly at `after` is not the next one.
  EXPECT_EQ(Next(e, At(2024, 3, 5, 10, 0)), "2024-03-06 10:00");
  EXPECT_EQ(Next(e, At(2024, 3, 5, 10, 0, 1)), "2024-03-06 10:00");
  EXPECT_EQ(Runs(e, At(2024, 2, 27, 12), 4),
            (V{"2024-02-28 10:00", "2024-02-29 10:00", "2024-03-01 10:00",
               "2024-03-02 10:00"}));
}

TEST(ScheduleCronTest, DailyAtQuarterPastNoonAcrossTheYearEnd) {
  EXPECT_EQ(Runs("cron(15 12 * * ? *)", At(2023, 12, 31, 12, 15), 2),
            (V{"2024-01-01 12:15", "2024-01-02 12:15"}));
  EXPECT_EQ(Next("cron(15 12 * * ? *)", At(2023, 12, 31, 12, 14, 59)),
            "2023-12-31 12:15");
}

TEST(ScheduleCronTest, WeekdaysAtSix) {
  // 2024-03-08 is a Friday.
  EXPECT_EQ(Runs("cron(0 18 ? * MON-FRI *)", At(2024, 3, 7, 18, 30), 3),
            (V{"2024-03-08 18:00", "2024-03-11 18:00", "2024-03-12 18:00"}));
}

TEST(ScheduleCronTest, FirstOfTheMonthAtEight) {
  const char* e = "cron(0 8 1 * ? *)";
  EXPECT_EQ(Runs(e, At(2024, 1, 31), 3),
            (V{"2024-02-01 08:00", "2024-03-01 08:00", "2024-04-01 08:00"}));
  EXPECT_EQ(Next(e, At(2024, 12, 1, 8)), "2025-01-01 08:00");
}

TEST(ScheduleCronTest, EveryFifteenMinutes) {
  const char* e = "cron(0/15 * * * ? *)";
  EXPECT_EQ(Runs(e, At(2024, 5, 5, 10, 7), 4),
            (V{"2024-05-05 10:15", "2024-05-05 10:30", "2024-05-05 10:45",
               "2024-05-05 11:00"}));
  EXPECT_EQ(Next(e, At(2024, 12, 31, 23, 45)), "2025-01-01 00:00");
}

TEST(ScheduleCronTest, EveryTenMinutesOnWeekdays) {
  // Friday 2024-03-08 23:50 is the last of the week.
  EXPECT_EQ(Runs("cron(0/10 * ? * MON-FRI *)", At(2024, 3, 8, 23, 45), 3),
            (V{"2024-03-08 23:50", "2024-03-11 00:00", "2024-03-11 00:10"}));
}

TEST(ScheduleCronTest, EveryFiveMinutesInOfficeHours) {
  const char* e = "cron(0/5 8-17 ? * MON-FRI *)";
  EXPECT_EQ(Next(e, At(2024, 3, 6, 12, 3)), "2024-03-06 12:05");
  EXPECT_EQ(Next(e, At(2024, 3, 6, 7, 0)), "2024-03-06 08:00");
  // 17:55 is the last run of a day; Friday's is followed by Monday's first.
  EXPECT_EQ(Runs(e, At(2024, 3, 8, 17, 50), 2),
            (V{"2024-03-08 17:55", "2024-03-11 08:00"}));
}

TEST(ScheduleCronTest, HourRangeThatWrapsPastMidnight) {
  // EventBridge's example: every 30 minutes Monday to Friday from 20:00 to
  // 02:30 the next morning; on Monday it starts at midnight, and Saturday's
  // early hours are not weekdays.
  const char* e = "cron(0/30 20-2 ? * MON-FRI *)";
  EXPECT_EQ(Runs(e, At(2024, 3, 10, 12), 7),
            (V{"2024-03-11 00:00", "2024-03-11 00:30", "2024-03-11 01:00",
               "2024-03-11 01:30", "2024-03-11 02:00", "2024-03-11 02:30",
               "2024-03-11 20:00"}));
  EXPECT_EQ(Next(e, At(2024, 3, 8, 23, 30)), "2024-03-11 00:00");
}

TEST(ScheduleCronTest, FirstMondayOfTheMonth) {
  EXPECT_EQ(Runs("cron(0 9 ? * 2#1 *)", At(2023, 12, 31), 6),
            (V{"2024-01-01 09:00", "2024-02-05 09:00", "2024-03-04 09:00",
               "2024-04-01 09:00", "2024-05-06 09:00", "2024-06-03 09:00"}));
}

TEST(ScheduleCronTest, DataSyncExamples) {
  // 2024-03-10 is a Sunday.
  EXPECT_EQ(Runs("cron(0 12 ? * SUN,WED *)", At(2024, 3, 9), 3),
            (V{"2024-03-10 12:00", "2024-03-13 12:00", "2024-03-17 12:00"}));
  // The first Wednesday of the month at 08:00.
  EXPECT_EQ(Runs("cron(0 8 ? * 4#1 *)", At(2024, 1, 1), 3),
            (V{"2024-01-03 08:00", "2024-02-07 08:00", "2024-03-06 08:00"}));
}

// ---- Fields ---------------------------------------------------------------

TEST(ScheduleCronTest, ListsRangesAndSteps) {
  EXPECT_EQ(Runs("cron(5,35 9,21 * * ? *)", At(2024, 1, 1, 9, 5), 4),
            (V{"2024-01-01 09:35", "2024-01-01 21:05", "2024-01-01 21:35",
               "2024-01-02 09:05"}));
  // 10-40/15 is 10, 25, 40; 50/4 is 50, 54, 58.
  EXPECT_EQ(Runs("cron(10-40/15,50/4 0 * * ? *)", At(2024, 1, 1), 7),
            (V{"2024-01-01 00:10", "2024-01-01 00:25", "2024-01-01 00:40",
               "2024-01-01 00:50", "2024-01-01 00:54", "2024-01-01 00:58",
               "2024-01-02 00:10"}));
  // Every other hour from 1.
  EXPECT_EQ(Runs("cron(0 1/2 * * ? *)", At(2024, 1, 1, 22), 3),
            (V{"2024-01-01 23:00", "2024-01-02 01:00", "2024-01-02 03:00"}));
  // Every third day of the month from the 1st: 1, 4, ..., 28, 31.
  EXPECT_EQ(Runs("cron(0 0 */3 * ? *)", At(2024, 1, 27), 4),
            (V{"2024-01-28 00:00", "2024-01-31 00:00", "2024-02-01 00:00",
               "2024-02-04 00:00"}));
  // A wrapping range with a step: 22, 0, 2.
  EXPECT_EQ(Runs("cron(0 22-3/2 * * ? *)", At(2024, 1, 1, 12), 4),
            (V{"2024-01-01 22:00", "2024-01-02 00:00", "2024-01-02 02:00",
               "2024-01-02 22:00"}));
}

TEST(ScheduleCronTest, MonthNamesAndWrappingMonthRanges) {
  EXPECT_EQ(Runs("cron(0 0 1 NOV-FEB ? *)", At(2024, 2, 2), 4),
            (V{"2024-11-01 00:00", "2024-12-01 00:00", "2025-01-01 00:00",
               "2025-02-01 00:00"}));
  EXPECT_EQ(Runs("cron(0 0 1 JAN,jul ? *)", At(2024, 1, 1), 2),
            (V{"2024-07-01 00:00", "2025-01-01 00:00"}));
  EXPECT_EQ(Next("cron(0 0 1 3/4 ? *)", At(2024, 3, 1)), "2024-07-01 00:00");
}

TEST(ScheduleCronTest, WeekdayNumbersStartOnSunday) {
  // 1 is Sunday, 7 Saturday; 2024-03-10 is a Sunday.
  EXPECT_EQ(Next("cron(0 0 ? * 1 *)", At(2024, 3, 6)), "2024-03-10 00:00");
  EXPECT_EQ(Next("cron(0 0 ? * 7 *)", At(2024, 3, 6)), "2024-03-09 00:00");
  EXPECT_EQ(Next("cron(0 0 ? * SUN *)", At(2024, 3, 6)), "2024-03-10 00:00");
  EXPECT_EQ(Next("cron(0 0 ? * sat *)", At(2024, 3, 6)), "2024-03-09 00:00");
  // A weekend range that wraps: Saturday to Sunday.
  EXPECT_EQ(Runs("cron(0 0 ? * SAT-SUN *)", At(2024, 3, 6), 3),
            (V{"2024-03-09 00:00", "2024-03-10 00:00", "2024-03-16 00:00"}));
  // 'L' alone is the last day of the week, Saturday.
  EXPECT_EQ(Next("cron(0 0 ? * L *)", At(2024, 3, 6)), "2024-03-09 00:00");
}

TEST(ScheduleCronTest, WhitespaceBetweenFieldsAndInsideTheParentheses) {
  EXPECT_EQ(Next("cron( 0  10\t* *  ? * )", At(2024, 3, 5)),
            "2024-03-05 10:00");
  EXPECT_EQ(Next("rate(  5\tminutes )", At(2024, 3, 5), At(2024, 3, 5)),
            "2024-03-05 00:05");
}

// ---- L, W, LW, nL, # --------------------------------------------------------

TEST(ScheduleCronTest, LastDayOfTheMonth) {
  EXPECT_EQ(Runs("cron(0 23 L * ? *)", At(2023, 12, 31, 23, 0), 6),
            (V{"2024-01-31 23:00", "2024-02-29 23:00", "2024-03-31 23:00",
               "2024-04-30 23:00", "2024-05-31 23:00", "2024-06-30 23:00"}));
  EXPECT_EQ(Next("cron(0 23 L FEB ? *)", At(2024, 3, 1)), "2025-02-28 23:00");
  EXPECT_EQ(Next("cron(0 0 L 2 ? 2100)", At(2099, 1, 1)), "2100-02-28 00:00");
  // L with other days.
  EXPECT_EQ(Runs("cron(0 0 1,15,L * ? *)", At(2024, 4, 2), 3),
            (V{"2024-04-15 00:00", "2024-04-30 00:00", "2024-05-01 00:00"}));
}

TEST(ScheduleCronTest, LastWeekdayOfTheMonth) {
  // 2024-03-31 is a Sunday, 2024-08-31 a Saturday, 2024-05-31 a Friday.
  const char* e = "cron(0 18 LW * ? *)";
  EXPECT_EQ(Next(e, At(2024, 3, 1)), "2024-03-29 18:00");
  EXPECT_EQ(Next(e, At(2024, 8, 1)), "2024-08-30 18:00");
  EXPECT_EQ(Next(e, At(2024, 5, 1)), "2024-05-31 18:00");
  // Past this month's last weekday: next month's.
  EXPECT_EQ(Next(e, At(2024, 3, 29, 18)), "2024-04-30 18:00");
  EXPECT_EQ(Next(e, At(2024, 3, 30)), "2024-04-30 18:00");
}

TEST(ScheduleCronTest, NearestWeekday) {
  // A weekday stays; a Saturday moves to the Friday before, a Sunday to the
  // Monday after. 2024-06-15 is a Saturday, 2024-09-15 a Sunday.
  EXPECT_EQ(Next("cron(0 9 15W * ? *)", At(2024, 5, 1)), "2024-05-15 09:00");
  EXPECT_EQ(Next("cron(0 9 15W * ? *)", At(2024, 6, 1)), "2024-06-14 09:00");
  EXPECT_EQ(Next("cron(0 9 15W * ? *)", At(2024, 9, 1)), "2024-09-16 09:00");
  // Past the moved day (June 14) but before the 15th: next month.
  EXPECT_EQ(Next("cron(0 9 15W * ? *)", At(2024, 6, 14, 10)),
            "2024-07-15 09:00");
}

TEST(ScheduleCronTest, NearestWeekdayNeverLeavesTheMonth) {
  // Saturday the 1st: Monday the 3rd, not Friday of the month before
  // (2024-06-01 and 2025-11-01 are Saturdays).
  EXPECT_EQ(Next("cron(0 9 1W * ? *)", At(2024, 5, 31)), "2024-06-03 09:00");
  EXPECT_EQ(Next("cron(0 9 1W * ? *)", At(2025, 10, 31)), "2025-11-03 09:00");
  // Sunday the 1st: Monday the 2nd (2024-09-01).
  EXPECT_EQ(Next("cron(0 9 1W * ? *)", At(2024, 8, 31)), "2024-09-02 09:00");
  // Sunday the last day: Friday, not Monday of the month after (2024-03-31,
  // 2024-06-30, and 2100-02-28 of a February that is not a leap month).
  EXPECT_EQ(Next("cron(0 9 31W * ? *)", At(2024, 3, 1)), "2024-03-29 09:00");
  EXPECT_EQ(Next("cron(0 9 30W * ? *)", At(2024, 6, 1)), "2024-06-28 09:00");
  EXPECT_EQ(Next("cron(0 9 28W 2 ? *)", At(2100, 1, 1)), "2100-02-26 09:00");
  // Saturday the last day: the Friday before (2025-05-31, 2026-02-28).
  EXPECT_EQ(Next("cron(0 9 31W * ? *)", At(2025, 5, 1)), "2025-05-30 09:00");
  EXPECT_EQ(Next("cron(0 9 28W 2 ? *)", At(2026, 1, 1)), "2026-02-27 09:00");
}

TEST(ScheduleCronTest, NearestWeekdayOfADayTheMonthDoesNotHave) {
  // 31W does not fire in months of 30 days or fewer, as 31 does not.
  EXPECT_EQ(Runs("cron(0 9 31W * ? *)", At(2024, 4, 1), 2),
            (V{"2024-05-31 09:00", "2024-07-31 09:00"}));
  EXPECT_EQ(Next("cron(0 9 30W 2 ? *)", At(2024, 1, 1)), "never");
}

TEST(ScheduleCronTest, LastGivenWeekdayOfTheMonth) {
  // The last Friday: 2024-02-23, 2024-05-31 (a Friday that ends the month).
  EXPECT_EQ(Next("cron(15 10 ? * 6L *)", At(2024, 2, 1)), "2024-02-23 10:15");
  EXPECT_EQ(Next("cron(15 10 ? * 6L *)", At(2024, 5, 1)), "2024-05-31 10:15");
  EXPECT_EQ(Next("cron(15 10 ? * FRIL *)", At(2024, 5, 31, 10, 15)),
            "2024-06-28 10:15");
  // The last Sunday and the last Thursday.
  EXPECT_EQ(Runs("cron(0 0 ? * 1L,5L *)", At(2024, 2, 1), 3),
            (V{"2024-02-25 00:00", "2024-02-29 00:00", "2024-03-28 00:00"}));
}

TEST(ScheduleCronTest, NthWeekdaySkipsMonthsWithoutIt) {
  // Fifth Tuesdays of 2024: January 30, April 30, July 30, October 29,
  // December 31.
  EXPECT_EQ(Runs("cron(0 0 ? * 3#5 *)", At(2024, 1, 1), 6),
            (V{"2024-01-30 00:00", "2024-04-30 00:00", "2024-07-30 00:00",
               "2024-10-29 00:00", "2024-12-31 00:00", "2025-04-29 00:00"}));
  EXPECT_EQ(Next("cron(0 0 ? * TUE#5 *)", At(2024, 1, 31)), "2024-04-30 00:00");
}

// ---- Leap years, year lists, the ends of time -----------------------------

TEST(ScheduleCronTest, LeapDayOnlyInLeapYears) {
  const char* e = "cron(0 12 29 2 ? *)";
  EXPECT_EQ(Next(e, At(2024, 3, 1)), "2028-02-29 12:00");
  EXPECT_EQ(Next(e, At(2024, 2, 29, 11, 59)), "2024-02-29 12:00");
  // 2100 is not a leap year.
  EXPECT_EQ(Next(e, At(2096, 3, 1)), "2104-02-29 12:00");
  // 2000 is.
  EXPECT_EQ(Next(e, At(1999, 1, 1)), "2000-02-29 12:00");
  EXPECT_EQ(Next("cron(0 12 29 2 ? 2025-2027)", At(2020, 1, 1)), "never");
}

TEST(ScheduleCronTest, DaysNoMonthHasNeverFire) {
  EXPECT_EQ(Next("cron(0 0 30 2 ? *)", At(2024, 1, 1)), "never");
  EXPECT_EQ(Next("cron(0 0 31 4,6,9,11 ? *)", At(1970, 1, 1)), "never");
  EXPECT_EQ(Next("cron(0 0 ? 2 2#5 2026-2030)", At(2024, 1, 1)), "never");
  // ... but the 31st of the 31-day months in a list does.
  EXPECT_EQ(Next("cron(0 0 31 4,5 ? *)", At(2024, 1, 1)), "2024-05-31 00:00");
}

TEST(ScheduleCronTest, YearsThatEnd) {
  const char* e = "cron(0 0 1 1 ? 2020-2022)";
  EXPECT_EQ(
      Runs(e, At(2019, 6, 1), 4),
      (V{"2020-01-01 00:00", "2021-01-01 00:00", "2022-01-01 00:00", "never"}));
  EXPECT_EQ(Next(e, At(2030, 1, 1)), "never");
  EXPECT_EQ(Runs("cron(30 6 * * ? 2025,2031)", At(2025, 12, 31, 6, 29), 3),
            (V{"2025-12-31 06:30", "2031-01-01 06:30", "2031-01-02 06:30"}));
  EXPECT_EQ(Runs("cron(0 0 1 1 ? 2030/50)", At(2024, 1, 1), 5),
            (V{"2030-01-01 00:00", "2080-01-01 00:00", "2130-01-01 00:00",
               "2180-01-01 00:00", "never"}));
}

TEST(ScheduleCronTest, TheLastYearAndBeforeTheFirst) {
  EXPECT_EQ(Runs("cron(59 23 * * ? *)", At(2199, 12, 30, 23, 59), 2),
            (V{"2199-12-31 23:59", "never"}));
  EXPECT_EQ(Next("cron(* * * * ? *)", At(2199, 12, 31, 23, 59)), "never");
  EXPECT_EQ(Next("cron(* * * * ? *)", At(2250, 1, 1)), "never");
  EXPECT_EQ(Next("cron(* * * * ? *)", TimePoint::max()), "never");
  // Years start in 1970.
  EXPECT_EQ(Next("cron(* * * * ? *)", At(1960, 5, 5)), "1970-01-01 00:00");
  EXPECT_EQ(Next("cron(0 0 * * ? *)", TimePoint::min()), "1970-01-01 00:00");
  EXPECT_EQ(Next("cron(0 0 * * ? 1970)", At(1969, 12, 31, 23, 59, 59)),
            "1970-01-01 00:00");
}

TEST(ScheduleCronTest, SparseSchedulesAreFoundWithoutSteppingEachMinute) {
  // One minute in 230 years, searched from the start; each call returns
  // within microseconds rather than walking 120 million minutes.
  Schedule s = MustParse("cron(59 23 31 12 ? 2199)");
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 1000; ++i) {
    EXPECT_EQ(Format(s.NextAfter(At(1970, 1, 1), TimePoint())),
              "2199-12-31 23:59");
  }
  Schedule never = MustParse("cron(0 0 31 2 ? *)");
  for (int i = 0; i < 1000; ++i) {
    EXPECT_FALSE(never.NextAfter(At(1970, 1, 1), TimePoint()).has_value());
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

// ---- rate() ---------------------------------------------------------------

TEST(ScheduleRateTest, CountsFromTheAnchor) {
  const TimePoint anchor = At(2024, 1, 1, 12, 0, 30);
  const char* e = "rate(5 minutes)";
  EXPECT_EQ(Next(e, anchor, anchor), "2024-01-01 12:05:30");
  EXPECT_EQ(Next(e, anchor - hours(3), anchor), "2024-01-01 12:05:30");
  EXPECT_EQ(Next(e, anchor + minutes(5), anchor), "2024-01-01 12:10:30");
  EXPECT_EQ(Next(e, anchor + minutes(7), anchor), "2024-01-01 12:10:30");
  EXPECT_EQ(Next(e, anchor + minutes(10) - seconds(1), anchor),
            "2024-01-01 12:10:30");
  EXPECT_EQ(
      Runs(e, anchor + minutes(12), 3, anchor),
      (V{"2024-01-01 12:15:30", "2024-01-01 12:20:30", "2024-01-01 12:25:30"}));
}

TEST(ScheduleRateTest, Units) {
  const TimePoint anchor = At(2024, 2, 28, 9, 30);
  EXPECT_EQ(Next("rate(1 minute)", anchor, anchor), "2024-02-28 09:31");
  EXPECT_EQ(Next("rate(1 hour)", anchor, anchor), "2024-02-28 10:30");
  EXPECT_EQ(Next("rate(12 hours)", anchor + hours(13), anchor),
            "2024-02-29 09:30");
  EXPECT_EQ(Next("rate(1 day)", anchor + days(1000) + seconds(1), anchor),
            "2026-11-25 09:30");
  EXPECT_EQ(Next("rate(7 days)", anchor, anchor), "2024-03-06 09:30");
  EXPECT_EQ(Next("rate(36500 days)", anchor, anchor), "2124-02-04 09:30");
}

TEST(ScheduleRateTest, EndsOfTheClock) {
  const TimePoint anchor = At(2024, 1, 1);
  Schedule s = MustParse("rate(1 day)");
  EXPECT_FALSE(s.NextAfter(TimePoint::max(), anchor).has_value());
  EXPECT_FALSE(s.NextAfter(TimePoint::max(), TimePoint::min()).has_value());
  EXPECT_FALSE(s.NextAfter(anchor, TimePoint::max()).has_value());
  std::optional<TimePoint> t = s.NextAfter(TimePoint::min(), TimePoint::min());
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(*t, TimePoint::min() + days(1));
}

// ---- The value type -------------------------------------------------------

TEST(ScheduleTest, CopiesAndMovesKeepTheSchedule) {
  Schedule cron = MustParse("cron(0 10 * * ? *)");
  Schedule rate = MustParse("rate(2 hours)");
  EXPECT_FALSE(cron.is_rate());
  EXPECT_TRUE(rate.is_rate());
  EXPECT_EQ(cron.expression(), "cron(0 10 * * ? *)");
  Schedule copy = cron;
  EXPECT_EQ(copy.expression(), cron.expression());
  EXPECT_EQ(Format(copy.NextAfter(At(2024, 1, 1), TimePoint())),
            "2024-01-01 10:00");
  copy = rate;
  EXPECT_TRUE(copy.is_rate());
  Schedule moved = std::move(copy);
  EXPECT_TRUE(moved.is_rate());
  EXPECT_EQ(Format(moved.NextAfter(At(2024, 1, 1), At(2024, 1, 1))),
            "2024-01-01 02:00");
  moved = std::move(cron);
  EXPECT_EQ(moved.expression(), "cron(0 10 * * ? *)");
  EXPECT_FALSE(moved.is_rate());
}

// ---- Rejections -----------------------------------------------------------

struct Rejection {
  const char* expression;
  const char* problem;  // what follows `Invalid schedule expression "...": `
};

void ExpectRejected(std::string_view expression, std::string_view problem) {
  auto r = Schedule::Parse(expression);
  ASSERT_FALSE(r.ok()) << "accepted " << expression;
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "Invalid schedule expression \"" +
                                      std::string(expression) +
                                      "\": " + std::string(problem));
}

TEST(ScheduleParseTest, RejectsTheDocumentedExampleWithBothDayFields) {
  ExpectRejected("cron(0 12 * * * *)",
                 "one of day-of-month and day-of-week must be '?'");
}

TEST(ScheduleParseTest, RejectsBadWrappers) {
  const Rejection cases[] = {
      {"",
       "expected rate(value unit) or cron(minutes hours day-of-month "
       "month day-of-week year)"},
      {"0 10 * * ? *",
       "expected rate(value unit) or cron(minutes hours "
       "day-of-month month day-of-week year)"},
      {"CRON(0 10 * * ? *)",
       "expected rate(value unit) or cron(minutes "
       "hours day-of-month month day-of-week year)"},
      {" cron(0 10 * * ? *)",
       "expected rate(value unit) or cron(minutes "
       "hours day-of-month month day-of-week year)"},
      {"at(2024-01-01T00:00:00)",
       "expected rate(value unit) or "
       "cron(minutes hours day-of-month month "
       "day-of-week year)"},
      {"cron(0 10 * * ? *", "expected ')' at the end"},
      {"cron(0 10 * * ? *) ", "expected ')' at the end"},
      {"rate(", "expected ')' at the end"},
      {"rate(5 minutes))", "unexpected parenthesis inside"},
      {"cron((0 10 * * ? *)", "unexpected parenthesis inside"},
  };
  for (const Rejection& c : cases) ExpectRejected(c.expression, c.problem);
}

TEST(ScheduleParseTest, RejectsBadRates) {
  const Rejection cases[] = {
      {"rate()", "rate takes a value and a unit, as in rate(5 minutes)"},
      {"rate(5)", "rate takes a value and a unit, as in rate(5 minutes)"},
      {"rate(minutes)", "rate takes a value and a unit, as in rate(5 minutes)"},
      {"rate(5 minutes now)",
       "rate takes a value and a unit, as in rate(5 minutes)"},
      {"rate(5minutes)",
       "rate takes a value and a unit, as in rate(5 minutes)"},
      {"rate(five minutes)", "the value \"five\" is not a positive integer"},
      {"rate(-5 minutes)", "the value \"-5\" is not a positive integer"},
      {"rate(+5 minutes)", "the value \"+5\" is not a positive integer"},
      {"rate(1.5 hours)", "the value \"1.5\" is not a positive integer"},
      {"rate(0 minutes)", "the value must be positive, not 0"},
      {"rate(000 minutes)", "the value must be positive, not 0"},
      {"rate(5 weeks)",
       "the unit \"weeks\" is not one of minute, minutes, "
       "hour, hours, day, days"},
      {"rate(5 Minutes)",
       "the unit \"Minutes\" is not one of minute, "
       "minutes, hour, hours, day, days"},
      {"rate(1 hours)", "a value of 1 takes the singular unit \"hour\""},
      {"rate(1 minutes)", "a value of 1 takes the singular unit \"minute\""},
      {"rate(01 days)", "a value of 1 takes the singular unit \"day\""},
      {"rate(5 hour)", "a value other than 1 takes the plural unit \"hours\""},
      {"rate(2 day)", "a value other than 1 takes the plural unit \"days\""},
      {"rate(36501 days)", "the interval is too long (at most 36500 days)"},
      {"rate(876001 hours)", "the interval is too long (at most 876000 hours)"},
      {"rate(99999999999999999999999 minutes)",
       "the interval is too long (at most 52560000 minutes)"},
  };
  for (const Rejection& c : cases) ExpectRejected(c.expression, c.problem);
}

TEST(ScheduleParseTest, RejectsWrongFieldCounts) {
  ExpectRejected("cron()",
                 "cron takes six fields (minutes hours day-of-month month "
                 "day-of-week year), not 0");
  ExpectRejected("cron(0 10 * * ?)",
                 "cron takes six fields (minutes hours day-of-month month "
                 "day-of-week year), not 5");
  ExpectRejected("cron(0 0 10 * * ? *)",
                 "cron takes six fields (minutes hours day-of-month month "
                 "day-of-week year), not 7");
}

TEST(ScheduleParseTest, RejectsOutOfRangeValues) {
  const Rejection cases[] = {
      {"cron(60 * * * ? *)", "minutes field: '60' is out of range 0-59"},
      {"cron(0 24 * * ? *)", "hours field: '24' is out of range 0-23"},
      {"cron(0 0 0 * ? *)", "day-of-month field: '0' is out of range 1-31"},
      {"cron(0 0 32 * ? *)", "day-of-month field: '32' is out of range 1-31"},
      {"cron(0 0 1 0 ? *)", "month field: '0' is out of range 1-12"},
      {"cron(0 0 1 13 ? *)", "month field: '13' is out of range 1-12"},
      {"cron(0 0 ? * 0 *)", "day-of-week field: '0' is out of range 1-7"},
      {"cron(0 0 ? * 8 *)", "day-of-week field: '8' is out of range 1-7"},
      {"cron(0 0 * * ? 1969)", "year field: '1969' is out of range 1970-2199"},
      {"cron(0 0 * * ? 2200)", "year field: '2200' is out of range 1970-2199"},
      {"cron(0 0 * * ? 2020-2200)",
       "year field: '2200' is out of range 1970-2199"},
      {"cron(1-60 * * * ? *)", "minutes field: '60' is out of range 0-59"},
      {"cron(99999999999 * * * ? *)",
       "minutes field: '99999999999' is out of range 0-59"},
      {"cron(0 0 32W * ? *)", "day-of-month field: '32' is out of range 1-31"},
      {"cron(0 0 0W * ? *)", "day-of-month field: '0' is out of range 1-31"},
      {"cron(0 0 ? * 8L *)", "day-of-week field: '8' is out of range 1-7"},
      {"cron(0 0 ? * 8#1 *)", "day-of-week field: '8' is out of range 1-7"},
  };
  for (const Rejection& c : cases) ExpectRejected(c.expression, c.problem);
}

TEST(ScheduleParseTest, RejectsUnknownNamesAndTokens) {
  const Rejection cases[] = {
      {"cron(0 0 1 JANUARY ? *)",
       "month field: 'JANUARY' is not a valid value (expected 1-12 or "
       "JAN-DEC)"},
      {"cron(0 0 1 MON ? *)",
       "month field: 'MON' is not a valid value (expected 1-12 or JAN-DEC)"},
      {"cron(0 0 ? * JAN *)",
       "day-of-week field: 'JAN' is not a valid value (expected 1-7 or "
       "SUN-SAT)"},
      {"cron(0 0 ? * MONDAY *)",
       "day-of-week field: 'MONDAY' is not a valid value (expected 1-7 or "
       "SUN-SAT)"},
      {"cron(x 0 * * ? *)",
       "minutes field: 'x' is not a valid value (expected 0-59)"},
      {"cron(L 0 * * ? *)",
       "minutes field: 'L' is not a valid value (expected 0-59)"},
      {"cron(0 0 * * ? L)",
       "year field: 'L' is not a valid value (expected 1970-2199)"},
      {"cron(0 0 JAN * ? *)",
       "day-of-month field: 'JAN' is not a valid value (expected 1-31)"},
      {"cron(-5 0 * * ? *)", "minutes field: missing value in '-5'"},
      {"cron(5- 0 * * ? *)", "minutes field: missing value in '5-'"},
      {"cron(1-2-3 0 * * ? *)",
       "minutes field: '2-3' is not a valid value (expected 0-59)"},
      {"cron(0 0 1 */ ? *)", "month field: the step in '*/' must be 1-12"},
      {"cron(1,,2 * * * ? *)", "minutes field: empty value in the list '1,,2'"},
      {"cron(1, * * * ? *)", "minutes field: empty value in the list '1,'"},
      {"cron(,1 * * * ? *)", "minutes field: empty value in the list ',1'"},
      {"cron(0 0 ** * ? *)",
       "day-of-month field: '**' is not a valid value (expected 1-31)"},
  };
  for (const Rejection& c : cases) ExpectRejected(c.expression, c.problem);
}

TEST(ScheduleParseTest, RejectsBadSteps) {
  const Rejection cases[] = {
      {"cron(0/0 * * * ? *)", "minutes field: the step in '0/0' must be 1-60"},
      {"cron(0/61 * * * ? *)",
       "minutes field: the step in '0/61' must be 1-60"},
      {"cron(0/x * * * ? *)", "minutes field: the step in '0/x' must be 1-60"},
      {"cron(0/-1 * * * ? *)",
       "minutes field: the step in '0/-1' must be 1-60"},
      {"cron(0 */25 * * ? *)", "hours field: the step in '*/25' must be 1-24"},
      {"cron(0 0 1/32 * ? *)",
       "day-of-month field: the step in '1/32' must be 1-31"},
      {"cron(0 0 1 1/13 ? *)", "month field: the step in '1/13' must be 1-12"},
      {"cron(0 0 1 1 ? 2020/231)",
       "year field: the step in '2020/231' must be 1-230"},
      {"cron(0 0 1 1 ? 2020/5/5)",
       "year field: the step in '2020/5/5' must be 1-230"},
      // EventBridge's day-of-week takes no '/'.
      {"cron(0 0 ? * 2/2 *)",
       "day-of-week field: '/' is not allowed (in "
       "'2/2')"},
      {"cron(0 0 ? * */2 *)",
       "day-of-week field: '/' is not allowed (in "
       "'*/2')"},
  };
  for (const Rejection& c : cases) ExpectRejected(c.expression, c.problem);
}

TEST(ScheduleParseTest, RejectsBackwardYearRanges) {
  ExpectRejected("cron(0 0 1 1 ? 2025-2020)",
                 "year field: range '2025-2020' runs backwards");
}

TEST(ScheduleParseTest, RejectsMisplacedQuestionMarks) {
  const Rejection cases[] = {
      {"cron(0 12 ? * ? *)", "day-of-month and day-of-week cannot both be '?'"},
      {"cron(0 12 1 * 2 *)", "one of day-of-month and day-of-week must be '?'"},
      {"cron(0 12 L * 6L *)",
       "one of day-of-month and day-of-week must be '?'"},
      {"cron(? 12 * * ? *)",
       "minutes field: '?' is only allowed in day-of-month and day-of-week"},
      {"cron(0 ? * * ? *)",
       "hours field: '?' is only allowed in day-of-month and day-of-week"},
      {"cron(0 0 * ? ? *)",
       "month field: '?' is only allowed in day-of-month and day-of-week"},
      {"cron(0 0 * * ? ?)",
       "year field: '?' is only allowed in day-of-month and day-of-week"},
      {"cron(0 0 1,? * ? *)",
       "day-of-month field: '?' must be the whole field"},
      {"cron(0 0 ? * ?,2 *)", "day-of-week field: '?' must be the whole field"},
      {"cron(0 0 ?? * ? *)",
       "day-of-month field: '?"
       "?' is not a valid value (expected 1-31)"},
  };
  for (const Rejection& c : cases) ExpectRejected(c.expression, c.problem);
}

TEST(ScheduleParseTest, RejectsBadSpecialCharacters) {
  const Rejection cases[] = {
      // EventBridge documents 'L' and 'LW', not Quartz's 'L-n'.
      {"cron(0 0 L-3 * ? *)",
       "day-of-month field: 'L-3': offsets from the last day ('L-n') are not "
       "supported, only 'L' and 'LW'"},
      {"cron(0 0 W * ? *)",
       "day-of-month field: 'W': 'W' follows a single day, as in '15W', or "
       "'L' ('LW')"},
      {"cron(0 0 1-5W * ? *)",
       "day-of-month field: '1-5W': 'W' follows a single day, as in '15W', "
       "or 'L' ('LW')"},
      {"cron(0 0 5L * ? *)",
       "day-of-month field: '5L' is not a valid value (expected 1-31)"},
      {"cron(0 0 ? * 2W *)",
       "day-of-week field: '2W' is not a valid value (expected 1-7 or "
       "SUN-SAT)"},
      {"cron(0 0 ? * 2-3L *)",
       "day-of-week field: '2-3' is not a valid value (expected 1-7 or "
       "SUN-SAT)"},
  };
  for (const Rejection& c : cases) ExpectRejected(c.expression, c.problem);
  // '#': one expression only (EventBridge's own example of an invalid one),
  // weekdays 1-7, occurrences 1-5.
  ExpectRejected("cron(0 0 ? * 3#1,6#3 *)",
                 "day-of-week field: with '#' the field can hold only one "
                 "expression, as in '3#2' (not '3#1,6#3')");
  ExpectRejected("cron(0 0 ? * 2,3#1 *)",
                 "day-of-week field: with '#' the field can hold only one "
                 "expression, as in '3#2' (not '2,3#1')");
  ExpectRejected("cron(0 0 ? * 3#0 *)",
                 "day-of-week field: the occurrence in '3#0' must be 1-5");
  ExpectRejected("cron(0 0 ? * 3#6 *)",
                 "day-of-week field: the occurrence in '3#6' must be 1-5");
  ExpectRejected("cron(0 0 ? * 3# *)",
                 "day-of-week field: the occurrence in '3#' must be 1-5");
  ExpectRejected("cron(0 0 ? * #2 *)",
                 "day-of-week field: missing value in '#2'");
  ExpectRejected("cron(0 0 ? * 3#1#2 *)",
                 "day-of-week field: the occurrence in '3#1#2' must be 1-5");
  ExpectRejected("cron(0 0 1# * ? *)",
                 "day-of-month field: '1#' is not a valid value (expected "
                 "1-31)");
}

TEST(ScheduleParseTest, RejectsTooLongExpressions) {
  std::string e = "cron(0 0 1 1 ? " + std::string(300, '1') + ")";
  auto r = Schedule::Parse(e);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "Invalid schedule expression \"" +
                                      e.substr(0, 64) +
                                      "\"...: longer than 256 characters");
}

TEST(ScheduleParseTest, QuotesUnprintableBytesInMessages) {
  using std::string_literals::operator""s;
  auto r = Schedule::Parse("cron(0 0 \x01\"\\ * ? *)"s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "Invalid schedule expression \"cron(0 0 \\x01\\\"\\\\ * ? *)\": "
            "day-of-month field: '\\x01\"\\' is not a valid value (expected "
            "1-31)");
  r = Schedule::Parse("rate(5\0 minutes)"s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "Invalid schedule expression \"rate(5\\x00 minutes)\": the value "
            "\"5\\x00\" is not a positive integer");
}

TEST(ScheduleParseTest, AcceptsEveryDocumentedForm) {
  for (const char* ok : {
           "rate(1 minute)",
           "rate(5 minutes)",
           "rate(1 hour)",
           "rate(12 hours)",
           "rate(1 day)",
           "rate(7 days)",
           "cron(0 10 * * ? *)",
           "cron(15 12 * * ? *)",
           "cron(0 18 ? * MON-FRI *)",
           "cron(0 8 1 * ? *)",
           "cron(0/15 * * * ? *)",
           "cron(0/10 * ? * MON-FRI *)",
           "cron(0/5 8-17 ? * MON-FRI *)",
           "cron(0/30 20-2 ? * MON-FRI *)",
           "cron(0 9 ? * 2#1 *)",
           "cron(0 12 ? * SUN,WED *)",
           "cron(0 0 1 JAN,FEB,MAR ? *)",
           "cron(0 0 1-15 * ? *)",
           "cron(1/10 * * * ? *)",
           "cron(0 0 7 * ? *)",
           "cron(0 0 L * ? *)",
           "cron(0 0 3W * ? *)",
           "cron(0 0 LW * ? *)",
           "cron(0 0 ? * 3#2 *)",
           "cron(0 0 ? * L *)",
           "cron(0 0 ? * 6L *)",
           "cron(0 0 * * ? 1970-2199)",
           "cron(0 0 ? * * *)",
           "cron(0 0 * * ? 2024,2026)",
           "cron(0 0 1 1 ? 1970/10)",
       }) {
    EXPECT_TRUE(Schedule::Parse(ok).ok())
        << ok << ": " << Schedule::Parse(ok).status().ToString();
  }
}

// ---- An independent check: random crons against a brute-force matcher ---

// A cron expression as generated, with the values each field selects worked
// out by the generator and matched minute by minute, without the parser or
// the search under test.
struct RefCron {
  std::string text;
  std::array<bool, 60> minute{};
  std::array<bool, 24> hour{};
  std::array<bool, 13> month{};
  std::array<bool, 2200> year{};
  bool dom_any = false;
  std::array<bool, 32> day{};
  bool last_day = false;
  bool last_weekday = false;
  std::array<bool, 32> nearest{};
  bool dow_any = false;
  std::array<bool, 8> weekday{};  // 1 = Sunday
  std::array<bool, 8> last_of{};
  int nth_weekday = 0;
  int nth = 0;
};

constexpr const char* kMonthNames[] = {"JAN", "FEB", "MAR", "APR",
                                       "MAY", "JUN", "JUL", "AUG",
                                       "SEP", "OCT", "NOV", "DEC"};
constexpr const char* kDayNames[] = {"SUN", "MON", "TUE", "WED",
                                     "THU", "FRI", "SAT"};

class Generator {
 public:
  explicit Generator(uint32_t seed) : rng_(seed) {}

  int Uniform(int lo, int hi) {
    return std::uniform_int_distribution<int>(lo, hi)(rng_);
  }
  bool Chance(int percent) { return Uniform(1, 100) <= percent; }

  // A value as text: a number, or a name in random case where the field
  // has names.
  std::string ValueText(int v, int min, const char* const* names) {
    if (names == nullptr || Chance(50)) return std::to_string(v);
    std::string name = names[v - min];
    for (char& c : name) {
      if (Chance(20)) c = static_cast<char>(c - 'A' + 'a');
    }
    return name;
  }

  // One element of a plain list: *, v, a-b (wrapping where allowed), */s,
  // v/s, a-b/s. Marks what it selects in `set` (index = value).
  template <size_t N>
  std::string Element(int min, int max, const char* const* names, bool steps,
                      bool wrap, std::array<bool, N>* set) {
    const int span = max - min + 1;
    auto mark = [&](int a, int b, int s) {
      int length = ((b - a) % span + span) % span;
      for (int i = 0; i <= length; ++i) {
        if (i % s == 0)
          (*set)[static_cast<size_t>(min + (a - min + i) % span)] = true;
      }
    };
    int kind = Uniform(0, steps ? 5 : 2);
    int a = Uniform(min, max);
    int b = Uniform(min, max);
    if (!wrap && a > b) std::swap(a, b);
    int s = Uniform(1, std::min(span, 20));
    switch (kind) {
      case 0:
        mark(min, max, 1);
        return "*";
      case 1:
        mark(a, a, 1);
        return ValueText(a, min, names);
      case 2:
        mark(a, b, 1);
        return ValueText(a, min, names) + "-" + ValueText(b, min, names);
      case 3:
        mark(min, max, s);
        return "*/" + std::to_string(s);
      case 4:
        mark(a, max, s);
        return ValueText(a, min, names) + "/" + std::to_string(s);
      default:
        mark(a, b, s);
        return ValueText(a, min, names) + "-" + ValueText(b, min, names) + "/" +
               std::to_string(s);
    }
  }

  template <size_t N>
  std::string List(int min, int max, const char* const* names, bool steps,
                   bool wrap, std::array<bool, N>* set) {
    std::string text = Element(min, max, names, steps, wrap, set);
    for (int n = Uniform(0, 2); n > 0; --n) {
      text += "," + Element(min, max, names, steps, wrap, set);
    }
    return text;
  }

  std::string DayOfMonth(RefCron* c) {
    std::string text;
    for (int n = Uniform(1, 3); n > 0; --n) {
      if (!text.empty()) text += ",";
      int kind = Uniform(0, 9);
      if (kind == 0) {
        c->last_day = true;
        text += "L";
      } else if (kind == 1) {
        c->last_weekday = true;
        text += "LW";
      } else if (kind <= 3) {
        int d = Chance(30) ? Uniform(28, 31) : Uniform(1, 31);
        c->nearest[static_cast<size_t>(d)] = true;
        text += std::to_string(d) + "W";
      } else {
        text += Element(1, 31, nullptr, true, true, &c->day);
      }
    }
    return text;
  }

  std::string DayOfWeek(RefCron* c) {
    if (Chance(20)) {
      c->nth_weekday = Uniform(1, 7);
      c->nth = Uniform(1, 5);
      return ValueText(c->nth_weekday, 1, kDayNames) + "#" +
             std::to_string(c->nth);
    }
    std::string text;
    for (int n = Uniform(1, 3); n > 0; --n) {
      if (!text.empty()) text += ",";
      int kind = Uniform(0, 7);
      if (kind == 0) {
        c->weekday[7] = true;
        text += "L";
      } else if (kind <= 2) {
        int w = Uniform(1, 7);
        c->last_of[static_cast<size_t>(w)] = true;
        text += ValueText(w, 1, kDayNames) + "L";
      } else {
        text += Element(1, 7, kDayNames, false, true, &c->weekday);
      }
    }
    return text;
  }

  std::string Year(int around, RefCron* c) {
    int kind = Uniform(0, 9);
    if (kind < 5) {
      for (int y = 1970; y <= 2199; ++y) c->year[static_cast<size_t>(y)] = true;
      return "*";
    }
    std::string text;
    for (int n = Uniform(1, 2); n > 0; --n) {
      if (!text.empty()) text += ",";
      int a = Uniform(around - 2, around + 2);
      if (Chance(50)) {
        c->year[static_cast<size_t>(a)] = true;
        text += std::to_string(a);
      } else {
        int b = Uniform(a, around + 3);
        for (int y = a; y <= b; ++y) c->year[static_cast<size_t>(y)] = true;
        text += std::to_string(a) + "-" + std::to_string(b);
      }
    }
    return text;
  }

  RefCron Cron(int around) {
    RefCron c;
    std::vector<std::string> fields;
    fields.push_back(List(0, 59, nullptr, true, true, &c.minute));
    fields.push_back(List(0, 23, nullptr, true, true, &c.hour));
    std::string dom;
    std::string dow;
    if (Chance(50)) {
      c.dow_any = true;
      dom = DayOfMonth(&c);
      dow = "?";
    } else {
      c.dom_any = true;
      dom = "?";
      dow = DayOfWeek(&c);
    }
    fields.push_back(dom);
    fields.push_back(List(1, 12, kMonthNames, true, true, &c.month));
    fields.push_back(dow);
    fields.push_back(Year(around, &c));
    c.text = "cron(";
    for (size_t i = 0; i < fields.size(); ++i) {
      if (i > 0) c.text += Chance(10) ? "  " : " ";
      c.text += fields[i];
    }
    c.text += ")";
    return c;
  }

  TimePoint Time(int year) {
    int month = Uniform(1, 12);
    const unsigned last = static_cast<unsigned>(
        std::chrono::year_month_day_last(
            std::chrono::year(year),
            std::chrono::month_day_last(
                std::chrono::month(static_cast<unsigned>(month))))
            .day());
    if (Chance(25)) {  // near the end of a month, or of the year
      if (Chance(30)) month = 12;
      return At(year, month, static_cast<int>(month == 12 ? 31 : last), 23,
                Uniform(50, 59), Chance(50) ? 0 : Uniform(1, 59));
    }
    return At(year, month, Uniform(1, static_cast<int>(last)), Uniform(0, 23),
              Uniform(0, 59), Chance(50) ? 0 : Uniform(1, 59));
  }

 private:
  std::mt19937 rng_;
};

bool IsWeekday(sys_days d) {
  unsigned w = std::chrono::weekday(d).c_encoding();
  return w >= 1 && w <= 5;
}

bool DayMatches(const RefCron& c, sys_days date) {
  const year_month_day ymd(date);
  const int y = static_cast<int>(ymd.year());
  const int m = static_cast<int>(static_cast<unsigned>(ymd.month()));
  const int d = static_cast<int>(static_cast<unsigned>(ymd.day()));
  if (y < 1970 || y > 2199 || !c.year[static_cast<size_t>(y)] ||
      !c.month[static_cast<size_t>(m)]) {
    return false;
  }
  const sys_days first = date - days(d - 1);
  int length = 0;
  while (year_month_day(first + days(length)).month() == ymd.month()) {
    ++length;
  }
  if (c.dow_any) {
    if (c.day[static_cast<size_t>(d)]) return true;
    if (c.last_day && d == length) return true;
    if (c.last_weekday) {
      int last = length;
      while (!IsWeekday(first + days(last - 1))) --last;
      if (d == last) return true;
    }
    // The weekday of the month closest to day n.
    for (int n = 1; n <= length; ++n) {
      if (!c.nearest[static_cast<size_t>(n)]) continue;
      int best = 0;
      for (int x = 1; x <= length; ++x) {
        if (IsWeekday(first + days(x - 1)) &&
            (best == 0 || std::abs(x - n) < std::abs(best - n))) {
          best = x;
        }
      }
      if (d == best) return true;
    }
    return false;
  }
  const int w = static_cast<int>(std::chrono::weekday(date).c_encoding()) + 1;
  if (c.weekday[static_cast<size_t>(w)]) return true;
  if (c.last_of[static_cast<size_t>(w)] && d + 7 > length) return true;
  return c.nth_weekday == w && (d - 1) / 7 + 1 == c.nth;
}

// The first minute after `after` and no later than `horizon` that matches,
// trying each minute in turn (every minute of a day whose date does not
// match fails the same test, so those are passed over together).
std::optional<TimePoint> ReferenceNext(const RefCron& c, TimePoint after,
                                       TimePoint horizon) {
  auto t = floor<minutes>(after) + minutes(1);
  sys_days day{};
  bool have_day = false;
  bool day_ok = false;
  for (; t <= horizon; t += minutes(1)) {
    const sys_days d = floor<days>(t);
    if (!have_day || d != day) {
      day = d;
      have_day = true;
      day_ok = DayMatches(c, d);
    }
    if (!day_ok) {
      t = d + days(1) - minutes(1);
      continue;
    }
    const auto minute_of_day = (t - d).count();
    const auto hour = minute_of_day / 60;
    if (!c.hour[static_cast<size_t>(hour)]) {  // on to the next hour
      t = d + hours(hour + 1) - minutes(1);
      continue;
    }
    if (c.minute[static_cast<size_t>(minute_of_day % 60)]) return t;
  }
  return std::nullopt;
}

TEST(ScheduleBruteForceTest, RandomCronsMatchAMinuteByMinuteReference) {
  Generator gen(20240229);
  int compared = 0;
  for (int i = 0; i < 400; ++i) {
    const int year = gen.Uniform(2020, 2030);
    RefCron c = gen.Cron(year);
    auto parsed = Schedule::Parse(c.text);
    ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
    for (int start = 0; start < 2; ++start) {
      TimePoint after = gen.Time(year);
      const TimePoint horizon = after + days(5 * 366);
      SCOPED_TRACE(c.text + " after " + Format(after));
      // Five runs in a row, each from the previous one.
      for (int run = 0; run < 5; ++run) {
        std::optional<TimePoint> want = ReferenceNext(c, after, horizon);
        std::optional<TimePoint> got = parsed->NextAfter(after, TimePoint());
        if (want) {
          ASSERT_EQ(Format(got), Format(want)) << "run " << run;
        } else {
          ASSERT_TRUE(!got || *got > horizon)
              << "run " << run << ": got " << Format(got);
          break;
        }
        ++compared;
        after = *got;
      }
    }
  }
  // Most of the random schedules fire within the horizon.
  EXPECT_GT(compared, 2000);
}

TEST(ScheduleBruteForceTest, EveryDaySpecialOverThirtyYears) {
  std::vector<std::string> doms = {"L", "LW"};
  for (int d = 1; d <= 31; ++d) doms.push_back(std::to_string(d) + "W");
  std::vector<std::string> dows;
  for (int w = 1; w <= 7; ++w) {
    dows.push_back(std::to_string(w) + "L");
    for (int k = 1; k <= 5; ++k) {
      dows.push_back(std::to_string(w) + "#" + std::to_string(k));
    }
  }
  auto check = [](const RefCron& c) {
    SCOPED_TRACE(c.text);
    Schedule s = MustParse(c.text);
    std::optional<TimePoint> t = At(2020, 1, 1);
    const TimePoint end = At(2050, 1, 1);
    while (t && *t < end) {
      std::optional<TimePoint> want = ReferenceNext(c, *t, end);
      std::optional<TimePoint> got = s.NextAfter(*t, TimePoint());
      if (!want) {
        ASSERT_TRUE(!got || *got > end) << Format(got);
        break;
      }
      ASSERT_EQ(Format(got), Format(want));
      t = got;
    }
  };
  auto base = [] {
    RefCron c;
    c.minute[0] = true;
    c.hour[12] = true;
    c.month.fill(true);
    c.year.fill(true);
    return c;
  };
  for (const std::string& dom : doms) {
    RefCron c = base();
    c.dow_any = true;
    if (dom == "L") {
      c.last_day = true;
    } else if (dom == "LW") {
      c.last_weekday = true;
    } else {
      c.nearest[static_cast<size_t>(std::stoi(dom))] = true;
    }
    c.text = "cron(0 12 " + dom + " * ? *)";
    check(c);
  }
  for (const std::string& dow : dows) {
    RefCron c = base();
    c.dom_any = true;
    if (dow.find('#') != std::string::npos) {
      c.nth_weekday = dow[0] - '0';
      c.nth = dow[2] - '0';
    } else {
      c.last_of[static_cast<size_t>(dow[0] - '0')] = true;
    }
    c.text = "cron(0 12 ? * " + dow + " *)";
    check(c);
  }
}

}  // namespace
}  // namespace ferry
