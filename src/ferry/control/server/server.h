// Server: `ferry server`. Opens the data directory (its certificate
// authority, server certificate, secret key and configuration, made by
// `ferry server init`), the database (SQLite in the data directory, or
// PostgreSQL) and migrates it, then serves over HTTPS (plain HTTP only on a
// loopback address, when asked):
//   POST /                          the DataSync JSON 1.1 API (SigV4)
//   POST /agent/v1/activation       agent activation (no client certificate)
//   GET  /agent/v1/activation       activation status
//   POST /agent/v1/sync             agent sessions (client certificate)
// and runs AgentService's background loops. The HTTP layer is HttpServer
// (Boost.Beast; its limits and deadlines are ServerConfig::http).
// Thread-safe; Serve() blocks.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ferry/base/status.h"
#include "ferry/control/server/server_context.h"

namespace ferry::control {

// `ferry server init`: creates DIR with ca.pem/ca.key (or copies the given
// authority), server.pem/server.key for `names` (DNS names and addresses),
// secret.key, an access key (stored sealed in the database, and written to
// DIR/credentials as an AWS shared credentials file with a [default]
// profile), and DIR/config.json. Refuses a directory that is already
// initialized.
struct InitOptions {
  std::string data_dir;
  std::string db;  // "" = SQLite in the data directory
  std::vector<std::string>
      names;                 // default: localhost, 127.0.0.1, the host name
  std::string ca_cert_file;  // use this authority instead of making one
  std::string ca_key_file;
  std::string region = "ferry-local";
  std::string account = "000000000000";
  std::string listen = "127.0.0.1:8443";  // recorded in config.json
};
Status InitDataDir(const InitOptions& options);

class Server {
 public:
  // Reads DATA_DIR (config.json, certificates, secret key), opens and
  // migrates the database. config.json supplies the region and account, and
  // the listen address and database when `config` leaves them empty.
  // Refuses plain HTTP on an address that is not loopback.
  static Result<std::unique_ptr<Server>> Open(ServerConfig config);
  ~Server();

  // Binds and serves until Stop(). Returns an error if it cannot bind (a
  // port in use is one: two servers never share a port).
  Status Serve();
  void Stop();
  // The bound port, once Serve() is listening (for port 0).
  int port() const;
  // "https://127.0.0.1:8443"
  std::string url() const;
  // The HTTP layer's counters.
  HttpServerStats http_stats() const;
  ServerContext& context();

 private:
  struct Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry::control
