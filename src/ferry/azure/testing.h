// For the live tests against Azurite: the fixture tests/support/azurite.sh
// writes STATE_DIR/env (FERRY_TEST_AZURE_ENDPOINT=..., _ACCOUNT, _KEY,
// _CONTAINER, _SAS, _SAS_READ_ONLY) and CTest sets
// FERRY_TEST_AZURE_STATE=STATE_DIR for the tests whose names hold "Azurite".
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <string>

namespace ferry::azure_testing {

struct LiveAzure {
  std::string endpoint;  // http://127.0.0.1:PORT/devstoreaccount1
  std::string account;
  std::string key;
  std::string container;  // made by the fixture
  std::string sas;        // read, add, create, write, delete, list
  std::string sas_read_only;
};

// Reads the fixture's env file. FERRY_TEST_AZURE_STATE unset (a test binary
// run by hand): nullopt and `*skip_reason` says how to start the fixture.
// Set but the file missing or incomplete: a test failure and nullopt.
inline std::optional<LiveAzure> ReadLiveAzure(std::string* skip_reason) {
  skip_reason->clear();
  const char* state = std::getenv("FERRY_TEST_AZURE_STATE");
  if (state == nullptr || *state == '\0') {
    *skip_reason =
        "FERRY_TEST_AZURE_STATE is not set: run through ctest, or start the "
        "fixture with `tests/support/azurite.sh start DIR` and set "
        "FERRY_TEST_AZURE_STATE=DIR";
    return std::nullopt;
  }
  const std::string path = std::string(state) + "/env";
  std::ifstream in(path);
  if (!in) {
    ADD_FAILURE() << "FERRY_TEST_AZURE_STATE=" << state << " but " << path
                  << " cannot be read (did the azurite fixture start?)";
    return std::nullopt;
  }
  std::map<std::string, std::string> vars;
  for (std::string line; std::getline(in, line);) {
    size_t eq = line.find('=');
    if (eq != std::string::npos) vars[line.substr(0, eq)] = line.substr(eq + 1);
  }
  LiveAzure a{vars["FERRY_TEST_AZURE_ENDPOINT"],
              vars["FERRY_TEST_AZURE_ACCOUNT"],
              vars["FERRY_TEST_AZURE_KEY"],
              vars["FERRY_TEST_AZURE_CONTAINER"],
              vars["FERRY_TEST_AZURE_SAS"],
              vars["FERRY_TEST_AZURE_SAS_READ_ONLY"]};
  if (a.endpoint.empty() || a.account.empty() || a.key.empty() ||
      a.container.empty() || a.sas.empty() || a.sas_read_only.empty()) {
    ADD_FAILURE() << path << " lacks one of FERRY_TEST_AZURE_ENDPOINT, "
                  << "_ACCOUNT, _KEY, _CONTAINER, _SAS, _SAS_READ_ONLY";
    return std::nullopt;
  }
  return a;
}

}  // namespace ferry::azure_testing
