#include "ferry/scan/scanner.h"

#include <algorithm>
#include <cstring>

namespace ferry {
namespace {

bool NameLess(const Entry& a, const Entry& b) {
  std::string_view x = a.path.name();
  std::string_view y = b.path.name();
  int c = std::memcmp(x.data(), y.data(), std::min(x.size(), y.size()));
  return c < 0 || (c == 0 && x.size() < y.size());
}

}  // namespace

Scanner::Scanner(Backend* backend, ScanOptions options)
    : backend_(backend), options_(std::move(options)) {}

Scanner::~Scanner() {
  {
    std::lock_guard lock(mu_);
    shutdown_ = true;
  }
  work_cv_.notify_all();
  done_cv_.notify_all();
  workers_.clear();  // joins
}

Status Scanner::Start() {
  FERRY_ASSIGN_OR_RETURN(std::optional<Entry> root, backend_->Stat(RelPath()));
  if (!root) {
    return Status::NotFound("location " + backend_->Describe() +
                            " does not exist");
  }
  if (!root->is_dir()) {
    return Status::FailedPrecondition("location " + backend_->Describe() +
                                      " is not a directory");
  }
  root_ = std::move(*root);
  int threads = std::max(0, options_.threads);
  for (int i = 0; i < threads; ++i) {
    workers_.emplace_back([this](std::stop_token st) { WorkerLoop(st); });
  }
  return Status::Ok();
}

bool Scanner::Stopped() const { return options_.stop.stop_requested(); }

void Scanner::Fill(const RelPath& dir, Listing* listing) {
  for (int outages = 0;; ++outages) {
    listing->status = Status::Ok();
    FillOnce(dir, listing);
    const Status& st = listing->status;
    if (st.ok() || !st.retryable() || !options_.outage ||
        outages >= kMaxOutageRetries ||
        !options_.outage->Recover(st, options_.stop)) {
      return;
    }
  }
}

void Scanner::FillOnce(const RelPath& dir, Listing* listing) {
  auto lister = backend_->List(dir);
  if (!lister.ok()) {
    listing->status = lister.status();
    return;
  }
  std::vector<Entry> raw;
  while (true) {
    auto more = (*lister)->NextBatch(&raw);
    if (!more.ok()) {
      listing->status = more.status();
      return;
    }
    if (!*more) break;
    if (Stopped()) {
      listing->status = Status::Cancelled("scan cancelled");
      return;
    }
  }
  listing->self = (*lister)->Self();
  listing->entries.reserve(raw.size());
  for (Entry& e : raw) {
    if (e.staging()) {
      if (options_.on_staging) options_.on_staging(e);
      continue;
    }
    FilterDecision d = options_.filter
                           ? options_.filter->Decide(e.path, e.is_dir())
                           : FilterDecision::kInclude;
    if (d == FilterDecision::kExcluded) {
      (e.is_dir() ? listing->excluded_dirs : listing->excluded_files)++;
      continue;
    }
    if (d == FilterDecision::kNotIncluded) continue;
    if ((options_.xattrs || options_.acls) && (e.is_file() || e.is_dir())) {
      auto attrs = backend_->GetXattrs(e.path);
      if (attrs.ok()) {
        e.xattr_hash = XattrHash(FilterXattrs(std::move(attrs).value(),
                                              options_.xattrs, options_.acls));
      } else if (!attrs.status().IsNotFound()) {
        listing->status = attrs.status();
        return;
      }
    }
    listing->entries.push_back(std::move(e));
  }
  if (!backend_->capabilities().sorted_listing) {
    std::sort(listing->entries.begin(), listing->entries.end(), NameLess);
  }
}

void Scanner::WorkerLoop(std::stop_token stop) {
  while (!stop.stop_requested()) {
    std::shared_ptr<Listing> listing;
    RelPath dir;
    {
      std::unique_lock lock(mu_);
      work_cv_.wait(lock, [&] {
        return shutdown_ ||
               (!queued_.empty() && ahead_dirs_ < options_.prefetch_dirs &&
                ahead_entries_ < options_.prefetch_entries);
      });
      if (shutdown_) return;
      dir = *queued_.begin();
      queued_.erase(queued_.begin());
      listing = listings_[dir.str()];
      listing->state = Listing::State::kRunning;
      ++ahead_dirs_;
    }
    Fill(dir, listing.get());
    {
      std::lock_guard lock(mu_);
      listing->state = Listing::State::kDone;
      ahead_entries_ += listing->entries.size();
    }
    done_cv_.notify_all();
  }
}

std::shared_ptr<Scanner::Listing> Scanner::Acquire(const RelPath& dir) {
  std::unique_lock lock(mu_);
  auto it = listings_.find(dir.str());
  if (it == listings_.end() || it->second->state == Listing::State::kQueued) {
    // Nobody has started it: list it here rather than wait for a worker.
    std::shared_ptr<Listing> listing;
    if (it == listings_.end()) {
      listing = std::make_shared<Listing>();
    } else {
      listing = it->second;
      queued_.erase(dir);
      listings_.erase(it);
    }
    listing->state = Listing::State::kRunning;
    lock.unlock();
    Fill(dir, listing.get());
    listing->state = Listing::State::kDone;
    return listing;
  }
  std::shared_ptr<Listing> listing = it->second;
  done_cv_.wait(lock, [&] {
    return shutdown_ || listing->state == Listing::State::kDone;
  });
  if (listing->state != Listing::State::kDone) {
    listing->status = Status::Cancelled("scan stopped");
    return listing;
  }
  listings_.erase(dir.str());
  --ahead_dirs_;
  ahead_entries_ -= listing->entries.size();
  lock.unlock();
  work_cv_.notify_all();
  return listing;
}

void Scanner::QueueChildren(const Listing& listing) {
  counts_.files.fetch_add(listing.excluded_files, std::memory_order_relaxed);
  counts_.dirs.fetch_add(listing.excluded_dirs, std::memory_order_relaxed);
  bool any = false;
  {
    std::lock_guard lock(mu_);
    for (const Entry& e : listing.entries) {
      if (!e.is_dir()) continue;
      auto [it, inserted] = listings_.try_emplace(e.path.str());
      if (inserted) {
        it->second = std::make_shared<Listing>();
        queued_.insert(e.path);
        any = true;
      }
    }
  }
  if (any) work_cv_.notify_all();
}

Result<bool> Scanner::Next(Entry* out) {
  if (!started_) {
    started_ = true;
    std::shared_ptr<Listing> root = Acquire(RelPath());
    if (!root->status.ok()) {
      return root->status.WithContext("cannot list " + backend_->Describe());
    }
    QueueChildren(*root);
    stack_.push_back(Frame{std::move(root), 0});
  }
  if (pending_listing_) {
    if (descend_) {
      QueueChildren(*pending_listing_);
      stack_.push_back(Frame{std::move(pending_listing_), 0});
    }
    pending_listing_.reset();
    descend_ = false;
  }
  while (!stack_.empty()) {
    if (Stopped()) return Status::Cancelled("scan cancelled");
    Frame& f = stack_.back();
    if (f.next >= f.listing->entries.size()) {
      stack_.pop_back();
      continue;
    }
    Entry& e = f.listing->entries[f.next++];
    if (e.is_dir()) {
      counts_.dirs.fetch_add(1, std::memory_order_relaxed);
      std::shared_ptr<Listing> child = Acquire(e.path);
      if (!child->status.ok()) {
        if (Stopped()) return Status::Cancelled("scan cancelled");
        e.flags |= Entry::kListingFailed;
        if (options_.on_list_error) options_.on_list_error(e, child->status);
      } else {
        // What the parent's listing left out of the folder's entry, its own
        // listing may tell.
        if (e.partial() && child->self && child->self->path == e.path &&
            child->self->is_dir()) {
          e = std::move(*child->self);
        }
        pending_listing_ = std::move(child);
        descend_ = true;
      }
    } else {
      counts_.files.fetch_add(1, std::memory_order_relaxed);
      counts_.bytes.fetch_add(e.size, std::memory_order_relaxed);
    }
    *out = std::move(e);
    return true;
  }
  return false;
}

}  // namespace ferry
