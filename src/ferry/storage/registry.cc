#include "ferry/storage/registry.h"

#include <map>
#include <mutex>

#include "ferry/base/percent.h"
#include "ferry/storage/memory/memory_backend.h"
#include "ferry/storage/object/memory_object_store.h"
#include "ferry/storage/object/object_backend.h"
#include "ferry/storage/posix/posix_backend.h"

namespace ferry {
namespace {

struct Registry {
  std::mutex mu;
  std::map<std::string, BackendFactory> factories;
};

Registry& GetRegistry() {
  static Registry* r = new Registry();
  return *r;
}

std::string KnownTypes() {
  Registry& r = GetRegistry();
  std::lock_guard lock(r.mu);
  std::string out;
  for (const auto& [type, _] : r.factories) {
    if (!out.empty()) out += ", ";
    out += type;
  }
  return out;
}

}  // namespace

std::string LocationSpec::Describe() const {
  if (type == "local") return path;
  if (type == "memory") return "memory:" + path;
  if (type == "memory-objects") {
    return "memory-objects:" + bucket + (path.empty() ? "" : "/" + path);
  }
  if (type == "smb") {
    return "smb://" + host + "/" + bucket + (path.empty() ? "" : "/" + path);
  }
  if (type == "nfs") return "nfs://" + host + "/" + path;
  if (type == "azure") {
    return endpoint.url + "/" + bucket + (path.empty() ? "" : "/" + path);
  }
  if (!bucket.empty()) {
    return type + "://" + bucket + (path.empty() ? "" : "/" + path);
  }
  return type + ":" + path;
}

namespace {

// "BUCKET[/PREFIX]" (`rest`, what follows the scheme) of an object store
// location; the prefix is checked as a RelPath, trailing '/' dropped.
Result<LocationSpec> BucketAndPrefix(const std::string& type,
                                     std::string_view uri,
                                     std::string_view rest,
                                     std::string_view form) {
  LocationSpec spec;
  spec.type = type;
  size_t slash = rest.find('/');
  spec.bucket = std::string(rest.substr(0, slash));
  std::string_view prefix =
      slash == std::string_view::npos ? "" : rest.substr(slash + 1);
  while (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
  spec.path = std::string(prefix);
  if (spec.bucket.empty()) {
    return Status::InvalidArgument(type + " location '" + std::string(uri) +
                                   "' needs a bucket: " + std::string(form));
  }
  if (!prefix.empty()) {
    auto rel = RelPath::Parse(prefix);
    if (!rel.ok() || rel->str() != prefix) {
      return Status::InvalidArgument(
          type + " location '" + std::string(uri) + "': bad prefix" +
          (rel.ok() ? std::string()
                    : ": " + std::string(rel.status().message())));
    }
  }
  return spec;
}

// An Azure Blob container URL with a path: "https://ACCOUNT.blob.core.
// windows.net/CONTAINER[/PATH]", or path-style (Azurite, or an account
// behind a host name of its own) "http(s)://HOST[:PORT]/ACCOUNT/CONTAINER
// [/PATH]". A token in the URL ("?sv=...") is refused without being
// repeated: it would show in process lists.
Result<LocationSpec> AzureLocation(std::string_view uri) {
  const std::string form =
      "https://ACCOUNT.blob.core.windows.net/CONTAINER[/PATH] or "
      "http(s)://HOST:PORT/ACCOUNT/CONTAINER[/PATH]";
  const size_t scheme_end = uri.find("://");
  const std::string_view scheme = uri.substr(0, scheme_end);
  std::string_view rest = uri.substr(scheme_end + 3);
  const size_t query = rest.find_first_of("?#");
  if (query != std::string_view::npos) {
    return Status::InvalidArgument(
        "azure location '" + std::string(uri.substr(0, scheme_end + 3)) +
        std::string(rest.substr(0, query)) +
        "...': a SAS token goes in FERRY_AZURE_SAS or --azure-sas-file, "
        "never in the URL (process lists show it)");
  }
  const size_t slash = rest.find('/');
  const std::string_view host = rest.substr(0, slash);
  std::string_view path =
      slash == std::string_view::npos ? "" : rest.substr(slash + 1);
  if (host.empty() || host.find('@') != std::string_view::npos) {
    return Status::InvalidArgument("azure location '" + std::string(uri) +
                                   "': expected " + form);
  }
  std::string account;
  std::string endpoint = std::string(scheme) + "://" + std::string(host);
  const std::string_view suffix = ".blob.core.windows.net";
  const std::string_view bare = host.substr(0, host.rfind(':'));
  if (bare.size() > suffix.size() && bare.ends_with(suffix)) {
    account = std::string(bare.substr(0, bare.size() - suffix.size()));
  } else {
    const size_t end = path.find('/');
    account = std::string(path.substr(0, end));
    path = end == std::string_view::npos ? "" : path.substr(end + 1);
    endpoint += "/" + account;
  }
  if (account.empty()) {
    return Status::InvalidArgument("azure location '" + std::string(uri) +
                                   "' names no account: expected " + form);
  }
  FERRY_ASSIGN_OR_RETURN(LocationSpec spec,
                         BucketAndPrefix("azure", uri, path, form));
  spec.endpoint.url = std::move(endpoint);
  spec.endpoint.user = std::move(account);
  return spec;
}

// "[DOMAIN;]USER@HOST[:PORT]/SHARE[/PATH]" (`rest`) of an smb:// location.
Result<LocationSpec> SmbLocation(std::string_view uri, std::string_view rest) {
  const std::string form = "smb://[DOMAIN;]USER@HOST[:PORT]/SHARE[/PATH]";
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  // Messages never repeat a password given in the URI.
  std::string shown(uri);
  if (size_t at = authority.rfind('@'); at != std::string_view::npos) {
    if (size_t colon = authority.substr(0, at).find(':');
        colon != std::string_view::npos) {
      shown = "smb://" + std::string(authority.substr(0, colon)) + ":***" +
              std::string(rest.substr(at));
    }
  }
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("smb location '" + shown + "': " + why +
                                   " (" + form + ")");
  };
  LocationSpec spec;
  spec.type = "smb";
  std::string_view tail =
      slash == std::string_view::npos ? "" : rest.substr(slash + 1);
  size_t at = authority.rfind('@');
  if (at != std::string_view::npos) {
    std::string_view account = authority.substr(0, at);
    authority = authority.substr(at + 1);
    if (account.find(':') != std::string_view::npos) {
      return bad(
          "a password does not belong in the location (it would show in "
          "process lists): give it in FERRY_SMB_PASSWORD or a password file");
    }
    size_t semi = account.find(';');
    if (semi != std::string_view::npos) {
      spec.endpoint.domain = PercentDecode(account.substr(0, semi));
      account = account.substr(semi + 1);
    }
    spec.endpoint.user = PercentDecode(account);
    if (spec.endpoint.user.empty()) return bad("the user name is empty");
  }
  if (authority.empty()) return bad("no server");
  spec.host = std::string(authority);
  size_t share_end = tail.find('/');
  spec.bucket = std::string(tail.substr(0, share_end));
  if (spec.bucket.empty()) return bad("no share");
  std::string_view path =
      share_end == std::string_view::npos ? "" : tail.substr(share_end + 1);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  if (!path.empty()) {
    std::string decoded = PercentDecode(path);
    auto rel = RelPath::Parse(decoded);
    if (!rel.ok() || rel->str() != decoded) {
      return bad("bad path" +
                 (rel.ok() ? std::string()
                           : ": " + std::string(rel.status().message())));
    }
    spec.path = decoded;
  }
  return spec;
}

// "HOST[:PORT]/EXPORT[/PATH][?version=3|4]" (`rest`) of an nfs:// location.
Result<LocationSpec> NfsLocation(std::string_view uri, std::string_view rest) {
  const std::string form = "nfs://HOST[:PORT]/EXPORT[/PATH][?version=3|4]";
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("nfs location '" + std::string(uri) +
                                   "': " + why + " (" + form + ")");
  };
  LocationSpec spec;
  spec.type = "nfs";
  std::string_view query;
  if (size_t q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? "" : query.substr(amp + 1);
    if (item == "version=3" || item == "version=4") {
      spec.endpoint.version = std::string(item.substr(8));
    } else {
      return bad("unknown option '" + std::string(item) +
                 "' (only version=3 or version=4)");
    }
  }
  size_t slash = rest.find('/');
  spec.host = std::string(rest.substr(0, slash));
  if (spec.host.empty()) return bad("no server");
  if (spec.host.find('@') != std::string::npos) {
    return bad("NFS takes no user name (the server trusts this host's uid)");
  }
  std::string_view path =
      slash == std::string_view::npos ? "" : rest.substr(slash + 1);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  if (path.empty()) return bad("no export");
  std::string decoded = PercentDecode(path);
  auto rel = RelPath::Parse(decoded);
  if (!rel.ok() || rel->str() != decoded) {
    return bad("bad path" + (rel.ok()
                                 ? std::string()
                                 : ": " + std::string(rel.status().message())));
  }
  spec.path = decoded;
  return spec;
}

}  // namespace

Result<LocationSpec> ParseLocationUri(std::string_view uri) {
  LocationSpec spec;
  if (uri.empty()) return Status::InvalidArgument("empty location");
  if (uri.substr(0, 5) == "s3://") {
    return BucketAndPrefix("s3", uri, uri.substr(5), "s3://BUCKET[/PREFIX]");
  }
  if (uri.substr(0, 6) == "smb://") return SmbLocation(uri, uri.substr(6));
  if (uri.substr(0, 6) == "nfs://") return NfsLocation(uri, uri.substr(6));
  if (uri.substr(0, 7) == "http://" || uri.substr(0, 8) == "https://") {
    return AzureLocation(uri);
  }
  if (uri.substr(0, 7) == "file://") {
    spec.type = "local";
    spec.path = std::string(uri.substr(7));
    if (spec.path.empty() || spec.path[0] != '/') {
      return Status::InvalidArgument("file:// location '" + std::string(uri) +
                                     "' must name an absolute path");
    }
    return spec;
  }
  if (uri.substr(0, 15) == "memory-objects:") {
    // An in-memory object store.
    return BucketAndPrefix("memory-objects", uri, uri.substr(15),
                           "memory-objects:NAME[/PREFIX]");
  }
  if (uri.substr(0, 7) == "memory:") {
    spec.type = "memory";
    spec.path = std::string(uri.substr(7));
    if (spec.path.empty()) {
      return Status::InvalidArgument(
          "memory location needs a name: memory:NAME");
    }
    return spec;
  }
  size_t scheme_end = uri.find("://");
  if (scheme_end != std::string_view::npos &&
      uri.substr(0, scheme_end).find('/') == std::string_view::npos) {
    return Status::InvalidArgument(
        "unsupported location type '" + std::string(uri.substr(0, scheme_end)) +
        "' in '" + std::string(uri) +
        "' (this build serves: local paths, file://, memory:, "
        "memory-objects:, s3://, smb://, nfs://, and Azure Blob containers "
        "as https://ACCOUNT.blob.core.windows.net/CONTAINER)");
  }
  spec.type = "local";
  spec.path = std::string(uri);
  return spec;
}

void RegisterBackend(const std::string& type, BackendFactory factory) {
  Registry& r = GetRegistry();
  std::lock_guard lock(r.mu);
  r.factories[type] = std::move(factory);
}

void RegisterBuiltinBackends() {
  RegisterBackend("local", [](const LocationSpec& spec) {
    PosixBackendOptions options;
    options.create_root = spec.create_root;
    options.keep_link_atimes = spec.destination;
    options.flag_staging = spec.destination;
    return OpenPosixBackend(spec.path, options);
  });
  RegisterBackend("memory", [](const LocationSpec& spec) {
    return Result<std::unique_ptr<Backend>>(
        OpenMemoryBackend(NamedMemoryStore(spec.path), "memory:" + spec.path));
  });
  RegisterBackend("memory-objects", [](const LocationSpec& spec) {
    ObjectBackendOptions options;
    options.prefix = spec.path;
    options.storage_class = spec.storage_class;
    return OpenObjectBackend(NamedMemoryObjectStore(spec.bucket), options);
  });
}

Result<std::unique_ptr<Backend>> OpenBackend(const LocationSpec& spec) {
  BackendFactory factory;
  {
    Registry& r = GetRegistry();
    std::lock_guard lock(r.mu);
    auto it = r.factories.find(spec.type);
    if (it != r.factories.end()) factory = it->second;
  }
  if (!factory) {
    return Status::InvalidArgument("unknown location type '" + spec.type +
                                   "' (known: " + KnownTypes() + ")");
  }
  return factory(spec);
}

}  // namespace ferry
