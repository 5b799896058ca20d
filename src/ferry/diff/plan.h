// The plan: what the diff decides for each path, and the comparison that
// decides it. Shared by the streaming Differ and the manifest planner.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "ferry/base/status.h"
#include "ferry/storage/entry.h"

namespace ferry {

enum class PlanAction : uint8_t {
  kCreate,          // nothing (known) at the destination: copy it
  kReplace,         // content or type differs: copy it over what is there
  kUpdateMetadata,  // same content, metadata differs: apply metadata only
  kLink,            // another name of a file already planned: hard-link it
  kUnchanged,       // nothing to do (emitted for directories only)
  kSkipOverwrite,   // differs, but OverwriteMode NEVER keeps the destination
  kSkipDevice,      // a device while PreserveDevices is NONE
  kDelete,          // only at the destination, and deletes were asked for
  kFailUnlisted,    // beneath a destination folder that could not be listed
  kFailMissing,     // named by the manifest but not at the source
  kFailCompare,     // its metadata, needed to compare it, could not be read
};

std::string_view PlanActionName(PlanAction action);

// The names of one multiply-linked source file. The first name seen is
// copied as a file; the others become hard links to it once it is done.
struct HardLinkGroup {
  enum State : int { kPending = 0, kDone = 1, kFailed = 2 };
  RelPath first;
  // The first name's inode at the destination when it stays as it is.
  std::optional<uint64_t> dst_ino;
  std::atomic<int> state{kPending};  // set by the transfer, waited on by links
  uint32_t unseen = 0;               // names not met yet (planner only)
};

struct PlanItem {
  PlanAction action = PlanAction::kUnchanged;
  Entry src;                 // every action but kDelete
  std::optional<Entry> dst;  // what the destination holds, when known
  // False when the destination was not scanned (TransferMode ALL): then an
  // empty `dst` does not mean the path is free.
  bool dst_known = true;
  std::string reason;  // why: "new", "size differs", "mtime differs", ...
  // kLink: the group whose first name to link to. The first name's own item
  // carries it too, so that the transfer can tell the links when it is done.
  std::shared_ptr<HardLinkGroup> link_group;
};

struct DiffOptions {
  bool overwrite = true;        // OverwriteMode ALWAYS
  bool remove_deleted = false;  // PreserveDeletedFiles REMOVE
  bool preserve_devices = false;
  bool hard_links = false;  // both locations can hold hard links
  // How attribute-only changes (extended attributes, ACLs) are found when
  // they are preserved. kCtime: scans do not read attributes (that would
  // double the cost of a scan); an item whose source ctime is newer than its
  // destination ctime (its attributes changed after ferry wrote it) gets its
  // metadata applied again. Sound while both file systems share a clock,
  // except for a change made in the same clock tick as ferry's write of that
  // same item (a concurrent change); a destination clock ahead of the
  // source's hides such changes.
  // kAlways: scans read attributes and their hashes are compared.
  enum class AttributeCheck : uint8_t { kNone, kCtime, kAlways };
  AttributeCheck attributes = AttributeCheck::kNone;
  // Which metadata counts as a difference (mtime here also means "compare
  // mtimes to decide whether content changed").
  MetadataPolicy compare;
  int64_t mtime_granularity_ns = 1;
  // Adjusts each source entry before comparison (owner mapping).
  std::function<void(Entry*)> map_source;
  // Entries a listing gave without their metadata (Entry::kPartial, object
  // stores) are compared without reading it when the destination was
  // written after the source last changed: same size, and the destination's
  // ctime more than this many nanoseconds past the source's (margin for the
  // two clocks' difference and resolution). That is the test `aws s3 sync`
  // and rclone's --update make, with ctime (which moves on any change of
  // content or metadata) in place of mtime. It cannot see a change someone
  // else makes at the destination after ferry wrote it, if the size stays.
  // Negative: never; every such pair is compared in full (one HEAD each).
  int64_t written_after_margin_ns = -1;
};

// A stream of plan items in ComparePaths order: the Differ's merge of two
// scans, or a manifest's list of paths.
class PlanSource {
 public:
  virtual ~PlanSource() = default;
  // The next item; false at the end. An error ends the plan.
  virtual Result<bool> Next(PlanItem* out) = 0;
};

// Decides what to do with `src` given what the destination holds (`dst`,
// nullopt when nothing is there or, if !dst_known, when it was not looked at).
PlanItem PlanPath(Entry src, std::optional<Entry> dst, bool dst_known,
                  const DiffOptions& options);

// How a path at both locations compares when a listing left one side's
// metadata unknown (either is Entry::kPartial).
enum class PartialCompare : uint8_t {
  kDecided,        // PlanPath decides without it (type or size differs)
  kUnchanged,      // same size, written after the source last changed
  kNeedsMetadata,  // Stat the partial side(s), then PlanPath
};
PartialCompare ComparePartial(const Entry& src, const Entry& dst,
                              const DiffOptions& options);

// Turns the second and later names of a multiply-linked source file into
// kLink items (or leaves them out when the destination already links them).
// Memory: one group per multiply-linked inode until all its names are seen.
class HardLinkTracker {
 public:
  // Returns false if `item` needs no action after all.
  bool Apply(PlanItem* item, const DiffOptions& options);

 private:
  struct Key {
    uint64_t dev;
    uint64_t ino;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const { return k.ino * 1000003u ^ k.dev; }
  };
  std::unordered_map<Key, std::shared_ptr<HardLinkGroup>, KeyHash> groups_;
};

}  // namespace ferry
