#include "ferry/execution/execution.h"

#include <algorithm>
#include <cstdio>
#include <random>
#include <thread>
#include <unordered_set>

#include "ferry/base/clock.h"
#include "ferry/diff/differ.h"
#include "ferry/diff/manifest.h"
#include "ferry/execution/owner_map.h"
#include "ferry/execution/recorder.h"
#include "ferry/execution/task_report.h"
#include "ferry/scan/scanner.h"
#include "ferry/transfer/rate_limiter.h"
#include "ferry/transfer/transfer.h"
#include "ferry/verify/journal.h"
#include "ferry/verify/verifier.h"

namespace ferry {

std::string_view ExecutionStatusName(ExecutionStatus status) {
  switch (status) {
    case ExecutionStatus::kQueued:
      return "QUEUED";
    case ExecutionStatus::kLaunching:
      return "LAUNCHING";
    case ExecutionStatus::kPreparing:
      return "PREPARING";
    case ExecutionStatus::kTransferring:
      return "TRANSFERRING";
    case ExecutionStatus::kVerifying:
      return "VERIFYING";
    case ExecutionStatus::kCancelling:
      return "CANCELLING";
    case ExecutionStatus::kSuccess:
      return "SUCCESS";
    case ExecutionStatus::kError:
      return "ERROR";
  }
  return "ERROR";
}

std::string_view PhaseStatusName(PhaseStatus status) {
  switch (status) {
    case PhaseStatus::kPending:
      return "PENDING";
    case PhaseStatus::kSuccess:
      return "SUCCESS";
    case PhaseStatus::kError:
      return "ERROR";
  }
  return "PENDING";
}

namespace {

std::string RandomHex(size_t n) {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  static const char kHex[] = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) s.push_back(kHex[rng() % 16]);
  return s;
}

bool IsRunning(ExecutionStatus s) {
  return s != ExecutionStatus::kCancelling && s != ExecutionStatus::kSuccess &&
         s != ExecutionStatus::kError;
}

// The status machine: forward through the running states; CANCELLING from
// any running state; SUCCESS only from a running state; ERROR from anything
// not finished. Nothing leaves SUCCESS or ERROR.
bool MayMove(ExecutionStatus from, ExecutionStatus to) {
  switch (to) {
    case ExecutionStatus::kQueued:
    case ExecutionStatus::kLaunching:
    case ExecutionStatus::kPreparing:
    case ExecutionStatus::kTransferring:
    case ExecutionStatus::kVerifying:
      return IsRunning(from) && from < to;
    case ExecutionStatus::kCancelling:
    case ExecutionStatus::kSuccess:
      return IsRunning(from);
    case ExecutionStatus::kError:
      return from != ExecutionStatus::kSuccess &&
             from != ExecutionStatus::kError;
  }
  return false;
}

// Failures that make a phase's status ERROR, by phase.
uint64_t PrepareFailures(const CounterSnapshot& c) {
  return c.folders_failed_list + c.files_failed_prepare +
         c.folders_failed_prepare;
}
uint64_t TransferFailures(const CounterSnapshot& c) {
  return c.files_failed_transfer + c.folders_failed_transfer +
         c.files_failed_delete + c.folders_failed_delete;
}
uint64_t VerifyFailures(const CounterSnapshot& c) {
  return c.files_failed_verify + c.folders_failed_verify;
}

}  // namespace

// One Run's working state, shared by its phases. Members are destroyed in
// reverse order: the plan before the scanners it reads, the transfer (whose
// workers report to the recorder) before the recorder.
struct Execution::RunState {
  ExecutionResult result;
  Clock::time_point t_start;
  std::stop_token stop;
  PhasesRun ran;

  // Derived from the options by Launch.
  std::optional<Filter> filter;
  MetadataPolicy policy;
  MetadataPolicy compare;
  bool changed_mode = false;
  bool remove = false;
  int64_t granularity = 1;
  int threads = 1;
  bool xattrs = false;
  bool acls = false;
  bool object_tags = false;

  // Built by Prepare. The outage watch outlives the scanners and the
  // transfer that ask it.
  std::mutex outage_mu;
  std::string outage_code;    // GUARDED_BY(outage_mu): a location stayed down
  std::string outage_detail;  // GUARDED_BY(outage_mu)
  std::atomic<bool> outage_at_source{false};  // the last probe that failed
  std::unique_ptr<OutageWatch> outage;
  std::unique_ptr<Journal> journal;  // ONLY_FILES_TRANSFERRED only
  Journal deletes;
  std::atomic<int64_t> transfer_start_ms{-1};
  std::unique_ptr<Recorder> recorder;
  std::unique_ptr<Scanner> src_scan;
  std::unique_ptr<Scanner> dst_scan;
  std::optional<OwnerMap> owners;
  std::function<void(Entry*)> map_source;
  std::unique_ptr<Transfer> transfer;  // null in a dry run
  std::unique_ptr<PlanSource> plan;
  Status fatal;          // the diff could not go on
  bool deleted = false;  // whether deletions were carried out

  void Fail(std::string code, std::string detail) {
    result.error_code = std::move(code);
    result.error_detail = std::move(detail);
  }
  // A location that stayed down is the run's error, whatever followed.
  void TakeOutage() {
    std::lock_guard lock(outage_mu);
    if (!outage_code.empty()) Fail(outage_code, outage_detail);
  }
};

Execution::Execution(std::unique_ptr<Backend> src, std::unique_ptr<Backend> dst,
                     ExecutionConfig config, ExecutionLog* log)
    : src_(std::move(src)),
      dst_(std::move(dst)),
      config_(std::move(config)),
      log_(log),
      clock_(config_.clock ? config_.clock : Clock::Real()),
      limiter_(config_.options.bytes_per_second, clock_) {
  execution_arn_ = config_.execution_arn;
  if (execution_arn_.empty()) {
    std::string task = config_.task_arn;
    if (task.empty())
      task = "arn:aws:datasync:local:000000000000:task/task-" + RandomHex(17);
    execution_arn_ = task + "/execution/exec-" + RandomHex(17);
  }
}

Execution::~Execution() = default;

void Execution::Cancel() {
  // The status moves first: a finished execution stays as it finished, and
  // Finalize, seeing CANCELLING, ends it in ERROR whatever it had decided.
  if (Transition(ExecutionStatus::kCancelling)) stop_.request_stop();
}

void Execution::SetBytesPerSecond(int64_t bytes_per_second) {
  limiter_.SetRate(bytes_per_second);
}

bool Execution::Transition(ExecutionStatus to) {
  ExecutionStatus from = status_.load();
  do {
    if (!MayMove(from, to)) return false;
  } while (!status_.compare_exchange_weak(from, to));
  return true;
}

ExecutionResult Execution::Run() {
  RunState run;
  run.t_start = clock_->Now();
  run.result.start_time_ns = WallNanos();
  start_time_ns_.store(run.result.start_time_ns);
  Transition(ExecutionStatus::kLaunching);
  run.result.launch_time_ns = WallNanos();
  launch_time_ns_.store(run.result.launch_time_ns);
  run.stop = stop_.get_token();
  if (Launch(run) && Prepare(run)) {
    if (config_.dry_run) {
      CheckDryRunDeletes(run);
    } else {
      AwaitTransfer(run);
      DeleteAndSync(run);
      Verify(run);
    }
  }
  return Finish(run);
}

bool Execution::Launch(RunState& run) {
  const TaskOptions& opt = config_.options;
  Status valid = opt.Validate();
  if (valid.ok() && config_.manifest) {
    if (!config_.includes.empty() || !config_.excludes.empty()) {
      valid = Status::InvalidArgument(
          "A manifest cannot be combined with include or exclude filters.");
    } else if (opt.preserve_deleted_files == DeletedFilesMode::kRemove) {
      valid = Status::InvalidArgument(
          "A manifest never deletes: PreserveDeletedFiles REMOVE cannot be "
          "used with a manifest.");
    }
  }
  auto filter = Filter::Parse(config_.includes, config_.excludes);
  if (!valid.ok() || !filter.ok()) {
    run.Fail("InvalidRequestException",
             std::string((!valid.ok() ? valid : filter.status()).message()));
    run.result.prepare_status = PhaseStatus::kError;
    return false;
  }
  run.filter = std::move(filter).value();

  if (config_.report) {
    auto report = TaskReport::Open(*config_.report, execution_arn_);
    if (!report.ok()) {
      run.Fail("TaskReportError", std::string(report.status().message()));
      run.result.prepare_status = PhaseStatus::kError;
      return false;
    }
    report_ = std::move(report).value();
  }

  Transition(ExecutionStatus::kPreparing);
  log_->Write("INFO", "ExecutionStarted",
              "Execution " + execution_arn_ + " started: " + src_->Describe() +
                  " -> " + dst_->Describe(),
              {{"executionArn", execution_arn_},
               {"source", src_->Describe()},
               {"destination", dst_->Describe()}});

  if (opt.security_descriptor_copy_flags ==
          SecurityDescriptorCopyFlags::kOwnerDaclSacl &&
      src_->capabilities().acl_model == AclModel::kWindows &&
      dst_->capabilities().acl_model == AclModel::kWindows) {
    run.Fail("InvalidRequestException",
             "SecurityDescriptorCopyFlags OWNER_DACL_SACL cannot be served: "
             "ferry's SMB client (libsmbclient) neither reads nor writes "
             "SACLs. Use OWNER_DACL (owner and DACL) or NONE.");
    run.result.prepare_status = PhaseStatus::kError;
    return false;
  }
  run.policy = opt.Policy();
  // What one side cannot keep (an SMB share: no POSIX mode or owner) is
  // neither written nor compared.
  const Capabilities& sc = src_->capabilities();
  const Capabilities& dc = dst_->capabilities();
  if (!sc.posix_mode || !dc.posix_mode) run.policy.mode = false;
  if (!sc.posix_owner || !dc.posix_owner) {
    run.policy.uid = false;
    run.policy.gid = false;
  }
  if (!sc.atime || !dc.atime) run.policy.atime = false;
  if (!sc.symlink_times || !dc.symlink_times) run.policy.link_times = false;
  if (!sc.dos_attributes || !dc.dos_attributes) {
    run.policy.dos_attributes = false;
  }
  run.compare = run.policy;
  run.compare.atime = false;
  run.changed_mode = opt.transfer_mode == TransferMode::kChanged;
  run.remove = opt.preserve_deleted_files == DeletedFilesMode::kRemove;
  run.granularity = std::max(src_->capabilities().mtime_granularity_ns,
                             dst_->capabilities().mtime_granularity_ns);
  run.threads = config_.threads;
  if (run.threads <= 0) {
    // One worker per core keeps local disks busy; a network store wants
    // more requests in flight than that (its capabilities say how many).
    run.threads = std::max(
        {static_cast<int>(std::max(2u, std::thread::hardware_concurrency())),
         src_->capabilities().io_concurrency,
         dst_->capabilities().io_concurrency});
  }
  run.xattrs = config_.xattrs && src_->capabilities().xattrs &&
               dst_->capabilities().xattrs;
  // ACLs of one model only; Windows security descriptors as the task's
  // SecurityDescriptorCopyFlags say (OWNER_DACL_SACL is refused above).
  run.acls = config_.acls && sc.acls && dc.acls &&
             sc.acl_model == dc.acl_model &&
             (sc.acl_model != AclModel::kWindows ||
              opt.security_descriptor_copy_flags !=
                  SecurityDescriptorCopyFlags::kNone);
  if (config_.acls && !run.acls && sc.acl_model == AclModel::kWindows &&
      dc.acl_model == AclModel::kWindows &&
      opt.security_descriptor_copy_flags !=
          SecurityDescriptorCopyFlags::kNone) {
    log_->Write("WARN", "SecurityDescriptorsNotCopied",
                "Security descriptors are not copied: " +
                    (sc.acls ? dst_->Describe() : src_->Describe()) +
                    " is reached on a port other than 445, where "
                    "libsmbclient cannot read or write them.");
  }
  run.object_tags = opt.object_tags == ObjectTagsMode::kPreserve &&
                    src_->capabilities().object_tags &&
                    dst_->capabilities().object_tags;
  return true;
}

bool Execution::Prepare(RunState& run) {
  const TaskOptions& opt = config_.options;
  if (opt.verify_mode == VerifyMode::kOnlyFilesTransferred)
    run.journal = std::make_unique<Journal>();
  run.recorder = std::make_unique<Recorder>(
      &counters_, log_, run.journal.get(), report_.get(), [this, &run] {
        int64_t expected = -1;
        run.transfer_start_ms.compare_exchange_strong(
            expected, clock_->MillisSince(run.t_start));
        Transition(ExecutionStatus::kTransferring);
      });
  Recorder* recorder = run.recorder.get();
  src_->SetObserver(recorder);
  dst_->SetObserver(recorder);

  ScanOptions so;
  so.threads = config_.scan_threads;
  // Attribute-only changes are found by ctime only where both sides have
  // one; elsewhere the scans read the attributes themselves.
  const bool attrs_always = config_.xattr_check_always ||
                            !src_->capabilities().change_time ||
                            !dst_->capabilities().change_time;
  if (attrs_always) {
    so.xattrs = run.xattrs;
    so.acls = run.acls;
  }
  so.filter = &*run.filter;
  so.stop = run.stop;
  run.outage = WatchOutages(run);
  so.outage = run.outage.get();
  so.on_list_error = [recorder](const Entry& dir, const Status& st) {
    recorder->OnListFailed(dir, "source", st);
  };
  run.src_scan = std::make_unique<Scanner>(src_.get(), so);
  so.on_list_error = [recorder](const Entry& dir, const Status& st) {
    recorder->OnListFailed(dir, "destination", st);
  };
  if (!config_.dry_run) {
    so.on_staging = [this](const Entry& staging) {
      RemoveStaleStaging(staging);
    };
    Status swept = dst_->CleanupStaging(StagingCleanupNow());
    if (!swept.ok()) {
      log_->Write("WARN", "StaleTempNotRemoved",
                  "Cannot clean up abandoned uploads at the destination: " +
                      std::string(swept.message()));
    }
  }
  run.dst_scan = std::make_unique<Scanner>(dst_.get(), so);

  const Clock::time_point prepare_start = clock_->Now();
  Status st = run.src_scan->Start();
  if (!st.ok()) {
    run.Fail("SourceLocationError",
             "Cannot read the source location: " + std::string(st.message()));
    run.result.prepare_status = PhaseStatus::kError;
    return false;
  }
  if (run.changed_mode) st = run.dst_scan->Start();
  if (!st.ok()) {
    run.Fail(
        "DestinationLocationError",
        "Cannot read the destination location: " + std::string(st.message()));
    run.result.prepare_status = PhaseStatus::kError;
    return false;
  }

  run.owners.emplace(opt.uid, opt.gid);
  if (run.owners->active()) {
    OwnerMap* owners = &*run.owners;
    run.map_source = [owners](Entry* e) { owners->Map(e); };
  }

  TransferOptions to;
  to.threads = run.threads;
  to.metadata = run.policy;
  to.xattrs = run.xattrs;
  to.acls = run.acls;
  to.object_tags = run.object_tags;
  to.digest = config_.digest;
  to.fsync = config_.fsync;
  to.chunk_size = config_.chunk_size;
  to.limiter = &limiter_;
  to.clock = clock_;
  to.map_source = run.map_source;
  to.outage = run.outage.get();
  to.stop = run.stop;
  if (!config_.dry_run) {
    run.transfer =
        std::make_unique<Transfer>(src_.get(), dst_.get(), to, recorder);
  }

  Entry root = run.src_scan->root();
  if (run.map_source) run.map_source(&root);
  bool root_differs = true;
  if (run.changed_mode) {
    root_differs = !DescribeMetadataMismatch(root, run.dst_scan->root(),
                                             run.compare, run.granularity)
                        .empty();
  }
  if (run.transfer) run.transfer->Start(root, root_differs);

  const Clock::time_point diff_begin = clock_->Now();
  DiffOptions dopt;
  dopt.overwrite = opt.overwrite_mode == OverwriteMode::kAlways;
  dopt.remove_deleted = run.remove;
  dopt.preserve_devices = opt.preserve_devices == DevicesMode::kPreserve;
  dopt.hard_links =
      src_->capabilities().hard_links && dst_->capabilities().hard_links;
  dopt.compare = run.compare;
  dopt.attributes = !(run.xattrs || run.acls)
                        ? DiffOptions::AttributeCheck::kNone
                    : attrs_always ? DiffOptions::AttributeCheck::kAlways
                                   : DiffOptions::AttributeCheck::kCtime;
  dopt.map_source = run.map_source;
  dopt.mtime_granularity_ns = run.granularity;
  dopt.written_after_margin_ns = WrittenAfterMargin();
  ManifestPlanner* manifest = nullptr;
  if (config_.manifest) {
    auto m = std::make_unique<ManifestPlanner>(
        src_.get(), dst_.get(), config_.manifest, dopt, !run.changed_mode);
    manifest = m.get();
    run.plan = std::move(m);
  } else {
    run.plan = std::make_unique<Differ>(
        run.src_scan.get(), run.changed_mode ? run.dst_scan.get() : nullptr,
        dopt);
  }
  auto update_listed = [&] {
    if (manifest) {
      counters_.files_listed_at_source.store(manifest->found());
    } else {
      counters_.files_listed_at_source.store(
          run.src_scan->counts().files.load());
      counters_.folders_listed_at_source.store(
          run.src_scan->counts().dirs.load());
    }
  };

  Status& fatal = run.fatal;
  PlanItem item;
  uint64_t n = 0;
  // Listing and comparing overlap with transferring, so PrepareDuration is
  // the time spent in the diff itself, not the wall time until it ended
  // (which waits on the transfer queue).
  Clock::duration prepare_time{0};
  while (true) {
    const Clock::time_point diff_start = clock_->Now();
    auto more = run.plan->Next(&item);
    prepare_time += clock_->Now() - diff_start;
    if (!more.ok()) {
      fatal = more.status();
      break;
    }
    if (!*more) break;
    if ((++n & 255) == 0) update_listed();
    if (config_.on_plan && item.action != PlanAction::kUnchanged)
      config_.on_plan(item);
    switch (item.action) {
      case PlanAction::kCreate:
      case PlanAction::kReplace:
      case PlanAction::kUpdateMetadata:
      case PlanAction::kLink:
        recorder->OnPlanned(item);
        if (run.transfer) run.transfer->Add(std::move(item));
        break;
      case PlanAction::kUnchanged:
        if (run.transfer) run.transfer->Add(std::move(item));
        break;
      case PlanAction::kSkipOverwrite:
      case PlanAction::kSkipDevice:
        recorder->OnSkipped(item);
        break;
      case PlanAction::kDelete: {
        Bump(item.dst->is_dir() ? counters_.estimated_folders_to_delete
                                : counters_.estimated_files_to_delete);
        JournalRecord rec;
        rec.applied = std::move(*item.dst);
        Status js = run.deletes.Append(rec);
        if (!js.ok()) fatal = js;
        break;
      }
      case PlanAction::kFailUnlisted:
      case PlanAction::kFailCompare:
      case PlanAction::kFailMissing:
        recorder->OnPrepareFailed(item);
        break;
    }
    if (!fatal.ok()) break;
  }
  update_listed();
  if (run.remove) {
    counters_.files_listed_at_destination_for_delete.store(
        run.dst_scan->counts().files.load());
    counters_.folders_listed_at_destination_for_delete.store(
        run.dst_scan->counts().dirs.load());
  }
  run.result.prepare_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              prepare_time + (diff_begin - prepare_start))
                              .count();
  Transition(ExecutionStatus::kTransferring);
  if (!fatal.ok() && !fatal.IsCancelled()) {
    stop_.request_stop();  // nothing more should be written
    run.Fail("PrepareError",
             "Preparation failed: " + std::string(fatal.message()));
  }
  // The listing and comparison have ended, though the transfer may go on:
  // the estimates are final, and PrepareStatus says how it went. A listing
  // that a cancellation cut short did not succeed.
  const bool prepare_failed = PrepareFailures(counters_.Snapshot()) > 0 ||
                              run.result.error_code == "PrepareError" ||
                              run.stop.stop_requested();
  run.result.prepare_status =
      prepare_failed ? PhaseStatus::kError : PhaseStatus::kSuccess;
  prepare_.End(run.result.prepare_status, run.result.prepare_ms);
  run.ran.prepare = true;
  return true;
}

std::unique_ptr<OutageWatch> Execution::WatchOutages(RunState& run) {
  OutageOptions options;
  options.limit = config_.outage_limit;
  // A location answers when its root can be looked at (each backend retries
  // that on its own first).
  auto probe = [this, &run]() -> Status {
    for (const bool source : {true, false}) {
      Backend* b = source ? src_.get() : dst_.get();
      auto root = b->Stat(RelPath());
      if (root.ok()) continue;
      run.outage_at_source.store(source);
      return Status(root.status().code(),
                    std::string(source ? "The source" : "The destination") +
                        " location " + b->Describe() + " does not answer (" +
                        std::string(root.status().message()) + ")",
                    root.status().sys_errno(), root.status().retryable());
    }
    return Status::Ok();
  };
  auto on_event = [this, &run](OutageWatch::Event event, const Status& why,
                               const Status& last) {
    const bool source = run.outage_at_source.load();
    const std::string location = source ? src_->Describe() : dst_->Describe();
    const std::string limit =
        std::to_string(config_.outage_limit.count()) + " s";
    switch (event) {
      case OutageWatch::Event::kOut:
        log_->Write("WARN", "LocationUnreachable",
                    std::string(why.message()) +
                        " (the last failure: " + std::string(last.message()) +
                        "). The transfer waits for it, up to " + limit +
                        ", and then tries again.",
                    {{"location", location}, {"reason", why.ToString()}});
        break;
      case OutageWatch::Event::kBack:
        // A WARN like the outage it ends, so that whoever saw one sees both.
        log_->Write("WARN", "LocationReachable",
                    std::string(source ? "The source" : "The destination") +
                        " location " + location +
                        " answers again; the transfer goes on.",
                    {{"location", location}});
        break;
      case OutageWatch::Event::kDown: {
        const std::string detail =
            std::string(why.message()) + ", and has not for " + limit +
            " (the last failure: " + std::string(last.message()) +
            "). The execution stopped; files in flight were not committed. "
            "Run the task again when the location is back.";
        {
          std::lock_guard lock(run.outage_mu);
          run.outage_code =
              source ? "SourceLocationError" : "DestinationLocationError";
          run.outage_detail = detail;
        }
        log_->Write("ERROR", "LocationDown", detail,
                    {{"location", location}, {"reason", why.ToString()}});
        stop_.request_stop();
        break;
      }
    }
  };
  return std::make_unique<OutageWatch>(clock_, options, std::move(probe),
                                       std::move(on_event));
}

int64_t Execution::WrittenAfterMargin() const {
  if (!config_.trust_write_times) return -1;
  std::optional<std::chrono::nanoseconds> src = src_->ClockOffset();
  std::optional<std::chrono::nanoseconds> dst = dst_->ClockOffset();
  if (!src || !dst) return -1;
  // Each offset is known to within a second, and ctimes of object stores
  // are whole seconds: three seconds beyond the clocks' difference.
  const int64_t apart = std::llabs((*src - *dst).count());
  return apart + 3'000'000'000;
}

void Execution::CheckDryRunDeletes(RunState& run) {
  std::string why;
  if (run.remove && run.fatal.ok() && !DeletesWithinBound(&why)) {
    why += " (dry run: the deletions listed above would be refused)";
    log_->Write("ERROR", "MaxDeleteExceeded", why);
    run.Fail("MaxDeleteExceeded", why);
  }
}

void Execution::AwaitTransfer(RunState& run) {
  run.ran.transfer = true;
  Status finished = run.transfer->Finish();
  (void)finished;  // per-item failures are counted; cancellation is seen below
}

void Execution::DeleteAndSync(RunState& run) {
  run.TakeOutage();
  int64_t t_transfer_start = run.transfer_start_ms.load();
  if (t_transfer_start < 0) t_transfer_start = clock_->MillisSince(run.t_start);

  CounterSnapshot snap = counters_.Snapshot();
  const bool errors_so_far =
      snap.folders_failed_list + snap.files_failed_prepare +
          snap.folders_failed_prepare + snap.files_failed_transfer +
          snap.folders_failed_transfer >
      0;
  if (run.remove && !run.stop.stop_requested() && run.fatal.ok()) {
    std::string why;
    if (errors_so_far) {
      log_->Write("WARN", "DeletesSkipped",
                  "Deletions skipped: files failed to list or transfer, and "
                  "nothing is deleted "
                  "unless every copy succeeded. Fix the errors above and run "
                  "the task again.");
    } else if (!DeletesWithinBound(&why)) {
      log_->Write("ERROR", "MaxDeleteExceeded", why);
      run.Fail("MaxDeleteExceeded", why);
    } else {
      RunDeletes(&run.deletes);
      run.deleted = true;
    }
  }
  if (!run.stop.stop_requested() && run.fatal.ok()) {
    Status synced = dst_->Sync();
    if (!synced.ok()) {
      run.Fail("DestinationSyncError",
               "Cannot flush the destination: " + synced.ToString());
    }
  }
  run.result.transfer_ms =
      std::max<int64_t>(0, clock_->MillisSince(run.t_start) - t_transfer_start);
  // The transfer phase (copies, then deletions) has ended; verification is
  // next. Cancelled is as Finalize judges it: CANCELLING, no failure before.
  const bool cancelled = status_.load() == ExecutionStatus::kCancelling &&
                         run.result.error_code.empty();
  // A preparation that failed stopped the transfer that went on beside it.
  const bool transfer_failed =
      TransferFailures(counters_.Snapshot()) > 0 || cancelled ||
      run.result.error_code == "PrepareError" ||
      run.result.error_code == "DestinationSyncError" ||
      run.result.error_code == "MaxDeleteExceeded" ||
      run.result.error_code == "SourceLocationError" ||
      run.result.error_code == "DestinationLocationError";
  run.result.transfer_status =
      transfer_failed ? PhaseStatus::kError : PhaseStatus::kSuccess;
  transfer_.End(run.result.transfer_status, run.result.transfer_ms);
}

void Execution::Verify(RunState& run) {
  const TaskOptions& opt = config_.options;
  if (run.stop.stop_requested() || !run.fatal.ok()) return;
  run.ran.verify = true;
  if (opt.verify_mode == VerifyMode::kNone) return;  // succeeds at once
  Transition(ExecutionStatus::kVerifying);
  const Clock::time_point verify_start = clock_->Now();
  VerifyOptions vo;
  vo.threads = run.threads;
  vo.scan_threads = config_.scan_threads;
  vo.compare = run.compare;
  vo.xattrs = run.xattrs;
  vo.acls = run.acls;
  vo.digest = config_.digest;
  vo.mtime_granularity_ns = run.granularity;
  // When deletions were skipped or refused, what they would have removed is
  // expected to be there still.
  vo.remove_deleted = run.remove && run.deleted;
  vo.preserve_devices = opt.preserve_devices == DevicesMode::kPreserve;
  vo.filter = &*run.filter;
  vo.stop = run.stop;
  vo.outage = run.outage.get();
  vo.map_source = run.map_source;
  Recorder* recorder = run.recorder.get();
  vo.not_verified = [recorder](const RelPath& p) {
    return recorder->NotVerified(p);
  };
  Status vs = opt.verify_mode == VerifyMode::kOnlyFilesTransferred
                  ? VerifyTransferred(dst_.get(), run.journal.get(), vo,
                                      recorder->verify_observer())
              : config_.manifest
                  ? VerifyPaths(src_.get(), dst_.get(), *config_.manifest, vo,
                                recorder->verify_observer())
                  : VerifyPointInTime(src_.get(), dst_.get(), vo,
                                      recorder->verify_observer());
  run.result.verify_ms = clock_->MillisSince(verify_start);
  if (!vs.ok() && !vs.IsCancelled()) {
    run.Fail("VerificationError",
             "Verification could not complete: " + std::string(vs.message()));
    run.result.verify_status = PhaseStatus::kError;
  }
}

ExecutionResult Execution::Finish(RunState& run) {
  // Every stage has stopped: nothing calls the recorder through the
  // backends any more, and it goes with `run`.
  src_->SetObserver(nullptr);
  dst_->SetObserver(nullptr);
  if (run.recorder) {
    run.result.retries = run.recorder->retries();
    run.recorder->TakeChanged(&run.result);
  }
  run.result.total_ms = clock_->MillisSince(run.t_start);
  run.TakeOutage();
  Finalize(&run.result, run.ran);
  FinishReport(&run.result);
  return std::move(run.result);
}

void Execution::Finalize(ExecutionResult* r, const PhasesRun& ran) {
  r->end_time_ns = WallNanos();
  r->counters = counters_.Snapshot();
  const CounterSnapshot& c = r->counters;
  const uint64_t prepare_failures = PrepareFailures(c);
  const uint64_t transfer_failures = TransferFailures(c);
  const uint64_t verify_failures = VerifyFailures(c);

  // The final status is decided and stored in one step: a Cancel() that got
  // in first (CANCELLING) makes this an OperationCanceled ERROR; one that
  // comes after finds the execution finished and changes nothing. A failure
  // already recorded (PrepareError stops the run itself) keeps its code.
  const bool failed_already = !r->error_code.empty();
  const bool has_failures =
      prepare_failures + transfer_failures + verify_failures > 0;
  ExecutionStatus from = status_.load();
  bool cancelled = false;
  ExecutionStatus final_status = ExecutionStatus::kError;
  do {
    cancelled = from == ExecutionStatus::kCancelling && !failed_already;
    final_status = failed_already || cancelled || has_failures
                       ? ExecutionStatus::kError
                       : ExecutionStatus::kSuccess;
  } while (!status_.compare_exchange_weak(from, final_status));

  // A phase that ended before (Prepare, DeleteAndSync) keeps the status it
  // was shown with; a phase that ran until now and was cancelled fails;
  // one that never ran stays PENDING.
  auto phase = [](bool ran, bool failed) {
    return !ran     ? PhaseStatus::kPending
           : failed ? PhaseStatus::kError
                    : PhaseStatus::kSuccess;
  };
  if (r->prepare_status == PhaseStatus::kPending) {
    r->prepare_status = phase(
        ran.prepare, prepare_failures > 0 || r->error_code == "PrepareError");
  }
  if (r->transfer_status == PhaseStatus::kPending) {
    r->transfer_status =
        phase(ran.transfer, transfer_failures > 0 || cancelled ||
                                r->error_code == "DestinationSyncError" ||
                                r->error_code == "MaxDeleteExceeded");
  }
  if (r->verify_status == PhaseStatus::kPending) {
    r->verify_status = phase(ran.verify, verify_failures > 0 || cancelled);
  }
  prepare_.End(r->prepare_status, r->prepare_ms);
  transfer_.End(r->transfer_status, r->transfer_ms);
  verify_.End(r->verify_status, r->verify_ms);
  total_ms_.store(r->total_ms);

  if (cancelled) {
    r->error_code = "OperationCanceled";
    r->error_detail =
        "The task execution was cancelled; files in flight were not committed.";
  } else if (r->error_code.empty() && verify_failures > 0) {
    r->error_code = "VerificationFailed";
    r->error_detail =
        "Transfer and verification completed. Verification detected "
        "mismatches. Files with "
        "mismatches are listed in the execution log.";
  } else if (r->error_code.empty() &&
             (prepare_failures + transfer_failures) > 0) {
    r->error_code = "FilesSkippedDueToErrors";
    r->error_detail =
        "Transfer and verification completed. Selected files transferred "
        "except for files "
        "skipped due to errors.";
  }
  r->status = final_status;
  log_->Write(r->status == ExecutionStatus::kSuccess ? "INFO" : "ERROR",
              "ExecutionFinished",
              "Execution " + execution_arn_ +
                  " finished: " + std::string(ExecutionStatusName(r->status)) +
                  (r->error_detail.empty() ? "" : " (" + r->error_detail + ")"),
              {{"executionArn", execution_arn_},
               {"status", std::string(ExecutionStatusName(r->status))},
               {"errorCode", r->error_code}});
}

void Execution::FinishReport(ExecutionResult* r) {
  if (!report_) return;
  r->report_status = "SUCCESS";
  nlohmann::json summary = Describe(*r);
  summary["SourceLocation"] = src_->Describe();
  summary["DestinationLocation"] = dst_->Describe();
  summary["ReportSettings"] = {
      {"OutputType", config_.report->output_type == ReportOutputType::kStandard
                         ? "STANDARD"
                         : "SUMMARY_ONLY"},
      {"ReportLevel", config_.report->level == ReportLevel::kErrorsOnly
                          ? "ERRORS_ONLY"
                          : "SUCCESSES_AND_ERRORS"}};
  auto folder = report_->Finish(std::move(summary));
  if (folder.ok()) {
    r->report_folder = *folder;
  } else {
    r->report_status = "ERROR";
    r->report_error = std::string(folder.status().message());
    log_->Write("ERROR", "TaskReportFailed",
                "Cannot write the task report: " + r->report_error);
  }
  report_.reset();
}

ExecutionResult Execution::LiveResult() const {
  ExecutionResult r;
  r.status = status_.load();
  r.start_time_ns = start_time_ns_.load();
  r.launch_time_ns = launch_time_ns_.load();
  // The status first, then the duration stored before it: a phase shown
  // ended has its duration.
  auto read = [](const LivePhase& p, PhaseStatus* status, int64_t* ms) {
    *status = p.status.load();
    *ms = *status == PhaseStatus::kPending ? 0 : p.ms.load();
  };
  read(prepare_, &r.prepare_status, &r.prepare_ms);
  read(transfer_, &r.transfer_status, &r.transfer_ms);
  read(verify_, &r.verify_status, &r.verify_ms);
  r.total_ms = total_ms_.load();
  // After the phases: a prepare phase seen ended comes with its final
  // estimates.
  r.counters = counters_.Snapshot();
  return r;
}

nlohmann::json Execution::Describe(const ExecutionResult& r) const {
  using nlohmann::json;
  json out;
  out["TaskExecutionArn"] = execution_arn_;
  out["Status"] = std::string(ExecutionStatusName(r.status));
  json options = json::object();
  for (const auto& [name, value] : config_.options.ToPairs()) {
    if (name == "BytesPerSecond") {
      options[name] = bytes_per_second();
    } else {
      options[name] = value;
    }
  }
  out["Options"] = options;
  auto filters = [](const std::string& v) {
    json list = json::array();
    if (!v.empty())
      list.push_back({{"FilterType", "SIMPLE_PATTERN"}, {"Value", v}});
    return list;
  };
  out["Excludes"] = filters(config_.excludes);
  out["Includes"] = filters(config_.includes);
  auto seconds = [](int64_t ns) { return static_cast<double>(ns) / 1e9; };
  out["StartTime"] = seconds(r.start_time_ns);
  out["LaunchTime"] = seconds(r.launch_time_ns);
  if (r.end_time_ns) out["EndTime"] = seconds(r.end_time_ns);
  const CounterSnapshot& c = r.counters;
#define FERRY_JSON_(name, key)                           \
  {                                                      \
    std::string k = key;                                 \
    size_t dot = k.find('.');                            \
    if (dot == std::string::npos) {                      \
      out[k] = c.name;                                   \
    } else {                                             \
      out[k.substr(0, dot)][k.substr(dot + 1)] = c.name; \
    }                                                    \
  }
  FERRY_EXECUTION_COUNTERS(FERRY_JSON_)
#undef FERRY_JSON_
  json result = {
      {"PrepareDuration", r.prepare_ms},
      {"PrepareStatus", std::string(PhaseStatusName(r.prepare_status))},
      {"TotalDuration", r.total_ms},
      {"TransferDuration", r.transfer_ms},
      {"TransferStatus", std::string(PhaseStatusName(r.transfer_status))},
      {"VerifyDuration", r.verify_ms},
      {"VerifyStatus", std::string(PhaseStatusName(r.verify_status))}};
  if (!r.error_code.empty()) {
    result["ErrorCode"] = r.error_code;
    result["ErrorDetail"] = r.error_detail;
  }
  out["Result"] = result;
  if (!r.report_status.empty()) {
    json report = {{"Status", r.report_status}};
    if (!r.report_error.empty()) {
      report["ErrorCode"] = "TaskReportError";
      report["ErrorDetail"] = r.report_error;
    }
    out["ReportResult"] = report;
  }
  return out;
}

}  // namespace ferry
