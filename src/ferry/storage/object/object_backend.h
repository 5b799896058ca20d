// ObjectBackend: a Backend over any flat ObjectStore (S3, later Azure Blob),
// so that a store adapter needs no file-system logic of its own.
//
// Mapping, beneath an optional key prefix ("" or "dir/sub"):
//   - a file is the object "prefix/path"; a symbolic link is an object whose
//     content is its target and whose file-permissions say S_IFLNK;
//   - a directory is implied by the keys beneath it, and has a zero-byte
//     marker object "prefix/path/" once ferry creates it or keeps metadata on
//     it; the root is the prefix itself (its marker "prefix/");
//   - POSIX metadata and ferry's content digest live in user metadata, in
//     the names DataSync and S3 File Gateway use (object_metadata.h).
//
// Listing: ListObjectsV2 with delimiter "/", streamed a page at a time.
// ListObjectsV2 returns no user metadata (file-mtime, file-permissions, the
// digest), so listed entries are Entry::kPartial: kind (a link reads as a
// file), size, ETag and ctime (Last-Modified) only. Callers that need the
// rest Stat the few entries a comparison cannot decide without it (one HEAD
// each; DataSync pays one HEAD per object on every scan) or read it with
// the content: OpenRead takes the metadata from the answer to its first
// ranged GET, so a small file is one request.
// Keys come in byte order, in which "a/" sorts between "a.txt" and "a0",
// unlike ComparePaths: listings are unsorted (the scan sorts a directory).
// A key that is no valid name beneath the listed folder ("p//x", "p/../x")
// or a name that is both an object and a folder fails the listing with an
// error naming the key (the scan then treats the folder as unlisted: nothing
// beneath it is deleted) rather than being silently skipped.
//
// Writes: below one part (PartSize of the file's size) a writer buffers
// the file and PUTs it at Commit. Above, it is a multipart upload: each part
// is buffered until written from its start to its end, then uploaded from
// the writing thread (chunks on different threads upload in parallel); a
// part written again from its start replaces itself. The upload is created
// at the first full part, with the metadata known at open (the mode); the
// final metadata (mtime, owner, digest) is only known at Commit, so Commit
// completes the upload and then replaces its metadata with a server-side
// copy (CopyObject, or UploadPartCopy beyond its 5 GiB limit). Abort, or
// destruction without Commit, aborts the upload; the backend remembers its
// live uploads so that CleanupStaging leaves them alone.
//
// Object tags (StagedWriter::SetTags): a single PUT carries them
// (x-amz-tagging); a multipart object gets them with PutObjectTagging once
// it is complete and has its metadata, so it is visible untagged for that
// moment (radosgw 16 keeps no tags given at CreateMultipartUpload or with a
// copy in a form it can read back). SetMetadata copies the object onto
// itself: S3 keeps its tags, radosgw 16 drops them (see Backend::SetTags).
//
// Thread-safe, as Backend requires; the store must be too.
#pragma once

#include <memory>
#include <string>

#include "ferry/storage/backend.h"
#include "ferry/storage/object/object_store.h"

namespace ferry {

struct ObjectBackendOptions {
  // Key prefix of the root: "" (the whole bucket) or "dir/sub".
  std::string prefix;
  // Storage class of the objects written ("" = the store's default).
  std::string storage_class;
  // Transfer workers an execution uses with this store (unless told
  // otherwise): each holds one part in memory while it is filled.
  int io_concurrency = 8;
  // Bytes read per GET when a file is copied (Capabilities::
  // read_size_preferred): a 1 MiB GET spends a good part of its time on the
  // request itself.
  uint64_t read_size_preferred = uint64_t{8} << 20;
  // Capabilities::read_stream_size: set where the store streams
  // (ObjectStoreLimits::streamed_reads); elsewhere each ReadAt of a
  // streamed range is one ranged GET of that ReadAt's size.
  uint64_t read_stream_size = 0;
  // Keys asked for per listing page (the store caps it).
  int list_page_keys = 1000;
  // Part size for throughput, clamped to the store's limits (0: its
  // minimum).
  uint64_t part_size_preferred = uint64_t{16} << 20;
  // For messages; default: the store's description and the prefix.
  std::string name;
};

// Fails if `options.prefix` is not a valid relative path.
Result<std::unique_ptr<Backend>> OpenObjectBackend(
    std::shared_ptr<ObjectStore> store, ObjectBackendOptions options = {});

}  // namespace ferry
