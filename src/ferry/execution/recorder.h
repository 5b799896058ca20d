// Recorder: what the transfer and verification report about each item,
// turned into the execution's counters, its log, its journal (for
// ONLY_FILES_TRANSFERRED) and its task report. Called from the worker threads;
// thread-safe.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "ferry/execution/counters.h"
#include "ferry/execution/execution_log.h"
#include "ferry/execution/task_report.h"
#include "ferry/transfer/transfer.h"
#include "ferry/verify/journal.h"
#include "ferry/verify/verifier.h"

namespace ferry {

struct ExecutionResult;

// DataSync's "type=R mode=0755 uid=... size=... atime=s/ns mtime=s/ns ...".
std::string MetaLine(const Entry& e);

// Counts, logs, journals and reports what the transfer and verification say
// about each item.
class Recorder : public TransferObserver, public StorageObserver {
 public:
  // `journal` and `report` may be null.
  Recorder(ExecutionCounters* counters, ExecutionLog* log, Journal* journal,
           TaskReport* report, std::function<void()> on_first_work);

  // What the plan decided, before anything is done about it.
  void OnPlanned(const PlanItem& item);
  void OnSkipped(const PlanItem& item);
  void OnPrepareFailed(const PlanItem& item);
  // A folder that cannot be listed (`side`: "source" or "destination").
  void OnListFailed(const Entry& dir, const char* side, const Status& status);

  void OnFirstWork() override { on_first_work_(); }
  void OnBytes(uint64_t bytes) override;
  void OnItemDone(const PlanItem& item, const ItemResult& r) override;
  // Logged (WARN "Retrying") and counted.
  // A backend's own retry (an S3 request answered 503, say): counted and
  // logged like the transfer's.
  void OnStorageRetry(std::string_view operation, const Status& failure,
                      int attempt, std::chrono::nanoseconds delay) override;
  void OnBytesOnWire(uint64_t as_read, uint64_t on_wire) override;
  void OnRetry(const RelPath& path, std::string_view operation,
               const Status& failure, int attempt,
               Clock::duration delay) override;
  uint64_t retries() const { return retries_.load(); }

  // Paths verification leaves alone: they failed (to be planned or
  // transferred) or were deliberately kept as they are (OverwriteMode
  // NEVER), and are reported as such already.
  void NoteNotVerified(const RelPath& path);
  bool NotVerified(const RelPath& path);

  // What verification reports. Its bytes read are not BytesTransferred.
  VerifyObserver* verify_observer() { return &verify_sink_; }
  void OnVerified(const VerifyOutcome& o);

  // The files that kept changing while read (a sample, and how many).
  void TakeChanged(ExecutionResult* r);

 private:
  class VerifySink : public VerifyObserver {
   public:
    explicit VerifySink(Recorder* r) : r_(r) {}
    void OnVerified(const VerifyOutcome& o) override { r_->OnVerified(o); }

   private:
    Recorder* r_;
  };

  ExecutionCounters& c_;
  ExecutionLog* log_;
  Journal* journal_;
  TaskReport* report_;
  std::function<void()> on_first_work_;
  VerifySink verify_sink_{this};
  std::atomic<uint64_t> retries_{0};
  std::mutex mu_;
  std::vector<std::string> changed_;        // GUARDED_BY(mu_)
  uint64_t changed_count_ = 0;              // GUARDED_BY(mu_)
  std::unordered_set<std::string> failed_;  // GUARDED_BY(mu_)
};

}  // namespace ferry
