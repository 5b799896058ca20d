// SignalThread: SIGINT and SIGTERM delivered to one thread of their own, so
// that a command can stop cleanly (cancel an execution, stop an agent or a
// server) from ordinary code instead of from a signal handler.
//
// The constructor blocks SIGINT, SIGTERM and SIGUSR1 in the calling thread
// (and so in every thread it starts afterwards) and starts a thread that
// waits for them; each SIGINT or SIGTERM calls `on_signal` with the signal
// and how many have come so far (1 for the first). The destructor ends the
// thread with SIGUSR1. Construct it before starting other threads.
#pragma once

#include <atomic>
#include <csignal>
#include <functional>
#include <thread>

namespace ferry {

class SignalThread {
 public:
  explicit SignalThread(std::function<void(int signal, int count)> on_signal);
  ~SignalThread();
  SignalThread(const SignalThread&) = delete;
  SignalThread& operator=(const SignalThread&) = delete;

 private:
  void Loop();

  const std::function<void(int, int)> on_signal_;
  sigset_t set_;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

}  // namespace ferry
