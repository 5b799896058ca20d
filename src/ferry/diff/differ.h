// Differ: the streaming merge of the source and destination entry streams
// into a plan.
//
// Both scanners yield entries in ComparePaths order, so one pass with one
// entry of lookahead on each side decides every path: create what only the
// source has, replace what differs, update metadata where only metadata
// differs, delete (when asked) what only the destination has, and leave the
// rest. Memory is one entry per side. With no destination scanner
// (TransferMode ALL) every source entry is planned as a create that may
// overwrite.
//
// Entries a listing gave without their metadata (Entry::kPartial) are
// compared without it where ComparePartial allows; the rest are looked up
// (Backend::Stat) before they are planned, many at a time: the plan is
// worked out a window at a time (up to kWindowItems items, or
// kWindowLookups lookups), the window's lookups run on up to kLookupThreads
// threads, and the items come out in order. A source folder that is to be
// created or updated is looked up too (its metadata is applied).
// Single-threaded otherwise: owned and driven by one planner thread.
#pragma once

#include <cstdint>
#include <deque>
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

  static constexpr size_t kWindowItems = 4096;
  static constexpr size_t kWindowLookups = 256;
  static constexpr size_t kLookupThreads = 16;

 private:
  struct Pending {
    PlanItem item;
    bool src_lookup = false;   // Stat the source entry, then plan again
    bool dst_lookup = false;   // Stat the destination entry, then plan again
    bool track_links = false;  // goes through links_ on the way out
    bool drop = false;         // decided to need nothing after all
  };
  // The next item of the merge, planned as far as the listings allow; false
  // at the end.
  Result<bool> NextRaw(Pending* out);
  // Fills window_ and does its lookups.
  Status FillWindow();
  // Looks up what `p` needs and plans it again.
  void Resolve(Pending& p);

  Scanner* const src_scan_;
  Scanner* const dst_scan_;
  EntryMerge merge_;
  const bool has_dst_;
  const DiffOptions options_;
  HardLinkTracker links_;
  // Source folder that could not be listed: nothing beneath it is deleted.
  std::optional<RelPath> src_unlisted_;
  // Destination folder that could not be listed: nothing is written beneath.
  std::optional<RelPath> dst_unlisted_;
  std::deque<Pending> window_;
  bool merge_done_ = false;
};

}  // namespace ferry
