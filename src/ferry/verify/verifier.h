// Verification: after the transfer, compare what the destination holds with
// what the source had, content and metadata, as DataSync's VerifyMode asks.
//
//   ONLY_FILES_TRANSFERRED: every item the transfer wrote (read back from the
//     Journal) is looked up at the destination; its metadata must be what was
//     applied and, for files, the content digest of the destination copy must
//     equal the digest computed while the source was read.
//   POINT_IN_TIME_CONSISTENT: both locations are scanned again and merged;
//     every item must be at both with the same metadata and content (both
//     sides are read and hashed), and with PreserveDeletedFiles REMOVE nothing
//     may be at the destination only.
//
// Items are checked by a pool of workers; outcomes go to a VerifyObserver,
// called from those threads.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "ferry/base/digest.h"
#include "ferry/base/outage_watch.h"
#include "ferry/options/filter.h"
#include "ferry/storage/backend.h"
#include "ferry/verify/journal.h"

namespace ferry {

enum class VerifyFailureKind : uint8_t {
  kNone,
  kChecksum,              // content differs
  kMetadata,              // type, size or metadata differs
  kMissingAtDestination,  // at the source, not at the destination
  kNotAtSource,           // at the destination only (REMOVE asked)
  kError,                 // could not be read or compared
};

// DataSync-style per-file code: "ChecksumDiffers", "MetadataDiffers",
// "FileNotAtDestination", "FileNotAtSource", "VerificationError".
std::string_view VerifyFailureCode(VerifyFailureKind kind);

struct VerifyOutcome {
  RelPath path;
  EntryKind kind = EntryKind::kFile;
  VerifyFailureKind failure = VerifyFailureKind::kNone;
  std::string detail;
  std::optional<Entry> src;  // expected metadata
  std::optional<Entry> dst;  // found metadata
  Digest src_digest;
  Digest dst_digest;
  // The failure of the call behind a kError (or unreadable attributes), if
  // one failed: a retryable one may be the location's outage.
  Status cause;
  bool ok() const { return failure == VerifyFailureKind::kNone; }
};

class VerifyObserver {
 public:
  virtual ~VerifyObserver() = default;
  virtual void OnVerified(const VerifyOutcome& outcome) = 0;
  virtual void OnBytes(uint64_t bytes) { (void)bytes; }
};

struct VerifyOptions {
  int threads = 4;
  int scan_threads = 2;
  MetadataPolicy compare;  // the metadata the task preserves
  bool xattrs = false;     // compare extended attributes of files and folders
  bool acls = false;       // compare POSIX ACLs
  DigestAlgorithm digest = DigestAlgorithm::kXxh3_128;
  int64_t mtime_granularity_ns = 1;
  bool remove_deleted = false;
  bool preserve_devices = false;
  const Filter* filter = nullptr;
  std::stop_token stop;
  // Asked when a listing fails with a retryable status (ScanOptions::outage;
  // not owned; null = the failure stands).
  OutageWatch* outage = nullptr;
  std::function<void(Entry*)> map_source;
  // Items left out of verification: those that already failed (to be
  // planned or transferred) and those deliberately kept as they were
  // (OverwriteMode NEVER). Each is reported once, where that happened.
  std::function<bool(const RelPath&)> not_verified;
};

// Empty when `actual` matches `expected` as far as `policy` asks; otherwise
// what differs ("size differs", "mode differs", ...).
std::string DescribeMetadataMismatch(const Entry& expected, const Entry& actual,
                                     const MetadataPolicy& policy,
                                     int64_t mtime_granularity_ns);

// The content digest of a file as `backend` holds it now, and its metadata
// as opened: Backend::ComputeDigest, reporting bytes to `observer`.
Result<std::pair<Digest, Entry>> DigestFile(Backend* backend,
                                            const RelPath& path,
                                            DigestAlgorithm algo,
                                            const std::stop_token& stop,
                                            VerifyObserver* observer);

Status VerifyTransferred(Backend* dst, Journal* journal,
                         const VerifyOptions& options,
                         VerifyObserver* observer);

Status VerifyPointInTime(Backend* src, Backend* dst,
                         const VerifyOptions& options,
                         VerifyObserver* observer);

// POINT_IN_TIME_CONSISTENT for a manifest: the listed files only.
Status VerifyPaths(Backend* src, Backend* dst,
                   const std::vector<RelPath>& paths,
                   const VerifyOptions& options, VerifyObserver* observer);

}  // namespace ferry
