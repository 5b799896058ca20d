// BoundedQueue<T>: a blocking multi-producer multi-consumer FIFO with a fixed
// capacity, the only hand-off between pipeline stages. Push blocks while the
// queue is full, so a fast producer cannot run ahead of its consumers and
// memory stays bounded. Close() wakes everyone: later pushes fail and pops
// drain what is left, then return nothing. Thread-safe.
//
// blocked_pushers() and blocked_poppers() tell how many threads wait inside
// Push and Pop right now (for diagnostics, and for tests that must know a
// thread is blocked rather than guess it from elapsed time).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>

namespace ferry {

template <typename T>
class BoundedQueue {
 public:
  explicit BoundedQueue(size_t capacity) : capacity_(capacity ? capacity : 1) {}
  BoundedQueue(const BoundedQueue&) = delete;
  BoundedQueue& operator=(const BoundedQueue&) = delete;

  // Returns false (and drops `item`) if the queue was closed.
  bool Push(T item) {
    std::unique_lock lock(mu_);
    if (!closed_ && items_.size() >= capacity_) {
      ++blocked_pushers_;
      not_full_.wait(lock,
                     [&] { return closed_ || items_.size() < capacity_; });
      --blocked_pushers_;
    }
    if (closed_) return false;
    items_.push_back(std::move(item));
    not_empty_.notify_one();
    return true;
  }

  // Blocks until an item is available; nullopt once closed and drained.
  std::optional<T> Pop() {
    std::unique_lock lock(mu_);
    if (!closed_ && items_.empty()) {
      ++blocked_poppers_;
      not_empty_.wait(lock, [&] { return closed_ || !items_.empty(); });
      --blocked_poppers_;
    }
    if (items_.empty()) return std::nullopt;
    T item = std::move(items_.front());
    items_.pop_front();
    not_full_.notify_one();
    return item;
  }

  void Close() {
    std::lock_guard lock(mu_);
    closed_ = true;
    not_full_.notify_all();
    not_empty_.notify_all();
  }

  size_t size() const {
    std::lock_guard lock(mu_);
    return items_.size();
  }

  size_t blocked_pushers() const {
    std::lock_guard lock(mu_);
    return blocked_pushers_;
  }

  size_t blocked_poppers() const {
    std::lock_guard lock(mu_);
    return blocked_poppers_;
  }

 private:
  const size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable not_full_;
  std::condition_variable not_empty_;
  std::deque<T> items_;
  bool closed_ = false;
  size_t blocked_pushers_ = 0;  // GUARDED_BY(mu_)
  size_t blocked_poppers_ = 0;  // GUARDED_BY(mu_)
};

}  // namespace ferry
