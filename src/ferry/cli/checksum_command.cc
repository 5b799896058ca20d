#include "ferry/cli/checksum_command.h"

#include <cstdio>
#include <filesystem>

#include "ferry/storage/posix/posix_backend.h"
#include "ferry/verify/verifier.h"

namespace ferry {

void AddChecksumCommand(CLI::App& app, ChecksumArgs& args) {
  CLI::App* cmd =
      app.add_subcommand("checksum", "Print ferry's content digest of files");
  cmd->add_option("FILE", args.files, "Files to digest")->required();
  cmd->add_option("--algorithm", args.algorithm,
                  "XXH3-128 (default) or SHA-256");
}

int RunChecksum(const ChecksumArgs& args) {
  auto algo = ParseDigestAlgorithm(args.algorithm);
  if (!algo.ok()) {
    std::fprintf(stderr, "ferry checksum: %s\n",
                 std::string(algo.status().message()).c_str());
    return 2;
  }
  int rc = 0;
  for (const std::string& file : args.files) {
    std::filesystem::path p(file);
    std::string dir = p.has_parent_path() ? p.parent_path().string() : ".";
    auto backend = OpenPosixBackend(dir);
    Result<RelPath> name = RelPath::Parse(p.filename().string());
    if (!backend.ok() || !name.ok() || name->IsRoot()) {
      std::fprintf(stderr, "ferry checksum: %s: cannot open\n", file.c_str());
      rc = 1;
      continue;
    }
    std::stop_source never;
    auto digest =
        DigestFile(backend->get(), *name, *algo, never.get_token(), nullptr);
    if (!digest.ok()) {
      std::fprintf(stderr, "ferry checksum: %s: %s\n", file.c_str(),
                   std::string(digest.status().message()).c_str());
      rc = 1;
      continue;
    }
    std::printf("%s  %s\n", digest->first.Hex().c_str(), file.c_str());
  }
  return rc;
}

}  // namespace ferry
