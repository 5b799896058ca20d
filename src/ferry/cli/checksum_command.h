// `ferry checksum FILE...`: prints the content digest ferry computes for a
// file (the one verification compares and reports name), so that a report
// can be checked independently. For SHA-256 it equals `sha256sum`; for
// XXH3-128 it equals `xxh128sum` for files of at most 1 MiB (see
// base/digest.h for larger files).
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace ferry {

struct ChecksumArgs {
  std::vector<std::string> files;
  std::string algorithm = "XXH3-128";
};

void AddChecksumCommand(CLI::App& app, ChecksumArgs& args);
int RunChecksum(const ChecksumArgs& args);

}  // namespace ferry
