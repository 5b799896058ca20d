#include "ferry/diff/differ.h"

namespace ferry {
Differ::Differ(Scanner* src, Scanner* dst, DiffOptions options)
    : merge_(src, dst, options.map_source),
      has_dst_(dst != nullptr),
      options_(std::move(options)) {}

Result<bool> Differ::Next(PlanItem* out) {
  std::optional<Entry> s;
  std::optional<Entry> d;
  while (true) {
    FERRY_ASSIGN_OR_RETURN(bool more, merge_.Next(&s, &d));
    if (!more) return false;

    if (s && !d) {  // only at the source
      if (s->is_dir() && s->listing_failed()) src_unlisted_ = s->path;
      PlanItem item;
      if (dst_unlisted_ && dst_unlisted_->IsAncestorOf(s->path)) {
        item.action = PlanAction::kFailUnlisted;
        item.reason = "the destination folder could not be listed";
        item.src = std::move(*s);
      } else {
        item = PlanPath(std::move(*s), std::nullopt, has_dst_, options_);
        if (!links_.Apply(&item, options_)) continue;
      }
      *out = std::move(item);
      return true;
    }

    if (!s) {  // only at the destination
      bool protected_by_failed_listing =
          src_unlisted_ && src_unlisted_->IsAncestorOf(d->path);
      if (!options_.remove_deleted || protected_by_failed_listing ||
          d->listing_failed()) {
        if (d->is_dir()) merge_.SkipDestinationChildren();
        continue;
      }
      PlanItem item;
      item.action = PlanAction::kDelete;
      item.reason = "not at the source";
      item.dst = std::move(*d);
      *out = std::move(item);
      return true;
    }

    // At both.
    if (s->is_dir() && s->listing_failed()) src_unlisted_ = s->path;
    if (d->is_dir() && d->listing_failed()) dst_unlisted_ = d->path;
    // A destination folder where the source has something else goes with
    // the replacement (or is kept as it is): its contents are not compared.
    if (d->is_dir() && !s->is_dir()) merge_.SkipDestinationChildren();
    PlanItem item = PlanPath(std::move(*s), std::move(*d), true, options_);
    if (!item.src.is_dir() && !links_.Apply(&item, options_)) continue;
    if (item.src.is_dir() && item.action == PlanAction::kSkipOverwrite) {
      // A folder that cannot be created where a file is kept: nothing inside
      // it can be transferred either.
      merge_.SkipSourceChildren();
    }
    *out = std::move(item);
    return true;
  }
}

}  // namespace ferry
