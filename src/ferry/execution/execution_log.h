// ExecutionLog: the per-file log of an execution, following DataSync's
// LogLevel: OFF writes nothing, BASIC writes errors (per file) and the
// execution's milestones, TRANSFER adds a record for every item transferred
// and verified. Lines go to a text sink (the terminal), a JSON-lines file
// and/or a record sink (an agent ships its records to the server). Paths are
// escaped so every record stays on one line. Thread-safe.
#pragma once

#include <cstdio>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "ferry/base/status.h"
#include "ferry/options/task_options.h"

namespace ferry {

class ExecutionLog {
 public:
  using TextSink = std::function<void(std::string_view line)>;
  // Every record written at the log's level, as it is written (under the
  // log's lock: records arrive in order, one at a time).
  using RecordSink =
      std::function<void(std::string_view severity, std::string_view event,
                         std::string_view text)>;

  explicit ExecutionLog(LogLevel level = LogLevel::kBasic) : level_(level) {}
  ~ExecutionLog();

  void set_level(LogLevel level) { level_ = level; }
  LogLevel level() const { return level_; }
  void set_text_sink(TextSink sink) { text_ = std::move(sink); }
  // The text sink follows at most `level` (default: the log's level):
  // milestones reach it only at TRANSFER, errors at BASIC and above.
  void set_text_level(LogLevel level) { text_level_ = level; }
  void set_record_sink(RecordSink sink) { record_ = std::move(sink); }
  // Opens (appending) a JSON-lines log file.
  Status OpenJsonFile(const std::string& path);

  bool basic() const { return level_ != LogLevel::kOff; }
  bool transfer() const { return level_ == LogLevel::kTransfer; }

  // `fields` are extra JSON members; `text` is the human line.
  void Write(std::string_view severity, std::string_view event,
             std::string_view text,
             nlohmann::json fields = nlohmann::json::object());

 private:
  LogLevel level_;
  std::optional<LogLevel> text_level_;
  std::mutex mu_;
  TextSink text_;
  RecordSink record_;
  std::FILE* json_ = nullptr;
};

}  // namespace ferry
