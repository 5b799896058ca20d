// Locations by URI: one registry maps a location type ("local", "memory", and
// later "s3", "smb", "nfs", "azure") to the factory that opens its backend.
// RegisterBuiltinBackends() fills it explicitly; nothing registers itself
// from a static initializer. Thread-safe after registration.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "ferry/storage/backend.h"

namespace ferry {

// Where a network location is and how to reach it. Empty fields take the
// backend's defaults (for S3: the environment and shared files as the aws
// CLI reads them).
struct EndpointSpec {
  std::string url;  // "https://s3.example.net:8443"; empty: the default
  std::string region;
  std::string access_key;
  std::string secret_key;  // never logged
  std::string session_token;
  std::string profile;  // a named profile of the shared credentials files
  // Certificates to trust instead of the system's: a PEM file, or PEM text
  // (DataSync's ServerCertificate).
  std::string ca_file;
  std::string ca_pem;
  // "path", "virtual" or "" (auto: virtual-hosted where DNS allows).
  std::string addressing;
  // File servers. SMB: the account (user, password, domain: DataSync's
  // User, Password, Domain) and the protocol versions allowed, as
  // DataSync's MountOptions.Version: AUTOMATIC (or ""), SMB1, SMB2_0, SMB2,
  // SMB3.
  std::string user;
  std::string password;  // never logged
  std::string domain;
  std::string version;
  // Azure Blob: a SAS token (DataSync's SasConfiguration.Token; never
  // logged). The account is `user`, its key (Shared Key) `secret_key`.
  std::string sas_token;
};

struct LocationSpec {
  std::string type;  // "local", "memory", "s3", "smb", "nfs"
  // local: a directory; memory: the store's name; s3: the key prefix
  // beneath the bucket, smb: the folder beneath the share ("" or
  // "dir/sub", no leading or trailing '/'), nfs: the export and the folder
  // beneath it ("export/dir").
  std::string path;
  // Object stores: the bucket. SMB: the share.
  std::string bucket;
  // SMB, NFS: the server, "HOST" or "HOST:PORT" (an IPv6 literal in
  // brackets).
  std::string host;
  EndpointSpec endpoint;
  // Object stores: DataSync's S3StorageClass ("" = STANDARD). (Whether
  // tags are copied is the task's ObjectTags, TransferOptions::object_tags.)
  std::string storage_class;
  // Create the root if it does not exist (destinations).
  bool create_root = false;
  // The location is written to (a destination), as opposed to only read.
  bool destination = false;

  // "s3://bucket/prefix", "/srv/data", "memory:test",
  // "smb://host/share/path": for messages (never a password).
  std::string Describe() const;
};

// Accepts "/abs/dir", "rel/dir", "file:///abs/dir" (local), "memory:NAME",
// "memory-objects:NAME[/PREFIX]" (an in-memory object store, bucket NAME)
// "s3://BUCKET[/PREFIX]" (the endpoint and credentials come separately) and
// "smb://[DOMAIN;]USER@HOST[:PORT]/SHARE[/PATH]" (the password comes
// separately; one in the URI is refused, so that it never shows in a
// process list) and "nfs://HOST[:PORT]/EXPORT[/PATH][?version=3|4]"
// (endpoint.version "3" or "4").
// A scheme that is not registered is an error that lists the ones that are.
Result<LocationSpec> ParseLocationUri(std::string_view uri);

using BackendFactory =
    std::function<Result<std::unique_ptr<Backend>>(const LocationSpec&)>;

void RegisterBackend(const std::string& type, BackendFactory factory);
// Registers "local", "memory" and "memory-objects". Idempotent.
void RegisterBuiltinBackends();

Result<std::unique_ptr<Backend>> OpenBackend(const LocationSpec& spec);

}  // namespace ferry
