#include "ferry/diff/plan.h"

namespace ferry {
namespace {

bool IsDevice(EntryKind k) {
  return k == EntryKind::kBlockDevice || k == EntryKind::kCharDevice;
}

// Why the content (or type) of `dst` is not that of `src`; empty if it is.
std::string_view ContentDifference(const Entry& src, const Entry& dst,
                                   const DiffOptions& options) {
  if (src.kind != dst.kind) return "type differs";
  switch (src.kind) {
    case EntryKind::kFile:
      if (src.size != dst.size) return "size differs";
      if (!src.digest.empty() && !dst.digest.empty() &&
          src.digest.algorithm == dst.digest.algorithm &&
          !(src.digest == dst.digest)) {
        return "content differs";
      }
      if (options.hard_links && src.nlink == 1 && dst.nlink > 1) {
        // One file at the source, another name of a shared file at the
        // destination: changing it in place would change the other names.
        return "no longer a hard link at the source";
      }
      if (options.compare.mtime &&
          !TimesMatch(src.mtime, dst.mtime, options.mtime_granularity_ns)) {
        return "mtime differs";
      }
      return "";
    case EntryKind::kSymlink:
      return src.link_target != dst.link_target ? "link target differs" : "";
    case EntryKind::kBlockDevice:
    case EntryKind::kCharDevice:
      return src.rdev != dst.rdev ? "device number differs" : "";
    case EntryKind::kDirectory:
    case EntryKind::kFifo:
    case EntryKind::kSocket:
      return "";
  }
  return "";
}

// Why the metadata of `dst` must not be changed in place, empty if it may:
// its inode has names the source's does not (perhaps outside the location),
// whose metadata would change with it. Replacing it leaves them alone.
std::string_view LinkedBeyondTheSource(const Entry& src, const Entry& dst,
                                       const DiffOptions& options) {
  if (dst.kind == EntryKind::kDirectory || dst.nlink <= 1) return "";
  if (!options.hard_links) return "a hard link at the destination";
  if (src.nlink <= 1) return "no longer a hard link at the source";
  if (dst.nlink > src.nlink) return "more hard links at the destination";
  return "";
}

std::string_view MetadataDifference(const Entry& src, const Entry& dst,
                                    const DiffOptions& options) {
  const MetadataPolicy& cmp = options.compare;
  if (cmp.mode && src.kind != EntryKind::kSymlink && src.mode != dst.mode) {
    return "permissions differ";
  }
  if ((cmp.uid && src.uid != dst.uid) || (cmp.gid && src.gid != dst.gid)) {
    return "owner differs";
  }
  if (cmp.mtime && src.kind != EntryKind::kFile &&
      (cmp.link_times || src.kind != EntryKind::kSymlink) &&
      !TimesMatch(src.mtime, dst.mtime, options.mtime_granularity_ns)) {
    return "mtime differs";
  }
  const bool carries =
      src.kind == EntryKind::kFile || src.kind == EntryKind::kDirectory;
  if (carries && cmp.dos_attributes) {
    if (std::string_view why = DosAttributesDifference(src, dst); !why.empty())
      return why;
  }
  if (carries && options.attributes == DiffOptions::AttributeCheck::kAlways &&
      src.xattr_hash != dst.xattr_hash) {
    return "extended attributes differ";
  }
  if (carries && options.attributes == DiffOptions::AttributeCheck::kCtime &&
      src.ctime > dst.ctime) {
    return "attributes may have changed (source ctime is newer)";
  }
  return "";
}

}  // namespace

std::string_view PlanActionName(PlanAction action) {
  switch (action) {
    case PlanAction::kCreate:
      return "create";
    case PlanAction::kReplace:
      return "replace";
    case PlanAction::kUpdateMetadata:
      return "update-metadata";
    case PlanAction::kLink:
      return "hard-link";
    case PlanAction::kUnchanged:
      return "unchanged";
    case PlanAction::kSkipOverwrite:
    case PlanAction::kSkipDevice:
      return "skip";
    case PlanAction::kDelete:
      return "delete";
    case PlanAction::kFailUnlisted:
    case PlanAction::kFailCompare:
    case PlanAction::kFailMissing:
      return "fail";
  }
  return "?";
}

PlanItem PlanPath(Entry src, std::optional<Entry> dst, bool dst_known,
                  const DiffOptions& options) {
  PlanItem item;
  item.dst_known = dst_known;
  if (IsDevice(src.kind) && !options.preserve_devices) {
    item.action = PlanAction::kSkipDevice;
    item.reason = "devices are not preserved";
  } else if (!dst) {
    item.action = PlanAction::kCreate;
    item.reason = dst_known ? "new" : "transfer mode ALL";
  } else {
    std::string_view content = ContentDifference(src, *dst, options);
    std::string_view meta =
        content.empty() ? MetadataDifference(src, *dst, options) : "";
    if (!content.empty()) {
      item.action =
          options.overwrite ? PlanAction::kReplace : PlanAction::kSkipOverwrite;
      item.reason = content;
    } else if (std::string_view linked =
                   meta.empty() ? ""
                                : LinkedBeyondTheSource(src, *dst, options);
               !linked.empty()) {
      item.action =
          options.overwrite ? PlanAction::kReplace : PlanAction::kSkipOverwrite;
      item.reason = linked;
    } else if (!meta.empty()) {
      // Folders are never "overwritten": their metadata follows the source.
      item.action = options.overwrite || src.is_dir()
                        ? PlanAction::kUpdateMetadata
                        : PlanAction::kSkipOverwrite;
      item.reason = meta;
    } else {
      item.action = PlanAction::kUnchanged;
      item.reason = "unchanged";
    }
  }
  item.src = std::move(src);
  item.dst = std::move(dst);
  return item;
}

PartialCompare ComparePartial(const Entry& src, const Entry& dst,
                              const DiffOptions& options) {
  if (src.is_dir() != dst.is_dir()) return PartialCompare::kDecided;
  if (src.is_dir()) return PartialCompare::kNeedsMetadata;
  // A partial non-folder may be a link: only file against file is decided
  // by size, and a complete side that is no file needs the other's type.
  if ((!src.partial() && !src.is_file()) || (!dst.partial() && !dst.is_file()))
    return PartialCompare::kNeedsMetadata;
  if (src.size != dst.size) return PartialCompare::kDecided;
  const bool stamped = src.ctime != FileTime{} && dst.ctime != FileTime{};
  if (options.written_after_margin_ns >= 0 && stamped &&
      dst.ctime.Nanos() - src.ctime.Nanos() > options.written_after_margin_ns) {
    return PartialCompare::kUnchanged;
  }
  return PartialCompare::kNeedsMetadata;
}

bool HardLinkTracker::Apply(PlanItem* item, const DiffOptions& options) {
  const Entry& src = item->src;
  if (!options.hard_links || src.kind != EntryKind::kFile || src.nlink < 2) {
    return item->action != PlanAction::kUnchanged;
  }
  Key key{src.dev, src.ino};
  auto it = groups_.find(key);
  if (it == groups_.end()) {
    // The first name: copied (or kept) as a file.
    auto group = std::make_shared<HardLinkGroup>();
    group->first = src.path;
    group->unseen = src.nlink - 1;
    switch (item->action) {
      case PlanAction::kUnchanged:
      case PlanAction::kSkipOverwrite:
      case PlanAction::kUpdateMetadata:
        if (item->dst) group->dst_ino = item->dst->ino;
        break;
      default:
        break;
    }
    if (item->action == PlanAction::kUnchanged ||
        item->action == PlanAction::kSkipOverwrite) {
      group->state.store(HardLinkGroup::kDone);
    } else {
      item->link_group = group;
    }
    groups_.emplace(key, std::move(group));
    return item->action != PlanAction::kUnchanged;
  }
  std::shared_ptr<HardLinkGroup> group = it->second;
  if (--group->unseen == 0) groups_.erase(it);
  if (item->dst && group->dst_ino && item->dst->kind == EntryKind::kFile &&
      item->dst->ino == *group->dst_ino) {
    return false;  // already another name of the same destination file
  }
  if (item->dst && !options.overwrite) {
    item->action = PlanAction::kSkipOverwrite;
    item->reason = "hard link differs";
    return true;
  }
  item->action = PlanAction::kLink;
  item->reason = "hard link";
  item->link_group = std::move(group);
  return true;
}

}  // namespace ferry
