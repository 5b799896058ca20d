#include "ferry/cli/signal_thread.h"

#include <pthread.h>

namespace ferry {

SignalThread::SignalThread(std::function<void(int signal, int count)> on_signal)
    : on_signal_(std::move(on_signal)) {
  sigemptyset(&set_);
  sigaddset(&set_, SIGINT);
  sigaddset(&set_, SIGTERM);
  sigaddset(&set_, SIGUSR1);  // ours: the destructor's wake-up
  pthread_sigmask(SIG_BLOCK, &set_, nullptr);
  thread_ = std::thread([this] { Loop(); });
}

SignalThread::~SignalThread() {
  done_.store(true);
  pthread_kill(thread_.native_handle(), SIGUSR1);
  thread_.join();
}

void SignalThread::Loop() {
  int count = 0;
  while (!done_.load()) {
    int sig = 0;
    if (sigwait(&set_, &sig) != 0 || sig == SIGUSR1) continue;
    on_signal_(sig, ++count);
  }
}

}  // namespace ferry
