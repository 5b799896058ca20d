#include "ferry/cli/agent_command.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "ferry/agent/agent.h"
#include "ferry/cli/signal_thread.h"

namespace ferry {

void AddAgentCommand(CLI::App& app, AgentArgs& args) {
  CLI::App* cmd = app.add_subcommand(
      "agent",
      "Run a ferry agent next to the storage: it activates with the server "
      "(printing an activation key for CreateAgent on first start), then "
      "keeps one outbound mutual-TLS session and runs the task executions "
      "the server gives it.");
  cmd->add_option("--server", args.server,
                  "The server's URL: https://HOST:PORT")
      ->required();
  cmd->add_option("--data-dir", args.data_dir,
                  "Directory for the agent's key, certificate and identity "
                  "(created if missing)")
      ->required();
  cmd->add_option("--ca-bundle", args.ca_bundle,
                  "The server's certificate authority (ca.pem of `ferry "
                  "server init`): the only one trusted")
      ->required();
  cmd->add_option("--threads", args.threads,
                  "Transfer workers per execution (default: the number of "
                  "cores)");
  cmd->add_option("--outage-limit", args.outage_limit,
                  "Seconds a location of an execution may stay unreachable, "
                  "the transfer waiting for it, before the execution ends "
                  "with an error naming it (default 300)");
  cmd->add_option("--s3-endpoint-url", args.s3_endpoint_url,
                  "Where the S3 locations of CreateLocationS3 are (default: "
                  "$AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL, else AWS S3); "
                  "keys come from the environment and ~/.aws as the aws CLI "
                  "reads them");
  cmd->add_option("--smb-port", args.smb_port,
                  "The port SMB locations' servers listen on (default 445; "
                  "DataSync's ServerHostname has no room for one)")
      ->check(CLI::Range(1, 65535));
  cmd->add_option("--nfs-port", args.nfs_port,
                  "The port NFS locations' servers serve NFS on (default: "
                  "what their portmapper says, usually 2049)")
      ->check(CLI::Range(1, 65535));
  cmd->add_option("--azure-endpoint-url", args.azure_endpoint_url,
                  "Where AZURE_BLOB locations' accounts are served instead "
                  "of their ContainerUrl's host: an account endpoint with "
                  "the account as its path (Azurite's "
                  "http://127.0.0.1:10000/devstoreaccount1)");
  cmd->add_option("--allowed-path", args.allowed_paths,
                  "A directory local locations may lie within (repeatable). "
                  "An execution whose local source or destination is "
                  "outside every one (after resolving '..' and symlinks) "
                  "ends ERROR before anything is read. Without it, any path "
                  "this user can reach")
      ->take_all()
      ->allow_extra_args(false);
  cmd->add_option("--link-listen", args.link_listen,
                  "Accept link connections from other agents on "
                  "ADDRESS:PORT (docs/link.md): this agent can then be the "
                  "destination side of a task whose source another agent "
                  "serves. Port 0 picks a free one. Without it, this agent "
                  "opens no port");
  cmd->add_option("--link-advertise", args.link_advertise,
                  "HOST:PORT other agents dial to reach --link-listen "
                  "(needed when it listens on every address, or behind NAT)");
  cmd->add_option("--poll-interval-ms", args.poll_ms,
                  "Sync with the server at most this often (default 1000; "
                  "the server may ask for less often)");
}

int RunAgent(const AgentArgs& args) {
  agent::AgentConfig config;
  config.server_url = args.server;
  config.data_dir = args.data_dir;
  config.ca_bundle = args.ca_bundle;
  config.threads = args.threads;
  if (args.outage_limit < 0 || args.outage_limit > 7 * 24 * 3600) {
    std::fprintf(stderr,
                 "ferry agent: --outage-limit must be 0..604800 seconds\n");
    return 2;
  }
  config.outage_limit = std::chrono::seconds(args.outage_limit);
  config.storage.s3_endpoint_url = args.s3_endpoint_url;
  config.storage.allowed_paths = args.allowed_paths;
  config.storage.smb_port = args.smb_port;
  config.storage.nfs_port = args.nfs_port;
  config.storage.azure_endpoint_url = args.azure_endpoint_url;
  config.link_listen = args.link_listen;
  config.link_advertise = args.link_advertise;
  for (const char* var : {"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"}) {
    const char* v = std::getenv(var);
    if (config.storage.s3_endpoint_url.empty() && v != nullptr) {
      config.storage.s3_endpoint_url = v;
    }
  }
  if (args.poll_ms < 10 || args.poll_ms > 600000) {
    std::fprintf(stderr,
                 "ferry agent: --poll-interval-ms must be 10..600000\n");
    return 2;
  }
  config.poll_interval = std::chrono::milliseconds(args.poll_ms);
  auto agent = agent::Agent::Open(config);
  if (!agent.ok()) {
    std::fprintf(stderr, "ferry agent: %s\n",
                 std::string(agent.status().message()).c_str());
    return 2;
  }
  Status st;
  {
    agent::Agent* a = agent->get();
    SignalThread signals([a](int, int) {
      const char msg[] = "ferry agent: stopping\n";
      (void)!::write(2, msg, sizeof(msg) - 1);
      a->Stop();
    });
    st = (*agent)->Run([](const std::string& key) {
      std::printf(
          "Activation key: %s; pass it to CreateAgent (aws datasync "
          "create-agent --activation-key %s --agent-name NAME, or ferry "
          "create-agent ...). It is valid for 30 minutes.\n",
          key.c_str(), key.c_str());
      std::fflush(stdout);
    });
  }
  if (!st.ok() && st.code() != StatusCode::kCancelled) {
    std::fprintf(stderr, "ferry agent: %s\n", st.ToString().c_str());
    return 1;
  }
  return 0;
}

}  // namespace ferry
