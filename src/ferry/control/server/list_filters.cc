#include "ferry/control/server/list_filters.h"

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <ctime>
#include <string_view>

#include "ferry/control/server/api.h"

namespace ferry::control {
namespace {

using nlohmann::json;

const std::vector<std::string> kStringOperators = {
    "Equals", "NotEquals", "In", "Contains", "NotContains", "BeginsWith"};
const std::vector<std::string> kTimeOperators = {
    "Equals",          "NotEquals",   "LessThan",
    "LessThanOrEqual", "GreaterThan", "GreaterThanOrEqual"};

// The LocationType values: the types of ferry's locations (api_locations.cc)
// and DataSync's AWS storage types, which ferry does not serve.
const std::vector<std::string> kLocationTypes = {
    "NFS",   "SMB", "OBJECT_STORAGE", "AZURE_BLOB", "HDFS",      "S3",
    "LOCAL", "EFS", "FSX_WINDOWS",    "FSX_LUSTRE", "FSX_ONTAP", "FSX_OPENZFS"};

// "arn:PARTITION:datasync:REGION:ACCOUNT:location/loc-" and 17 [0-9a-z].
bool IsLocationArn(const std::string& v) {
  constexpr std::string_view kResource = ":location/loc-";
  constexpr size_t kIdSize = 17;
  if (!v.starts_with("arn:") || v.find(":datasync:") == std::string::npos ||
      v.size() < kResource.size() + kIdSize) {
    return false;
  }
  const size_t id = v.size() - kIdSize;
  return v.compare(id - kResource.size(), kResource.size(), kResource) == 0 &&
         std::all_of(v.begin() + static_cast<std::ptrdiff_t>(id), v.end(),
                     [](char c) {
                       return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z');
                     });
}

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

bool MatchString(const ListFilter& f, const std::string& value) {
  const auto& vs = f.values;
  if (f.op == "Equals" || f.op == "In") return Contains(vs, value);
  if (f.op == "NotEquals") return !Contains(vs, value);
  if (f.op == "Contains" || f.op == "NotContains") {
    bool any = std::any_of(vs.begin(), vs.end(), [&](const std::string& v) {
      return value.find(v) != std::string::npos;
    });
    return f.op == "Contains" ? any : !any;
  }
  if (f.op == "BeginsWith") {
    return std::any_of(vs.begin(), vs.end(), [&](const std::string& v) {
      return value.rfind(v, 0) == 0;
    });
  }
  return false;
}

// A task matches a LocationId filter through either of its locations for
// the positive operators, and through neither for the negative ones.
bool MatchStrings(const ListFilter& f, const std::vector<std::string>& values) {
  const bool negative = f.op == "NotEquals" || f.op == "NotContains";
  if (negative) {
    return std::all_of(values.begin(), values.end(),
                       [&](const std::string& v) { return MatchString(f, v); });
  }
  return std::any_of(values.begin(), values.end(),
                     [&](const std::string& v) { return MatchString(f, v); });
}

// Times compare to the second: the filter values have no finer unit.
bool MatchTime(const ListFilter& f, int64_t ms) {
  const int64_t t = ms / 1000;
  auto all = [&](auto pred) {
    return std::all_of(f.times_ms.begin(), f.times_ms.end(),
                       [&](int64_t v) { return pred(t, v / 1000); });
  };
  if (f.op == "Equals") {
    return std::any_of(f.times_ms.begin(), f.times_ms.end(),
                       [&](int64_t v) { return t == v / 1000; });
  }
  if (f.op == "NotEquals")
    return all([](int64_t a, int64_t b) { return a != b; });
  if (f.op == "LessThan")
    return all([](int64_t a, int64_t b) { return a < b; });
  if (f.op == "LessThanOrEqual") {
    return all([](int64_t a, int64_t b) { return a <= b; });
  }
  if (f.op == "GreaterThan")
    return all([](int64_t a, int64_t b) { return a > b; });
  if (f.op == "GreaterThanOrEqual") {
    return all([](int64_t a, int64_t b) { return a >= b; });
  }
  return false;
}

}  // namespace

bool ParseFilterTime(const std::string& text, int64_t* ms) {
  // Epoch seconds.
  if (!text.empty() &&
      std::all_of(text.begin(), text.end(),
                  [](char c) { return c >= '0' && c <= '9'; }) &&
      text.size() <= 12) {
    *ms = std::stoll(text) * 1000;
    return true;
  }
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  char sep = 0;
  int used = 0;
  std::string t = text;
  if (!t.empty() && (t.back() == 'Z' || t.back() == 'z')) t.pop_back();
  if (std::sscanf(t.c_str(), "%4d-%2d-%2d%n", &y, &mo, &d, &used) == 3 &&
      static_cast<size_t>(used) == t.size()) {
    // just the date
  } else if (std::sscanf(t.c_str(), "%4d-%2d-%2d%c%2d:%2d:%2d%n", &y, &mo, &d,
                         &sep, &h, &mi, &s, &used) == 7 &&
             static_cast<size_t>(used) == t.size() &&
             (sep == ' ' || sep == 'T' || sep == ':')) {
  } else {
    return false;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) {
    return false;
  }
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  *ms = static_cast<int64_t>(timegm(&tm)) * 1000;
  return true;
}

std::variant<std::vector<ListFilter>, ApiError> ParseListFilters(
    const json& filters, ListFilterTarget target) {
  std::vector<ListFilter> out;
  if (!filters.is_array()) return out;
  for (const json& f : filters) {
    ListFilter filter;
    filter.name = f.value("Name", "");
    filter.op = f.value("Operator", "");
    for (const json& v : f.value("Values", json::array())) {
      if (v.is_string()) filter.values.push_back(v.get<std::string>());
    }
    const bool known =
        filter.name == "CreationTime" ||
        (target == ListFilterTarget::kLocations &&
         (filter.name == "LocationUri" || filter.name == "LocationType")) ||
        (target == ListFilterTarget::kTasks && filter.name == "LocationId");
    if (!known) {
      return InvalidRequest("Invalid filter name: " + filter.name + ".");
    }
    if (filter.values.empty()) {
      return InvalidRequest("Filter " + filter.name +
                            " needs at least one value.");
    }
    const bool time = filter.name == "CreationTime";
    const auto& allowed = time ? kTimeOperators : kStringOperators;
    if (!Contains(allowed, filter.op)) {
      return InvalidRequest("Operator " + filter.op +
                            " is not supported for filter " + filter.name +
                            "; it takes " + Join(allowed) + ".");
    }
    // Only In matches any of several values; DataSync refuses several with
    // the others rather than guess whether any or all must match.
    if (filter.op != "In" && filter.values.size() > 1) {
      return InvalidRequest(
          "Operator " + filter.op + " takes one value, and filter " +
          filter.name + " has " + std::to_string(filter.values.size()) +
          (time ? "." : ": use In to match any of several values."));
    }
    // Values that name something (a location type, a location ARN) must
    // name something that can exist: a mistyped one would list nothing.
    const bool names =
        filter.op == "Equals" || filter.op == "NotEquals" || filter.op == "In";
    for (const std::string& v : filter.values) {
      if (!names) break;
      if (filter.name == "LocationType" && !Contains(kLocationTypes, v)) {
        return InvalidRequest("Invalid LocationType filter value '" + v +
                              "': it takes " + Join(kLocationTypes) + ".");
      }
      if (filter.name == "LocationId" && !IsLocationArn(v)) {
        return InvalidRequest(
            "Invalid LocationId filter value '" + v +
            "': it takes location ARNs (arn:aws:datasync:REGION:ACCOUNT:"
            "location/loc-ID).");
      }
    }
    if (time) {
      for (const std::string& v : filter.values) {
        int64_t ms = 0;
        if (!ParseFilterTime(v, &ms)) {
          return InvalidRequest("Invalid CreationTime value '" + v +
                                "': expected a UTC time as yyyy-MM-dd "
                                "HH:mm:ss.");
        }
        filter.times_ms.push_back(ms);
      }
    }
    out.push_back(std::move(filter));
  }
  return out;
}

bool MatchesAll(const std::vector<ListFilter>& filters,
                const ListFilterSubject& subject) {
  for (const ListFilter& f : filters) {
    bool match = false;
    if (f.name == "CreationTime") {
      match = MatchTime(f, subject.creation_ms);
    } else if (f.name == "LocationUri") {
      match = MatchString(f, subject.location_uri);
    } else if (f.name == "LocationType") {
      match = MatchString(f, subject.location_type);
    } else if (f.name == "LocationId") {
      match = MatchStrings(f, subject.location_ids);
    }
    if (!match) return false;
  }
  return true;
}

}  // namespace ferry::control
