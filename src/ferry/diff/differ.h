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

#include "ferry/scan/scanner.h"
#include "ferry/storage/entry.h"

namespace ferry {

enum class PlanAction : uint8_t {
  kCreate,          // nothing (known) at the destination: copy it
  kReplace,         // content or type differs: copy it over what is there
  kUpdateMetadata,  // same content, metadata differs: apply metadata only
  kUnchanged,       // nothing to do (emitted for directories only)
  kSkipOverwrite,   // differs, but OverwriteMode NEVER keeps the destination
  kSkipDevice,      // a device while PreserveDevices is NONE
  kDelete,          // only at the destination, and deletes were asked for
  kFailUnlisted,    // beneath a destination folder that could not be listed
};

std::string_view PlanActionName(PlanAction action);

struct PlanItem {
  PlanAction action = PlanAction::kUnchanged;
  Entry src;                 // every action but kDelete
  std::optional<Entry> dst;  // what the destination holds, when known
  // False when the destination was not scanned (TransferMode ALL): then an
  // empty `dst` does not mean the path is free.
  bool dst_known = true;
  std::string_view reason;   // why: "new", "size differs", "mtime differs", ...
};

struct DiffOptions {
  // TransferMode CHANGED compares with the destination; ALL does not.
  bool overwrite = true;        // OverwriteMode ALWAYS
  bool remove_deleted = false;  // PreserveDeletedFiles REMOVE
  bool preserve_devices = false;
  // Which metadata counts as a difference (mtime here also means "compare
  // mtimes to decide whether content changed").
  MetadataPolicy compare;
  int64_t mtime_granularity_ns = 1;
  // Adjusts each source entry before comparison (owner mapping).
  std::function<void(Entry*)> map_source;
};

class Differ {
 public:
  // `dst` may be null (TransferMode ALL). Both scanners must be Start()ed.
  Differ(Scanner* src, Scanner* dst, DiffOptions options);

  // The next plan item; false when both streams are exhausted. Source
  // directories are always emitted (kUnchanged when nothing differs) so the
  // consumer can follow the tree; unchanged non-directories are not.
  Result<bool> Next(PlanItem* out);

 private:
  Status Fill();
  PlanItem Compare(Entry src, Entry dst);

  Scanner* const src_;
  Scanner* const dst_;
  const DiffOptions options_;
  std::optional<Entry> s_;
  std::optional<Entry> d_;
  bool src_done_ = false;
  bool dst_done_ = false;
  // Source folder that could not be listed: nothing beneath it is deleted.
  std::optional<RelPath> src_unlisted_;
  // Destination folder that could not be listed: nothing is written beneath.
  std::optional<RelPath> dst_unlisted_;
  // Destination folder being replaced by a non-folder: its contents go with it.
  std::optional<RelPath> dst_replaced_;
};

}  // namespace ferry
