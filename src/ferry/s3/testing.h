// For the live tests against a real S3-compatible store (Ceph radosgw):
// the fixture tests/support/radosgw.sh writes STATE_DIR/env (lines
// FERRY_TEST_S3_ENDPOINT=..., FERRY_TEST_S3_HTTPS_ENDPOINT=...,
// FERRY_TEST_S3_CA_FILE=..., FERRY_TEST_S3_ACCESS_KEY=...,
// FERRY_TEST_S3_SECRET_KEY=..., FERRY_TEST_S3_REGION=...) and CTest sets
// FERRY_TEST_S3_STATE=STATE_DIR for the tests whose names hold "Radosgw".
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <string>

namespace ferry::s3_testing {

struct LiveS3 {
  std::string endpoint;        // http://127.0.0.1:PORT
  std::string https_endpoint;  // https://127.0.0.1:PORT2
  std::string ca_file;
  std::string access_key;
  std::string secret_key;
  std::string region;
};

// Reads the fixture's env file. FERRY_TEST_S3_STATE unset (a test binary
// run by hand): nullopt and `*skip_reason` says how to start the fixture.
// Set but the file missing or incomplete: a test failure (ADD_FAILURE) and
// nullopt, with `*skip_reason` empty.
inline std::optional<LiveS3> ReadLiveS3(std::string* skip_reason) {
  skip_reason->clear();
  const char* state = std::getenv("FERRY_TEST_S3_STATE");
  if (state == nullptr || *state == '\0') {
    *skip_reason =
        "FERRY_TEST_S3_STATE is not set: run through ctest, or start the "
        "fixture with `tests/support/radosgw.sh start DIR` and set "
        "FERRY_TEST_S3_STATE=DIR";
    return std::nullopt;
  }
  const std::string path = std::string(state) + "/env";
  std::ifstream in(path);
  if (!in) {
    ADD_FAILURE() << "FERRY_TEST_S3_STATE=" << state << " but " << path
                  << " cannot be read (did the radosgw fixture start?)";
    return std::nullopt;
  }
  std::map<std::string, std::string> vars;
  for (std::string line; std::getline(in, line);) {
    size_t eq = line.find('=');
    if (eq != std::string::npos) vars[line.substr(0, eq)] = line.substr(eq + 1);
  }
  LiveS3 s3{
      vars["FERRY_TEST_S3_ENDPOINT"],   vars["FERRY_TEST_S3_HTTPS_ENDPOINT"],
      vars["FERRY_TEST_S3_CA_FILE"],    vars["FERRY_TEST_S3_ACCESS_KEY"],
      vars["FERRY_TEST_S3_SECRET_KEY"], vars["FERRY_TEST_S3_REGION"]};
  if (s3.endpoint.empty() || s3.access_key.empty() || s3.secret_key.empty()) {
    ADD_FAILURE() << path << " lacks FERRY_TEST_S3_ENDPOINT, "
                  << "FERRY_TEST_S3_ACCESS_KEY or FERRY_TEST_S3_SECRET_KEY";
    return std::nullopt;
  }
  if (s3.region.empty()) s3.region = "us-east-1";
  return s3;
}

}  // namespace ferry::s3_testing
