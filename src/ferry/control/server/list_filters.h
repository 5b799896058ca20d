// The Filters of ListLocations (LocationUri, LocationType, CreationTime) and
// ListTasks (LocationId, CreationTime), as DataSync defines them: every
// filter must match (AND); string keys take Equals, NotEquals, In,
// Contains, NotContains and BeginsWith, CreationTime takes Equals,
// NotEquals, LessThan, LessThanOrEqual, GreaterThan and GreaterThanOrEqual.
// Only In takes several values. With Equals, NotEquals and In, LocationType
// values must be location types and LocationId values location ARNs.
// A CreationTime value is UTC, "yyyy-MM-dd HH:mm:ss" (or with a 'T' or ':'
// between date and time, a trailing 'Z', just the date, or epoch seconds).
// Value types; thread-compatible.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <variant>
#include <vector>

#include "ferry/control/model/api_model.h"

namespace ferry::control {

enum class ListFilterTarget { kLocations, kTasks };

struct ListFilter {
  std::string name;  // LocationUri, LocationType, LocationId, CreationTime
  std::string op;    // Equals, ...
  std::vector<std::string> values;
  std::vector<int64_t> times_ms;  // CreationTime values, parsed
};

// What a filter looks at.
struct ListFilterSubject {
  std::string location_uri;
  std::string location_type;
  std::vector<std::string> location_ids;  // a task's source and destination
  int64_t creation_ms = 0;
};

// Parses a Filters member (already validated against the model).
std::variant<std::vector<ListFilter>, ApiError> ParseListFilters(
    const nlohmann::json& filters, ListFilterTarget target);

bool MatchesAll(const std::vector<ListFilter>& filters,
                const ListFilterSubject& subject);

// Parses a CreationTime filter value to Unix milliseconds; false if it is
// none of the accepted forms.
bool ParseFilterTime(const std::string& text, int64_t* ms);

}  // namespace ferry::control
