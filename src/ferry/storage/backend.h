// Backend: one location's view of its storage (a local directory, an
// in-memory tree, later an SMB share, an NFS export, an S3 bucket and prefix).
//
// Every path is a RelPath beneath the location root; a backend never resolves
// one outside that root. Methods are safe to call concurrently from many
// threads. Listers are used by one thread at a time; Readers and
// StagedWriters support concurrent positional calls on disjoint ranges
// (ReadAt/WriteAt), everything else on them from one thread at a time.
// What a backend can store is stated by capabilities(); callers and tests
// consult it instead of asking what kind of backend they hold.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ferry/base/digest.h"
#include "ferry/base/rel_path.h"
#include "ferry/base/status.h"
#include "ferry/delta/delta.h"
#include "ferry/storage/entry.h"

namespace ferry {

// What a backend's access control lists are: POSIX ACLs (the
// system.posix_acl_* attributes) or Windows security descriptors (the
// system.nt_sec_desc attribute: owner and DACL, as libsmbclient writes
// them). ACLs go only between backends of one model.
enum class AclModel : uint8_t { kPosix, kWindows };

struct Capabilities {
  bool symlinks = false;
  // A symbolic link's mtime and atime can be set (false: they stay as the
  // server made them, and are neither set nor compared).
  bool symlink_times = true;
  bool hard_links = false;
  bool special_files = false;  // FIFOs and sockets
  bool devices = false;        // block and character devices
  bool posix_mode = false;
  bool posix_owner = false;
  bool atime = false;
  // Timestamps are stored to this resolution (1 = nanoseconds).
  int64_t mtime_granularity_ns = 1;
  bool sparse_files = false;
  bool xattrs = false;  // extended attributes on files and folders
  bool acls = false;    // access control lists, of acl_model
  AclModel acl_model = AclModel::kPosix;
  // Windows' file attributes and creation time (Entry::dos_attributes and
  // btime): Commit and SetMetadata apply them, Stat and List report them.
  bool dos_attributes = false;
  // Listers return entries already sorted by ComparePaths.
  bool sorted_listing = false;

  // Entries carry a change time (ctime) that moves whenever an item's data
  // or metadata changes (extended attributes included, where kept). Without
  // one, ctime is zero and what changed is told from size, mtime, ETag and
  // content digest alone.
  bool change_time = true;
  // The mtime given to Commit/SetMetadata is what a later Stat reports. An
  // object store that can only report its own upload time says false (one
  // that keeps the source's mtime in user metadata says true).
  bool settable_mtime = true;
  // Directories exist as prefixes of what lies beneath them (and, when
  // created, as markers): MakeDirectory needs no parent, writing a file
  // needs no parent directory, listing a missing directory lists nothing,
  // and removing a directory removes only its marker.
  bool implied_directories = false;
  // Commit stores the content digest given in the metadata Entry, and Stat,
  // List and Reader::entry() report it back (Entry::digest), so that a
  // later run can tell content apart without reading it.
  bool content_digests = false;
  // Names must be valid UTF-8 (S3 object keys): a file, link or folder of
  // another name is refused with InvalidArgument saying so.
  bool utf8_names_only = false;
  // Names must be ones Windows can hold (SMB shares; WindowsNameProblem):
  // others are refused with InvalidArgument saying why.
  bool windows_names = false;
  // Names must be ones Azure Blob Storage keeps as given (AzureNameProblem):
  // others are refused with InvalidArgument saying why.
  bool azure_names = false;
  // A file can be replaced while a Reader has it open (the reader goes on
  // with the old version, or fails as changed). Without (SMB: an open file
  // cannot be renamed over), the write's Commit fails, saying the file is
  // in use, and leaves it as it was.
  bool replace_while_open = true;
  // Permission bits are enforced on this process, whose user id is
  // `caller_uid` (0: root, which they do not bind). -1: the backend does
  // not enforce them (object stores), so nothing needs to be made writable
  // before writing into a read-only folder.
  int64_t caller_uid = -1;
  // Object stores take a file in parts. When part_size_min > 0, a
  // StagedWriter of a file is written in parts of PartSize(caps, size)
  // bytes at multiples of that size (the last part shorter), each part from
  // its start to its end without gaps, as ferry's transfer does; parts may
  // be written concurrently and a part may be written again from its start.
  uint64_t part_size_min = 0;
  uint64_t part_size_max = 0;
  uint32_t max_parts = 0;
  // Part size a backend prefers for throughput (0: part_size_min).
  uint64_t part_size_preferred = 0;
  // Bytes a Reader is best read in at once, each ReadAt being one request
  // to a network store (0: any size does; ferry reads 1 MiB blocks).
  uint64_t read_size_preferred = 0;
  // A Reader streams a range announced with WillRead in one request, its
  // bytes taken as they arrive (ReadAt of any size then costs no request
  // of its own): ranges of at least this many bytes keep requests few (0:
  // no streaming). Not carried by the link (its reader does not stream).
  uint64_t read_stream_size = 0;
  // Calls in flight that keep the backend busy: a network store is bound by
  // the latency of each request, not by local cores (0: one per core).
  int io_concurrency = 0;
  // Files carry object tags (S3's: see ObjectTags): Reader::Tags and
  // GetTags read them, StagedWriter::SetTags and SetTags write them.
  bool object_tags = false;
  // The location is reached over the agent-to-agent link, whose receiver
  // can send block signatures of a file it holds and fill a staged file
  // from one (docs/link.md, "Delta transfer"). Set by link::RemoteBackend;
  // not carried by the link itself.
  bool delta = false;
};

// An object's tags, by key (S3: at most 10, keys of 1 to 128 and values of
// up to 256 Unicode characters). They are not metadata of the file model:
// no Entry carries them, and scans and the diff never compare them.
using ObjectTags = std::map<std::string, std::string>;

// The part size for a file of `size` bytes: the preferred size, grown (in
// whole MiB) until the file fits in max_parts parts. 0 when the backend takes
// writes of any size at any offset. Error when the file cannot fit even in
// parts of part_size_max.
Result<uint64_t> PartSize(const Capabilities& caps, uint64_t size);

// Staged writes that an interrupted run (a killed process, a lost agent, a
// dropped connection) left behind, and when they may be removed. Staging
// is abandoned once nobody has touched it for `max_age`; a backend that can
// prove a writer gone sooner (posix: a staging file of this machine whose
// process has exited) removes it sooner.
struct StagingCleanup {
  std::chrono::system_clock::time_point now;
  std::chrono::seconds max_age{std::chrono::hours(24)};
  // Called with a description of each removed item ("multipart upload of
  // dir/a.bin started 2026-12-01T10:00:00Z"), for the execution log.
  std::function<void(const RelPath& path, const std::string& what)> on_removed;
};

// Streams one directory's entries, in batches, in no particular order unless
// capabilities().sorted_listing.
class Lister {
 public:
  virtual ~Lister() = default;
  // Appends the next entries to `out`; returns false once the listing is
  // exhausted (nothing appended).
  virtual Result<bool> NextBatch(std::vector<Entry>* out) = 0;
  // Once NextBatch returned false: the listed folder's own complete entry,
  // when the listing told it (an object store listing a folder's marker
  // with its metadata); nullopt otherwise.
  virtual std::optional<Entry> Self() { return std::nullopt; }
};

// A byte range holding data (not a hole).
struct Extent {
  uint64_t offset = 0;
  uint64_t length = 0;
};

class Reader {
 public:
  virtual ~Reader() = default;
  // The file as it was when opened.
  virtual const Entry& entry() const = 0;
  // Reads up to out.size() bytes at `offset`; returns the count, 0 at end of
  // file. Safe to call concurrently.
  virtual Result<size_t> ReadAt(uint64_t offset, std::span<std::byte> out) = 0;
  // A hint: the caller will read [offset, offset + length) from its start
  // to its end, in order, one ReadAt after another from one thread (other
  // threads may do the same with other ranges). A backend with
  // capabilities().read_stream_size streams such a range in one request;
  // the default ignores it.
  virtual void WillRead(uint64_t offset, uint64_t length) {
    (void)offset, (void)length;
  }
  // The first data extent at or after `offset`; length 0 if only holes (or
  // nothing) remain. Backends without holes return the rest of the file.
  virtual Result<Extent> NextData(uint64_t offset);
  // The file's metadata now, to tell whether it changed while being read.
  virtual Result<Entry> Restat() = 0;
  // Every read returns the file as it was when opened, or fails with
  // kSourceChanged (an object read pinned to the version opened): a change
  // while reading can never mix versions, so no Restat is needed.
  virtual bool consistent() const { return false; }
  // The file's extended attributes (and ACLs), sorted by name.
  virtual Result<XattrList> Xattrs() { return XattrList{}; }
  // The file's object tags (none without capabilities().object_tags).
  virtual Result<ObjectTags> Tags() { return ObjectTags{}; }
};

struct WriteHints {
  uint64_t size = 0;    // the final size of the file
  bool sparse = false;  // the writer will skip holes
  bool fsync = false;   // make the content durable before Commit returns
  // Something may already be at the path (false only when the caller knows
  // the path is free, which lets a backend publish without a rename).
  bool may_exist = true;
  // The permission bits Commit will apply, when known: a backend may create
  // the file with them and skip a call at commit.
  std::optional<uint32_t> mode;
};

// A file being written. Nothing is visible under the final name until
// Commit(); Abort(), or destruction without Commit(), leaves no trace.
class StagedWriter {
 public:
  virtual ~StagedWriter() = default;
  // Safe to call concurrently for disjoint ranges.
  virtual Status WriteAt(uint64_t offset, std::span<const std::byte> data) = 0;
  // The checksum (ComputeBlockChecksum) of the `length` bytes the caller's
  // next WriteAt at `offset` carries, taken where they were read. A writer
  // that sends data on with a checksum (RemoteBackend) sends this one
  // instead of hashing the data again, so that the other side checks the
  // data against what was read. A hint, from the thread that then calls
  // WriteAt; the default ignores it.
  virtual void NoteChecksum(uint64_t offset, uint64_t length,
                            const BlockChecksum& sum) {
    (void)offset, (void)length, (void)sum;
  }
  // Sets the size to `metadata.size` (so trailing holes stay holes), applies
  // the metadata `policy` selects, and makes the file visible under its final
  // name, atomically replacing any file or link there. Fails, leaving the
  // destination as it was, if a directory is in the way.
  virtual Status Commit(const Entry& metadata,
                        const MetadataPolicy& policy) = 0;
  // Commit() in two halves, for a backend whose commit is a request to
  // another machine: the caller can start many and wait for them together
  // instead of one round trip at a time. Returns Commit()'s result if it is
  // known at once (the default commits here), or nullopt if the commit is
  // under way: then FinishCommit() must be called, and returns it. A commit
  // under way cannot be taken back; its writer is used for nothing else
  // until FinishCommit() returns, after which it is as after Commit().
  virtual std::optional<Status> BeginCommit(const Entry& metadata,
                                            const MetadataPolicy& policy) {
    return Commit(metadata, policy);
  }
  virtual Status FinishCommit() {
    return Status::Internal("FinishCommit without a commit under way");
  }
  virtual void Abort() = 0;
  // Gives the file these extended attributes (before Commit), removing any
  // others it got on creation (an inherited default ACL) of the names the
  // scopes select.
  virtual Status SetXattrs(const XattrList& xattrs, bool xattr_scope,
                           bool acl_scope);
  // Delta transfer (capabilities().delta): has the backend write `length`
  // bytes of the file it holds at `basis`, from `basis_offset`, into this
  // file at `target_offset`, without the data passing through the caller.
  // SourceChanged if the basis is shorter than that; NotSupported without
  // the capability.
  virtual Status CopyFromBasis(uint64_t target_offset, const RelPath& basis,
                               uint64_t basis_offset, uint64_t length);
  // The object tags Commit stores with the file: exactly these (none unless
  // given). Tags beyond the store's limits are InvalidArgument, naming the
  // file and the limit; any tag without capabilities().object_tags is
  // NotSupported.
  virtual Status SetTags(const ObjectTags& tags);
};

// What a backend tells of its own work. Called from whichever thread made
// the call that retried.
class StorageObserver {
 public:
  virtual ~StorageObserver() = default;
  // A transient failure (a reset connection, a timeout, an HTTP 5xx or
  // throttling answer) of `operation` ("PUT s3://b/k at http://host:port"),
  // to be retried after `delay`; `attempt` is the one that failed (1-based).
  virtual void OnStorageRetry(std::string_view operation, const Status& failure,
                              int attempt, std::chrono::nanoseconds delay) = 0;
  // File data a backend sent over a network in a form of its own (a link
  // to another agent: compressed, or sent again after a failure):
  // `on_wire` bytes for `as_read` bytes of the file (0 for a resend).
  virtual void OnBytesOnWire(uint64_t as_read, uint64_t on_wire) {
    (void)as_read;
    (void)on_wire;
  }
};

class Backend {
 public:
  virtual ~Backend() = default;

  // From now on, events go to `observer` (not owned; nullptr: nowhere). The
  // caller keeps it alive until it sets another. Thread-safe.
  virtual void SetObserver(StorageObserver* observer) { (void)observer; }

  virtual const Capabilities& capabilities() const = 0;
  // For messages: "/srv/data", "memory:test".
  virtual std::string Describe() const = 0;

  // How far the clock that stamps this backend's ctimes runs ahead of this
  // machine's (negative: behind), as far as known, to within a second;
  // nullopt when unknown. Local storage: zero.
  virtual std::optional<std::chrono::nanoseconds> ClockOffset() const {
    return std::chrono::nanoseconds(0);
  }

  // nullopt when nothing exists at `path`. Never Entry::kPartial.
  virtual Result<std::optional<Entry>> Stat(const RelPath& path) = 0;
  // Entries may be Entry::kPartial where the metadata costs a call per item
  // (object stores); Stat gives the rest.
  virtual Result<std::unique_ptr<Lister>> List(const RelPath& dir) = 0;
  // Fails for anything but a regular file (a link, a folder, nothing).
  virtual Result<std::unique_ptr<Reader>> OpenRead(const RelPath& path) = 0;
  virtual Result<std::unique_ptr<StagedWriter>> OpenWrite(
      const RelPath& path, const WriteHints& hints) = 0;

  // Creates a directory with the usual default permissions (0777 less the
  // umask, or what the backend gives new folders); its final metadata comes
  // later through SetMetadata. OK if a directory already exists there.
  virtual Status MakeDirectory(const RelPath& path) = 0;
  // Creates or replaces `path` with a symbolic link whose target is
  // `src.link_target`, with src's metadata as `policy` selects.
  virtual Status CreateSymlink(const RelPath& path, const Entry& src,
                               const MetadataPolicy& policy);
  // Creates or replaces `path` with a FIFO, socket or device like `src`.
  virtual Status CreateSpecial(const RelPath& path, const Entry& src,
                               const MetadataPolicy& policy);
  // Creates or replaces `link` as another name of the file at `existing`.
  virtual Status CreateHardLink(const RelPath& existing, const RelPath& link);
  // Applies src's metadata as `policy` selects to what is at `path`.
  virtual Status SetMetadata(const RelPath& path, const Entry& src,
                             const MetadataPolicy& policy) = 0;
  // The extended attributes (and ACLs) of a file or folder, sorted by name.
  virtual Result<XattrList> GetXattrs(const RelPath& path);
  // Gives a file or folder exactly these attributes: missing ones are added
  // or changed, others removed (of the names `scope` selects).
  virtual Status SetXattrs(const RelPath& path, const XattrList& xattrs,
                           bool xattr_scope, bool acl_scope);
  // The object tags of a file (none without capabilities().object_tags).
  virtual Result<ObjectTags> GetTags(const RelPath& path);
  // Gives the file at `path` exactly these tags, as StagedWriter::SetTags.
  // SetMetadata of a file may drop its tags (an object store copies the
  // object onto itself: S3 keeps the tags, radosgw 16 drops them): a caller
  // that keeps tags gives them again here.
  virtual Status SetTags(const RelPath& path, const ObjectTags& tags);
  // Delta transfer (capabilities().delta): the block signatures
  // (delta/delta.h) of blocks [first_block, first_block + max_count) of
  // `block_size` bytes of the file at `path`, as this backend holds it
  // (fewer at its end). NotSupported without the capability.
  virtual Result<std::vector<delta::BlockSignature>> BlockSignatures(
      const RelPath& path, uint32_t block_size, uint64_t first_block,
      uint64_t max_count);
  // Removes a file, link, special file or empty directory.
  virtual Status Remove(const RelPath& path) = 0;
  // Removes files, links and special files (no directories), as many calls
  // to Remove; an object store deletes them in batches. Returns one status
  // per path, in order; a path already gone is OK; once `stop` is requested
  // the paths not yet removed get Cancelled.
  virtual std::vector<Status> RemoveFiles(std::span<const RelPath> paths,
                                          std::stop_token stop = {});
  // Removes `path` and, if it is a directory, everything beneath it.
  virtual Status RemoveTree(const RelPath& path);
  // Makes everything committed so far durable.
  virtual Status Sync() { return Status::Ok(); }

  // The content digest of the file at `path` as it is now, and its metadata
  // as opened: what verification compares. The default reads the file
  // through OpenRead in blocks of kBlockSize, calling `on_bytes` (if set)
  // after each; a backend whose data is far away (link::RemoteBackend) has
  // it computed where the data is, and may call `on_bytes` once at the end.
  // Cancelled once `stop` is requested; SourceChanged if the file shrinks
  // while it is read.
  virtual Result<std::pair<Digest, Entry>> ComputeDigest(
      const RelPath& path, DigestAlgorithm algorithm,
      const std::stop_token& stop,
      const std::function<void(uint64_t bytes)>& on_bytes);

  // Stat, GetXattrs and ComputeDigest of many paths at once (what
  // verification asks of a batch of files), one result per path, in order.
  // The defaults make the calls one after another; a backend across a
  // network (link::RemoteBackend) sends them together and waits once.
  virtual std::vector<Result<std::optional<Entry>>> StatMany(
      std::span<const RelPath> paths);
  virtual std::vector<Result<XattrList>> GetXattrsMany(
      std::span<const RelPath> paths);
  virtual std::vector<Result<std::pair<Digest, Entry>>> ComputeDigestMany(
      std::span<const RelPath> paths, DigestAlgorithm algorithm,
      const std::stop_token& stop,
      const std::function<void(uint64_t bytes)>& on_bytes);

  // Removes abandoned staging (see StagingCleanup) that is not found by
  // listing: an object store's multipart uploads beneath the location. Run
  // once per execution on the destination, before its scan. Backends whose
  // staging shows up in listings (Entry::kStaging) return OK here.
  virtual Status CleanupStaging(const StagingCleanup& cleanup);
  // Removes one staging item a destination listing returned (flagged
  // Entry::kStaging) if it is abandoned; leaves it otherwise.
  virtual Status CleanupStagingEntry(const Entry& staging,
                                     const StagingCleanup& cleanup);
};

}  // namespace ferry
