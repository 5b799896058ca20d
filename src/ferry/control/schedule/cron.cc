#include "ferry/control/schedule/cron.h"

#include <bit>
#include <span>
#include <string>
#include <vector>

namespace ferry::cron {
namespace {

using std::chrono::days;
using std::chrono::sys_days;
using std::chrono::year_month_day;

constexpr std::string_view kMonthNames[] = {"JAN", "FEB", "MAR", "APR",
                                            "MAY", "JUN", "JUL", "AUG",
                                            "SEP", "OCT", "NOV", "DEC"};
constexpr std::string_view kWeekdayNames[] = {"SUN", "MON", "TUE", "WED",
                                              "THU", "FRI", "SAT"};
constexpr int kSaturday = 6;
constexpr int kSunday = 0;

// What one of the six fields accepts (EventBridge's table of values and
// wildcards).
struct FieldInfo {
  std::string_view name;
  int min;
  int max;
  std::span<const std::string_view> names;  // names[i] is value min + i
  bool allows_step;                         // '/': not in day-of-week
  bool allows_wrap;  // a-b with a > b runs past max to b; not for years
};

constexpr FieldInfo kMinutesField{"minutes", 0, 59, {}, true, true};
constexpr FieldInfo kHoursField{"hours", 0, 23, {}, true, true};
constexpr FieldInfo kDayOfMonthField{"day-of-month", 1, 31, {}, true, true};
constexpr FieldInfo kMonthField{"month", 1, 12, kMonthNames, true, true};
constexpr FieldInfo kDayOfWeekField{"day-of-week", 1,     7,
                                    kWeekdayNames, false, true};
constexpr FieldInfo kYearField{"year", kMinYear, kMaxYear, {}, true, false};

// Bit i stands for value min + i.
using Values = std::bitset<kMaxYear - kMinYear + 1>;

char Upper(char c) { return (c >= 'a' && c <= 'z') ? char(c - 'a' + 'A') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Upper(a[i]) != Upper(b[i])) return false;
  }
  return true;
}

bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// A decimal number of at most nine digits (anything longer is out of every
// range here anyway); nullopt if `s` is not one.
std::optional<int> Number(std::string_view s) {
  if (!AllDigits(s)) return std::nullopt;
  size_t i = 0;
  while (i + 1 < s.size() && s[i] == '0') ++i;  // leading zeros
  s.remove_prefix(i);
  if (s.size() > 9) return 1'000'000'000;  // out of range, reported so
  int v = 0;
  for (char c : s) v = v * 10 + (c - '0');
  return v;
}

std::string Quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

std::string RangeText(const FieldInfo& f) {
  std::string text = std::to_string(f.min) + "-" + std::to_string(f.max);
  if (!f.names.empty()) {
    text += " or " + std::string(f.names.front()) + "-" +
            std::string(f.names.back());
  }
  return text;
}

class FieldParser {
 public:
  FieldParser(const FieldInfo& field, std::string_view text)
      : field_(field), text_(text) {}

  Status Error(const std::string& problem) const {
    return Status::InvalidArgument(std::string(field_.name) +
                                   " field: " + problem);
  }

  // A number or (where the field has them) a name.
  Result<int> Value(std::string_view token) const {
    if (token.empty()) {
      return Error("missing value in " + Quoted(text_));
    }
    if (std::optional<int> n = Number(token)) {
      if (*n < field_.min || *n > field_.max) {
        return Error(Quoted(token) + " is out of range " +
                     std::to_string(field_.min) + "-" +
                     std::to_string(field_.max));
      }
      return *n;
    }
    for (size_t i = 0; i < field_.names.size(); ++i) {
      if (EqualsIgnoreCase(token, field_.names[i])) {
        return field_.min + static_cast<int>(i);
      }
    }
    return Error(Quoted(token) + " is not a valid value (expected " +
                 RangeText(field_) + ")");
  }

  // `*`, `v`, `a-b`, each optionally followed by `/step` (`v/step` runs
  // from v to the end of the range).
  Status RangeWithStep(std::string_view element, Values* values) const {
    std::string_view body = element;
    std::optional<std::string_view> step_text;
    if (size_t slash = element.find('/'); slash != std::string_view::npos) {
      if (!field_.allows_step) {
        return Error("'/' is not allowed (in " + Quoted(element) + ")");
      }
      body = element.substr(0, slash);
      step_text = element.substr(slash + 1);
    }
    int lo;
    int hi;
    if (body == "*") {
      lo = field_.min;
      hi = field_.max;
    } else if (size_t dash = body.find('-'); dash != std::string_view::npos) {
      FERRY_ASSIGN_OR_RETURN(lo, Value(body.substr(0, dash)));
      FERRY_ASSIGN_OR_RETURN(hi, Value(body.substr(dash + 1)));
      if (lo > hi && !field_.allows_wrap) {
        return Error("range " + Quoted(body) + " runs backwards");
      }
    } else {
      FERRY_ASSIGN_OR_RETURN(lo, Value(body));
      hi = step_text ? field_.max : lo;
    }
    const int span = field_.max - field_.min + 1;
    int step = 1;
    if (step_text) {
      std::optional<int> n = Number(*step_text);
      if (!n || *n < 1 || *n > span) {
        return Error("the step in " + Quoted(element) + " must be 1-" +
                     std::to_string(span));
      }
      step = *n;
    }
    // Positions lo, lo+step, ... up to hi, going past max back to min when
    // the range wraps (hours 22-2 is 22, 23, 0, 1, 2).
    const int length = (hi - lo + span) % span;
    for (int i = 0; i <= length; i += step) {
      values->set(static_cast<size_t>((lo - field_.min + i) % span));
    }
    return Status::Ok();
  }

 private:
  const FieldInfo& field_;
  std::string_view text_;
};

// Splits a field into its comma-separated elements; an empty element is an
// error.
Result<std::vector<std::string_view>> Elements(const FieldParser& parser,
                                               std::string_view text) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t comma = text.find(',', start);
    std::string_view element = text.substr(
        start, comma == std::string_view::npos ? comma : comma - start);
    if (element.empty()) {
      return parser.Error("empty value in the list " + Quoted(text));
    }
    if (element == "?") {
      return parser.Error("'?' must be the whole field");
    }
    out.push_back(element);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

// Minutes, hours, month and year: nothing but values, ranges and steps.
Result<Values> ParsePlainField(const FieldInfo& field, std::string_view text) {
  FieldParser parser(field, text);
  if (text == "?") {
    return parser.Error("'?' is only allowed in day-of-month and day-of-week");
  }
  FERRY_ASSIGN_OR_RETURN(std::vector<std::string_view> elements,
                         Elements(parser, text));
  Values values;
  for (std::string_view element : elements) {
    FERRY_RETURN_IF_ERROR(parser.RangeWithStep(element, &values));
  }
  return values;
}

// The values of a field as a mask with bit v for value v.
template <typename Mask>
Mask ToMask(const FieldInfo& field, const Values& values) {
  Mask mask = 0;
  for (int v = field.min; v <= field.max; ++v) {
    if (values.test(static_cast<size_t>(v - field.min))) {
      mask = static_cast<Mask>(mask | (Mask{1} << v));
    }
  }
  return mask;
}

Status ParseDayOfMonth(std::string_view text, Spec* spec) {
  FieldParser parser(kDayOfMonthField, text);
  if (text == "?") {
    spec->day_of_month_any = true;
    return Status::Ok();
  }
  FERRY_ASSIGN_OR_RETURN(std::vector<std::string_view> elements,
                         Elements(parser, text));
  Values values;
  for (std::string_view e : elements) {
    if (EqualsIgnoreCase(e, "L")) {
      spec->last_day = true;
    } else if (EqualsIgnoreCase(e, "LW")) {
      spec->last_weekday = true;
    } else if (Upper(e.front()) == 'L' && e.size() > 1 && e[1] == '-') {
      return parser.Error(Quoted(e) +
                          ": offsets from the last day ('L-n') are not "
                          "supported, only 'L' and 'LW'");
    } else if (Upper(e.back()) == 'W') {
      std::string_view day = e.substr(0, e.size() - 1);
      if (!AllDigits(day)) {
        return parser.Error(Quoted(e) +
                            ": 'W' follows a single day, as in '15W', or "
                            "'L' ('LW')");
      }
      FERRY_ASSIGN_OR_RETURN(int d, parser.Value(day));
      spec->nearest_weekday |= uint32_t{1} << d;
    } else {
      FERRY_RETURN_IF_ERROR(parser.RangeWithStep(e, &values));
    }
  }
  spec->days = ToMask<uint32_t>(kDayOfMonthField, values);
  return Status::Ok();
}

Status ParseDayOfWeek(std::string_view text, Spec* spec) {
  FieldParser parser(kDayOfWeekField, text);
  if (text == "?") {
    spec->day_of_week_any = true;
    return Status::Ok();
  }
  FERRY_ASSIGN_OR_RETURN(std::vector<std::string_view> elements,
                         Elements(parser, text));
  Values values;
  for (std::string_view e : elements) {
    if (size_t hash = e.find('#'); hash != std::string_view::npos) {
      if (elements.size() > 1) {
        return parser.Error(
            "with '#' the field can hold only one expression, as in '3#2' "
            "(not " +
            Quoted(text) + ")");
      }
      FERRY_ASSIGN_OR_RETURN(int weekday, parser.Value(e.substr(0, hash)));
      std::optional<int> nth = Number(e.substr(hash + 1));
      if (!nth || *nth < 1 || *nth > 5) {
        return parser.Error("the occurrence in " + Quoted(e) + " must be 1-5");
      }
      spec->nth_weekday = weekday - 1;
      spec->nth = *nth;
    } else if (EqualsIgnoreCase(e, "L")) {
      // The last day of the week.
      spec->weekdays |= uint8_t{1} << kSaturday;
    } else if (e.size() > 1 && Upper(e.back()) == 'L') {
      FERRY_ASSIGN_OR_RETURN(int weekday,
                             parser.Value(e.substr(0, e.size() - 1)));
      spec->last_of_weekday |= static_cast<uint8_t>(1 << (weekday - 1));
    } else {
      FERRY_RETURN_IF_ERROR(parser.RangeWithStep(e, &values));
    }
  }
  // Values 1-7 become weekdays 0-6.
  spec->weekdays |=
      static_cast<uint8_t>(ToMask<uint32_t>(kDayOfWeekField, values) >> 1);
  return Status::Ok();
}

bool IsWhite(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
         c == '\v';
}

unsigned DaysIn(int year, int month) {
  return static_cast<unsigned>(
      std::chrono::year_month_day_last(
          std::chrono::year(year),
          std::chrono::month_day_last(
              std::chrono::month(static_cast<unsigned>(month))))
          .day());
}

// 0 = Sunday.
int WeekdayOf(int year, int month, int day) {
  return static_cast<int>(
      std::chrono::weekday(sys_days(year_month_day(
                               std::chrono::year(year),
                               std::chrono::month(static_cast<unsigned>(month)),
                               std::chrono::day(static_cast<unsigned>(day)))))
          .c_encoding());
}

}  // namespace

Result<Spec> Parse(std::string_view fields) {
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i < fields.size()) {
    while (i < fields.size() && IsWhite(fields[i])) ++i;
    size_t start = i;
    while (i < fields.size() && !IsWhite(fields[i])) ++i;
    if (i > start) parts.push_back(fields.substr(start, i - start));
  }
  if (parts.size() != 6) {
    return Status::InvalidArgument(
        "cron takes six fields (minutes hours day-of-month month day-of-week "
        "year), not " +
        std::to_string(parts.size()));
  }
  Spec spec;
  FERRY_ASSIGN_OR_RETURN(Values minutes,
                         ParsePlainField(kMinutesField, parts[0]));
  FERRY_ASSIGN_OR_RETURN(Values hours, ParsePlainField(kHoursField, parts[1]));
  FERRY_RETURN_IF_ERROR(ParseDayOfMonth(parts[2], &spec));
  FERRY_ASSIGN_OR_RETURN(Values months, ParsePlainField(kMonthField, parts[3]));
  FERRY_RETURN_IF_ERROR(ParseDayOfWeek(parts[4], &spec));
  FERRY_ASSIGN_OR_RETURN(spec.years, ParsePlainField(kYearField, parts[5]));
  spec.minutes = ToMask<uint64_t>(kMinutesField, minutes);
  spec.hours = ToMask<uint32_t>(kHoursField, hours);
  spec.months = ToMask<uint16_t>(kMonthField, months);
  if (spec.day_of_month_any == spec.day_of_week_any) {
    return Status::InvalidArgument(
        spec.day_of_month_any
            ? "day-of-month and day-of-week cannot both be '?'"
            : "one of day-of-month and day-of-week must be '?'");
  }
  return spec;
}

uint32_t MatchingDays(const Spec& spec, int year, int month) {
  const int last = static_cast<int>(DaysIn(year, month));
  // Bits 1..last (a 64-bit shift: last may be 31).
  const auto in_month =
      static_cast<uint32_t>(((uint64_t{1} << (last + 1)) - 1) & ~uint64_t{1});
  const int first_weekday = WeekdayOf(year, month, 1);
  auto weekday = [&](int day) { return (first_weekday + day - 1) % 7; };
  uint32_t mask = 0;
  if (spec.day_of_week_any) {
    mask = spec.days & in_month;
    if (spec.last_day) mask |= uint32_t{1} << last;
    if (spec.last_weekday) {
      int w = weekday(last);
      int d = w == kSaturday ? last - 1 : w == kSunday ? last - 2 : last;
      mask |= uint32_t{1} << d;
    }
    // W never leaves the month: a Saturday the 1st moves to Monday the 3rd,
    // a Sunday that ends the month to the Friday before. A day the month
    // does not have has no nearest weekday.
    for (uint32_t n = spec.nearest_weekday & in_month; n != 0; n &= n - 1) {
      int d = std::countr_zero(n);
      int w = weekday(d);
      if (w == kSaturday) {
        d = d == 1 ? 3 : d - 1;
      } else if (w == kSunday) {
        d = d == last ? d - 2 : d + 1;
      }
      mask |= uint32_t{1} << d;
    }
  } else {
    for (int d = 1; d <= last; ++d) {
      if (spec.weekdays & (1u << weekday(d))) mask |= uint32_t{1} << d;
    }
    for (int w = 0; w < 7; ++w) {
      if (spec.last_of_weekday & (1u << w)) {
        mask |= uint32_t{1} << (last - (weekday(last) - w + 7) % 7);
      }
    }
    if (spec.nth_weekday >= 0) {
      int d =
          1 + (spec.nth_weekday - first_weekday + 7) % 7 + 7 * (spec.nth - 1);
      if (d <= last) mask |= uint32_t{1} << d;
    }
  }
  return mask;
}

std::optional<Minutes> NextMatch(const Spec& spec, Minutes from) {
  using std::chrono::floor;
  using std::chrono::hours;
  using std::chrono::minutes;
  const sys_days first_day = sys_days(year_month_day(
      std::chrono::year(kMinYear), std::chrono::January, std::chrono::day(1)));
  if (from < first_day) from = first_day;
  const sys_days today = floor<days>(from);
  const year_month_day start(today);
  const int y0 = static_cast<int>(start.year());
  const int m0 = static_cast<int>(static_cast<unsigned>(start.month()));
  const int d0 = static_cast<int>(static_cast<unsigned>(start.day()));
  const int minute_of_day = static_cast<int>((from - today).count());
  const int h0 = minute_of_day / 60;
  const int min0 = minute_of_day % 60;

  // Years, then months, then the days of the month that match, then hours
  // and minutes; only the first date searched starts part-way through.
  for (int y = y0; y <= kMaxYear; ++y) {
    if (!spec.years.test(static_cast<size_t>(y - kMinYear))) continue;
    for (int m = (y == y0 ? m0 : 1); m <= 12; ++m) {
      if (!(spec.months & (1u << m))) continue;
      const bool first_month = y == y0 && m == m0;
      uint32_t day_mask = MatchingDays(spec, y, m);
      if (first_month) day_mask &= ~((uint32_t{1} << d0) - 1);
      for (; day_mask != 0; day_mask &= day_mask - 1) {
        const int d = std::countr_zero(day_mask);
        const bool first_date = first_month && d == d0;
        for (int h = first_date ? h0 : 0; h < 24; ++h) {
          if (!(spec.hours & (1u << h))) continue;
          uint64_t minute_mask = spec.minutes;
          if (first_date && h == h0) minute_mask &= ~uint64_t{0} << min0;
          if (minute_mask == 0) continue;
          return sys_days(year_month_day(
                     std::chrono::year(y),
                     std::chrono::month(static_cast<unsigned>(m)),
                     std::chrono::day(static_cast<unsigned>(d)))) +
                 hours(h) + minutes(std::countr_zero(minute_mask));
        }
      }
    }
  }
  return std::nullopt;
}

}  // namespace ferry::cron
