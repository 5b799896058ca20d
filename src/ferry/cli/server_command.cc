#include "ferry/cli/server_command.h"

#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>

#include "ferry/base/net_address.h"
#include "ferry/cli/signal_thread.h"
#include "ferry/control/server/data_dir.h"
#include "ferry/control/server/server.h"

namespace ferry {
namespace {

using control::InitOptions;
using control::Server;
using control::ServerConfig;

// "https://HOST:PORT" for a listen address (a wildcard host as localhost).
// InitDataDir has checked the address.
std::string UrlOf(const std::string& listen) {
  auto address = ParseHostPort(listen, {.allow_port_zero = true});
  if (!address.ok()) return "https://" + listen;
  if (address->host == "0.0.0.0" || address->host == "::") {
    address->host = "localhost";
  }
  return "https://" + address->ToString();
}

int RunInit(const ServerArgs& args) {
  InitOptions options;
  options.data_dir = args.init_data_dir;
  options.db = args.init_db;
  options.names = args.names;
  options.ca_cert_file = args.ca_cert;
  options.ca_key_file = args.ca_key;
  options.region = args.region;
  options.account = args.account;
  options.listen = args.init_listen;
  Status st = control::InitDataDir(options);
  if (!st.ok()) {
    std::fprintf(stderr, "ferry server init: %s\n",
                 std::string(st.message()).c_str());
    return 1;
  }
  const std::string& dir = options.data_dir;
  const std::string url = UrlOf(options.listen);
  const std::string ca = control::DataDirPath(dir, "ca.pem");
  const std::string credentials = control::DataDirPath(dir, "credentials");
  std::printf(
      "Initialized the ferry server data directory %s\n"
      "  certificate authority  %s  (agents and API clients trust it: "
      "--ca-bundle)\n"
      "  access key             %s  (AWS shared credentials file, "
      "[default])\n"
      "  database               %s\n"
      "  URL                    %s  (region %s, account %s)\n"
      "\n"
      "Start the server:\n"
      "  ferry server --data-dir %s\n"
      "Then try:\n"
      "  AWS_SHARED_CREDENTIALS_FILE=%s aws datasync list-tasks "
      "--endpoint-url %s --ca-bundle %s --region %s\n"
      "Activate an agent on each host that reaches your storage:\n"
      "  ferry agent --server %s --ca-bundle %s --data-dir AGENT_DIR\n",
      dir.c_str(), ca.c_str(), credentials.c_str(),
      control::DatabaseSpec(dir, options.db).c_str(), url.c_str(),
      options.region.c_str(), options.account.c_str(), dir.c_str(),
      credentials.c_str(), url.c_str(), ca.c_str(), options.region.c_str(),
      url.c_str(), ca.c_str());
  return 0;
}

// File descriptors the server needs beyond one per connection: the database,
// the listener, log and data files, the worker pools' pipes.
constexpr rlim_t kDescriptorMargin = 64;

// Raises the soft limit on open files to the hard limit: each connection is
// a descriptor, and the usual soft limit (1024) is below the default
// connection cap plus what the server opens itself. Says so when even the
// hard limit leaves too few for `max_connections`.
// Memory a burst of large request bodies took goes back to the system when
// they are freed: glibc's default mmap threshold rises with every large block
// freed (up to 32 MiB), after which such blocks come from the heap and stay
// in the process. A fixed threshold keeps every block of 256 KiB or more
// mmapped, so that 200 MB of refused bodies leave the server as small as
// before.
void ReturnLargeBlocksToTheSystem() { mallopt(M_MMAP_THRESHOLD, 256 << 10); }

void RaiseOpenFileLimit(size_t max_connections) {
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  if (limit.rlim_cur != limit.rlim_max) {
    struct rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  const rlim_t needed =
      static_cast<rlim_t>(max_connections) + kDescriptorMargin;
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < needed) {
    std::fprintf(stderr,
                 "ferry server: warning: open files are limited to %llu, "
                 "fewer than %zu connections need (%llu); past it new "
                 "connections fail to be accepted (raise the hard limit: "
                 "ulimit -Hn, LimitNOFILE=)\n",
                 static_cast<unsigned long long>(limit.rlim_cur),
                 max_connections, static_cast<unsigned long long>(needed));
  }
}

}  // namespace

void AddServerCommand(CLI::App& app, ServerArgs& args) {
  CLI::App* server = app.add_subcommand(
      "server",
      "Serve the DataSync API (as `aws datasync --endpoint-url` expects it) "
      "and the agents' endpoints from a data directory made by `ferry server "
      "init`. Stops cleanly on SIGINT or SIGTERM.");
  server->add_option("--data-dir", args.data_dir,
                     "The data directory (made by `ferry server init`)");
  server->add_option("--listen", args.listen,
                     "HOST:PORT to listen on (default: the one `server init` "
                     "recorded, 127.0.0.1:8443)");
  server->add_option("--db", args.db,
                     "postgresql://USER@HOST/DB to keep the state in "
                     "PostgreSQL (default: the one `server init` recorded, "
                     "else SQLite DATA_DIR/state.db)");
  server->add_flag("--plain-http", args.plain_http,
                   "Serve plain HTTP instead of HTTPS (only on a loopback "
                   "address; agents need HTTPS)");
  server
      ->add_option("--agent-offline-after", args.agent_offline_after,
                   "Seconds without contact after which an agent is "
                   "OFFLINE and its executions end")
      ->check(CLI::Range(5, 86400));
  server
      ->add_option("--max-connections", args.max_connections,
                   "Connections served at once, API callers and agents "
                   "together (default 1024; each connected agent holds "
                   "one). Past it a new connection is closed at accept, "
                   "unless its address holds fewer than its fair share")
      ->check(CLI::Range(size_t{16}, size_t{1} << 20));
  server
      ->add_option("--max-connections-per-address",
                   args.max_connections_per_address,
                   "Connections one client address may hold at once "
                   "(default 64). Agents behind one NAT address share it: "
                   "each connected agent holds one")
      ->check(CLI::Range(size_t{1}, size_t{1} << 20));
  server->require_subcommand(0, 1);

  args.init = server->add_subcommand(
      "init",
      "Make a data directory: a certificate authority (or --ca-cert/--ca-key), "
      "a server certificate, the key that seals secrets, an access key (as an "
      "AWS shared credentials file) and config.json.");
  CLI::App* init = args.init;
  init->add_option("--data-dir", args.init_data_dir,
                   "The directory to make (it must not hold one already)")
      ->required();
  init->add_option("--name", args.names,
                   "A DNS name or IP address for the server certificate "
                   "(repeatable; default: localhost, 127.0.0.1, ::1 and the "
                   "host name)");
  init->add_option("--db", args.init_db,
                   "postgresql://USER@HOST/DB to keep the state in PostgreSQL "
                   "(default: SQLite DATA_DIR/state.db)");
  init->add_option("--listen", args.init_listen,
                   "HOST:PORT the server will listen on")
      ->capture_default_str();
  init->add_option(
      "--ca-cert", args.ca_cert,
      "Use this certificate authority (PEM) instead of making one");
  init->add_option("--ca-key", args.ca_key,
                   "The private key (PEM) of --ca-cert");
  init->add_option("--region", args.region, "The region of ARNs")
      ->capture_default_str();
  init->add_option("--account", args.account, "The account of ARNs")
      ->capture_default_str()
      ->check([](const std::string& v) -> std::string {
        if (v.size() != 12 ||
            v.find_first_not_of("0123456789") != std::string::npos) {
          return "an account is 12 digits";
        }
        return "";
      });
}

int RunServer(const ServerArgs& args) {
  if (args.init != nullptr && args.init->parsed()) return RunInit(args);
  if (args.data_dir.empty()) {
    std::fprintf(stderr, "ferry server: --data-dir is required\n");
    return 2;
  }

  ServerConfig config;
  config.data_dir = args.data_dir;
  config.listen = args.listen;
  config.db = args.db;
  config.plain_http = args.plain_http;
  config.agent_offline_after = std::chrono::seconds(args.agent_offline_after);
  if (args.max_connections != 0) {
    config.http.max_connections = args.max_connections;
  }
  if (args.max_connections_per_address != 0) {
    config.http.max_connections_per_address = args.max_connections_per_address;
  }
  RaiseOpenFileLimit(config.http.max_connections);
  ReturnLargeBlocksToTheSystem();
  auto server = Server::Open(config);
  if (!server.ok()) {
    std::fprintf(stderr, "ferry server: %s\n",
                 std::string(server.status().message()).c_str());
    return 1;
  }
  Server* s = server->get();
  Status served;
  {
    // SIGINT and SIGTERM stop the server; every other thread (the
    // listener's, the background loops') has them blocked.
    SignalThread signals([s](int sig, int) {
      std::fprintf(stderr, "ferry server: %s: stopping\n",
                   sig == SIGINT ? "SIGINT" : "SIGTERM");
      s->Stop();
    });
    served = s->Serve();
  }
  if (!served.ok()) {
    std::fprintf(stderr, "ferry server: %s\n",
                 std::string(served.message()).c_str());
    return 1;
  }
  return 0;
}

}  // namespace ferry
