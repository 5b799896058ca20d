#include "ferry/verify/verifier.h"

#include <algorithm>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "ferry/base/bounded_queue.h"
#include "ferry/base/clock.h"
#include "ferry/scan/entry_merge.h"

namespace ferry {
namespace {

// One item to check. `expected` is the source side (journal: what was
// applied); `found` is the destination entry when already known (point in
// time), looked up otherwise.
struct Check {
  std::optional<Entry> expected;
  std::optional<Entry> found;
  Digest expected_digest;
  bool content = true;  // compare file content
  bool lookup = false;  // stat the destination first
};

// Checks handed to worker threads in batches of kCheckBatch.
class CheckPool {
 public:
  using RunBatch = std::function<void(std::vector<Check>&)>;
  CheckPool(int threads, RunBatch run) : run_(std::move(run)), queue_(64) {
    for (int i = 0; i < std::max(1, threads); ++i) {
      workers_.emplace_back([this] {
        while (auto batch = queue_.Pop()) run_(*batch);
      });
    }
  }
  // Each check of a batch on its own.
  CheckPool(int threads, std::function<void(Check&)> run)
      : CheckPool(threads, [run = std::move(run)](std::vector<Check>& batch) {
          for (Check& c : batch) run(c);
        }) {}
  ~CheckPool() { Finish(); }

  void Add(Check c) {
    batch_.push_back(std::move(c));
    if (batch_.size() >= kCheckBatch) Flush();
  }
  static constexpr size_t kCheckBatch = 32;
  void Finish() {
    Flush();
    queue_.Close();
    workers_.clear();
  }

 private:
  void Flush() {
    if (batch_.empty()) return;
    queue_.Push(std::move(batch_));
    batch_ = {};
  }
  RunBatch run_;
  BoundedQueue<std::vector<Check>> queue_;
  std::vector<Check> batch_;
  std::vector<std::jthread> workers_;
};

}  // namespace

std::string_view VerifyFailureCode(VerifyFailureKind kind) {
  switch (kind) {
    case VerifyFailureKind::kNone:
      return "";
    case VerifyFailureKind::kChecksum:
      return "ChecksumDiffers";
    case VerifyFailureKind::kMetadata:
      return "MetadataDiffers";
    case VerifyFailureKind::kMissingAtDestination:
      return "FileNotAtDestination";
    case VerifyFailureKind::kNotAtSource:
      return "FileNotAtSource";
    case VerifyFailureKind::kError:
      return "VerificationError";
  }
  return "";
}

namespace {

// " (source T1, destination T2)": what an operator needs to tell a clock
// or a server's rounding from a change.
std::string BothTimes(FileTime src, FileTime dst) {
  return " (source " + FormatIso8601(src.Nanos()) + ", destination " +
         FormatIso8601(dst.Nanos()) + ")";
}

}  // namespace

std::string DescribeMetadataMismatch(const Entry& expected, const Entry& actual,
                                     const MetadataPolicy& policy,
                                     int64_t granularity) {
  if (expected.kind != actual.kind) {
    return "type differs (" + std::string(EntryKindName(expected.kind)) +
           " vs " + std::string(EntryKindName(actual.kind)) + ")";
  }
  if (expected.kind == EntryKind::kFile && expected.size != actual.size) {
    return "size differs";
  }
  if (expected.kind == EntryKind::kSymlink &&
      expected.link_target != actual.link_target) {
    return "link target differs";
  }
  if ((expected.kind == EntryKind::kBlockDevice ||
       expected.kind == EntryKind::kCharDevice) &&
      expected.rdev != actual.rdev) {
    return "device number differs";
  }
  if (policy.mode && expected.kind != EntryKind::kSymlink &&
      expected.mode != actual.mode) {
    return "mode differs";
  }
  if (policy.uid && expected.uid != actual.uid) return "uid differs";
  if (policy.gid && expected.gid != actual.gid) return "gid differs";
  if (policy.mtime &&
      (policy.link_times || expected.kind != EntryKind::kSymlink) &&
      !TimesMatch(expected.mtime, actual.mtime, granularity)) {
    return "mtime differs" + BothTimes(expected.mtime, actual.mtime);
  }
  if (policy.dos_attributes && (expected.kind == EntryKind::kFile ||
                                expected.kind == EntryKind::kDirectory)) {
    std::string why(DosAttributesDifference(expected, actual));
    if (why.starts_with("creation")) {
      why += BothTimes(expected.btime, actual.btime);
    }
    return why;
  }
  return "";
}

namespace {

// What reports the bytes a digest reads to `observer` (none without one).
std::function<void(uint64_t)> BytesTo(VerifyObserver* observer) {
  if (observer == nullptr) return nullptr;
  return [observer](uint64_t n) { observer->OnBytes(n); };
}

}  // namespace

Result<std::pair<Digest, Entry>> DigestFile(Backend* backend,
                                            const RelPath& path,
                                            DigestAlgorithm algo,
                                            const std::stop_token& stop,
                                            VerifyObserver* observer) {
  return backend->ComputeDigest(path, algo, stop, BytesTo(observer));
}

namespace {

// The hash of the attributes ferry carries, of those in `list`.
uint64_t AttributeHash(XattrList list, const VerifyOptions& options) {
  return XattrHash(FilterXattrs(std::move(list), options.xattrs, options.acls));
}

bool CarriesAttributes(EntryKind kind, const VerifyOptions& options) {
  return (options.xattrs || options.acls) &&
         (kind == EntryKind::kFile || kind == EntryKind::kDirectory);
}

void Fail(VerifyOutcome* out, VerifyFailureKind kind, std::string detail) {
  out->failure = kind;
  out->detail = std::move(detail);
}

// The same for a call that failed with `cause`.
void Fail(VerifyOutcome* out, VerifyFailureKind kind, const Status& cause,
          std::string detail) {
  out->cause = cause;
  Fail(out, kind, std::move(detail));
}

using DigestResults = std::vector<Result<std::pair<Digest, Entry>>>;

// The k-th of `digests` (what `side` answered of out's file), or null with
// `out` failed: no answer, or an error. A cancelled one is not verified,
// and not to be reported as such: `*report` becomes false.
const Digest* DigestOrFail(const DigestResults& digests, size_t k,
                           std::string_view side, VerifyOutcome* out,
                           bool* report) {
  if (k >= digests.size()) {
    Fail(out, VerifyFailureKind::kError, std::string(side) + " did not answer");
    return nullptr;
  }
  if (!digests[k].ok()) {
    const Status& st = digests[k].status();
    if (st.IsCancelled()) *report = false;
    Fail(out, VerifyFailureKind::kError, st, st.ToString());
    return nullptr;
  }
  return &digests[k]->first;
}

// Asks `dst` for the digests of `paths` (the files of outs[indexes[k]]) in
// one batch and compares each with expected(i): a difference fails the
// outcome with ChecksumDiffers.
template <typename Expected>
void CheckDestinationDigests(Backend* dst, const std::vector<size_t>& indexes,
                             std::vector<RelPath> paths, Expected expected,
                             const VerifyOptions& options,
                             VerifyObserver* observer,
                             std::vector<VerifyOutcome>& outs, bool* report) {
  if (indexes.empty()) return;
  const DigestResults d = dst->ComputeDigestMany(
      paths, options.digest, options.stop, BytesTo(observer));
  for (size_t k = 0; k < indexes.size(); ++k) {
    const size_t i = indexes[k];
    VerifyOutcome& out = outs[i];
    if (const Digest* got =
            DigestOrFail(d, k, "the destination", &out, &report[i])) {
      out.dst_digest = *got;
      if (!(out.dst_digest == expected(i))) {
        Fail(&out, VerifyFailureKind::kChecksum, "content differs");
      }
    }
  }
}

// Keeps what a check reports, to be reported once it is known whether the
// check is to be made again; bytes read go on at once.
class Collector : public VerifyObserver {
 public:
  explicit Collector(VerifyObserver* inner) : inner_(inner) {}
  void OnVerified(const VerifyOutcome& o) override { outcomes.push_back(o); }
  void OnBytes(uint64_t bytes) override {
    if (inner_) inner_->OnBytes(bytes);
  }
  std::vector<VerifyOutcome> outcomes;

 private:
  VerifyObserver* inner_;
};

// Runs `check` (reporting to the observer it is given) and reports what it
// found; but when something failed on a retryable fault and the outage
// watch saw the location out and back, the check is made again instead.
template <typename CheckFn>
void CheckThroughOutages(const VerifyOptions& options, VerifyObserver* observer,
                         CheckFn&& check) {
  for (int outages = 0;; ++outages) {
    Collector collected(observer);
    check(&collected);
    Status cause;
    for (const VerifyOutcome& o : collected.outcomes) {
      if (!o.ok() && o.cause.retryable()) {
        cause = o.cause;
        break;
      }
    }
    if (cause.ok() || !options.outage || outages >= kMaxOutageRetries ||
        !options.outage->Recover(cause, options.stop)) {
      // Stopped meanwhile (a location stayed down, say): nothing verified.
      if (!cause.ok() && options.stop.stop_requested()) return;
      for (const VerifyOutcome& o : collected.outcomes) {
        observer->OnVerified(o);
      }
      return;
    }
  }
}

}  // namespace

namespace {

// Compares items present at both locations, a batch at a time: metadata,
// attributes and, for files, content (both sides read and hashed). Each
// step asks each side for the whole batch at once (StatMany, GetXattrsMany,
// ComputeDigestMany): a backend across a network answers each in one round
// trip instead of one per item.
void CheckPairs(Backend* src, Backend* dst, const std::vector<Check>& batch,
                const VerifyOptions& options, VerifyObserver* observer) {
  if (options.stop.stop_requested()) return;
  const int64_t gran = options.mtime_granularity_ns;
  const size_t n = batch.size();
  std::vector<VerifyOutcome> outs(n);
  // Whether each outcome is reported (a cancelled check is not).
  auto report = std::make_unique<bool[]>(n);
  std::fill_n(report.get(), n, true);
  std::vector<bool> done(n, false);  // failed already: nothing more to ask
  for (size_t i = 0; i < n; ++i) {
    VerifyOutcome& out = outs[i];
    out.path = batch[i].expected->path;
    out.kind = batch[i].expected->kind;
    out.src = batch[i].expected;
    out.dst = batch[i].found;
  }
  // What a listing left out (Entry::kPartial) is read now.
  for (bool at_src : {true, false}) {
    std::vector<size_t> partial;
    std::vector<RelPath> paths;
    for (size_t i = 0; i < n; ++i) {
      const std::optional<Entry>& e = at_src ? outs[i].src : outs[i].dst;
      if (done[i] || !e->partial()) continue;
      partial.push_back(i);
      paths.push_back(outs[i].path);
    }
    if (partial.empty()) continue;
    std::vector<Result<std::optional<Entry>>> now =
        (at_src ? src : dst)->StatMany(paths);
    for (size_t k = 0; k < partial.size(); ++k) {
      const size_t i = partial[k];
      VerifyOutcome& out = outs[i];
      done[i] = true;
      if (k >= now.size()) {
        Fail(&out, VerifyFailureKind::kError,
             at_src ? "the source did not answer"
                    : "the destination did not answer");
      } else if (!now[k].ok()) {
        Fail(&out, VerifyFailureKind::kError, now[k].status(),
             now[k].status().ToString());
      } else if (!now[k]->has_value()) {
        Fail(&out,
             at_src ? VerifyFailureKind::kError
                    : VerifyFailureKind::kMissingAtDestination,
             at_src ? "removed from the source while being verified"
                    : "not at the destination");
      } else {
        done[i] = false;
        std::optional<Entry>& e = at_src ? out.src : out.dst;
        e = std::move(**now[k]);
        if (at_src && options.map_source) options.map_source(&*e);
      }
    }
  }
  std::vector<size_t> attributes, content;
  for (size_t i = 0; i < n; ++i) {
    if (done[i]) continue;
    VerifyOutcome& out = outs[i];
    out.kind = out.src->kind;
    std::string why =
        DescribeMetadataMismatch(*out.src, *out.dst, options.compare, gran);
    if (!why.empty()) {
      Fail(&out, VerifyFailureKind::kMetadata, why);
    } else if (CarriesAttributes(out.kind, options)) {
      attributes.push_back(i);
    } else if (out.src->is_file()) {
      content.push_back(i);
    }
  }
  auto paths_of = [&](const std::vector<size_t>& indexes) {
    std::vector<RelPath> some;
    some.reserve(indexes.size());
    for (size_t i : indexes) some.push_back(outs[i].path);
    return some;
  };
  if (!attributes.empty()) {
    const std::vector<RelPath> paths = paths_of(attributes);
    std::vector<Result<XattrList>> s = src->GetXattrsMany(paths);
    std::vector<Result<XattrList>> d = dst->GetXattrsMany(paths);
    for (size_t k = 0; k < attributes.size(); ++k) {
      const size_t i = attributes[k];
      VerifyOutcome& out = outs[i];
      const Result<XattrList>* failed = nullptr;
      if (k < s.size() && !s[k].ok()) {
        failed = &s[k];
      } else if (k < d.size() && !d[k].ok()) {
        failed = &d[k];
      }
      if (failed != nullptr || k >= s.size() || k >= d.size()) {
        if (failed != nullptr) out.cause = failed->status();
        Fail(&out, VerifyFailureKind::kMetadata,
             "cannot read extended attributes: " +
                 std::string(failed != nullptr ? failed->status().message()
                                               : "no answer"));
        continue;
      }
      out.src->xattr_hash = AttributeHash(std::move(*s[k]), options);
      out.dst->xattr_hash = AttributeHash(std::move(*d[k]), options);
      if (out.src->xattr_hash != out.dst->xattr_hash) {
        Fail(&out, VerifyFailureKind::kMetadata, "extended attributes differ");
      } else if (out.src->is_file()) {
        content.push_back(i);
      }
    }
  }
  if (!content.empty()) {
    std::sort(content.begin(), content.end());
    // The source first: the destination is read only for what it read.
    const DigestResults s = src->ComputeDigestMany(
        paths_of(content), options.digest, options.stop, BytesTo(observer));
    std::vector<size_t> read;
    for (size_t k = 0; k < content.size(); ++k) {
      const size_t i = content[k];
      if (const Digest* got =
              DigestOrFail(s, k, "the source", &outs[i], &report[i])) {
        outs[i].src_digest = *got;
        read.push_back(i);
      }
    }
    CheckDestinationDigests(
        dst, read, paths_of(read),
        [&](size_t i) -> const Digest& { return outs[i].src_digest; }, options,
        observer, outs, report.get());
  }
  for (size_t i = 0; i < n; ++i) {
    if (report[i]) observer->OnVerified(outs[i]);
  }
}

}  // namespace

namespace {

// Checks a batch of items the transfer wrote against what the destination
// holds: one StatMany for all, then one GetXattrsMany and one
// ComputeDigestMany for those that still match (a backend across a network
// answers each in one round trip).
void CheckTransferred(Backend* dst, std::vector<Check>& batch,
                      const VerifyOptions& options, VerifyObserver* observer) {
  if (options.stop.stop_requested()) return;
  const int64_t gran = options.mtime_granularity_ns;
  const size_t n = batch.size();
  std::vector<VerifyOutcome> outs(n);
  // Whether each outcome is reported (a cancelled check is not).
  auto report = std::make_unique<bool[]>(n);
  std::fill_n(report.get(), n, true);
  std::vector<RelPath> paths;
  paths.reserve(n);
  for (const Check& c : batch) paths.push_back(c.expected->path);
  // Indexes still matching, and what is left to compare for them.
  std::vector<size_t> attributes, content;
  std::vector<Result<std::optional<Entry>>> found = dst->StatMany(paths);
  for (size_t i = 0; i < n; ++i) {
    const Check& c = batch[i];
    const Entry& want = *c.expected;
    VerifyOutcome& out = outs[i];
    out.path = want.path;
    out.kind = want.kind;
    out.src = want;
    out.src_digest = c.expected_digest;
    if (i >= found.size()) {
      Fail(&out, VerifyFailureKind::kError, "the destination did not answer");
    } else if (!found[i].ok()) {
      Fail(&out, VerifyFailureKind::kError, found[i].status(),
           found[i].status().ToString());
    } else if (!found[i]->has_value()) {
      Fail(&out, VerifyFailureKind::kMissingAtDestination,
           "not at the destination");
    } else {
      out.dst = std::move(**found[i]);
      std::string why =
          DescribeMetadataMismatch(want, *out.dst, options.compare, gran);
      if (!why.empty()) {
        Fail(&out, VerifyFailureKind::kMetadata, why);
      } else if (CarriesAttributes(want.kind, options)) {
        attributes.push_back(i);
      } else if (want.is_file() && c.content) {
        content.push_back(i);
      }
    }
  }
  auto subset = [&](const std::vector<size_t>& indexes) {
    std::vector<RelPath> some;
    some.reserve(indexes.size());
    for (size_t i : indexes) some.push_back(paths[i]);
    return some;
  };
  if (!attributes.empty()) {
    std::vector<Result<XattrList>> lists =
        dst->GetXattrsMany(subset(attributes));
    for (size_t k = 0; k < attributes.size(); ++k) {
      const size_t i = attributes[k];
      VerifyOutcome& out = outs[i];
      if (k >= lists.size() || !lists[k].ok()) {
        if (k < lists.size()) out.cause = lists[k].status();
        Fail(&out, VerifyFailureKind::kMetadata,
             "cannot read extended attributes: " +
                 std::string(k < lists.size() ? lists[k].status().message()
                                              : "the destination did not "
                                                "answer"));
        continue;
      }
      out.dst->xattr_hash = AttributeHash(std::move(*lists[k]), options);
      if (out.dst->xattr_hash != batch[i].expected->xattr_hash) {
        Fail(&out, VerifyFailureKind::kMetadata, "extended attributes differ");
      } else if (batch[i].expected->is_file() && batch[i].content) {
        content.push_back(i);
      }
    }
  }
  CheckDestinationDigests(
      dst, content, subset(content),
      [&](size_t i) -> const Digest& { return batch[i].expected_digest; },
      options, observer, outs, report.get());
  for (size_t i = 0; i < n; ++i) {
    if (report[i]) observer->OnVerified(outs[i]);
  }
}

}  // namespace

Status VerifyTransferred(Backend* dst, Journal* journal,
                         const VerifyOptions& options,
                         VerifyObserver* observer) {
  CheckPool pool(options.threads, [&](std::vector<Check>& batch) {
    CheckThroughOutages(options, observer, [&](VerifyObserver* o) {
      CheckTransferred(dst, batch, options, o);
    });
  });
  FERRY_RETURN_IF_ERROR(journal->Rewind());
  while (true) {
    if (options.stop.stop_requested()) break;
    JournalRecord record;
    FERRY_ASSIGN_OR_RETURN(bool more, journal->Next(&record));
    if (!more) break;
    Check c;
    c.content = !record.metadata_only;
    c.expected_digest = record.digest;
    c.expected = std::move(record.applied);
    pool.Add(std::move(c));
  }
  pool.Finish();
  if (options.stop.stop_requested())
    return Status::Cancelled("verification cancelled");
  return Status::Ok();
}

Status VerifyPointInTime(Backend* src, Backend* dst,
                         const VerifyOptions& options,
                         VerifyObserver* observer) {
  auto is_device = [](EntryKind k) {
    return k == EntryKind::kBlockDevice || k == EntryKind::kCharDevice;
  };
  CheckPool pool(options.threads, [&](std::vector<Check>& batch) {
    CheckThroughOutages(options, observer, [&](VerifyObserver* o) {
      CheckPairs(src, dst, batch, options, o);
    });
  });
  ScanOptions so;
  so.threads = options.scan_threads;
  so.filter = options.filter;
  so.stop = options.stop;
  so.outage = options.outage;
  // A folder that cannot be listed now cannot be called verified: it is a
  // verification error, unless its listing already failed before.
  so.on_list_error = [&](const Entry& dir, const Status& st) {
    if (options.not_verified && options.not_verified(dir.path)) return;
    VerifyOutcome out;
    out.path = dir.path;
    out.kind = dir.kind;
    Fail(&out, VerifyFailureKind::kError,
         "cannot list it: " + std::string(st.message()));
    observer->OnVerified(out);
  };
  Scanner src_scan(src, so);
  Scanner dst_scan(dst, so);
  FERRY_RETURN_IF_ERROR(src_scan.Start());
  FERRY_RETURN_IF_ERROR(dst_scan.Start());
  EntryMerge merge(&src_scan, &dst_scan, options.map_source);
  std::optional<Entry> s;
  std::optional<Entry> d;
  std::optional<RelPath> src_unlisted;
  auto failed_before = [&](const Entry& e) {
    return options.not_verified && options.not_verified(e.path);
  };
  while (!options.stop.stop_requested()) {
    FERRY_ASSIGN_OR_RETURN(bool more, merge.Next(&s, &d));
    if (!more) break;
    if (s && s->is_dir() && s->listing_failed()) src_unlisted = s->path;
    if (s && ((is_device(s->kind) && !options.preserve_devices) ||
              failed_before(*s))) {
      if (s->is_dir()) merge.SkipSourceChildren();
      if (d && d->is_dir()) merge.SkipDestinationChildren();
      continue;
    }
    if (s && !d) {
      VerifyOutcome out;
      out.path = s->path;
      out.kind = s->kind;
      out.src = std::move(*s);
      Fail(&out, VerifyFailureKind::kMissingAtDestination,
           "not at the destination");
      observer->OnVerified(out);
      if (out.kind == EntryKind::kDirectory) merge.SkipSourceChildren();
      continue;
    }
    if (!s) {
      bool protect = src_unlisted && src_unlisted->IsAncestorOf(d->path);
      if (!options.remove_deleted || protect) {
        if (d->is_dir()) merge.SkipDestinationChildren();
        continue;
      }
      VerifyOutcome out;
      out.path = d->path;
      out.kind = d->kind;
      out.dst = std::move(*d);
      Fail(&out, VerifyFailureKind::kNotAtSource,
           "at the destination but not at the source");
      observer->OnVerified(out);
      if (out.kind == EntryKind::kDirectory) merge.SkipDestinationChildren();
      continue;
    }
    if (s->listing_failed() || d->listing_failed()) {
      // One side's contents were never seen, so neither the folder nor
      // anything beneath it can be called verified, missing or extra. (The
      // execution's own scans count and log listing failures.)
      merge.SkipSourceChildren();
      merge.SkipDestinationChildren();
      continue;
    }
    if (s->kind != d->kind) {
      if (s->is_dir()) merge.SkipSourceChildren();
      if (d->is_dir()) merge.SkipDestinationChildren();
    }
    Check chk;
    chk.expected = std::move(*s);
    chk.found = std::move(*d);
    pool.Add(std::move(chk));
  }
  pool.Finish();
  if (options.stop.stop_requested())
    return Status::Cancelled("verification cancelled");
  return Status::Ok();
}

Status VerifyPaths(Backend* src, Backend* dst,
                   const std::vector<RelPath>& paths,
                   const VerifyOptions& options, VerifyObserver* observer) {
  CheckPool pool(options.threads, [&](std::vector<Check>& batch) {
    CheckThroughOutages(options, observer, [&](VerifyObserver* o) {
      CheckPairs(src, dst, batch, options, o);
    });
  });
  for (const RelPath& path : paths) {
    if (options.stop.stop_requested()) break;
    if (options.not_verified && options.not_verified(path)) continue;
    auto s = src->Stat(path);
    if (!s.ok() || !*s || (*s)->is_dir()) continue;  // failed when planned
    Entry want = std::move(**s);
    if (options.map_source) options.map_source(&want);
    auto d = dst->Stat(path);
    if (!d.ok() || !*d) {
      VerifyOutcome out;
      out.path = path;
      out.kind = want.kind;
      out.src = std::move(want);
      if (!d.ok()) {
        Fail(&out, VerifyFailureKind::kError, d.status().ToString());
      } else {
        Fail(&out, VerifyFailureKind::kMissingAtDestination,
             "not at the destination");
      }
      observer->OnVerified(out);
      continue;
    }
    Check c;
    c.expected = std::move(want);
    c.found = std::move(**d);
    pool.Add(std::move(c));
  }
  pool.Finish();
  if (options.stop.stop_requested())
    return Status::Cancelled("verification cancelled");
  return Status::Ok();
}

}  // namespace ferry
