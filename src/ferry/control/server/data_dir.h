// The server's data directory, as `ferry server init` (InitDataDir in
// server.h) makes it and Server::Open reads it, and access keys. Stateless
// functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include "ferry/base/status.h"
#include "ferry/control/store/database.h"
#include "ferry/control/store/sealer.h"

namespace ferry::control {

// DIR/config.json.
struct DataDirConfig {
  std::string region;
  std::string account;
  std::string listen;
  std::string db;  // "" = SQLite DIR/state.db
};
Result<DataDirConfig> ReadDataDirConfig(const std::string& data_dir);

// Makes the data directory private, whatever was there before: DIR 0700,
// each file in it 0600 (state.db and SQLite's -wal, -shm and -journal
// included), each folder in it 0700 (not walked: 0700 closes it); symbolic
// links are left alone; each file others could read is named on stderr (a
// key there may have leaked). Sets the process's umask to 077, so that what the
// server creates later (SQLite's journals among them) is private too.
// `server init` and Server::Open call it.
Status SecureDataDir(const std::string& data_dir);

// DIR/NAME.
std::string DataDirPath(const std::string& data_dir, const std::string& name);
// The database to open: `db`, or DIR/state.db when it is empty.
std::string DatabaseSpec(const std::string& data_dir, const std::string& db);

struct AccessKey {
  std::string access_key_id;      // "AKFR" + 16 [A-Z2-7]
  std::string secret_access_key;  // 40 [A-Za-z0-9]
};
AccessKey NewAccessKey();
// Stores `key` (its secret sealed) for API callers.
Status AddAccessKey(Database& db, const Sealer& sealer, const AccessKey& key,
                    int64_t now_ms);

}  // namespace ferry::control
