#include "ferry/diff/differ.h"

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

namespace ferry {

namespace {

// Whether the transfer applies a source folder's metadata for `action`.
bool AppliesMetadata(PlanAction action) {
  return action == PlanAction::kCreate || action == PlanAction::kReplace ||
         action == PlanAction::kUpdateMetadata;
}

}  // namespace

Differ::Differ(Scanner* src, Scanner* dst, DiffOptions options)
    : src_scan_(src),
      dst_scan_(dst),
      merge_(src, dst, options.map_source),
      has_dst_(dst != nullptr),
      options_(std::move(options)) {}

Result<bool> Differ::Next(PlanItem* out) {
  while (true) {
    if (window_.empty()) {
      if (merge_done_) return false;
      FERRY_RETURN_IF_ERROR(FillWindow());
      if (window_.empty()) return false;
    }
    Pending p = std::move(window_.front());
    window_.pop_front();
    if (p.drop) continue;
    if (p.track_links && !links_.Apply(&p.item, options_)) continue;
    *out = std::move(p.item);
    return true;
  }
}

Status Differ::FillWindow() {
  std::vector<size_t> lookups;
  while (window_.size() < kWindowItems && lookups.size() < kWindowLookups) {
    Pending p;
    FERRY_ASSIGN_OR_RETURN(bool more, NextRaw(&p));
    if (!more) {
      merge_done_ = true;
      break;
    }
    if (p.src_lookup || p.dst_lookup) lookups.push_back(window_.size());
    window_.push_back(std::move(p));
  }
  const size_t threads = std::min(lookups.size(), kLookupThreads);
  if (threads <= 1) {
    for (size_t k : lookups) Resolve(window_[k]);
    return Status::Ok();
  }
  std::atomic<size_t> next{0};
  std::vector<std::jthread> pool;
  for (size_t t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (size_t i; (i = next.fetch_add(1)) < lookups.size();) {
        Resolve(window_[lookups[i]]);
      }
    });
  }
  return Status::Ok();
}

void Differ::Resolve(Pending& p) {
  PlanItem& item = p.item;
  const RelPath path = item.src.path;
  auto fail = [&](std::string_view side, const Status& st) {
    item.action = PlanAction::kFailCompare;
    item.reason = "cannot read its metadata at the " + std::string(side) +
                  " to compare: " + std::string(st.message());
    p.track_links = false;
  };
  Entry src = item.src;
  if (p.src_lookup) {
    auto now = src_scan_->backend()->Stat(path);
    if (!now.ok()) return fail("source", now.status());
    if (!*now) {  // gone since the listing: nothing to copy
      p.drop = true;
      return;
    }
    src = std::move(**now);
    if (options_.map_source) options_.map_source(&src);
  }
  std::optional<Entry> dst = item.dst;
  if (p.dst_lookup) {
    auto now = dst_scan_->backend()->Stat(path);
    if (!now.ok()) return fail("destination", now.status());
    dst = std::move(*now);
  }
  const bool dst_known = item.dst_known;
  // Unchanged files are dropped on the way out (HardLinkTracker::Apply).
  item = PlanPath(std::move(src), std::move(dst), dst_known, options_);
}

Result<bool> Differ::NextRaw(Pending* out) {
  std::optional<Entry> s;
  std::optional<Entry> d;
  while (true) {
    FERRY_ASSIGN_OR_RETURN(bool more, merge_.Next(&s, &d));
    if (!more) return false;

    if (s && !d) {  // only at the source
      if (s->is_dir() && s->listing_failed()) src_unlisted_ = s->path;
      Pending p;
      if (dst_unlisted_ && dst_unlisted_->IsAncestorOf(s->path)) {
        p.item.action = PlanAction::kFailUnlisted;
        p.item.reason = "the destination folder could not be listed";
        p.item.src = std::move(*s);
      } else {
        p.item = PlanPath(std::move(*s), std::nullopt, has_dst_, options_);
        p.track_links = true;
        p.src_lookup = p.item.src.partial() && p.item.src.is_dir() &&
                       AppliesMetadata(p.item.action);
      }
      *out = std::move(p);
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
      Pending p;
      p.item.action = PlanAction::kDelete;
      p.item.reason = "not at the source";
      p.item.dst = std::move(*d);
      *out = std::move(p);
      return true;
    }

    // At both.
    if (s->is_dir() && s->listing_failed()) src_unlisted_ = s->path;
    if (d->is_dir() && d->listing_failed()) dst_unlisted_ = d->path;
    // A destination folder where the source has something else goes with
    // the replacement (or is kept as it is): its contents are not compared.
    if (d->is_dir() && !s->is_dir()) merge_.SkipDestinationChildren();
    Pending p;
    PartialCompare partial = PartialCompare::kDecided;
    if (s->partial() || d->partial()) {
      partial = ComparePartial(*s, *d, options_);
    }
    if (partial == PartialCompare::kUnchanged) {
      continue;  // not a folder (ComparePartial never says so of folders)
    }
    const bool src_partial = s->partial();
    const bool dst_partial = d->partial();
    p.item = PlanPath(std::move(*s), std::move(*d), true, options_);
    p.track_links = !p.item.src.is_dir();
    if (partial == PartialCompare::kNeedsMetadata) {
      p.src_lookup = src_partial;
      p.dst_lookup = dst_partial;
    } else if (p.item.src.partial() && p.item.src.is_dir() &&
               AppliesMetadata(p.item.action)) {
      p.src_lookup = true;
    }
    if (p.item.src.is_dir() && p.item.action == PlanAction::kSkipOverwrite) {
      // A folder that cannot be created where a file is kept: nothing inside
      // it can be transferred either. (Decided by the types alone: a lookup
      // only ever concerns a folder's metadata.)
      merge_.SkipSourceChildren();
    }
    *out = std::move(p);
    return true;
  }
}

}  // namespace ferry
