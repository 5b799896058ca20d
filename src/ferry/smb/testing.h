// For the live tests against a real SMB server (Samba's smbd): the fixture
// tests/support/samba.sh writes STATE_DIR/env (FERRY_TEST_SMB_HOST=...,
// FERRY_TEST_SMB_SHARE=..., FERRY_TEST_SMB_USER=...,
// FERRY_TEST_SMB_PASSWORD=..., FERRY_TEST_SMB_DIR=...) and CTest sets
// FERRY_TEST_SMB_STATE=STATE_DIR for the tests whose names hold "Samba".
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <string>

namespace ferry::smb_testing {

struct LiveSmb {
  std::string host;  // 127.0.0.1:PORT
  std::string share;
  std::string user;
  std::string password;
  std::string dir;  // the share's folder on this machine
};

// Reads the fixture's env file. FERRY_TEST_SMB_STATE unset (a test binary
// run by hand): nullopt and `*skip_reason` says how to start the fixture.
// Set but the file missing or incomplete: a test failure and nullopt.
inline std::optional<LiveSmb> ReadLiveSmb(std::string* skip_reason) {
  skip_reason->clear();
  const char* state = std::getenv("FERRY_TEST_SMB_STATE");
  if (state == nullptr || *state == '\0') {
    *skip_reason =
        "FERRY_TEST_SMB_STATE is not set: run through ctest, or start the "
        "fixture with `tests/support/samba.sh start DIR` and set "
        "FERRY_TEST_SMB_STATE=DIR";
    return std::nullopt;
  }
  const std::string path = std::string(state) + "/env";
  std::ifstream in(path);
  if (!in) {
    ADD_FAILURE() << "FERRY_TEST_SMB_STATE=" << state << " but " << path
                  << " cannot be read (did the samba fixture start?)";
    return std::nullopt;
  }
  std::map<std::string, std::string> vars;
  for (std::string line; std::getline(in, line);) {
    size_t eq = line.find('=');
    if (eq != std::string::npos) vars[line.substr(0, eq)] = line.substr(eq + 1);
  }
  LiveSmb smb{vars["FERRY_TEST_SMB_HOST"], vars["FERRY_TEST_SMB_SHARE"],
              vars["FERRY_TEST_SMB_USER"], vars["FERRY_TEST_SMB_PASSWORD"],
              vars["FERRY_TEST_SMB_DIR"]};
  if (smb.host.empty() || smb.share.empty() || smb.user.empty()) {
    ADD_FAILURE() << path << " lacks FERRY_TEST_SMB_HOST, "
                  << "FERRY_TEST_SMB_SHARE or FERRY_TEST_SMB_USER";
    return std::nullopt;
  }
  return smb;
}

}  // namespace ferry::smb_testing
