// The ferry binary: `ferry sync`, and later `server`, `agent` and the API
// client commands, all behind one CLI11 app.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "ferry/base/version.h"
#include "ferry/cli/agent_command.h"
#include "ferry/cli/checksum_command.h"
#include "ferry/cli/server_command.h"
#include "ferry/cli/sync_command.h"

int main(int argc, char** argv) {
  CLI::App app{
      "ferry: a self-hosted data transfer service that does the job of AWS "
      "DataSync.\n"
      "Copies and keeps in sync millions of files between storage locations,\n"
      "checksummed in flight and verified at the end."};
  app.set_version_flag("--version", std::string("ferry ") + ferry::kVersion);
  app.require_subcommand(1);

  ferry::SyncArgs sync_args;
  ferry::AddSyncCommand(app, sync_args);
  ferry::ChecksumArgs checksum_args;
  ferry::AddChecksumCommand(app, checksum_args);
  ferry::AgentArgs agent_args;
  ferry::AddAgentCommand(app, agent_args);
  ferry::ServerArgs server_args;
  ferry::AddServerCommand(app, server_args);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  if (app.got_subcommand("sync")) return ferry::RunSync(sync_args);
  if (app.got_subcommand("checksum")) return ferry::RunChecksum(checksum_args);
  if (app.got_subcommand("agent")) return ferry::RunAgent(agent_args);
  if (app.got_subcommand("server")) return ferry::RunServer(server_args);
  return 2;
}
