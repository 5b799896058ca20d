#include "ferry/agent/location_spec.h"

#include <cstdint>
#include <string_view>

#include "ferry/agent/allowed_paths.h"
#include "ferry/base/base64.h"
#include "ferry/base/rel_path.h"

namespace ferry::agent {
namespace {

using nlohmann::json;

// A string parameter, "" when absent; an error when present but not a
// string.
Result<std::string> Param(const protocol::LocationSpecMessage& location,
                          const char* name) {
  auto it = location.parameters.find(name);
  if (it == location.parameters.end() || it->is_null()) return std::string();
  if (!it->is_string()) {
    return Status::InvalidArgument("location " + location.arn + ": " + name +
                                   " is not a string");
  }
  return it->get<std::string>();
}

// "/a/b/" -> "a/b", checked as a path beneath the bucket.
Result<std::string> Subdirectory(
    const protocol::LocationSpecMessage& location) {
  FERRY_ASSIGN_OR_RETURN(std::string sub, Param(location, "Subdirectory"));
  std::string_view s = sub;
  while (!s.empty() && s.front() == '/') s.remove_prefix(1);
  while (!s.empty() && s.back() == '/') s.remove_suffix(1);
  if (s.empty()) return std::string();
  auto rel = RelPath::Parse(s);
  if (!rel.ok()) {
    return Status::InvalidArgument("location " + location.arn +
                                   ": bad Subdirectory '" + sub +
                                   "': " + std::string(rel.status().message()));
  }
  return std::string(s);
}

// MountOptions.Version of SMB and NFS locations ("" when not given).
std::string MountVersion(const protocol::LocationSpecMessage& location) {
  if (auto it = location.parameters.find("MountOptions");
      it != location.parameters.end() && it->is_object()) {
    if (auto v = it->find("Version"); v != it->end() && v->is_string()) {
      return v->get<std::string>();
    }
  }
  return "";
}

}  // namespace

Result<LocationSpec> LocationSpecFromMessage(
    const protocol::LocationSpecMessage& location, bool destination,
    const AgentStorageConfig& config) {
  LocationSpec spec;
  spec.destination = destination;
  spec.create_root = destination;
  if (location.type == "LOCAL") {
    FERRY_ASSIGN_OR_RETURN(std::string path, Param(location, "Path"));
    if (path.empty() || path[0] != '/') {
      return Status::InvalidArgument("location " + location.arn +
                                     " has no absolute Path parameter");
    }
    spec.type = "local";
    FERRY_ASSIGN_OR_RETURN(spec.path,
                           CheckAllowedPath(path, config.allowed_paths));
    return spec;
  }
  if (location.type == "OBJECT_STORAGE") {
    spec.type = "s3";
    FERRY_ASSIGN_OR_RETURN(std::string host, Param(location, "ServerHostname"));
    FERRY_ASSIGN_OR_RETURN(spec.bucket, Param(location, "BucketName"));
    if (host.empty() || spec.bucket.empty()) {
      return Status::InvalidArgument(
          "location " + location.arn +
          " needs ServerHostname and BucketName parameters");
    }
    FERRY_ASSIGN_OR_RETURN(std::string protocol,
                           Param(location, "ServerProtocol"));
    if (protocol.empty()) protocol = "HTTPS";
    if (protocol != "HTTPS" && protocol != "HTTP") {
      return Status::InvalidArgument("location " + location.arn +
                                     ": ServerProtocol must be HTTP or HTTPS, "
                                     "not '" +
                                     protocol + "'");
    }
    int64_t port = protocol == "HTTP" ? 80 : 443;
    if (auto it = location.parameters.find("ServerPort");
        it != location.parameters.end() && !it->is_null()) {
      if (!it->is_number_integer() || it->get<int64_t>() < 1 ||
          it->get<int64_t>() > 65535) {
        return Status::InvalidArgument("location " + location.arn +
                                       ": ServerPort must be 1 to 65535");
      }
      port = it->get<int64_t>();
    }
    // An IPv6 literal needs brackets in a URL.
    const bool v6 = host.find(':') != std::string::npos && host[0] != '[';
    spec.endpoint.url = (protocol == "HTTP" ? "http://" : "https://") +
                        (v6 ? "[" + host + "]" : host) + ":" +
                        std::to_string(port);
    spec.endpoint.addressing = "path";
    FERRY_ASSIGN_OR_RETURN(spec.endpoint.access_key,
                           Param(location, "AccessKey"));
    FERRY_ASSIGN_OR_RETURN(spec.endpoint.secret_key,
                           Param(location, "SecretKey"));
    FERRY_ASSIGN_OR_RETURN(std::string cert,
                           Param(location, "ServerCertificate"));
    if (!cert.empty()) {
      auto pem = Base64Decode(cert);
      if (!pem) {
        return Status::InvalidArgument("location " + location.arn +
                                       ": ServerCertificate is not base64");
      }
      spec.endpoint.ca_pem = std::move(*pem);
    }
    FERRY_ASSIGN_OR_RETURN(spec.path, Subdirectory(location));
    return spec;
  }
  if (location.type == "S3") {
    spec.type = "s3";
    FERRY_ASSIGN_OR_RETURN(std::string arn, Param(location, "S3BucketArn"));
    constexpr std::string_view kPrefix = "arn:aws:s3:::";
    if (!arn.starts_with(kPrefix) || arn.size() == kPrefix.size() ||
        arn.find('/', kPrefix.size()) != std::string::npos) {
      return Status::InvalidArgument(
          "location " + location.arn + ": S3BucketArn '" + arn +
          "' is not a bucket ARN (arn:aws:s3:::BUCKET)");
    }
    spec.bucket = arn.substr(kPrefix.size());
    spec.endpoint.url = config.s3_endpoint_url;
    FERRY_ASSIGN_OR_RETURN(spec.storage_class,
                           Param(location, "S3StorageClass"));
    FERRY_ASSIGN_OR_RETURN(spec.path, Subdirectory(location));
    return spec;
  }
  if (location.type == "SMB") {
    spec.type = "smb";
    FERRY_ASSIGN_OR_RETURN(std::string host, Param(location, "ServerHostname"));
    if (host.empty()) {
      return Status::InvalidArgument("location " + location.arn +
                                     " needs a ServerHostname parameter");
    }
    FERRY_ASSIGN_OR_RETURN(std::string auth,
                           Param(location, "AuthenticationType"));
    if (!auth.empty() && auth != "NTLM") {
      return Status::NotSupported(
          "location " + location.arn + ": AuthenticationType " + auth +
          " is not served by ferry agents (NTLM with User, Password and "
          "Domain is)");
    }
    // Subdirectory is the share and the folder beneath it: /share/dir.
    FERRY_ASSIGN_OR_RETURN(std::string sub, Subdirectory(location));
    const size_t slash = sub.find('/');
    spec.bucket = sub.substr(0, slash);
    spec.path = slash == std::string::npos ? "" : sub.substr(slash + 1);
    if (spec.bucket.empty()) {
      return Status::InvalidArgument(
          "location " + location.arn +
          ": Subdirectory must name a share (/SHARE or /SHARE/PATH)");
    }
    spec.host =
        config.smb_port == 0
            ? host
            : (host.find(':') != std::string::npos ? "[" + host + "]" : host) +
                  ":" + std::to_string(config.smb_port);
    FERRY_ASSIGN_OR_RETURN(spec.endpoint.user, Param(location, "User"));
    FERRY_ASSIGN_OR_RETURN(spec.endpoint.password, Param(location, "Password"));
    FERRY_ASSIGN_OR_RETURN(spec.endpoint.domain, Param(location, "Domain"));
    spec.endpoint.version = MountVersion(location);
    return spec;
  }
  if (location.type == "AZURE_BLOB") {
    FERRY_ASSIGN_OR_RETURN(std::string url, Param(location, "ContainerUrl"));
    FERRY_ASSIGN_OR_RETURN(std::string sub, Subdirectory(location));
    // The container alone; the Subdirectory is the path within it.
    auto parsed = ParseLocationUri(url);
    if (!parsed.ok() || parsed->type != "azure" || !parsed->path.empty()) {
      return Status::InvalidArgument(
          "location " + location.arn + ": ContainerUrl '" + url +
          "' is not an Azure Blob container URL (https://ACCOUNT.blob.core."
          "windows.net/CONTAINER)" +
          (parsed.ok() ? "" : ": " + std::string(parsed.status().message())));
    }
    const bool keep_destination = spec.destination;
    spec = std::move(*parsed);
    spec.destination = keep_destination;
    spec.path = sub;
    if (!config.azure_endpoint_url.empty()) {
      spec.endpoint.url = config.azure_endpoint_url;
    }
    FERRY_ASSIGN_OR_RETURN(std::string auth,
                           Param(location, "AuthenticationType"));
    if (!auth.empty() && auth != "SAS") {
      return Status::NotSupported("location " + location.arn +
                                  ": AuthenticationType " + auth +
                                  " is not served by ferry agents (SAS is)");
    }
    auto sas = location.parameters.find("SasConfiguration");
    if (sas == location.parameters.end() || !sas->is_object() ||
        !sas->contains("Token") || !(*sas)["Token"].is_string() ||
        (*sas)["Token"].get<std::string>().empty()) {
      return Status::InvalidArgument("location " + location.arn +
                                     " needs SasConfiguration.Token");
    }
    spec.endpoint.sas_token = (*sas)["Token"].get<std::string>();
    FERRY_ASSIGN_OR_RETURN(std::string blob_type, Param(location, "BlobType"));
    if (!blob_type.empty() && blob_type != "BLOCK") {
      return Status::NotSupported("location " + location.arn + ": BlobType " +
                                  blob_type + " (BLOCK is served)");
    }
    FERRY_ASSIGN_OR_RETURN(spec.storage_class, Param(location, "AccessTier"));
    return spec;
  }
  if (location.type == "NFS") {
    spec.type = "nfs";
    FERRY_ASSIGN_OR_RETURN(std::string host, Param(location, "ServerHostname"));
    if (host.empty()) {
      return Status::InvalidArgument("location " + location.arn +
                                     " needs a ServerHostname parameter");
    }
    // Subdirectory is the export and the folder beneath it: /export/dir.
    FERRY_ASSIGN_OR_RETURN(spec.path, Subdirectory(location));
    if (spec.path.empty()) {
      return Status::InvalidArgument(
          "location " + location.arn +
          ": Subdirectory must name an export (/EXPORT or /EXPORT/PATH)");
    }
    spec.host =
        config.nfs_port == 0
            ? host
            : (host.find(':') != std::string::npos ? "[" + host + "]" : host) +
                  ":" + std::to_string(config.nfs_port);
    spec.endpoint.version = MountVersion(location);
    return spec;
  }
  return Status::NotSupported(
      "this agent serves LOCAL, OBJECT_STORAGE, S3, SMB and NFS locations; " +
      location.arn + " is " +
      (location.type.empty() ? std::string("of no type") : location.type));
}

}  // namespace ferry::agent
