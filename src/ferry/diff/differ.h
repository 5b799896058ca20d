// Differ: the streaming merge of the source and destination entry streams
// into a plan.
//
// Both scanners yield entries in ComparePaths order, so one pass with one
// entry of lookahead on each side decides every path: create what only the
// source has, replace what differs, update metadata where only metadata
// differs, delete (when asked) what only the destination has, and leave the
// rest. Memory is one entry per side. With no destination scanner
// (TransferMode ALL) every source entry is planned as a create that may
// overwrite. Single-threaded: owned and driven by one planner thread.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>

#include "ferry/diff/plan.h"
#include "ferry/scan/entry_merge.h"

namespace ferry {

class Differ : public PlanSource {
 public:
  // `dst` may be null (TransferMode ALL). Both scanners must be Start()ed.
  Differ(Scanner* src, Scanner* dst, DiffOptions options);

  // The next plan item; false when both streams are exhausted. Source
  // directories are always emitted (kUnchanged when nothing differs) so the
  // consumer can follow the tree; unchanged non-directories are not.
  Result<bool> Next(PlanItem* out) override;

 private:
  EntryMerge merge_;
  const bool has_dst_;
  const DiffOptions options_;
  HardLinkTracker links_;
  // Source folder that could not be listed: nothing beneath it is deleted.
  std::optional<RelPath> src_unlisted_;
  // Destination folder that could not be listed: nothing is written beneath.
  std::optional<RelPath> dst_unlisted_;
};

}  // namespace ferry
