#include "ferry/agent/execution_logs.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "ferry/base/file_util.h"
#include "ferry/base/rel_path.h"
#include "ferry/base/utf8.h"

namespace ferry::agent {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// An upper bound of the bytes `s` takes as a JSON string: a control
// character is \u00XX, a quote or backslash two bytes.
size_t JsonBytes(std::string_view s) {
  size_t n = 2;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    n += c < 0x20 ? 6 : (c == '"' || c == '\\') ? 2 : 1;
  }
  return n;
}

// The members and punctuation of one encoded record besides its strings.
constexpr size_t kRecordOverhead = 96;

std::string ShortId(const std::string& arn) {
  size_t slash = arn.rfind('/');
  return slash == std::string::npos ? arn : arn.substr(slash + 1);
}

}  // namespace

std::string LogText(std::string_view text, size_t max) {
  std::string out;
  out.reserve(std::min(text.size(), max));
  for (size_t i = 0; i < text.size();) {
    size_t n = text[i] == '\0' ? 0 : Utf8SequenceLength(text, i);
    if (n == 0) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02X",
                    static_cast<unsigned char>(text[i]));
      out += buf;
      ++i;
    } else {
      out.append(text.substr(i, n));
      i += n;
    }
    if (out.size() > max) break;
  }
  if (out.size() <= max) return out;
  // Cut on a character boundary, leaving room for "...".
  size_t cut = max >= 3 ? max - 3 : 0;
  while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) {
    --cut;
  }
  out.resize(cut);
  if (max >= 3) out += "...";
  return out;
}

// --- LogBuffer ---

LogBuffer::LogBuffer(LogBufferLimits limits) : limits_(limits) {}

void LogBuffer::Append(int64_t time_ms, std::string_view level,
                       std::string_view event, std::string_view message) {
  protocol::LogRecord r;
  r.time_ms = time_ms;
  r.level = LogText(level, protocol::kMaxLogLevelBytes);
  r.event = LogText(event, protocol::kMaxLogEventBytes);
  r.message = LogText(message, protocol::kMaxLogMessageBytes);
  std::function<void()> tell;
  {
    std::lock_guard lock(mu_);
    r.seq = ++last_seq_;
    Push(std::move(r));
    while (entries_.size() > 1 && (entries_.size() > limits_.max_records ||
                                   bytes_ > limits_.max_bytes)) {
      DropOldest();
    }
    if (!backlog_told_ && on_backlog_) {
      size_t waiting = 0;
      for (auto it = entries_.rbegin();
           it != entries_.rend() && it->record.seq > filled_seq_; ++it) {
        if (++waiting >= limits_.report_records) break;
      }
      if (waiting >= limits_.report_records) {
        backlog_told_ = true;
        tell = on_backlog_;
      }
    }
  }
  if (tell) tell();
}

void LogBuffer::Push(protocol::LogRecord record) {
  Entry e;
  e.text_bytes =
      record.level.size() + record.event.size() + record.message.size();
  e.encoded_bytes = kRecordOverhead + JsonBytes(record.level) +
                    JsonBytes(record.event) + JsonBytes(record.message);
  e.record = std::move(record);
  bytes_ += e.text_bytes;
  entries_.push_back(std::move(e));
}

// Drops the oldest record. The record that counts the dropped ones takes
// the Seq of the last record dropped, so that it sorts where they were.
void LogBuffer::DropOldest() {
  int64_t dropped = 0;
  auto pop = [&] {
    bytes_ -= entries_.front().text_bytes;
    protocol::LogRecord r = std::move(entries_.front().record);
    entries_.pop_front();
    return r;
  };
  if (dropped_ > 0) {
    dropped = dropped_;  // the front is the marker: it goes too
    pop();
  }
  protocol::LogRecord last = pop();
  ++dropped;
  dropped_ = dropped;
  protocol::LogRecord marker;
  marker.seq = last.seq;
  marker.time_ms = last.time_ms;
  marker.level = "WARN";
  marker.event = kAgentDroppedRecordsEvent;
  marker.message = std::to_string(dropped) +
                   " log record(s) up to here were dropped on the agent: it "
                   "holds at most " +
                   std::to_string(limits_.max_records) + " records (" +
                   std::to_string(limits_.max_bytes >> 20) +
                   " MiB) that its server has not stored";
  Entry e;
  e.text_bytes =
      marker.level.size() + marker.event.size() + marker.message.size();
  e.encoded_bytes = kRecordOverhead + JsonBytes(marker.message) + 32;
  e.record = std::move(marker);
  bytes_ += e.text_bytes;
  entries_.push_front(std::move(e));
}

void LogBuffer::Fill(protocol::ExecutionReport* report) {
  std::lock_guard lock(mu_);
  report->logs.clear();
  size_t bytes = 0;
  for (const Entry& e : entries_) {
    if (report->logs.size() >= limits_.report_records) break;
    if (!report->logs.empty() && bytes + e.encoded_bytes > limits_.report_bytes)
      break;
    bytes += e.encoded_bytes;
    report->logs.push_back(e.record);
  }
  report->logs_seq = last_seq_;
  if (!report->logs.empty()) {
    filled_seq_ = std::max(filled_seq_, report->logs.back().seq);
  }
  backlog_told_ = false;
}

void LogBuffer::Stored(int64_t seq) {
  std::lock_guard lock(mu_);
  bool changed = false;
  while (!entries_.empty() && entries_.front().record.seq <= seq) {
    if (dropped_ > 0) dropped_ = 0;  // the marker is the front, if any
    bytes_ -= entries_.front().text_bytes;
    entries_.pop_front();
    changed = true;
  }
  if (changed && !spool_.empty()) {
    Status st = WriteSpool();
    if (!st.ok()) {
      std::fprintf(stderr, "ferry agent: %s\n",
                   EscapeForDisplay(st.ToString()).c_str());
    }
  }
}

void LogBuffer::ForgetFilled() {
  int64_t seq;
  {
    std::lock_guard lock(mu_);
    seq = filled_seq_;
  }
  Stored(seq);
}

bool LogBuffer::empty() const {
  std::lock_guard lock(mu_);
  return entries_.empty();
}

size_t LogBuffer::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

bool LogBuffer::backlog() const {
  std::lock_guard lock(mu_);
  return entries_.size() >= limits_.report_records;
}

int64_t LogBuffer::last_seq() const {
  std::lock_guard lock(mu_);
  return last_seq_;
}

void LogBuffer::set_on_backlog(std::function<void()> fn) {
  std::lock_guard lock(mu_);
  on_backlog_ = std::move(fn);
}

Status LogBuffer::SpoolTo(const std::string& path) {
  std::lock_guard lock(mu_);
  spool_ = path;
  return WriteSpool();
}

Status LogBuffer::WriteSpool() {
  json logs = json::array();
  for (const Entry& e : entries_) {
    logs.push_back({{"Seq", e.record.seq},
                    {"Time", e.record.time_ms},
                    {"Level", e.record.level},
                    {"Event", e.record.event},
                    {"Message", e.record.message}});
  }
  json j = {{"LogsSeq", last_seq_}, {"Dropped", dropped_}, {"Logs", logs}};
  return WriteFileAtomically(
      spool_, j.dump(-1, ' ', false, json::error_handler_t::replace), 0600);
}

Result<std::shared_ptr<LogBuffer>> LogBuffer::Load(const std::string& path,
                                                   LogBufferLimits limits) {
  // The agent's own file, read with room for a full buffer.
  FERRY_ASSIGN_OR_RETURN(
      std::string text,
      ReadTextFile(path, limits.max_bytes * 2 + limits.max_records * 256 +
                             (size_t{1} << 20)));
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.value("LogsSeq", json()).is_number_integer() ||
      !j.value("Logs", json()).is_array()) {
    return Status::InvalidArgument("log records file " + path +
                                   " cannot be read");
  }
  auto buffer = std::make_shared<LogBuffer>(limits);
  std::lock_guard lock(buffer->mu_);
  buffer->last_seq_ = j["LogsSeq"].get<int64_t>();
  for (const json& l : j["Logs"]) {
    if (!l.is_object() || !l.value("Seq", json()).is_number_integer() ||
        !l.value("Time", json()).is_number_integer()) {
      continue;
    }
    protocol::LogRecord r;
    r.seq = l["Seq"].get<int64_t>();
    r.time_ms = l["Time"].get<int64_t>();
    if (r.seq <= 0 || r.seq > buffer->last_seq_ ||
        (!buffer->entries_.empty() &&
         r.seq <= buffer->entries_.back().record.seq)) {
      continue;
    }
    auto text_of = [&](const char* name, size_t max) {
      auto it = l.find(name);
      return LogText(
          it != l.end() && it->is_string() ? it->get<std::string>() : "", max);
    };
    r.level = text_of("Level", protocol::kMaxLogLevelBytes);
    r.event = text_of("Event", protocol::kMaxLogEventBytes);
    r.message = text_of("Message", protocol::kMaxLogMessageBytes);
    buffer->Push(std::move(r));
  }
  auto dropped = j.find("Dropped");
  if (dropped != j.end() && dropped->is_number_integer() &&
      !buffer->entries_.empty() &&
      buffer->entries_.front().record.event == kAgentDroppedRecordsEvent) {
    buffer->dropped_ = std::max<int64_t>(0, dropped->get<int64_t>());
  }
  buffer->spool_ = path;
  return buffer;
}

// --- LogShipping ---

LogShipping::LogShipping(std::string dir, std::function<void()> wake)
    : dir_(std::move(dir)), wake_(std::move(wake)) {}

std::string LogShipping::FileOf(const std::string& arn) const {
  return (fs::path(dir_) / (ShortId(arn) + ".logs")).string();
}

void LogShipping::Load() {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    if (entry.path().extension() != ".logs") continue;
    // The file is named by the execution's ID; its saved final report
    // (same ID, .json) names the ARN.
    auto report =
        ReadTextFile((fs::path(dir_) / entry.path().stem()).string() + ".json",
                     protocol::kMaxMessageBytes);
    std::string arn;
    if (report.ok()) {
      auto saved = protocol::DecodeSyncRequest(*report);
      if (saved.ok() && saved->executions.size() == 1) {
        arn = saved->executions.front().execution_arn;
      }
    }
    auto buffer = LogBuffer::Load(entry.path().string());
    if (arn.empty() || !buffer.ok()) {
      // No final report left to send them with.
      fs::remove(entry.path(), ec);
      continue;
    }
    buffers_[arn] = std::move(buffer).value();
  }
}

void LogShipping::Track(const std::string& arn,
                        std::shared_ptr<LogBuffer> buffer) {
  buffer->set_on_backlog(wake_);
  buffers_[arn] = std::move(buffer);
}

Status LogShipping::Ended(const std::string& arn) {
  auto it = buffers_.find(arn);
  if (it == buffers_.end()) return Status::Ok();
  std::error_code ec;
  fs::create_directories(dir_, ec);
  return it->second->SpoolTo(FileOf(arn));
}

void LogShipping::Fill(protocol::SyncRequest* request) {
  for (protocol::ExecutionReport& r : request->executions) {
    auto it = buffers_.find(r.execution_arn);
    if (it != buffers_.end()) it->second->Fill(&r);
  }
}

void LogShipping::Apply(const protocol::SyncResponse& response) {
  if (!response.has_logs_stored) {
    for (auto& [arn, buffer] : buffers_) buffer->ForgetFilled();
    return;
  }
  bool again = false;
  for (const auto& [arn, seq] : response.logs_stored) {
    auto it = buffers_.find(arn);
    if (it == buffers_.end()) continue;
    const size_t before = it->second->size();
    it->second->Stored(seq);
    if (it->second->size() < before && it->second->backlog()) again = true;
  }
  if (again && wake_) wake_();
}

bool LogShipping::Drained(const std::string& arn) const {
  auto it = buffers_.find(arn);
  return it == buffers_.end() || it->second->empty();
}

void LogShipping::Forget(const std::string& arn) {
  if (buffers_.erase(arn) == 0) return;
  std::error_code ec;
  fs::remove(FileOf(arn), ec);
}

}  // namespace ferry::agent
