#include "ferry/scan/entry_merge.h"

namespace ferry {

EntryMerge::EntryMerge(Scanner* src, Scanner* dst,
                       std::function<void(Entry*)> map_source)
    : src_(src), dst_(dst), map_source_(std::move(map_source)) {
  if (!dst_) dst_done_ = true;
}

Status EntryMerge::Fill() {
  if (!s_ && !src_done_) {
    Entry e;
    FERRY_ASSIGN_OR_RETURN(bool more, src_->Next(&e));
    if (more) {
      if (map_source_) map_source_(&e);
      s_ = std::move(e);
    } else {
      src_done_ = true;
    }
  }
  if (!d_ && !dst_done_) {
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

Result<bool> EntryMerge::Next(std::optional<Entry>* src,
                              std::optional<Entry>* dst) {
  FERRY_RETURN_IF_ERROR(Fill());
  src->reset();
  dst->reset();
  if (!s_ && !d_) return false;
  int c = !d_ ? -1 : !s_ ? 1 : ComparePaths(s_->path, d_->path);
  if (c <= 0) {
    *src = std::move(s_);
    s_.reset();
  }
  if (c >= 0) {
    *dst = std::move(d_);
    d_.reset();
  }
  return true;
}

}  // namespace ferry
