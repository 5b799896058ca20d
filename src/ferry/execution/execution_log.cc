#include "ferry/execution/execution_log.h"

#include <cerrno>
#include <cstring>

#include "ferry/base/clock.h"

namespace ferry {

ExecutionLog::~ExecutionLog() {
  if (json_) std::fclose(json_);
}

Status ExecutionLog::OpenJsonFile(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "a");
  if (!f) {
    return Status(
        StatusCode::kInvalidArgument,
        "cannot open log file '" + path + "': " + std::strerror(errno), errno);
  }
  std::lock_guard lock(mu_);
  if (json_) std::fclose(json_);
  json_ = f;
  return Status::Ok();
}

void ExecutionLog::Write(std::string_view severity, std::string_view event,
                         std::string_view text, nlohmann::json fields) {
  if (level_ == LogLevel::kOff) return;
  std::string line;
  if (json_) {
    fields["time"] = FormatIso8601(WallNanos());
    fields["level"] = severity;
    fields["event"] = event;
    fields["message"] = text;
    line =
        fields.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  std::lock_guard lock(mu_);
  if (json_) {
    std::fwrite(line.data(), 1, line.size(), json_);
    std::fputc('\n', json_);
    std::fflush(json_);
  }
  if (record_) record_(severity, event, text);
  // Milestones (INFO) reach the terminal only at TRANSFER; errors always.
  const LogLevel text_level = text_level_.value_or(level_);
  if (text_ && text_level != LogLevel::kOff &&
      (severity != "INFO" || text_level == LogLevel::kTransfer)) {
    std::string t = "[" + std::string(severity) + "] " + std::string(text);
    text_(t);
  }
}

}  // namespace ferry
