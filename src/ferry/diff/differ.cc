#include "ferry/diff/differ.h"

namespace ferry {
namespace {

bool IsDevice(EntryKind k) {
  return k == EntryKind::kBlockDevice || k == EntryKind::kCharDevice;
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
    case PlanAction::kUnchanged:
      return "unchanged";
    case PlanAction::kSkipOverwrite:
      return "skip";
    case PlanAction::kSkipDevice:
      return "skip";
    case PlanAction::kDelete:
      return "delete";
    case PlanAction::kFailUnlisted:
      return "fail";
  }
  return "?";
}

Differ::Differ(Scanner* src, Scanner* dst, DiffOptions options)
    : src_(src), dst_(dst), options_(std::move(options)) {}

Status Differ::Fill() {
  if (!s_ && !src_done_) {
    Entry e;
    FERRY_ASSIGN_OR_RETURN(bool more, src_->Next(&e));
    if (more) {
      if (options_.map_source) options_.map_source(&e);
      s_ = std::move(e);
    } else {
      src_done_ = true;
    }
  }
  if (dst_ == nullptr) {
    dst_done_ = true;
  } else if (!d_ && !dst_done_) {
    Entry e;
    FERRY_ASSIGN_OR_RETURN(bool more, dst_->Next(&e));
    if (more) {
      d_ = std::move(e);
    } else {
      dst_done_ = true;
    }
  }
  return Status::Ok();
}

PlanItem Differ::Compare(Entry src, Entry dst) {
  PlanItem item;
  const MetadataPolicy& cmp = options_.compare;
  std::string_view content_reason;
  if (src.kind != dst.kind) {
    content_reason = "type differs";
  } else {
    switch (src.kind) {
      case EntryKind::kFile:
        if (src.size != dst.size) {
          content_reason = "size differs";
        } else if (cmp.mtime && !TimesMatch(src.mtime, dst.mtime,
                                            options_.mtime_granularity_ns)) {
          content_reason = "mtime differs";
        }
        break;
      case EntryKind::kSymlink:
        if (src.link_target != dst.link_target) content_reason = "link target differs";
        break;
      case EntryKind::kBlockDevice:
      case EntryKind::kCharDevice:
        if (src.rdev != dst.rdev) content_reason = "device number differs";
        break;
      case EntryKind::kDirectory:
      case EntryKind::kFifo:
      case EntryKind::kSocket:
        break;
    }
  }
  std::string_view meta_reason;
  if (content_reason.empty()) {
    if (cmp.mode && src.kind != EntryKind::kSymlink && src.mode != dst.mode) {
      meta_reason = "permissions differ";
    } else if ((cmp.uid && src.uid != dst.uid) || (cmp.gid && src.gid != dst.gid)) {
      meta_reason = "owner differs";
    } else if (cmp.mtime && src.kind != EntryKind::kFile &&
               !TimesMatch(src.mtime, dst.mtime, options_.mtime_granularity_ns)) {
      meta_reason = "mtime differs";
    }
  }
  if (IsDevice(src.kind) && !options_.preserve_devices) {
    item.action = PlanAction::kSkipDevice;
    item.reason = "devices are not preserved";
  } else if (!content_reason.empty()) {
    item.action = options_.overwrite ? PlanAction::kReplace : PlanAction::kSkipOverwrite;
    item.reason = content_reason;
  } else if (!meta_reason.empty()) {
    item.action = options_.overwrite || src.is_dir() ? PlanAction::kUpdateMetadata
                                                     : PlanAction::kSkipOverwrite;
    item.reason = meta_reason;
  } else {
    item.action = PlanAction::kUnchanged;
    item.reason = "unchanged";
  }
  item.src = std::move(src);
  item.dst = std::move(dst);
  return item;
}

Result<bool> Differ::Next(PlanItem* out) {
  while (true) {
    FERRY_RETURN_IF_ERROR(Fill());
    if (d_ && dst_replaced_) {
      if (dst_replaced_->IsAncestorOf(d_->path)) {
        d_.reset();  // goes with the folder being replaced
        continue;
      }
      dst_replaced_.reset();
    }
    if (!s_ && !d_) return false;
    int c = !d_ ? -1 : !s_ ? 1 : ComparePaths(s_->path, d_->path);

    if (c < 0) {  // only at the source
      PlanItem item;
      item.src = std::move(*s_);
      s_.reset();
      if (item.src.is_dir() && item.src.listing_failed()) src_unlisted_ = item.src.path;
      if (dst_unlisted_ && dst_unlisted_->IsAncestorOf(item.src.path)) {
        item.action = PlanAction::kFailUnlisted;
        item.reason = "the destination folder could not be listed";
      } else if (IsDevice(item.src.kind) && !options_.preserve_devices) {
        item.action = PlanAction::kSkipDevice;
        item.reason = "devices are not preserved";
      } else {
        item.action = PlanAction::kCreate;
        item.reason = dst_ ? "new" : "transfer mode ALL";
        item.dst_known = dst_ != nullptr;
      }
      *out = std::move(item);
      return true;
    }

    if (c > 0) {  // only at the destination
      Entry e = std::move(*d_);
      d_.reset();
      bool protected_by_failed_listing =
          src_unlisted_ && src_unlisted_->IsAncestorOf(e.path);
      if (!options_.remove_deleted || protected_by_failed_listing ||
          e.listing_failed()) {
        if (e.is_dir()) dst_->SkipChildren();
        continue;
      }
      PlanItem item;
      item.action = PlanAction::kDelete;
      item.reason = "not at the source";
      item.dst = std::move(e);
      *out = std::move(item);
      return true;
    }

    // At both.
    Entry s = std::move(*s_);
    Entry d = std::move(*d_);
    s_.reset();
    d_.reset();
    if (s.is_dir() && s.listing_failed()) src_unlisted_ = s.path;
    if (d.is_dir() && d.listing_failed()) dst_unlisted_ = d.path;
    bool dst_dir_replaced = d.is_dir() && !s.is_dir();
    PlanItem item = Compare(std::move(s), std::move(d));
    if (dst_dir_replaced) {
      if (item.action == PlanAction::kReplace) {
        dst_replaced_ = item.src.path;
        dst_->SkipChildren();
      } else {
        // Kept as it is: its contents are not ours to compare.
        dst_->SkipChildren();
      }
    }
    if (item.action == PlanAction::kUnchanged && !item.src.is_dir()) continue;
    if (item.src.is_dir() && item.action == PlanAction::kSkipOverwrite) {
      // A folder that cannot be created where a file is kept: nothing inside
      // it can be transferred either.
      src_->SkipChildren();
    }
    *out = std::move(item);
    return true;
  }
}

}  // namespace ferry
