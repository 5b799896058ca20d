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

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ferry/base/rel_path.h"
#include "ferry/base/status.h"
#include "ferry/storage/entry.h"

namespace ferry {

struct Capabilities {
  bool symlinks = false;
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
  bool acls = false;    // POSIX ACLs (as system.posix_acl_* attributes)
  // Listers return entries already sorted by ComparePaths.
  bool sorted_listing = false;
};

// Streams one directory's entries, in batches, in no particular order unless
// capabilities().sorted_listing.
class Lister {
 public:
  virtual ~Lister() = default;
  // Appends the next entries to `out`; returns false once the listing is
  // exhausted (nothing appended).
  virtual Result<bool> NextBatch(std::vector<Entry>* out) = 0;
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
  // The first data extent at or after `offset`; length 0 if only holes (or
  // nothing) remain. Backends without holes return the rest of the file.
  virtual Result<Extent> NextData(uint64_t offset);
  // The file's metadata now, to tell whether it changed while being read.
  virtual Result<Entry> Restat() = 0;
  // The file's extended attributes (and ACLs), sorted by name.
  virtual Result<XattrList> Xattrs() { return XattrList{}; }
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
  // Sets the size to `metadata.size` (so trailing holes stay holes), applies
  // the metadata `policy` selects, and makes the file visible under its final
  // name, atomically replacing any file or link there. Fails, leaving the
  // destination as it was, if a directory is in the way.
  virtual Status Commit(const Entry& metadata,
                        const MetadataPolicy& policy) = 0;
  virtual void Abort() = 0;
  // Gives the file these extended attributes (before Commit), removing any
  // others it got on creation (an inherited default ACL) of the names the
  // scopes select.
  virtual Status SetXattrs(const XattrList& xattrs, bool xattr_scope,
                           bool acl_scope);
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual const Capabilities& capabilities() const = 0;
  // For messages: "/srv/data", "memory:test".
  virtual std::string Describe() const = 0;

  // nullopt when nothing exists at `path`.
  virtual Result<std::optional<Entry>> Stat(const RelPath& path) = 0;
  virtual Result<std::unique_ptr<Lister>> List(const RelPath& dir) = 0;
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
  // Removes a file, link, special file or empty directory.
  virtual Status Remove(const RelPath& path) = 0;
  // Removes `path` and, if it is a directory, everything beneath it.
  virtual Status RemoveTree(const RelPath& path);
  // Makes everything committed so far durable.
  virtual Status Sync() { return Status::Ok(); }
};

}  // namespace ferry
