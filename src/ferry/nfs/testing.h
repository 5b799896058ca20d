// For the live tests against a real NFS server (NFS-Ganesha): the fixture
// tests/support/nfs.sh runs it in a network namespace of its own and writes
// STATE_DIR/env (FERRY_TEST_NFS_NETNS=..., FERRY_TEST_NFS_HOST=...,
// FERRY_TEST_NFS_EXPORT=..., FERRY_TEST_NFS_DIR=..., and the squashed
// export's FERRY_TEST_NFS_SQUASH_EXPORT and _DIR); CTest sets
// FERRY_TEST_NFS_STATE=STATE_DIR for the tests whose names hold "Ganesha".
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <string>

namespace ferry::nfs_testing {

struct LiveNfs {
  std::string netns;
  std::string host;
  std::string export_path;  // "/export"
  std::string dir;          // the export's folder on this machine
  std::string squash_export;
  std::string squash_dir;
};

// Moves the calling thread, and every thread and process it starts from now
// on, into network namespace `name` (/run/netns/NAME). Call from the main
// thread before the test starts any thread. Once per process.
inline bool EnterNamespace(const std::string& name) {
  static std::string entered;
  if (entered == name) return true;
  if (!entered.empty()) {
    ADD_FAILURE() << "already in network namespace " << entered;
    return false;
  }
  const std::string path = "/run/netns/" + name;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    ADD_FAILURE() << "open " << path << ": " << std::strerror(errno);
    return false;
  }
  const int rc = ::setns(fd, CLONE_NEWNET);
  const int err = errno;
  ::close(fd);
  if (rc != 0) {
    ADD_FAILURE() << "setns " << path << ": " << std::strerror(err);
    return false;
  }
  entered = name;
  return true;
}

// Reads the fixture's env file and enters its namespace.
// FERRY_TEST_NFS_STATE unset (a test binary run by hand): nullopt and
// `*skip_reason` says how to start the fixture. Set but the file missing
// or incomplete: a test failure and nullopt.
inline std::optional<LiveNfs> ReadLiveNfs(std::string* skip_reason) {
  skip_reason->clear();
  const char* state = std::getenv("FERRY_TEST_NFS_STATE");
  if (state == nullptr || *state == '\0') {
    *skip_reason =
        "FERRY_TEST_NFS_STATE is not set: run through ctest, or start the "
        "fixture with `tests/support/nfs.sh start DIR` and set "
        "FERRY_TEST_NFS_STATE=DIR";
    return std::nullopt;
  }
  const std::string path = std::string(state) + "/env";
  std::ifstream in(path);
  if (!in) {
    ADD_FAILURE() << "FERRY_TEST_NFS_STATE=" << state << " but " << path
                  << " cannot be read (did the nfs fixture start?)";
    return std::nullopt;
  }
  std::map<std::string, std::string> vars;
  for (std::string line; std::getline(in, line);) {
    size_t eq = line.find('=');
    if (eq != std::string::npos) vars[line.substr(0, eq)] = line.substr(eq + 1);
  }
  LiveNfs nfs{
      vars["FERRY_TEST_NFS_NETNS"],         vars["FERRY_TEST_NFS_HOST"],
      vars["FERRY_TEST_NFS_EXPORT"],        vars["FERRY_TEST_NFS_DIR"],
      vars["FERRY_TEST_NFS_SQUASH_EXPORT"], vars["FERRY_TEST_NFS_SQUASH_DIR"]};
  if (nfs.netns.empty() || nfs.host.empty() || nfs.export_path.empty()) {
    ADD_FAILURE() << path << " lacks FERRY_TEST_NFS_NETNS, "
                  << "FERRY_TEST_NFS_HOST or FERRY_TEST_NFS_EXPORT";
    return std::nullopt;
  }
  if (!EnterNamespace(nfs.netns)) return std::nullopt;
  return nfs;
}

}  // namespace ferry::nfs_testing
