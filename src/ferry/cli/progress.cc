#include "ferry/cli/progress.h"

#include <chrono>
#include <cstdio>

#include "ferry/cli/format.h"

namespace ferry {

Progress::Progress(const Execution* execution, bool enabled)
    : execution_(execution), enabled_(enabled) {}

Progress::~Progress() { Stop(); }

void Progress::Start() {
  if (!enabled_) return;
  thread_ = std::thread([this] { Loop(); });
}

void Progress::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
    stop_ = true;
    if (drawn_) {
      std::fputs("\r\033[K", stderr);
      std::fflush(stderr);
      drawn_ = false;
    }
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Progress::PrintLine(std::string_view line) {
  std::lock_guard lock(mu_);
  if (drawn_) std::fputs("\r\033[K", stderr);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fputc('\n', stderr);
  if (drawn_) DrawLocked();
  std::fflush(stderr);
}

std::string Progress::Render(std::string_view phase, const CounterSnapshot& c,
                             double rate) {
  uint64_t files_done = c.files_transferred + c.folders_transferred;
  uint64_t files_total =
      c.estimated_files_to_transfer + c.estimated_folders_to_transfer;
  std::string line(phase);
  line.resize(std::max<size_t>(line.size(), 13), ' ');
  line += FormatCount(files_done) + "/" + FormatCount(files_total) + " items  ";
  line += FormatBytes(c.bytes_transferred) + "/" +
          FormatBytes(c.estimated_bytes_to_transfer);
  line += "  " + FormatRate(rate);
  if (rate > 1 && c.estimated_bytes_to_transfer > c.bytes_transferred) {
    double secs = static_cast<double>(c.estimated_bytes_to_transfer -
                                      c.bytes_transferred) /
                  rate;
    line += "  ETA " + FormatMillis(static_cast<int64_t>(secs * 1000));
  }
  if (phase == "VERIFYING") {
    line += "  verified " + FormatCount(c.files_verified + c.folders_verified);
  }
  uint64_t failed = c.failures();
  if (failed) line += "  failed " + FormatCount(failed);
  return line;
}

void Progress::DrawLocked() {
  CounterSnapshot c = execution_->counters().Snapshot();
  std::string line =
      Render(ExecutionStatusName(execution_->status()), c, rate_);
  std::fprintf(stderr, "\r\033[K%s", line.c_str());
  std::fflush(stderr);
  drawn_ = true;
}

void Progress::Loop() {
  using Clock = std::chrono::steady_clock;
  auto last = Clock::now();
  uint64_t last_bytes = 0;
  std::unique_lock lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, std::chrono::milliseconds(250));
    if (stop_) break;
    auto now = Clock::now();
    double dt = std::chrono::duration<double>(now - last).count();
    uint64_t bytes = execution_->counters().bytes_transferred.load();
    if (dt > 0) {
      double inst = static_cast<double>(bytes - last_bytes) / dt;
      rate_ = rate_ == 0 ? inst : 0.7 * rate_ + 0.3 * inst;
    }
    last = now;
    last_bytes = bytes;
    DrawLocked();
  }
}

}  // namespace ferry
