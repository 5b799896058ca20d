// Manifests: DataSync's list of exactly which files to transfer.
//
// A manifest is CSV (RFC 4180 quoting, UTF-8): one file path per record,
// relative to the source location, with an optional second field (an object
// version, which file systems ignore). ParseManifest checks every path and
// returns them sorted and without duplicates. ManifestPlanner then plans
// each listed file by looking it up at both locations (no scan), together
// with the folders that lead to it; a listed path that is missing at the
// source fails with ManifestFileDoesNotExist. A manifest never deletes.
// The parsed list is held in memory (a path each).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/diff/plan.h"
#include "ferry/storage/backend.h"

namespace ferry {

inline constexpr std::string_view kManifestFileDoesNotExist =
    "ManifestFileDoesNotExist";

// Errors name the record (line) and say what is wrong with it.
Result<std::vector<RelPath>> ParseManifest(std::string_view csv);

class ManifestPlanner : public PlanSource {
 public:
  // `paths` sorted by ComparePaths (as ParseManifest returns them).
  // With `transfer_all` (TransferMode ALL) the destination is not looked
  // at: every listed file is copied.
  ManifestPlanner(Backend* src, Backend* dst,
                  std::shared_ptr<const std::vector<RelPath>> paths,
                  DiffOptions options, bool transfer_all);

  Result<bool> Next(PlanItem* out) override;

  // How many listed files were found at the source.
  uint64_t found() const { return found_; }

 private:
  Result<std::optional<Entry>> StatSource(const RelPath& path);

  Backend* const src_;
  Backend* const dst_;
  const std::shared_ptr<const std::vector<RelPath>> paths_;
  const DiffOptions options_;
  const bool transfer_all_;
  HardLinkTracker links_;
  size_t next_ = 0;
  std::vector<RelPath>
      open_dirs_;  // folders emitted on the way to the last path
  std::vector<PlanItem> pending_;  // items ready to hand out, in reverse order
  uint64_t found_ = 0;
};

}  // namespace ferry
