#include "ferry/control/schedule/schedule.h"

#include <string>
#include <utility>
#include <vector>

#include "ferry/control/schedule/cron.h"

namespace ferry {
namespace {

using std::chrono::minutes;

// DataSync's limit on TaskSchedule.ScheduleExpression.
constexpr size_t kMaxExpressionLength = 256;

// EventBridge sets no upper bound on a rate; ferry stops at a century so
// that anchor + n * interval stays far inside the clock's range.
constexpr int64_t kMaxRateMinutes = int64_t{36500} * 24 * 60;

constexpr char kHex[] = "0123456789abcdef";

// The expression as it goes between quotes in a message: quotes and
// backslashes escaped, bytes that are not printable ASCII as \xNN.
std::string Quote(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u >= 0x7f) {
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// A problem's text may quote part of the expression: keep it printable.
std::string Printable(std::string_view text) {
  std::string out;
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) {
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    } else {
      out += c;
    }
  }
  return out;
}

Status Invalid(std::string_view expression, std::string_view problem) {
  return Status::InvalidArgument("Invalid schedule expression " +
                                 Quote(expression) + ": " + Printable(problem));
}

bool IsWhite(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
         c == '\v';
}

std::vector<std::string_view> Words(std::string_view text) {
  std::vector<std::string_view> words;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && IsWhite(text[i])) ++i;
    size_t start = i;
    while (i < text.size() && !IsWhite(text[i])) ++i;
    if (i > start) words.push_back(text.substr(start, i - start));
  }
  return words;
}

struct RateUnit {
  std::string_view singular;
  std::string_view plural;
  int64_t minutes;
};

constexpr RateUnit kRateUnits[] = {
    {"minute", "minutes", 1}, {"hour", "hours", 60}, {"day", "days", 1440}};

// The text between "rate(" and ")": "value unit", value a positive decimal
// integer, the unit singular for 1 and plural otherwise.
Result<minutes> ParseRate(std::string_view body) {
  std::vector<std::string_view> words = Words(body);
  if (words.size() != 2) {
    return Status::InvalidArgument(
        "rate takes a value and a unit, as in rate(5 minutes)");
  }
  std::string_view value_text = words[0];
  std::string_view unit_text = words[1];
  bool digits = !value_text.empty();
  for (char c : value_text) digits = digits && c >= '0' && c <= '9';
  if (!digits) {
    return Status::InvalidArgument("the value \"" + std::string(value_text) +
                                   "\" is not a positive integer");
  }
  while (value_text.size() > 1 && value_text.front() == '0') {
    value_text.remove_prefix(1);
  }
  int64_t value = 0;
  for (char c : value_text) {
    value = value * 10 + (c - '0');
    if (value > kMaxRateMinutes) break;  // too large for any unit
  }
  if (value == 0) {
    return Status::InvalidArgument("the value must be positive, not 0");
  }
  const RateUnit* unit = nullptr;
  bool plural = false;
  for (const RateUnit& u : kRateUnits) {
    if (unit_text == u.singular || unit_text == u.plural) {
      unit = &u;
      plural = unit_text == u.plural;
    }
  }
  if (unit == nullptr) {
    return Status::InvalidArgument(
        "the unit \"" + std::string(unit_text) +
        "\" is not one of minute, minutes, hour, hours, day, days");
  }
  if (value == 1 && plural) {
    return Status::InvalidArgument("a value of 1 takes the singular unit \"" +
                                   std::string(unit->singular) + "\"");
  }
  if (value > 1 && !plural) {
    return Status::InvalidArgument(
        "a value other than 1 takes the plural unit \"" +
        std::string(unit->plural) + "\"");
  }
  if (value > kMaxRateMinutes / unit->minutes) {
    return Status::InvalidArgument(
        "the interval is too long (at most " +
        std::to_string(kMaxRateMinutes / unit->minutes) + " " +
        std::string(unit->plural) + ")");
  }
  return minutes(value * unit->minutes);
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

}  // namespace

struct Schedule::Impl {
  bool rate = false;
  minutes interval{0};  // rate
  cron::Spec cron;      // cron
};

Schedule::Schedule(std::string expression, std::unique_ptr<Impl> impl)
    : expression_(std::move(expression)), impl_(std::move(impl)) {}

Schedule::Schedule(const Schedule& other)
    : expression_(other.expression_),
      impl_(other.impl_ ? std::make_unique<Impl>(*other.impl_) : nullptr) {}

Schedule& Schedule::operator=(const Schedule& other) {
  if (this != &other) {
    expression_ = other.expression_;
    impl_ = other.impl_ ? std::make_unique<Impl>(*other.impl_) : nullptr;
  }
  return *this;
}

Schedule::Schedule(Schedule&&) noexcept = default;
Schedule& Schedule::operator=(Schedule&&) noexcept = default;
Schedule::~Schedule() = default;

bool Schedule::is_rate() const { return impl_ != nullptr && impl_->rate; }

Result<Schedule> Schedule::Parse(std::string_view expression) {
  if (expression.size() > kMaxExpressionLength) {
    return Status::InvalidArgument(
        "Invalid schedule expression " + Quote(expression.substr(0, 64)) +
        "...: longer than " + std::to_string(kMaxExpressionLength) +
        " characters");
  }
  const bool is_rate = StartsWith(expression, "rate(");
  const bool is_cron = StartsWith(expression, "cron(");
  if (!is_rate && !is_cron) {
    return Invalid(expression,
                   "expected rate(value unit) or cron(minutes hours "
                   "day-of-month month day-of-week year)");
  }
  if (expression.back() != ')') {
    return Invalid(expression, "expected ')' at the end");
  }
  std::string_view body = expression.substr(5, expression.size() - 6);
  if (body.find_first_of("()") != std::string_view::npos) {
    return Invalid(expression, "unexpected parenthesis inside");
  }
  auto impl = std::make_unique<Impl>();
  if (is_rate) {
    Result<minutes> interval = ParseRate(body);
    if (!interval.ok()) return Invalid(expression, interval.status().message());
    impl->rate = true;
    impl->interval = *interval;
  } else {
    Result<cron::Spec> spec = cron::Parse(body);
    if (!spec.ok()) return Invalid(expression, spec.status().message());
    impl->cron = std::move(spec).value();
  }
  return Schedule(std::string(expression), std::move(impl));
}

std::optional<Schedule::TimePoint> Schedule::NextAfter(TimePoint after,
                                                       TimePoint anchor) const {
  if (impl_ == nullptr) return std::nullopt;  // moved from
  if (impl_->rate) {
    // anchor + k * interval for the smallest k >= 1 that is after `after`;
    // nullopt where that is beyond the clock's range.
    using Duration = TimePoint::duration;
    const Duration::rep interval =
        std::chrono::duration_cast<Duration>(impl_->interval).count();
    Duration::rep k = 1;
    if (after >= anchor) {
      Duration::rep since;
      if (__builtin_sub_overflow(after.time_since_epoch().count(),
                                 anchor.time_since_epoch().count(), &since)) {
        return std::nullopt;
      }
      k = since / interval + 1;
    }
    Duration::rep offset;
    Duration::rep next;
    if (__builtin_mul_overflow(k, interval, &offset) ||
        __builtin_add_overflow(anchor.time_since_epoch().count(), offset,
                               &next)) {
      return std::nullopt;
    }
    return TimePoint(Duration(next));
  }
  // Cron fires on whole minutes: the first candidate is the minute after
  // the one `after` falls in.
  const cron::Minutes from = std::chrono::floor<minutes>(after) + minutes(1);
  std::optional<cron::Minutes> next = cron::NextMatch(impl_->cron, from);
  if (!next) return std::nullopt;
  return std::chrono::time_point_cast<TimePoint::duration>(*next);
}

}  // namespace ferry
