#include "ferry/base/outage_watch.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

namespace ferry {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Event = OutageWatch::Event;

Status Transient(std::string what) {
  return Status(StatusCode::kUnavailable, std::move(what), 0,
                /*retryable=*/true);
}

// A probe whose answers a test scripts, and the events it is told.
struct Script {
  std::mutex mu;
  int answering_after = 0;  // probes that fail before the location answers
  int probes = 0;
  std::atomic<int> in_probe{0};
  std::atomic<int> most_in_probe{0};
  std::vector<Event> events;
  std::vector<std::string> whys;
  std::vector<std::string> lasts;

  Status Probe() {
    int now = ++in_probe;
    int seen = most_in_probe.load();
    while (now > seen && !most_in_probe.compare_exchange_weak(seen, now)) {
    }
    std::this_thread::sleep_for(milliseconds(1));
    --in_probe;
    std::lock_guard lock(mu);
    ++probes;
    if (answering_after < 0 || probes <= answering_after) {
      return Transient("the destination location smb://h/s does not answer");
    }
    return Status::Ok();
  }
  OutageWatch::Probe probe() {
    return [this] { return Probe(); };
  }
  OutageWatch::OnEvent on_event() {
    return [this](Event e, const Status& why, const Status& last) {
      std::lock_guard lock(mu);
      events.push_back(e);
      whys.emplace_back(why.message());
      lasts.emplace_back(last.message());
    };
  }
};

OutageOptions TenSeconds() {
  OutageOptions o;
  o.limit = seconds(10);
  return o;
}

TEST(OutageWatchTest, AFailureWhileTheLocationsAnswerIsTheOperationsOwn) {
  ManualClock clock;
  Script script;
  OutageWatch watch(&clock, TenSeconds(), script.probe(), script.on_event());
  EXPECT_FALSE(watch.Recover(Transient("slow down"), {}));
  EXPECT_EQ(script.probes, 1);
  // A probe that answered a moment ago is the answer for the next failure.
  EXPECT_FALSE(watch.Recover(Transient("slow down"), {}));
  EXPECT_EQ(script.probes, 1);
  clock.Advance(seconds(2));
  EXPECT_FALSE(watch.Recover(Transient("slow down"), {}));
  EXPECT_EQ(script.probes, 2);
  EXPECT_TRUE(script.events.empty());
  EXPECT_FALSE(watch.down());
}

TEST(OutageWatchTest, ALocationThatComesBackIsWaitedForAndTheOperationRetried) {
  ManualClock clock;
  clock.set_auto_advance(true);
  Script script;
  script.answering_after = 3;
  OutageWatch watch(&clock, TenSeconds(), script.probe(), script.on_event());
  const auto t0 = clock.Now();
  EXPECT_TRUE(watch.Recover(Transient("connection refused"), {}));
  EXPECT_EQ(script.probes, 4);
  // Backoff between the probes while it was out: 0.5 + 1 + 2 s.
  EXPECT_EQ(clock.Now() - t0, milliseconds(3500));
  ASSERT_EQ(script.events, (std::vector<Event>{Event::kOut, Event::kBack}));
  EXPECT_NE(script.whys[0].find("smb://h/s"), std::string::npos);
  EXPECT_EQ(script.lasts[0], "connection refused");
  EXPECT_FALSE(watch.down());
  // A failure just after it came back may be the outage's, seen late: it is
  // tried again, without a probe; a second later it is the file's own.
  EXPECT_TRUE(watch.Recover(Transient("connection refused"), {}));
  EXPECT_EQ(script.probes, 4);
  clock.Advance(seconds(2));
  EXPECT_FALSE(watch.Recover(Transient("slow down"), {}));
  EXPECT_EQ(script.probes, 5);
}

TEST(OutageWatchTest, ALocationThatStaysDownIsDeclaredDownOnce) {
  ManualClock clock;
  clock.set_auto_advance(true);
  Script script;
  script.answering_after = -1;
  OutageWatch watch(&clock, TenSeconds(), script.probe(), script.on_event());
  const auto t0 = clock.Now();
  EXPECT_FALSE(watch.Recover(Transient("connection refused"), {}));
  EXPECT_TRUE(watch.down());
  // Probes at 0, then after 0.5, 1, 2, 4 and 8 s: the first at or past the
  // 10 s limit declares it down.
  EXPECT_EQ(clock.Now() - t0, milliseconds(15500));
  EXPECT_EQ(script.probes, 6);
  ASSERT_EQ(script.events, (std::vector<Event>{Event::kOut, Event::kDown}));
  // From then on every failure stands at once, without a probe.
  EXPECT_FALSE(watch.Recover(Transient("connection refused"), {}));
  EXPECT_EQ(script.probes, 6);
  EXPECT_EQ(script.events.size(), 2u);
}

TEST(OutageWatchTest, AProbeThatTakesLongerThanTheLimitDeclaresItDownAtOnce) {
  ManualClock clock;
  Script script;
  script.answering_after = -1;
  OutageWatch watch(
      &clock, TenSeconds(),
      [&] {
        clock.Advance(seconds(30));  // the backend's own retries
        return script.Probe();
      },
      script.on_event());
  EXPECT_FALSE(watch.Recover(Transient("timed out"), {}));
  EXPECT_TRUE(watch.down());
  EXPECT_EQ(script.probes, 1);
  EXPECT_EQ(script.events, (std::vector<Event>{Event::kDown}));
}

// A caller that finds the location down while its kDown event is still
// being handled (the execution logging it and requesting its stop) waits
// for the handler: the false it gets comes with the stop already there to
// see, so its file is not failed on its own account. (An execution under
// TSan once failed seven files in that window.)
TEST(OutageWatchTest, FalseForADownLocationComesAfterItsEventWasHandled) {
  ManualClock clock;
  Script script;
  script.answering_after = -1;
  std::atomic<bool> in_handler{false}, release{false};
  std::stop_source stopped;
  OutageWatch watch(
      &clock, TenSeconds(),
      [&] {
        clock.Advance(seconds(30));
        return script.Probe();
      },
      [&](Event e, const Status&, const Status&) {
        if (e != Event::kDown) return;
        in_handler = true;
        while (!release) std::this_thread::sleep_for(milliseconds(1));
        stopped.request_stop();
      });
  std::thread first(
      [&] { EXPECT_FALSE(watch.Recover(Transient("timed out"), {})); });
  while (!in_handler) std::this_thread::sleep_for(milliseconds(1));
  std::atomic<bool> saw_stop{false};
  std::thread second([&] {
    EXPECT_FALSE(watch.Recover(Transient("timed out"), {}));
    saw_stop = stopped.stop_requested();
  });
  // Long enough for the second caller to be waiting in Recover.
  std::this_thread::sleep_for(milliseconds(50));
  release = true;
  first.join();
  second.join();
  EXPECT_TRUE(saw_stop.load());
  EXPECT_EQ(script.probes, 1);
}

TEST(OutageWatchTest, ManyCallersWaitWhileOneProbesAndAllRetryWhenItIsBack) {
  ManualClock clock;  // moved on below, once every caller is waiting
  Script script;
  script.answering_after = 5;
  OutageOptions options;
  options.limit = seconds(60);
  OutageWatch watch(&clock, options, script.probe(), script.on_event());
  std::atomic<int> started{0};
  std::atomic<int> ended{0};
  std::atomic<int> retried{0};
  std::vector<std::thread> callers;
  for (int i = 0; i < 8; ++i) {
    callers.emplace_back([&] {
      ++started;
      if (watch.Recover(Transient("connection reset"), {})) ++retried;
      ++ended;
    });
  }
  while (started.load() < 8) std::this_thread::yield();
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_EQ(ended.load(), 0);
  while (ended.load() < 8) {
    clock.Advance(milliseconds(250));
    std::this_thread::sleep_for(milliseconds(1));
  }
  for (auto& t : callers) t.join();
  EXPECT_EQ(retried.load(), 8);
  EXPECT_EQ(script.most_in_probe.load(), 1);
  EXPECT_EQ(script.probes, 6);
  EXPECT_EQ(script.events, (std::vector<Event>{Event::kOut, Event::kBack}));
}

TEST(OutageWatchTest, AStopEndsTheWaitAndTheFailureStands) {
  ManualClock clock;  // time stands still: the prober sleeps until stopped
  Script script;
  script.answering_after = -1;
  OutageWatch watch(&clock, TenSeconds(), script.probe(), script.on_event());
  std::stop_source stop;
  std::atomic<int> ended{0};
  std::vector<std::thread> callers;
  for (int i = 0; i < 3; ++i) {
    callers.emplace_back([&] {
      EXPECT_FALSE(watch.Recover(Transient("timed out"), stop.get_token()));
      ++ended;
    });
  }
  ASSERT_TRUE(clock.AwaitSleepers(1));
  EXPECT_EQ(ended.load(), 0);
  stop.request_stop();
  for (auto& t : callers) t.join();
  EXPECT_EQ(ended.load(), 3);
  EXPECT_FALSE(watch.down());
  EXPECT_EQ(script.events, (std::vector<Event>{Event::kOut}));
}

}  // namespace
}  // namespace ferry
