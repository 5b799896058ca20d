// Locations: Create/Describe/Update for NFS, SMB, object storage, Azure Blob,
// HDFS and ferry's LOCAL (a path on an agent's host), ListLocations with its
// filters, DeleteLocation. One table says, per type, which members are
// secret (sealed, never returned) and how the LocationUri is written; the
// handlers are the same for every type.
#include <algorithm>
#include <ctime>

#include "ferry/control/server/api.h"
#include "ferry/control/server/api_helpers.h"
#include "ferry/control/server/list_filters.h"

namespace ferry::control {
namespace {

using nlohmann::json;

// "/a/b" -> "a/b/" ("" stays ""): a path as the tail of a LocationUri.
std::string UriPath(std::string path) {
  while (!path.empty() && path.front() == '/') path.erase(path.begin());
  while (!path.empty() && path.back() == '/') path.pop_back();
  return path.empty() ? "" : path + "/";
}

struct LocationKind {
  const char* suffix;  // of the operation names: "Nfs"
  const char* type;    // LocationRecord::type and the LocationType filter
  // Members sealed with the Sealer and never returned.
  std::vector<std::string> secrets;
  // NFS keeps its agents in OnPremConfig.AgentArns, the others in AgentArns.
  bool agents_in_on_prem_config = false;
  // Defaults DataSync fills in at creation (so that Describe shows them).
  json defaults = json::object();
  // The LocationUri of parameters `p` on agents `agents`.
  std::string (*uri)(const json& p, const std::vector<std::string>& agents);
  // Checks the combination of members (after defaults); "" when fine.
  std::string (*check)(const json& p, const json& secrets);
};

std::string NoCheck(const json&, const json&) { return ""; }

std::string KerberosCheck(const json& p, const json& secrets) {
  if (Str(p, "AuthenticationType") != "KERBEROS") return "";
  if (!p.contains("KerberosPrincipal") || !secrets.contains("KerberosKeytab") ||
      !secrets.contains("KerberosKrb5Conf")) {
    return "KERBEROS authentication needs KerberosPrincipal, KerberosKeytab "
           "and KerberosKrb5Conf.";
  }
  return "";
}

const std::vector<LocationKind>& Kinds() {
  static const std::vector<LocationKind>* kinds = new std::vector<LocationKind>{
      {"Nfs",
       "NFS",
       {},
       true,
       json::object(),
       [](const json& p, const std::vector<std::string>&) {
         return "nfs://" + Str(p, "ServerHostname") + "/" +
                UriPath(Str(p, "Subdirectory"));
       },
       NoCheck},
      {"Smb",
       "SMB",
       {"Password", "KerberosKeytab", "KerberosKrb5Conf"},
       false,
       json::object(),
       [](const json& p, const std::vector<std::string>&) {
         return "smb://" + Str(p, "ServerHostname") + "/" +
                UriPath(Str(p, "Subdirectory"));
       },
       KerberosCheck},
      {"ObjectStorage",
       "OBJECT_STORAGE",
       {"SecretKey"},
       false,
       json{{"ServerProtocol", "HTTPS"}},
       [](const json& p, const std::vector<std::string>&) {
         return "object-storage://" + Str(p, "ServerHostname") + "/" +
                Str(p, "BucketName") + "/" + UriPath(Str(p, "Subdirectory"));
       },
       NoCheck},
      // AWS S3 (or the S3-compatible endpoint each agent is configured
      // with): the agent's own credentials, as the aws CLI finds them.
      // DataSync needs no agent for S3; here the task's other location's
      // agents serve it unless AgentArns names some.
      {"S3",
       "S3",
       {},
       false,
       json{{"S3StorageClass", "STANDARD"}},
       [](const json& p, const std::vector<std::string>&) {
         std::string arn = Str(p, "S3BucketArn");
         const std::string prefix = "arn:aws:s3:::";
         if (arn.rfind(prefix, 0) == 0) arn = arn.substr(prefix.size());
         return "s3://" + arn + "/" + UriPath(Str(p, "Subdirectory"));
       },
       [](const json& p, const json&) -> std::string {
         const std::string arn = Str(p, "S3BucketArn");
         const std::string prefix = "arn:aws:s3:::";
         if (arn.rfind(prefix, 0) != 0 || arn.size() == prefix.size() ||
             arn.find('/', prefix.size()) != std::string::npos) {
           return "S3BucketArn must be a bucket's ARN, arn:aws:s3:::BUCKET "
                  "(access points and Outposts are not served).";
         }
         return "";
       }},
      {"AzureBlob",
       "AZURE_BLOB",
       {"SasConfiguration"},
       false,
       json{{"BlobType", "BLOCK"}, {"AccessTier", "HOT"}},
       [](const json& p, const std::vector<std::string>&) {
         std::string url = Str(p, "ContainerUrl");  // https://ACCOUNT.../CONT
         const std::string scheme = "https://";
         if (url.rfind(scheme, 0) == 0) url = url.substr(scheme.size());
         return "azure-blob://" + UriPath(url) +
                UriPath(Str(p, "Subdirectory"));
       },
       [](const json& p, const json& secrets) -> std::string {
         if (Str(p, "AuthenticationType") == "SAS" &&
             !secrets.contains("SasConfiguration")) {
           return "SAS authentication needs SasConfiguration.";
         }
         return "";
       }},
      {"Hdfs",
       "HDFS",
       {"KerberosKeytab", "KerberosKrb5Conf"},
       false,
       json{{"BlockSize", 134217728}, {"ReplicationFactor", 3}},
       [](const json& p, const std::vector<std::string>&) {
         std::string namenode;
         if (p.contains("NameNodes") && p["NameNodes"].is_array() &&
             !p["NameNodes"].empty()) {
           const json& n = p["NameNodes"].front();
           namenode =
               Str(n, "Hostname") + ":" + std::to_string(n.value("Port", 8020));
         }
         return "hdfs://" + namenode + "/" + UriPath(Str(p, "Subdirectory"));
       },
       [](const json& p, const json& secrets) -> std::string {
         if (Str(p, "AuthenticationType") == "SIMPLE" &&
             !p.contains("SimpleUser")) {
           return "SIMPLE authentication needs SimpleUser.";
         }
         return KerberosCheck(p, secrets);
       }},
      {"Local",
       "LOCAL",
       {},
       false,
       json::object(),
       [](const json& p, const std::vector<std::string>& agents) {
         return "local://" +
                (agents.empty() ? "" : ResourceId(agents.front())) + "/" +
                UriPath(Str(p, "Path"));
       },
       NoCheck},
  };
  return *kinds;
}

// Members that are neither parameters nor secrets.
bool IsEnvelope(const std::string& member) {
  return member == "LocationArn" || member == "Tags" || member == "AgentArns" ||
         member == "OnPremConfig";
}

bool IsSecret(const LocationKind& kind, const std::string& member) {
  return std::find(kind.secrets.begin(), kind.secrets.end(), member) !=
         kind.secrets.end();
}

std::vector<std::string> AgentArnsOf(const LocationKind& kind,
                                     const json& request, bool* given) {
  const json* list = nullptr;
  if (kind.agents_in_on_prem_config) {
    if (request.contains("OnPremConfig") &&
        request["OnPremConfig"].contains("AgentArns")) {
      list = &request["OnPremConfig"]["AgentArns"];
    }
  } else if (request.contains("AgentArns")) {
    list = &request["AgentArns"];
  }
  *given = list != nullptr;
  std::vector<std::string> out;
  if (list && list->is_array()) {
    for (const json& a : *list) {
      if (a.is_string() && std::find(out.begin(), out.end(),
                                     a.get<std::string>()) == out.end()) {
        out.push_back(a.get<std::string>());
      }
    }
  }
  return out;
}

// Members ferry cannot honour: keys in AWS Secrets Manager.
std::optional<ApiError> Unsupported(const json& request) {
  for (const char* member : {"CmkSecretConfig", "CustomSecretConfig"}) {
    if (request.contains(member)) {
      return InvalidRequest(std::string(member) +
                            " is not supported by ferry: give the secret in "
                            "the request; the server seals it.");
    }
  }
  return std::nullopt;
}

// Every agent exists (and the ARNs are this server's).
std::optional<ApiError> CheckAgents(ServerContext& ctx, SqlSession& s,
                                    const std::vector<std::string>& agents,
                                    Status* status) {
  for (const std::string& arn : agents) {
    if (auto e = CheckArnScope(ctx, arn)) return e;
    auto agent = ctx.store.GetAgent(s, arn);
    if (!agent.ok()) {
      *status = agent.status();
      return Internal(agent.status());
    }
    if (!*agent) return AgentNotFound(arn);
  }
  return std::nullopt;
}

// Splits the request members into parameters and secrets (secrets merged
// over `secrets`), after the members of `params`.
void SplitMembers(const LocationKind& kind, const json& request, json* params,
                  json* secrets) {
  for (const auto& [member, value] : request.items()) {
    if (IsEnvelope(member)) continue;
    if (IsSecret(kind, member)) {
      (*secrets)[member] = value;
    } else {
      (*params)[member] = value;
    }
  }
}

// The secrets of location `arn`, sealed for its row.
Result<std::string> SealSecrets(ServerContext& ctx, const std::string& arn,
                                const json& secrets) {
  if (secrets.empty()) return std::string();
  return ctx.sealer->Seal(secrets.dump(),
                          StateStore::LocationSecretsPlace(arn));
}

Result<json> OpenSecrets(ServerContext& ctx, const LocationRecord& r) {
  if (r.sealed_secrets.empty()) return json::object();
  FERRY_ASSIGN_OR_RETURN(
      std::string text,
      ctx.sealer->Open(r.sealed_secrets,
                       StateStore::LocationSecretsPlace(r.arn)));
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return Status::DataLoss("sealed location secrets");
  return j;
}

ApiResult CreateLocation(const LocationKind& kind, ApiCall& call) {
  ServerContext& ctx = call.ctx;
  if (auto e = Unsupported(call.request)) return *e;
  bool given = false;
  std::vector<std::string> agents = AgentArnsOf(kind, call.request, &given);
  if (agents.empty() && kind.type != std::string("S3")) {
    return InvalidRequest(
        "AgentArns is required: ferry reaches every location through the "
        "agents that serve it.");
  }
  json params = kind.defaults;
  json secrets = json::object();
  SplitMembers(kind, call.request, &params, &secrets);
  if (kind.type == std::string("OBJECT_STORAGE") &&
      !params.contains("ServerPort")) {
    params["ServerPort"] = Str(params, "ServerProtocol") == "HTTP" ? 80 : 443;
  }
  if (std::string problem = kind.check(params, secrets); !problem.empty()) {
    return InvalidRequest(problem);
  }
  auto tags = TagsFromRequest(call.request.value("Tags", json::array()));
  return InTransaction(ctx, [&](SqlSession& s) -> ApiResult {
    Status status;
    if (auto e = CheckAgents(ctx, s, agents, &status)) return *e;
    LocationRecord r;
    r.arn = ctx.Arn("location/" + ServerContext::NewId("loc"));
    r.type = kind.type;
    r.params = params;
    r.agent_arns = agents;
    r.uri = kind.uri(params, agents);
    r.created_ms = ctx.now_ms();
    FERRY_API_ASSIGN_OR_RETURN(r.sealed_secrets,
                               SealSecrets(ctx, r.arn, secrets));
    FERRY_API_RETURN_IF_ERROR(ctx.store.PutLocation(s, r));
    ApiResult tagged = AddTags(ctx, s, r.arn, tags);
    if (std::holds_alternative<ApiError>(tagged)) return tagged;
    return json{{"LocationArn", r.arn}};
  });
}

// Reads the location the request names and checks that it is of `kind`.
ApiResult WithLocation(
    const LocationKind& kind, ApiCall& call,
    const std::function<ApiResult(SqlSession&, LocationRecord&)>& fn) {
  const std::string arn = Str(call.request, "LocationArn");
  if (auto e = CheckArnScope(call.ctx, arn)) return *e;
  return InTransaction(call.ctx, [&](SqlSession& s) -> ApiResult {
    FERRY_API_ASSIGN_OR_RETURN(auto r, call.ctx.store.GetLocation(s, arn));
    if (!r) return LocationNotFound(arn);
    if (r->type != kind.type) {
      return InvalidRequest("Location " + arn + " is a " + r->type +
                            " location, not " + kind.type + ".");
    }
    return fn(s, *r);
  });
}

ApiResult DescribeLocation(const LocationKind& kind, ApiCall& call) {
  const ApiModel& model = ApiModel::DataSync();
  const std::string op = std::string("DescribeLocation") + kind.suffix;
  const std::vector<std::string> members =
      model.MemberNames(model.OutputShape(op));
  return WithLocation(kind, call, [&](SqlSession&, LocationRecord& r) {
    json out = json::object();
    // What the response shape has of the stored parameters: never a secret
    // (they are not stored there), never the Subdirectory (the URI has it).
    for (const std::string& member : members) {
      if (r.params.contains(member) && !IsSecret(kind, member)) {
        out[member] = r.params[member];
      }
    }
    out["LocationArn"] = r.arn;
    out["LocationUri"] = r.uri;
    out["CreationTime"] = EpochSeconds(r.created_ms);
    if (kind.agents_in_on_prem_config) {
      out["OnPremConfig"] = {{"AgentArns", r.agent_arns}};
    } else if (!r.agent_arns.empty()) {  // S3 may have none
      out["AgentArns"] = r.agent_arns;
    }
    return ApiResult(out);
  });
}

ApiResult UpdateLocation(const LocationKind& kind, ApiCall& call) {
  ServerContext& ctx = call.ctx;
  if (auto e = Unsupported(call.request)) return *e;
  bool given = false;
  std::vector<std::string> agents = AgentArnsOf(kind, call.request, &given);
  if (given && agents.empty()) {
    return InvalidRequest("AgentArns must name at least one agent.");
  }
  return WithLocation(kind, call, [&](SqlSession& s, LocationRecord& r) {
    if (given) {
      Status status;
      if (auto e = CheckAgents(ctx, s, agents, &status)) return ApiResult(*e);
      r.agent_arns = agents;
    }
    FERRY_API_ASSIGN_OR_RETURN(json secrets, OpenSecrets(ctx, r));
    SplitMembers(kind, call.request, &r.params, &secrets);
    if (kind.type == std::string("OBJECT_STORAGE") &&
        call.request.contains("ServerProtocol") &&
        !call.request.contains("ServerPort")) {
      r.params["ServerPort"] =
          Str(r.params, "ServerProtocol") == "HTTP" ? 80 : 443;
    }
    if (std::string problem = kind.check(r.params, secrets); !problem.empty()) {
      return ApiResult(InvalidRequest(problem));
    }
    r.uri = kind.uri(r.params, r.agent_arns);
    FERRY_API_ASSIGN_OR_RETURN(r.sealed_secrets,
                               SealSecrets(ctx, r.arn, secrets));
    FERRY_API_RETURN_IF_ERROR(ctx.store.UpdateLocation(s, r));
    return ApiResult(json::object());
  });
}

ApiResult ListLocations(ApiCall& call) {
  ServerContext& ctx = call.ctx;
  auto list = ParseListRequest(call.request, ListFilterTarget::kLocations);
  if (auto* e = std::get_if<ApiError>(&list)) return *e;
  const ListRequest& req = std::get<ListRequest>(list);
  return InTransaction(ctx, [&](SqlSession& s) -> ApiResult {
    FERRY_API_ASSIGN_OR_RETURN(
        FilteredPage page,
        ListFiltered(
            req.after, req.limit,
            [&](const std::string& cursor) {
              return ctx.store.ListLocations(s, cursor, 100);
            },
            [&](const LocationRecord& r) -> Result<std::optional<json>> {
              ListFilterSubject subject;
              subject.location_uri = r.uri;
              subject.location_type = r.type;
              subject.creation_ms = r.created_ms;
              if (!MatchesAll(req.filters, subject))
                return std::optional<json>();
              return std::optional<json>(
                  json{{"LocationArn", r.arn}, {"LocationUri", r.uri}});
            }));
    json out = {{"Locations", std::move(page.entries)}};
    if (!page.next.empty())
      out["NextToken"] = EncodeNextToken("ListLocations", page.next);
    return ApiResult(out);
  });
}

ApiResult DeleteLocation(ApiCall& call) {
  ServerContext& ctx = call.ctx;
  const std::string arn = Str(call.request, "LocationArn");
  if (auto e = CheckArnScope(ctx, arn)) return *e;
  return InTransaction(ctx, [&](SqlSession& s) -> ApiResult {
    FERRY_API_ASSIGN_OR_RETURN(auto r, ctx.store.GetLocation(s, arn));
    if (!r) return LocationNotFound(arn);
    // A task names its locations; deleting one under it would leave the
    // task unable to run, so tasks go first.
    FERRY_API_ASSIGN_OR_RETURN(auto tasks,
                               ctx.store.TasksUsingLocation(s, arn));
    if (!tasks.empty()) {
      std::string list;
      for (const std::string& t : tasks) list += (list.empty() ? "" : ", ") + t;
      return InvalidRequest("Location " + arn + " is used by task(s) " + list +
                            ": delete them first.");
    }
    FERRY_API_RETURN_IF_ERROR(ctx.store.DeleteLocation(s, arn));
    return json::object();
  });
}

ApiResult NotServed(const std::string& what) {
  return InvalidRequest(what +
                        " locations are AWS storage, which ferry does not "
                        "serve; use CreateLocationObjectStorage for "
                        "S3-compatible storage, or CreateLocationS3.");
}

}  // namespace

void RegisterLocationApis(ApiRegistry* registry) {
  for (const LocationKind& kind : Kinds()) {
    const LocationKind* k = &kind;
    (*registry)[std::string("CreateLocation") + kind.suffix] =
        [k](ApiCall& call) { return CreateLocation(*k, call); };
    (*registry)[std::string("DescribeLocation") + kind.suffix] =
        [k](ApiCall& call) { return DescribeLocation(*k, call); };
    (*registry)[std::string("UpdateLocation") + kind.suffix] =
        [k](ApiCall& call) { return UpdateLocation(*k, call); };
  }
  for (const char* aws :
       {"Efs", "FsxLustre", "FsxOntap", "FsxOpenZfs", "FsxWindows"}) {
    for (const char* verb : {"Create", "Describe", "Update"}) {
      std::string name = aws;
      (*registry)[std::string(verb) + "Location" + aws] = [name](ApiCall&) {
        return NotServed(name);
      };
    }
  }
  (*registry)["ListLocations"] = ListLocations;
  (*registry)["DeleteLocation"] = DeleteLocation;
}

// For the agent protocol: a location's parameters with its secrets opened.
Result<json> LocationParametersWithSecrets(ServerContext& ctx,
                                           const LocationRecord& r) {
  json params = r.params;
  FERRY_ASSIGN_OR_RETURN(json secrets, OpenSecrets(ctx, r));
  for (const auto& [member, value] : secrets.items()) params[member] = value;
  return params;
}

}  // namespace ferry::control
