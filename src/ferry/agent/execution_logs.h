// The log records of the executions an agent runs, on their way to the
// server (docs/protocol.md, "Execution logs").
//
// A LogBuffer holds one execution's records that the server has not stored
// yet: the engine appends (through ExecutionLog's record sink), each sync
// report carries the oldest of them (at most one report's worth), and the
// records go only once the server's LogsStored covers them, so that none is
// lost to a sync that got no answer (at-least-once; the server ignores a Seq
// it has). It is bounded: past LogBufferLimits the oldest records are
// dropped and one record says how many. Thread-safe.
//
// LogShipping is the agent's set of buffers, by execution ARN, for the
// executions it runs and the ended ones whose final report waits: it fills
// each report of a sync request, applies the answer's LogsStored, and keeps
// the buffers of ended executions in files beside their saved final reports,
// so that their records outlive a restart of the agent. Used by the
// session's thread only.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "ferry/base/status.h"
#include "ferry/protocol/agent_protocol.h"

namespace ferry::agent {

struct LogBufferLimits {
  // Records the server has not stored, and their bytes of text; past
  // either, the oldest are dropped.
  size_t max_records = 10000;
  size_t max_bytes = size_t{8} << 20;
  // What one report carries: records, and their size encoded as JSON (64
  // reports of this size fit in one sync message with room to spare).
  size_t report_records = protocol::kMaxLogRecordsPerReport;
  size_t report_bytes = size_t{192} << 10;
};

// The Event of the record that stands for records a buffer dropped.
inline constexpr char kAgentDroppedRecordsEvent[] = "AgentDroppedRecords";

// `text` as valid UTF-8 without NUL bytes (an invalid byte or a NUL becomes
// the four characters \xNN), cut to at most `max` bytes on a character
// boundary ("..." marks a cut).
std::string LogText(std::string_view text, size_t max);

class LogBuffer {
 public:
  explicit LogBuffer(LogBufferLimits limits = {});

  // Adds a record with the next Seq (1, 2, ...); its text goes through
  // LogText (Message cut at protocol::kMaxLogMessageBytes).
  void Append(int64_t time_ms, std::string_view level, std::string_view event,
              std::string_view message);
  // Sets report->logs to the oldest records (within the per-report limits)
  // and report->logs_seq to the last Seq written.
  void Fill(protocol::ExecutionReport* report);
  // The server stored every record up to `seq`: they go.
  void Stored(int64_t seq);
  // The answer to the last Fill came from a server that keeps no logs: the
  // records that report carried go.
  void ForgetFilled();

  bool empty() const;
  size_t size() const;
  // At least a report's worth of records waits.
  bool backlog() const;
  int64_t last_seq() const;
  // Called (outside the buffer's lock) when a report's worth of records
  // waits that no report has carried yet, so that the agent syncs again
  // at once instead of at its next poll.
  void set_on_backlog(std::function<void()> fn);

  // From now on the buffer is also kept in the file `path` (JSON, rewritten
  // atomically after each change), as an ended execution's must be.
  Status SpoolTo(const std::string& path);
  // A buffer read back from a file SpoolTo wrote (it goes on writing
  // there).
  static Result<std::shared_ptr<LogBuffer>> Load(const std::string& path,
                                                 LogBufferLimits limits = {});

 private:
  struct Entry {
    protocol::LogRecord record;
    size_t text_bytes = 0;     // Level + Event + Message
    size_t encoded_bytes = 0;  // an upper bound of its JSON encoding
  };
  void Push(protocol::LogRecord record);  // REQUIRES: mu_ held
  void DropOldest();                      // REQUIRES: mu_ held
  Status WriteSpool();                    // REQUIRES: mu_ held

  const LogBufferLimits limits_;
  mutable std::mutex mu_;
  std::deque<Entry> entries_;         // GUARDED_BY(mu_), by Seq
  size_t bytes_ = 0;                  // GUARDED_BY(mu_): text bytes of entries_
  int64_t last_seq_ = 0;              // GUARDED_BY(mu_)
  int64_t filled_seq_ = 0;            // GUARDED_BY(mu_): last Seq Fill gave out
  int64_t dropped_ = 0;               // GUARDED_BY(mu_): in the front marker
  bool backlog_told_ = false;         // GUARDED_BY(mu_)
  std::function<void()> on_backlog_;  // GUARDED_BY(mu_)
  std::string spool_;                 // GUARDED_BY(mu_): "" = none
};

class LogShipping {
 public:
  // Ended executions' buffers are kept in `dir` (created when needed), one
  // file per execution; `wake` makes the session sync at once.
  LogShipping(std::string dir, std::function<void()> wake);

  // Reads the buffers of ended executions back from `dir`.
  void Load();
  // Ships `buffer`'s records as those of execution `arn`.
  void Track(const std::string& arn, std::shared_ptr<LogBuffer> buffer);
  // Execution `arn` has ended: its buffer is kept in `dir` from now on.
  Status Ended(const std::string& arn);
  // Fills the Logs of every report in `request` that has a buffer.
  void Fill(protocol::SyncRequest* request);
  // Applies the answer's LogsStored (or, without it, forgets what the
  // request carried). When that made progress and a report's worth still
  // waits (an ended execution's, say), wakes the session to sync again at
  // once.
  void Apply(const protocol::SyncResponse& response);
  // Whether every record of `arn` is stored (or it has no buffer): only
  // then may its acknowledged final report be forgotten.
  bool Drained(const std::string& arn) const;
  // Forgets `arn`'s buffer and its file.
  void Forget(const std::string& arn);

 private:
  std::string FileOf(const std::string& arn) const;

  const std::string dir_;
  const std::function<void()> wake_;
  std::map<std::string, std::shared_ptr<LogBuffer>> buffers_;
};

}  // namespace ferry::agent
