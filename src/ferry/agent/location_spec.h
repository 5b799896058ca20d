// How an agent turns a location of its server (type and parameters, secrets
// opened) into the engine's LocationSpec. Pure functions; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "ferry/base/status.h"
#include "ferry/protocol/agent_protocol.h"
#include "ferry/storage/registry.h"

namespace ferry::agent {

// What the agent knows of storage beyond a location's parameters.
struct AgentStorageConfig {
  // The S3 endpoint of CreateLocationS3 locations ("" = AWS S3 in the
  // region); their keys, region and CA come from the agent's environment and
  // shared files, as the aws CLI reads them.
  std::string s3_endpoint_url;
  // Directories LOCAL locations must lie within (--allowed-path; see
  // allowed_paths.h). Empty: any path.
  std::vector<std::string> allowed_paths;
  // The port of the SMB servers of SMB locations (0: 445). DataSync's
  // ServerHostname has no room for one.
  int smb_port = 0;
  // The port of the NFS servers of NFS locations (0: the portmapper's
  // answer, usually 2049).
  int nfs_port = 0;
  // Where AZURE_BLOB locations' accounts are served instead of the
  // ContainerUrl's host ("" = that host): an account endpoint with the
  // account as its path, e.g. Azurite's http://127.0.0.1:10000/
  // devstoreaccount1 (DataSync's ContainerUrl takes https:// hosts only).
  std::string azure_endpoint_url;
};

// LOCAL: Path, an absolute directory on this machine; with
// config.allowed_paths, PermissionDenied unless it lies within one of them,
// and the spec gets the path normalized (what was checked is what is
// opened). OBJECT_STORAGE:
// ServerHostname, ServerPort, ServerProtocol (HTTP or HTTPS), BucketName,
// Subdirectory, AccessKey, SecretKey and ServerCertificate (base64 PEM, as
// the API carries blobs). S3: S3BucketArn (arn:aws:s3:::BUCKET),
// Subdirectory, S3StorageClass, reached at config.s3_endpoint_url. SMB:
// ServerHostname, Subdirectory (/SHARE[/PATH]), User, Password, Domain,
// AuthenticationType (NTLM; KERBEROS is NotSupported), MountOptions.Version.
// NFS: ServerHostname, Subdirectory (/EXPORT[/PATH]), MountOptions.Version
// (AUTOMATIC, NFS3, NFS4_0, NFS4_1). AZURE_BLOB: ContainerUrl
// (https://ACCOUNT.blob.core.windows.net/CONTAINER), Subdirectory,
// AuthenticationType (SAS), SasConfiguration.Token, BlobType (BLOCK),
// AccessTier (HOT, COOL, ARCHIVE). Other types are NotSupported; a missing or
// malformed parameter is InvalidArgument naming it and the location.
Result<LocationSpec> LocationSpecFromMessage(
    const protocol::LocationSpecMessage& location, bool destination,
    const AgentStorageConfig& config);

}  // namespace ferry::agent
