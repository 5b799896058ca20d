// `ferry server`: serves the DataSync API and the agent endpoints from a data
// directory until SIGINT or SIGTERM; `ferry server init` makes that
// directory (certificate authority, server certificate, secret key, access
// key, configuration) and prints how to reach the server.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace ferry {

struct ServerArgs {
  std::string data_dir;
  std::string listen;  // "" = config.json's
  std::string db;      // "" = config.json's
  bool plain_http = false;
  int agent_offline_after = 300;  // seconds
  // HttpLimits::max_connections and max_connections_per_address (0 = their
  // defaults).
  size_t max_connections = 0;
  size_t max_connections_per_address = 0;

  // `server init`.
  CLI::App* init = nullptr;
  std::string init_data_dir;
  std::vector<std::string> names;
  std::string init_db;
  std::string init_listen = "127.0.0.1:8443";
  std::string ca_cert;
  std::string ca_key;
  std::string region = "ferry-local";
  std::string account = "000000000000";
};

// Registers `server` and `server init`; `args` must outlive parsing.
void AddServerCommand(CLI::App& app, ServerArgs& args);

// Returns the process exit status: 0 after a clean stop (or init), 1 when
// the server could not start or init failed.
int RunServer(const ServerArgs& args);

}  // namespace ferry
