#include "ferry/diff/differ.h"

namespace ferry {
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
      Entry e = std::move(*s_);
      s_.reset();
      if (e.is_dir() && e.listing_failed()) src_unlisted_ = e.path;
      PlanItem item;
      if (dst_unlisted_ && dst_unlisted_->IsAncestorOf(e.path)) {
        item.action = PlanAction::kFailUnlisted;
        item.reason = "the destination folder could not be listed";
        item.src = std::move(e);
      } else {
        item = PlanPath(std::move(e), std::nullopt, dst_ != nullptr, options_);
        if (!links_.Apply(&item, options_)) continue;
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
    PlanItem item = PlanPath(std::move(s), std::move(d), true, options_);
    if (dst_dir_replaced) {
      if (item.action == PlanAction::kReplace) {
        dst_replaced_ = item.src.path;
        dst_->SkipChildren();
      } else {
        // Kept as it is: its contents are not ours to compare.
        dst_->SkipChildren();
      }
    }
    if (!item.src.is_dir() && !links_.Apply(&item, options_)) continue;
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
