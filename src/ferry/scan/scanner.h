// Scanner: turns a backend's directory listings into one stream of entries in
// ComparePaths order (a depth-first walk with each directory's entries
// sorted), the order the diff merges.
//
// Listings are read ahead of the consumer by a few worker threads: when the
// consumer enters a directory, its subdirectories are queued and listed in
// the background, smallest path first, while it works through the current
// one. At most `prefetch_dirs` listings are held ahead of the consumer, so
// memory is bounded by that window plus the directories on the current path,
// never by the size of the tree. Filtered-out entries are dropped at listing
// time and excluded directories are never opened. ferry's own temporary
// files are hidden.
//
// Next() and SkipChildren() are for one consumer thread; everything else is
// internal. Destruction stops the workers.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "ferry/base/outage_watch.h"
#include "ferry/options/filter.h"
#include "ferry/storage/backend.h"

namespace ferry {

struct ScanOptions {
  int threads = 2;
  size_t prefetch_dirs = 64;
  // Stop reading ahead once this many prefetched entries wait.
  size_t prefetch_entries = 8192;
  const Filter* filter = nullptr;  // not owned; null = no filter
  // Read the attributes of files and folders into Entry::xattr_hash (the
  // ones these select). Costs a call per entry.
  bool xattrs = false;
  bool acls = false;
  std::stop_token stop;
  // Asked when a listing fails with a retryable status: the location may be
  // out, and the folder is listed again when it is back (not owned; null =
  // the failure stands). Not asked by Start(): a location that cannot be
  // reached at all when the run begins ends it at once.
  OutageWatch* outage = nullptr;
  // Called (on the consumer's thread) for a directory that cannot be listed;
  // the directory itself is still returned, flagged kListingFailed.
  std::function<void(const Entry& dir, const Status& status)> on_list_error;
  // Staging a destination listing shows (Entry::kStaging: ferry's own
  // temporary files) is never returned as data; each is reported here
  // (called from listing threads) when set.
  std::function<void(const Entry& staging)> on_staging;
};

// Counts of what the scan saw, before the diff decides anything. Updated by
// the consumer's thread; readable from any thread.
struct ScanCounts {
  std::atomic<uint64_t> files{0};  // non-directories
  std::atomic<uint64_t> dirs{0};
  std::atomic<uint64_t> bytes{0};
};

class Scanner {
 public:
  Scanner(Backend* backend, ScanOptions options);
  ~Scanner();
  Scanner(const Scanner&) = delete;
  Scanner& operator=(const Scanner&) = delete;

  // Stats the root. An error (missing, not a directory, unreadable) means the
  // location cannot be scanned at all.
  Status Start();
  const Entry& root() const { return root_; }
  Backend* backend() const { return backend_; }

  // The next entry beneath the root; false at the end. An error here is a
  // failure to list the root itself; deeper listing failures go to
  // on_list_error.
  Result<bool> Next(Entry* out);

  // Do not descend into the directory Next() just returned.
  void SkipChildren() { descend_ = false; }

  const ScanCounts& counts() const { return counts_; }

 private:
  struct Listing {
    enum class State { kQueued, kRunning, kDone } state = State::kQueued;
    std::vector<Entry> entries;  // sorted, filtered
    Status status;
    uint64_t excluded_files = 0;  // dropped by an exclude pattern
    uint64_t excluded_dirs = 0;
    std::optional<Entry> self;  // Lister::Self()
  };
  struct Frame {
    std::shared_ptr<Listing> listing;
    size_t next = 0;
  };

  void WorkerLoop(std::stop_token stop);
  // Lists `dir` into `listing` (no lock held), again after an outage.
  void Fill(const RelPath& dir, Listing* listing);
  void FillOnce(const RelPath& dir, Listing* listing);
  // Waits for, or produces, the listing of `dir`.
  std::shared_ptr<Listing> Acquire(const RelPath& dir);
  void QueueChildren(const Listing& listing);
  bool Stopped() const;

  Backend* const backend_;
  const ScanOptions options_;
  Entry root_;
  ScanCounts counts_;

  std::vector<Frame> stack_;
  bool started_ = false;
  bool descend_ = false;
  RelPath pending_dir_;
  std::shared_ptr<Listing> pending_listing_;

  std::mutex mu_;
  std::condition_variable work_cv_;  // workers wait for queued dirs or room
  std::condition_variable done_cv_;  // the consumer waits for a listing
  std::map<std::string, std::shared_ptr<Listing>> listings_;  // GUARDED_BY(mu_)
  std::set<RelPath, PathLess> queued_;                        // GUARDED_BY(mu_)
  size_t ahead_dirs_ = 0;     // GUARDED_BY(mu_): running or done, unclaimed
  size_t ahead_entries_ = 0;  // GUARDED_BY(mu_)
  bool shutdown_ = false;     // GUARDED_BY(mu_)
  std::vector<std::jthread> workers_;
};

}  // namespace ferry
