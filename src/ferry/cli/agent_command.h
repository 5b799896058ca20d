// `ferry agent`: runs the agent daemon (agent/agent.h) in the foreground
// until SIGINT or SIGTERM. On first start it prints the activation key to pass
// to CreateAgent.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace ferry {

struct AgentArgs {
  std::string server;      // https://host:port
  std::string data_dir;    // the agent's key, certificate and identity
  std::string ca_bundle;   // the server's CA (ca.pem of `ferry server init`)
  int threads = 0;         // transfer workers per execution (0: per core)
  int outage_limit = 300;  // seconds a location may stay unreachable
  int poll_ms = 1000;      // how often it syncs at most
  std::string s3_endpoint_url;     // where CreateLocationS3 locations are
  int smb_port = 0;                // of SMB locations' servers (0: 445)
  int nfs_port = 0;                // of NFS locations' servers (0: portmapper)
  std::string azure_endpoint_url;  // of AZURE_BLOB locations ("" = theirs)
  std::vector<std::string> allowed_paths;  // --allowed-path (repeatable)
  std::string link_listen;     // --link-listen ADDRESS:PORT ("" = none)
  std::string link_advertise;  // --link-advertise HOST:PORT
};

void AddAgentCommand(CLI::App& app, AgentArgs& args);
int RunAgent(const AgentArgs& args);

}  // namespace ferry
