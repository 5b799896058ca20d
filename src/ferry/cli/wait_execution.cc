#include "ferry/cli/wait_execution.h"

#include <cstdio>
#include <thread>

#include "ferry/cli/progress.h"

namespace ferry {

CounterSnapshot CountersFromDescribe(const nlohmann::json& d) {
  CounterSnapshot c;
  auto read = [&d](const std::string& key) -> uint64_t {
    const nlohmann::json* v = &d;
    size_t dot = key.find('.');
    for (const std::string& part :
         dot == std::string::npos
             ? std::vector<std::string>{key}
             : std::vector<std::string>{key.substr(0, dot),
                                        key.substr(dot + 1)}) {
      if (!v->is_object()) return 0;
      auto it = v->find(part);
      if (it == v->end()) return 0;
      v = &*it;
    }
    return v->is_number_unsigned() ? v->get<uint64_t>()
           : v->is_number_integer() && v->get<int64_t>() > 0
               ? static_cast<uint64_t>(v->get<int64_t>())
               : 0;
  };
#define FERRY_READ_(name, key) c.name = read(key);
  FERRY_EXECUTION_COUNTERS(FERRY_READ_)
#undef FERRY_READ_
  return c;
}

int WaitForExecution(const std::string& execution_arn,
                     const DescribeExecutionFn& describe,
                     const WaitOptions& options, std::ostream& out) {
  using Clock = std::chrono::steady_clock;
  bool drawn = false;
  auto clear = [&] {
    if (drawn) std::fputs("\r\033[K", stderr);
    drawn = false;
  };
  double rate = 0;
  uint64_t last_bytes = 0;
  auto last_time = Clock::now();
  auto failing_since = Clock::time_point();
  nlohmann::json last;
  while (true) {
    auto d = describe(execution_arn);
    auto now = Clock::now();
    if (!d.ok()) {
      if (failing_since == Clock::time_point()) failing_since = now;
      if (now - failing_since >= options.give_up_after) {
        clear();
        std::fprintf(stderr, "ferry: cannot describe %s: %s\n",
                     execution_arn.c_str(),
                     std::string(d.status().message()).c_str());
        return 2;
      }
      std::this_thread::sleep_for(options.interval);
      continue;
    }
    failing_since = Clock::time_point();
    last = std::move(d).value();
    const std::string status = last.value("Status", "");
    if (status == "SUCCESS" || status == "ERROR") break;
    if (options.progress) {
      CounterSnapshot c = CountersFromDescribe(last);
      double dt = std::chrono::duration<double>(now - last_time).count();
      if (dt > 0 && c.bytes_transferred >= last_bytes) {
        double inst =
            static_cast<double>(c.bytes_transferred - last_bytes) / dt;
        rate = rate == 0 ? inst : 0.7 * rate + 0.3 * inst;
      }
      last_bytes = c.bytes_transferred;
      last_time = now;
      std::string line = Progress::Render(status, c, rate);
      std::fprintf(stderr, "\r\033[K%s", line.c_str());
      std::fflush(stderr);
      drawn = true;
    }
    std::this_thread::sleep_for(options.interval);
  }
  clear();
  out << last.dump(4, ' ', false, nlohmann::json::error_handler_t::replace)
      << std::endl;
  return last.value("Status", "") == "SUCCESS" ? 0 : 1;
}

}  // namespace ferry
