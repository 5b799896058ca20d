// What the API handler files share and nothing outside this folder needs:
// transactions that answer ApiErrors, ARN checks, tags, times, options and
// filters in DataSync's shape. Stateless functions; thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "ferry/control/server/api.h"
#include "ferry/control/server/list_filters.h"

namespace ferry::control {

// Runs `fn` in one transaction. `fn` answers the response, or an ApiError
// that rolls the transaction back and is sent as it is. A failure of the
// state layer (a Status `fn` turned into Internal, or a failed commit) is an
// InternalException. `fn` may run more than once (the Database retries
// conflicts), so it must not act outside the transaction.
ApiResult InTransaction(ServerContext& ctx,
                        const std::function<ApiResult(SqlSession&)>& fn);

// The API's timestamps: epoch seconds, with milliseconds.
double EpochSeconds(int64_t ms);

// The kinds of resource an ARN names.
enum class ArnKind { kAgent, kLocation, kTask, kExecution, kOther };
ArnKind KindOfArn(const std::string& arn);

// Checks that an ARN belongs to this server: partition "aws", the server's
// region and account. Returns the error to send, worded as DataSync words
// it ("Invalid parameter: ARN account (...) must match authenticated user.").
std::optional<ApiError> CheckArnScope(const ServerContext& ctx,
                                      const std::string& arn);

// "Agent <arn> does not exist.", "Location <arn> not found.", ... (the words
// DataSync uses, which tools such as Terraform look for).
ApiError AgentNotFound(const std::string& arn);
ApiError LocationNotFound(const std::string& arn);
ApiError TaskNotFound(const std::string& arn);
ApiError ExecutionNotFound(const std::string& arn);

// The resource ID of an ARN: "agent-..." of ".../agent/agent-...".
std::string ResourceId(const std::string& arn);

// An InputTagList ([{"Key":..,"Value":..}]) as a map (a later key wins).
std::map<std::string, std::string> TagsFromRequest(const nlohmann::json& list);
// Adds `tags` to a resource, refusing more than 50 in all (DataSync's
// limit) and keys with AWS's reserved prefix aws: (in any case).
ApiResult AddTags(ServerContext& ctx, SqlSession& s, const std::string& arn,
                  const std::map<std::string, std::string>& tags);

// Task options: `base` (complete, or empty for DataSync's defaults) with the
// members of `given` set over it, checked by ferry's TaskOptions so that
// messages are DataSync's. Returns the complete Options object.
std::variant<nlohmann::json, ApiError> MergeOptions(
    const nlohmann::json& base, const nlohmann::json& given);

// Checks a FilterList pair (Includes, Excludes: lists of at most one
// FilterRule) with ferry's filter parser. Returns the error to send, if any.
std::optional<ApiError> CheckFilters(const nlohmann::json& includes,
                                     const nlohmann::json& excludes);
// The Value of the first rule of a FilterList ("" for none).
std::string FilterValue(const nlohmann::json& list);

// DescribeTaskExecution's response for an execution: the stored record
// merged with the agent's last report.
nlohmann::json DescribeExecution(const ExecutionRecord& e);

// A string member of a request ("" when absent or not a string; the model
// check has already refused wrong types).
inline std::string Str(const nlohmann::json& j, const char* member) {
  auto it = j.find(member);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

// What a filtered List request (ListLocations, ListTasks) asks for: its
// Filters, where to continue (NextToken) and how many (MaxResults).
struct ListRequest {
  std::vector<ListFilter> filters;
  std::string after;
  int limit = 100;
};
std::variant<ListRequest, ApiError> ParseListRequest(
    const nlohmann::json& request, ListFilterTarget target);

// One page of a filtered listing (ListLocations, ListTasks): reads the
// store's pages from `cursor` with `fetch(cursor)` (a Result<Page<Record>>),
// turns each record into its entry with `entry(record)` (a
// Result<std::optional<json>>; nullopt leaves the record out), and stops at
// `limit` entries. `next` is the ARN to continue after when more may follow.
struct FilteredPage {
  nlohmann::json entries = nlohmann::json::array();
  std::string next;
};
template <typename Fetch, typename Entry>
Result<FilteredPage> ListFiltered(std::string cursor, int limit, Fetch fetch,
                                  Entry entry) {
  FilteredPage out;
  while (true) {
    FERRY_ASSIGN_OR_RETURN(auto page, fetch(cursor));
    for (size_t i = 0; i < page.items.size(); ++i) {
      FERRY_ASSIGN_OR_RETURN(std::optional<nlohmann::json> e,
                             entry(page.items[i]));
      if (!e) continue;
      out.entries.push_back(std::move(*e));
      if (static_cast<int>(out.entries.size()) == limit) {
        if (i + 1 < page.items.size() || !page.next_key.empty()) {
          out.next = page.items[i].arn;
        }
        return out;
      }
    }
    if (page.next_key.empty()) return out;
    cursor = page.next_key;
  }
}

}  // namespace ferry::control

// Inside an InTransaction function: a state layer failure becomes an
// InternalException answer.
#define FERRY_API_RETURN_IF_ERROR(expr)                   \
  do {                                                    \
    ::ferry::Status ferry_api_status_ = (expr);           \
    if (!ferry_api_status_.ok()) {                        \
      return ::ferry::control::ApiResult(                 \
          ::ferry::control::Internal(ferry_api_status_)); \
    }                                                     \
  } while (0)

#define FERRY_API_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                     \
  if (!tmp.ok()) {                                       \
    return ::ferry::control::ApiResult(                  \
        ::ferry::control::Internal(tmp.status()));       \
  }                                                      \
  lhs = std::move(tmp).value()

#define FERRY_API_ASSIGN_OR_RETURN(lhs, expr)                                  \
  FERRY_API_ASSIGN_OR_RETURN_IMPL_(FERRY_CONCAT_(ferry_api_result_, __LINE__), \
                                   lhs, expr)
