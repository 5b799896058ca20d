// EntryMerge: walks two sorted entry streams (a source and a destination
// scan) in step, yielding for each path the entry each side has. The diff and
// point-in-time verification both consume it. One entry of lookahead per
// side; single-threaded.
#pragma once

#include <functional>
#include <optional>

#include "ferry/scan/scanner.h"

namespace ferry {

class EntryMerge {
 public:
  // `dst` may be null: every pair then has only a source side. `map_source`
  // (optional) adjusts each source entry as it is read.
  EntryMerge(Scanner* src, Scanner* dst,
             std::function<void(Entry*)> map_source = nullptr);

  // The next path: `src` and/or `dst` set; false at the end.
  Result<bool> Next(std::optional<Entry>* src, std::optional<Entry>* dst);

  // Do not descend into the source or destination folder of the pair Next()
  // just returned.
  void SkipSourceChildren() { src_->SkipChildren(); }
  void SkipDestinationChildren() {
    if (dst_) dst_->SkipChildren();
  }

 private:
  Status Fill();

  Scanner* const src_;
  Scanner* const dst_;
  const std::function<void(Entry*)> map_source_;
  std::optional<Entry> s_;
  std::optional<Entry> d_;
  bool src_done_ = false;
  bool dst_done_ = false;
};

}  // namespace ferry
