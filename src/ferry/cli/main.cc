// The ferry binary: `ferry sync`, `checksum`, `server`, `agent`, `logs` and
// the API client commands (one per DataSync operation, as `aws datasync`
// names them), all behind one CLI11 app.
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>

#include "ferry/base/version.h"
#include "ferry/cli/agent_command.h"
#include "ferry/cli/checksum_command.h"
#include "ferry/cli/logs_command.h"
#include "ferry/cli/server_command.h"
#include "ferry/cli/start_wait.h"
#include "ferry/cli/sync_command.h"
#include "ferry/client/commands.h"
#include "ferry/control/model/api_model.h"

int main(int argc, char** argv) {
  // A peer that goes away (a restarted server, a closed pipe on stdout) is an
  // error to report on the write that failed, never a reason to die: a
  // TLS write to a reset connection would otherwise kill an agent with
  // SIGPIPE instead of letting it reconnect.
  std::signal(SIGPIPE, SIG_IGN);
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
  ferry::LogsArgs logs_args;
  ferry::AddLogsCommand(app, logs_args);
  // The API client commands come from the DataSync model, parsed on first
  // use: `ferry sync`, `checksum`, `agent`, `server` and `logs` start
  // without it.
  ferry::ApiCommandArgs api_args;
  ferry::ApiCommandHooks api_hooks;
  ferry::StartWaitArgs start_wait_args;
  const bool engine_command =
      argc > 1 && (std::strcmp(argv[1], "sync") == 0 ||
                   std::strcmp(argv[1], "checksum") == 0 ||
                   std::strcmp(argv[1], "agent") == 0 ||
                   std::strcmp(argv[1], "server") == 0 ||
                   std::strcmp(argv[1], "logs") == 0);
  if (!engine_command) {
    ferry::AddApiCommands(app, ferry::ApiModel::DataSync(), api_args);
    ferry::AddStartWait(api_args, api_hooks, start_wait_args);
  }

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
  if (app.got_subcommand("logs")) return ferry::RunLogs(logs_args);
  if (api_args.Selected() != nullptr) {
    return ferry::RunApiCommand(api_args, api_hooks);
  }
  return 2;
}
