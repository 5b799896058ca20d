#include "ferry/base/bounded_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <thread>
#include <vector>

namespace ferry {
namespace {

// Waits (up to 30 s of real time, a failure bound, not a synchronisation
// delay) until `pred` holds; the queue's blocked_* counts are set under its
// lock as a thread starts to wait, so this knows a thread is blocked.
// Closes the queue when a test leaves early (a failed ASSERT), so that the
// threads it started are not left blocked and can be joined.
template <typename T>
struct CloseOnExit {
  BoundedQueue<T>& q;
  ~CloseOnExit() { q.Close(); }
};

template <typename Pred>
bool WaitUntil(Pred pred) {
  const auto limit =
      std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > limit) return false;
    std::this_thread::yield();
  }
  return true;
}

TEST(BoundedQueueTest, IsFifo) {
  BoundedQueue<int> q(8);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(q.Push(i));
  EXPECT_EQ(q.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    std::optional<int> v = q.Pop();
    ASSERT_TRUE(v.has_value());
    EXPECT_EQ(*v, i);
  }
  EXPECT_EQ(q.size(), 0u);
  EXPECT_EQ(q.blocked_pushers(), 0u);
  EXPECT_EQ(q.blocked_poppers(), 0u);
}

TEST(BoundedQueueTest, PushBlocksWhileFullUntilAPop) {
  BoundedQueue<int> q(2);
  ASSERT_TRUE(q.Push(1));
  ASSERT_TRUE(q.Push(2));
  std::atomic<bool> pushed{false};
  std::promise<bool> done;
  std::future<bool> result = done.get_future();
  std::jthread producer([&] {
    bool ok = q.Push(3);
    pushed = true;
    done.set_value(ok);
  });
  CloseOnExit<int> closer{q};
  ASSERT_TRUE(WaitUntil([&] { return q.blocked_pushers() == 1; }))
      << "the producer never blocked in Push";
  EXPECT_FALSE(pushed.load()) << "Push returned although the queue was full";
  EXPECT_EQ(q.size(), 2u);
  EXPECT_EQ(q.Pop(), 1);
  EXPECT_TRUE(result.get());
  EXPECT_EQ(q.blocked_pushers(), 0u);
  EXPECT_EQ(q.Pop(), 2);
  EXPECT_EQ(q.Pop(), 3);
}

TEST(BoundedQueueTest, ZeroCapacityHoldsOneItem) {
  BoundedQueue<int> q(0);
  ASSERT_TRUE(q.Push(1));
  std::atomic<bool> pushed{false};
  std::promise<bool> done;
  std::future<bool> result = done.get_future();
  std::jthread producer([&] {
    bool ok = q.Push(2);
    pushed = true;
    done.set_value(ok);
  });
  CloseOnExit<int> closer{q};
  ASSERT_TRUE(WaitUntil([&] { return q.blocked_pushers() == 1; }));
  EXPECT_FALSE(pushed.load());
  EXPECT_EQ(q.size(), 1u);
  EXPECT_EQ(q.Pop(), 1);
  EXPECT_TRUE(result.get());
  EXPECT_EQ(q.Pop(), 2);
}

TEST(BoundedQueueTest, PopBlocksUntilAPush) {
  BoundedQueue<int> q(2);
  std::atomic<bool> popped{false};
  std::optional<int> got;
  std::jthread consumer([&] {
    got = q.Pop();
    popped = true;
  });
  CloseOnExit<int> closer{q};
  ASSERT_TRUE(WaitUntil([&] { return q.blocked_poppers() == 1; }))
      << "the consumer never blocked in Pop";
  EXPECT_FALSE(popped.load());
  ASSERT_TRUE(q.Push(11));
  consumer.join();
  EXPECT_TRUE(popped.load());
  EXPECT_EQ(got, 11);
}

TEST(BoundedQueueTest, CloseDrainsThenEnds) {
  BoundedQueue<int> q(4);
  ASSERT_TRUE(q.Push(1));
  ASSERT_TRUE(q.Push(2));
  q.Close();
  EXPECT_FALSE(q.Push(3));
  EXPECT_EQ(q.Pop(), 1);
  EXPECT_EQ(q.Pop(), 2);
  EXPECT_EQ(q.Pop(), std::nullopt);
  EXPECT_EQ(q.Pop(), std::nullopt);
}

TEST(BoundedQueueTest, CloseWakesBlockedConsumers) {
  BoundedQueue<int> q(1);
  std::atomic<int> ended{0};
  {
    std::vector<std::jthread> consumers;
    for (int i = 0; i < 3; ++i) {
      consumers.emplace_back([&] {
        if (!q.Pop().has_value()) ++ended;
      });
    }
    CloseOnExit<int> closer{q};
    ASSERT_TRUE(WaitUntil([&] { return q.blocked_poppers() == 3; }));
    EXPECT_EQ(ended.load(), 0);
    q.Close();
  }  // joins: a consumer that Close did not wake would hang here
  EXPECT_EQ(ended.load(), 3);
  EXPECT_EQ(q.blocked_poppers(), 0u);
}

TEST(BoundedQueueTest, CloseWakesBlockedProducersWhichFail) {
  BoundedQueue<int> q(1);
  ASSERT_TRUE(q.Push(0));
  std::atomic<int> failed{0};
  {
    std::vector<std::jthread> producers;
    for (int i = 0; i < 2; ++i) {
      producers.emplace_back([&] {
        if (!q.Push(1)) ++failed;
      });
    }
    CloseOnExit<int> closer{q};
    ASSERT_TRUE(WaitUntil([&] { return q.blocked_pushers() == 2; }));
    EXPECT_EQ(failed.load(), 0);
    q.Close();
  }
  EXPECT_EQ(failed.load(), 2);
  EXPECT_EQ(q.Pop(), 0);
  EXPECT_EQ(q.Pop(), std::nullopt);
}

TEST(BoundedQueueTest, MoveOnlyItems) {
  BoundedQueue<std::unique_ptr<int>> q(2);
  ASSERT_TRUE(q.Push(std::make_unique<int>(3)));
  std::optional<std::unique_ptr<int>> v = q.Pop();
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(**v, 3);
}

TEST(BoundedQueueTest, ManyProducersAndConsumersDeliverEachItemOnceInOrder) {
  constexpr int kProducers = 4;
  constexpr int kPerProducer = 5000;
  constexpr int kConsumers = 3;
  BoundedQueue<std::pair<int, int>> q(7);
  std::vector<std::vector<std::pair<int, int>>> seen(kConsumers);
  {
    std::vector<std::jthread> consumers;
    for (int c = 0; c < kConsumers; ++c) {
      consumers.emplace_back([&, c] {
        while (auto item = q.Pop()) {
          seen[c].push_back(*item);
          EXPECT_LE(q.size(), 7u);
        }
      });
    }
    {
      std::vector<std::jthread> producers;
      for (int p = 0; p < kProducers; ++p) {
        producers.emplace_back([&, p] {
          for (int i = 0; i < kPerProducer; ++i) ASSERT_TRUE(q.Push({p, i}));
        });
      }
    }
    q.Close();
  }
  std::vector<std::vector<int>> count(kProducers,
                                      std::vector<int>(kPerProducer, 0));
  for (const auto& items : seen) {
    std::vector<int> last(kProducers, -1);
    for (auto [p, i] : items) {
      ++count[p][i];
      // One consumer sees each producer's items in the order pushed.
      EXPECT_GT(i, last[p]);
      last[p] = i;
    }
  }
  for (int p = 0; p < kProducers; ++p) {
    for (int i = 0; i < kPerProducer; ++i) {
      ASSERT_EQ(count[p][i], 1) << "producer " << p << " item " << i;
    }
  }
}

}  // namespace
}  // namespace ferry
