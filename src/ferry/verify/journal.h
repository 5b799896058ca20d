// Journal: an append-only, disk-backed list of what the transfer wrote, read
// back by verification (ONLY_FILES_TRANSFERRED) so that memory does not grow
// with the number of files transferred. Records live in an anonymous
// temporary file that disappears with the process. Append() is thread-safe;
// reading starts once appending is over.
#pragma once

#include <cstdio>
#include <mutex>

#include "ferry/base/digest.h"
#include "ferry/storage/entry.h"

namespace ferry {

struct JournalRecord {
  Entry applied;  // the metadata written at the destination
  Digest digest;  // files whose content moved: the source digest
  bool metadata_only = false;
};

class Journal {
 public:
  Journal();
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  Status Append(const JournalRecord& record);
  uint64_t size() const;

  // Sequential reading, after the last Append.
  Status Rewind();
  // False at the end.
  Result<bool> Next(JournalRecord* out);

 private:
  mutable std::mutex mu_;
  std::FILE* file_ = nullptr;  // GUARDED_BY(mu_)
  uint64_t count_ = 0;         // GUARDED_BY(mu_)
  Status open_error_;
};

}  // namespace ferry
