// `ferry server init` (InitDataDir) and reading the data directory it makes:
//   config.json        region, account, listen address, database spec
//   ca.pem, ca.key     the certificate authority
//   server.pem/.key    the server's certificate
//   secret.key         the Sealer's key
//   credentials        the first access key, as an AWS shared credentials
//                      file
//   state.db           the SQLite database, unless --db names PostgreSQL
// The directory is 0700 and everything in it 0600 (SecureDataDir).
#include "ferry/control/server/data_dir.h"

#include <dirent.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "ferry/base/file_util.h"
#include "ferry/base/net_address.h"
#include "ferry/base/rel_path.h"
#include "ferry/control/server/server.h"
#include "ferry/control/server/state_store.h"
#include "ferry/control/store/sealer.h"
#include "ferry/pki/pki.h"

namespace ferry::control {
namespace {

using nlohmann::json;

constexpr int kAuthorityDays = 3650;
constexpr int kServerCertificateDays = 825;

std::string RandomString(size_t n, const char* alphabet) {
  const size_t size = std::strlen(alphabet);
  std::string out;
  while (out.size() < n) {
    unsigned char b;
    RAND_bytes(&b, 1);
    // Rejection sampling keeps every character equally likely.
    if (b >= 256 - 256 % size) continue;
    out.push_back(alphabet[b % size]);
  }
  return out;
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

Status MakeDirectory(const std::string& dir) {
  if (dir.empty()) return Status::InvalidArgument("--data-dir is empty");
  std::string partial;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = dir.find('/', pos + 1);
    partial = dir.substr(0, pos);
    if (partial.empty() || Exists(partial)) continue;
    if (::mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST) {
      return Status(StatusCode::kIoError,
                    "cannot create " + partial + ": " + std::strerror(errno),
                    errno);
    }
  }
  return Status::Ok();
}

std::string HostName() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0) return "";
  return name;
}

}  // namespace

Status SecureDataDir(const std::string& data_dir) {
  ::umask(077);
  auto error = [&](const std::string& what, int err) {
    return Status(StatusCode::kIoError,
                  "cannot make the data directory " + data_dir +
                      " private: " + what + ": " + std::strerror(err),
                  err);
  };
  // The directory first: once it is 0700 no one else can swap what is in it.
  if (::chmod(data_dir.c_str(), 0700) != 0) {
    const int err = errno;
    return error("chmod 0700 " + data_dir, err);
  }
  int fd = ::open(data_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    return error("open " + data_dir, err);
  }
  DIR* d = ::fdopendir(fd);
  if (d == nullptr) {
    int err = errno;
    ::close(fd);
    return error("open " + data_dir, err);
  }
  Status status = Status::Ok();
  while (true) {
    errno = 0;  // readdir's end and its failure differ only in errno
    dirent* e = ::readdir(d);
    if (e == nullptr) {
      const int err = errno;
      if (err != 0) status = error("read the folder " + data_dir, err);
      break;
    }
    std::string_view name = e->d_name;
    if (name == "." || name == "..") continue;
    struct stat st;
    if (::fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      const int err = errno;
      if (err == ENOENT) continue;  // removed meanwhile (a SQLite journal)
      status = error("stat " + DataDirPath(data_dir, e->d_name), err);
      break;
    }
    if (S_ISLNK(st.st_mode)) continue;
    mode_t want = S_ISDIR(st.st_mode) ? 0700 : 0600;
    if ((st.st_mode & 07777) == want) continue;
    auto octal = [](mode_t mode) {
      char text[8];
      std::snprintf(text, sizeof(text), "%04o", static_cast<unsigned>(mode));
      return std::string(text);
    };
    const std::string path = DataDirPath(data_dir, e->d_name);
    if (::fchmodat(fd, e->d_name, want, 0) != 0) {
      const int err = errno;
      if (err == ENOENT) continue;
      status = error("chmod " + octal(want) + " " + path, err);
      break;
    }
    // Others could read it until now (a key, the database): say so.
    if ((st.st_mode & 077) != 0) {
      std::fprintf(stderr,
                   "ferry server: %s was open to other users (mode %s); made "
                   "it %s\n",
                   EscapeForDisplay(path).c_str(),
                   octal(st.st_mode & 07777).c_str(), octal(want).c_str());
    }
  }
  ::closedir(d);
  return status;
}

std::string DataDirPath(const std::string& data_dir, const std::string& name) {
  if (!data_dir.empty() && data_dir.back() == '/') return data_dir + name;
  return data_dir + "/" + name;
}

std::string DatabaseSpec(const std::string& data_dir, const std::string& db) {
  return db.empty() ? DataDirPath(data_dir, "state.db") : db;
}

AccessKey NewAccessKey() {
  AccessKey key;
  // AWS-shaped: 20 upper-case alphanumerics (AWS's start "AKIA"; ferry's
  // "AKFR"), and a 40-character secret.
  key.access_key_id =
      "AKFR" + RandomString(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567");
  key.secret_access_key = RandomString(
      40, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789");
  return key;
}

Status AddAccessKey(Database& db, const Sealer& sealer, const AccessKey& key,
                    int64_t now_ms) {
  FERRY_ASSIGN_OR_RETURN(
      std::string sealed,
      sealer.Seal(key.secret_access_key,
                  StateStore::AccessKeySecretPlace(key.access_key_id)));
  StateStore store;
  return db.Transaction([&](SqlSession& s) {
    return store.PutAccessKey(s, key.access_key_id, sealed, now_ms);
  });
}

Result<DataDirConfig> ReadDataDirConfig(const std::string& data_dir) {
  const std::string path = DataDirPath(data_dir, "config.json");
  if (!Exists(path)) {
    return Status::NotFound(data_dir +
                            " is not a ferry server data directory (it has no "
                            "config.json): make one with `ferry server init "
                            "--data-dir " +
                            data_dir + "`");
  }
  FERRY_ASSIGN_OR_RETURN(std::string text, ReadTextFile(path));
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return Status::InvalidArgument(path + " is not JSON");
  DataDirConfig c;
  auto str = [&](const char* member, std::string* out) -> Status {
    if (!j.contains(member)) return Status::Ok();
    if (!j[member].is_string()) {
      return Status::InvalidArgument(path + ": \"" + member +
                                     "\" is not a string");
    }
    *out = j[member].get<std::string>();
    return Status::Ok();
  };
  FERRY_RETURN_IF_ERROR(str("region", &c.region));
  FERRY_RETURN_IF_ERROR(str("account", &c.account));
  FERRY_RETURN_IF_ERROR(str("listen", &c.listen));
  FERRY_RETURN_IF_ERROR(str("db", &c.db));
  return c;
}

Status InitDataDir(const InitOptions& options) {
  const std::string& dir = options.data_dir;
  const std::string config_path = DataDirPath(dir, "config.json");
  if (Exists(config_path)) {
    return Status::AlreadyExists(dir +
                                 " is already a ferry server data directory "
                                 "(it has a config.json)");
  }
  if (options.ca_cert_file.empty() != options.ca_key_file.empty()) {
    return Status::InvalidArgument(
        "--ca-cert and --ca-key go together: give both or neither");
  }
  // Checked now rather than when the server first starts.
  if (auto listen = ParseHostPort(options.listen, {.allow_port_zero = true});
      !listen.ok()) {
    return Status::InvalidArgument("--listen: " +
                                   std::string(listen.status().message()));
  }
  FERRY_RETURN_IF_ERROR(MakeDirectory(dir));
  // An existing directory may be 0755 and hold files readable by all.
  FERRY_RETURN_IF_ERROR(SecureDataDir(dir));

  // The certificate authority: given, or made here.
  pki::KeyAndCertificate authority;
  if (!options.ca_cert_file.empty()) {
    FERRY_ASSIGN_OR_RETURN(authority.certificate_pem,
                           ReadTextFile(options.ca_cert_file));
    FERRY_ASSIGN_OR_RETURN(authority.key_pem,
                           ReadTextFile(options.ca_key_file));
  } else {
    std::string host = HostName();
    FERRY_ASSIGN_OR_RETURN(
        authority,
        pki::CreateAuthority("ferry CA" + (host.empty() ? "" : " " + host),
                             kAuthorityDays));
  }
  std::vector<std::string> names = options.names;
  if (names.empty()) {
    names = {"localhost", "127.0.0.1", "::1"};
    std::string host = HostName();
    if (!host.empty() && host != "localhost") names.push_back(host);
  }
  FERRY_ASSIGN_OR_RETURN(
      pki::KeyAndCertificate server,
      pki::CreateServerCertificate(authority, names, kServerCertificateDays));
  // A given authority must be a pair that really signs.
  if (Status st = pki::VerifyIssuedBy(server.certificate_pem,
                                      authority.certificate_pem);
      !st.ok()) {
    return Status::InvalidArgument(
        "the certificate authority in --ca-cert and --ca-key does not sign "
        "certificates that verify against it (do the key and the "
        "certificate belong together?): " +
        std::string(st.message()));
  }
  FERRY_RETURN_IF_ERROR(WriteFileAtomically(DataDirPath(dir, "ca.pem"),
                                            authority.certificate_pem, 0600));
  FERRY_RETURN_IF_ERROR(
      WriteFileAtomically(DataDirPath(dir, "ca.key"), authority.key_pem, 0600));
  FERRY_RETURN_IF_ERROR(WriteFileAtomically(DataDirPath(dir, "server.pem"),
                                            server.certificate_pem, 0600));
  FERRY_RETURN_IF_ERROR(WriteFileAtomically(DataDirPath(dir, "server.key"),
                                            server.key_pem, 0600));
  FERRY_ASSIGN_OR_RETURN(auto sealer,
                         Sealer::OpenKeyFile(DataDirPath(dir, "secret.key")));

  // The database, its schema and the first access key.
  FERRY_ASSIGN_OR_RETURN(auto db, OpenDatabase(DatabaseSpec(dir, options.db)));
  FERRY_RETURN_IF_ERROR(Migrate(*db, StateStore::Migrations(*sealer)));
  AccessKey key = NewAccessKey();
  const int64_t now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count();
  FERRY_RETURN_IF_ERROR(AddAccessKey(*db, *sealer, key, now_ms));
  FERRY_RETURN_IF_ERROR(WriteFileAtomically(
      DataDirPath(dir, "credentials"),
      "[default]\naws_access_key_id = " + key.access_key_id +
          "\naws_secret_access_key = " + key.secret_access_key + "\n",
      0600));

  // Last: its presence says the directory is complete.
  json config = {{"region", options.region},
                 {"account", options.account},
                 {"listen", options.listen},
                 {"db", options.db}};
  return WriteFileAtomically(config_path, config.dump(2) + "\n", 0600);
}

}  // namespace ferry::control
