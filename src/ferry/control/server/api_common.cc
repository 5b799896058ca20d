// What all API handlers share: DataSync-shaped errors, paging, transactions,
// ARN checks, tags, task options and filters.
#include <openssl/evp.h>

#include <cctype>
#include <cstdio>
#include <string_view>

#include "ferry/base/rel_path.h"
#include "ferry/base/utf8.h"
#include "ferry/control/server/api.h"
#include "ferry/control/server/api_helpers.h"
#include "ferry/options/filter.h"
#include "ferry/options/task_options.h"

namespace ferry::control {

using nlohmann::json;

ApiError InvalidRequest(std::string message, std::string error_code) {
  ApiError e;
  e.http_status = 400;
  e.type = "InvalidRequestException";
  e.message = std::move(message);
  e.error_code = std::move(error_code);
  return e;
}

ApiError NotFound(const std::string& what) {
  // DataSync answers a missing resource with InvalidRequestException.
  return InvalidRequest(what + " not found.");
}

ApiError Internal(const Status& status) {
  // The caller learns that something failed, not what: the details (SQL,
  // paths) go to the server's log only.
  // Escaped: the message may quote what the request held.
  std::fprintf(stderr, "ferry server: internal error: %s\n",
               EscapeForDisplay(status.ToString()).c_str());
  ApiError e;
  e.http_status = 500;
  e.type = "InternalException";
  e.message =
      "An internal error occurred in the ferry server; its log has the "
      "details.";
  return e;
}

// NextToken is URL-safe base64 without padding, as the model's pattern
// ([a-zA-Z0-9=_-]+) wants, of "LIST:KEY": a token of another operation, or
// made up, does not pass for a page key.
std::string EncodeNextToken(std::string_view list, const std::string& key) {
  if (key.empty()) return "";
  const std::string text = std::string(list) + ":" + key;
  std::string out(4 * ((text.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  out.resize(static_cast<size_t>(n));
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return out;
}

std::string InvalidNextTokenMessage(std::string_view list) {
  return "Invalid NextToken: it is not one that " + std::string(list) +
         " returned (pass the NextToken of the previous response unchanged).";
}

Result<std::string> DecodeNextToken(std::string_view list,
                                    const std::string& token) {
  if (token.empty()) return std::string();
  const Status invalid = Status::InvalidArgument(InvalidNextTokenMessage(list));
  if (token.size() > 4096) return invalid;
  std::string b64 = token;
  for (char& c : b64) {
    if (c == '-') c = '+';
    if (c == '_') c = '/';
  }
  size_t pad = 0;
  while (b64.size() % 4 != 0) {
    b64.push_back('=');
    ++pad;
  }
  if (pad > 2) return invalid;
  std::string out(b64.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(b64.data()),
                          static_cast<int>(b64.size()));
  if (n < 0) return invalid;
  size_t trailing = 0;
  for (size_t i = b64.size(); i > 0 && b64[i - 1] == '='; --i) ++trailing;
  if (trailing > 2 || static_cast<size_t>(n) < trailing) return invalid;
  out.resize(static_cast<size_t>(n) - trailing);
  // "LIST:" and a key a database can hold (text: UTF-8, no NUL).
  const std::string prefix = std::string(list) + ":";
  if (!out.starts_with(prefix) || out.size() == prefix.size()) return invalid;
  std::string key = out.substr(prefix.size());
  if (key.find('\0') != std::string::npos || !IsValidUtf8(key)) return invalid;
  return key;
}

int PageSize(const json& request) {
  auto it = request.find("MaxResults");
  if (it == request.end() || !it->is_number_integer()) return 100;
  int64_t v = it->get<int64_t>();
  if (v < 1) return 100;  // 0: DataSync's default page
  if (v > 100) return 100;
  return static_cast<int>(v);
}

std::variant<ListRequest, ApiError> ParseListRequest(const json& request,
                                                     ListFilterTarget target) {
  auto filters =
      ParseListFilters(request.value("Filters", json::array()), target);
  if (auto* e = std::get_if<ApiError>(&filters)) return *e;
  auto after = DecodeNextToken(
      target == ListFilterTarget::kLocations ? "ListLocations" : "ListTasks",
      Str(request, "NextToken"));
  if (!after.ok()) return InvalidRequest(std::string(after.status().message()));
  return ListRequest{std::get<std::vector<ListFilter>>(std::move(filters)),
                     std::move(after).value(), PageSize(request)};
}

ApiRegistry AllApis() {
  ApiRegistry r;
  RegisterAgentApis(&r);
  RegisterLocationApis(&r);
  RegisterTaskApis(&r);
  RegisterExecutionApis(&r);
  RegisterTagApis(&r);
  RegisterExecutionLogApis(&r);
  return r;
}

// --- api_helpers.h ---

ApiResult InTransaction(ServerContext& ctx,
                        const std::function<ApiResult(SqlSession&)>& fn) {
  ApiResult result = json::object();
  Status status = ctx.db->Transaction([&](SqlSession& s) -> Status {
    result = fn(s);
    if (std::holds_alternative<ApiError>(result)) {
      return Status::FailedPrecondition("request refused");
    }
    return Status::Ok();
  });
  if (std::holds_alternative<ApiError>(result)) return result;
  if (!status.ok()) return Internal(status);
  return result;
}

double EpochSeconds(int64_t ms) { return static_cast<double>(ms) / 1000.0; }

namespace {

// The fields of "arn:PARTITION:datasync:REGION:ACCOUNT:RESOURCE".
struct ArnParts {
  std::string partition, service, region, account, resource;
};

std::optional<ArnParts> SplitArn(const std::string& arn) {
  std::vector<std::string> parts;
  size_t pos = 0;
  for (int i = 0; i < 5; ++i) {
    size_t colon = arn.find(':', pos);
    if (colon == std::string::npos) return std::nullopt;
    parts.push_back(arn.substr(pos, colon - pos));
    pos = colon + 1;
  }
  if (parts[0] != "arn") return std::nullopt;
  return ArnParts{parts[1], parts[2], parts[3], parts[4], arn.substr(pos)};
}

}  // namespace

ArnKind KindOfArn(const std::string& arn) {
  auto parts = SplitArn(arn);
  if (!parts) return ArnKind::kOther;
  const std::string& r = parts->resource;
  if (r.rfind("agent/", 0) == 0) return ArnKind::kAgent;
  if (r.rfind("location/", 0) == 0) return ArnKind::kLocation;
  if (r.rfind("task/", 0) == 0) {
    return r.find("/execution/") == std::string::npos ? ArnKind::kTask
                                                      : ArnKind::kExecution;
  }
  return ArnKind::kOther;
}

std::optional<ApiError> CheckArnScope(const ServerContext& ctx,
                                      const std::string& arn) {
  auto parts = SplitArn(arn);
  if (!parts || parts->service != "datasync") {
    return InvalidRequest(
        "Invalid parameter: " + arn + " is not a DataSync ARN.",
        "InvalidParameter");
  }
  if (parts->partition != "aws") {
    return InvalidRequest("Invalid parameter: ARN partition (" +
                              parts->partition + ") must be aws.",
                          "InvalidParameter");
  }
  if (parts->account != ctx.config.account) {
    return InvalidRequest("Invalid parameter: ARN account (" + parts->account +
                              ") must match authenticated user.",
                          "InvalidParameter");
  }
  if (parts->region != ctx.config.region) {
    return InvalidRequest("Invalid parameter: ARN region (" + parts->region +
                              ") must match the region of this server (" +
                              ctx.config.region + ").",
                          "InvalidParameter");
  }
  return std::nullopt;
}

ApiError AgentNotFound(const std::string& arn) {
  return InvalidRequest("Agent " + arn + " does not exist.");
}
ApiError LocationNotFound(const std::string& arn) {
  return NotFound("Location " + arn);
}
ApiError TaskNotFound(const std::string& arn) {
  return NotFound("Task " + arn);
}
ApiError ExecutionNotFound(const std::string& arn) {
  return NotFound("Task execution " + arn);
}

std::string ResourceId(const std::string& arn) {
  size_t slash = arn.rfind('/');
  return slash == std::string::npos ? arn : arn.substr(slash + 1);
}

std::map<std::string, std::string> TagsFromRequest(const json& list) {
  std::map<std::string, std::string> tags;
  if (!list.is_array()) return tags;
  for (const json& entry : list) {
    if (!entry.is_object() || !entry.contains("Key")) continue;
    std::string value;
    if (entry.contains("Value") && entry["Value"].is_string()) {
      value = entry["Value"].get<std::string>();
    }
    tags[entry["Key"].get<std::string>()] = value;
  }
  return tags;
}

ApiResult AddTags(ServerContext& ctx, SqlSession& s, const std::string& arn,
                  const std::map<std::string, std::string>& tags) {
  constexpr size_t kMaxTags = 50;
  if (tags.empty()) return json::object();
  // As AWS does, in any case: aws: tags are AWS's own.
  for (const auto& [key, value] : tags) {
    std::string prefix = key.substr(0, 4);
    for (char& c : prefix) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    if (prefix == "aws:") {
      return InvalidRequest("Invalid tag key '" + key +
                            "': the prefix aws: is reserved for AWS use.");
    }
  }
  FERRY_API_ASSIGN_OR_RETURN(auto existing,
                             ctx.store.ListTags(s, arn, "", kMaxTags + 1));
  size_t total = tags.size();
  for (const auto& [key, value] : existing.items) {
    if (!tags.count(key)) ++total;
  }
  if (total > kMaxTags) {
    return InvalidRequest("Resource " + arn + " would have " +
                          std::to_string(total) +
                          " tags; a resource has at most 50.");
  }
  FERRY_API_RETURN_IF_ERROR(ctx.store.PutTags(s, arn, tags));
  return json::object();
}

std::variant<json, ApiError> MergeOptions(const json& base, const json& given) {
  TaskOptions options;
  json merged = base.is_object() ? base : json::object();
  if (given.is_object()) {
    for (const auto& [name, value] : given.items()) merged[name] = value;
  }
  for (const auto& [name, value] : merged.items()) {
    std::string text;
    if (value.is_string()) {
      text = value.get<std::string>();
    } else if (value.is_number_integer()) {
      text = std::to_string(value.get<int64_t>());
    } else {
      continue;  // the model's validation has refused other types
    }
    Status st = options.Set(name, text);
    if (!st.ok()) {
      // Members ferry's TaskOptions does not know (a newer model) are
      // ignored, as unknown members are.
      if (st.message().rfind("Unknown option", 0) == 0) continue;
      return InvalidRequest(std::string(st.message()));
    }
  }
  Status st = options.Validate();
  if (!st.ok()) return InvalidRequest(std::string(st.message()));
  json out = json::object();
  for (const auto& [name, value] : options.ToPairs()) {
    if (name == "BytesPerSecond") {
      out[name] = options.bytes_per_second;
    } else {
      out[name] = value;
    }
  }
  return out;
}

std::string FilterValue(const json& list) {
  if (!list.is_array() || list.empty()) return "";
  const json& rule = list.front();
  if (!rule.is_object() || !rule.contains("Value") ||
      !rule["Value"].is_string()) {
    return "";
  }
  return rule["Value"].get<std::string>();
}

std::optional<ApiError> CheckFilters(const json& includes,
                                     const json& excludes) {
  for (const json* list : {&includes, &excludes}) {
    if (!list->is_array()) continue;
    for (const json& rule : *list) {
      if (rule.is_object() && rule.contains("FilterType") &&
          rule["FilterType"] != "SIMPLE_PATTERN") {
        return InvalidRequest(
            "Invalid FilterType: only SIMPLE_PATTERN is "
            "supported.");
      }
    }
  }
  auto filter = Filter::Parse(FilterValue(includes), FilterValue(excludes));
  if (!filter.ok())
    return InvalidRequest(std::string(filter.status().message()));
  return std::nullopt;
}

}  // namespace ferry::control
