// The operations of the agent-to-agent link (docs/link.md, "Operations"):
// what a REQUEST asks of the receiver's Backend and what its RESPONSE
// returns, encoded with the primitives of wire.h.
//
// A Request and a Response hold the fields of every operation; each
// operation reads and writes only its own (the table in docs/link.md and
// the comments below say which), the rest stay at their defaults. Decoders
// take whatever a peer sent and refuse, with InvalidArgument, anything out
// of bounds, truncated or trailed by extra bytes; every accepted payload is
// the only encoding of its value. Encoders refuse what the decoders would
// (the first problem, "link encode: ..."), so nothing sent is refused for
// being malformed. Value types and pure functions; thread-compatible.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ferry/base/digest.h"
#include "ferry/base/rel_path.h"
#include "ferry/base/status.h"
#include "ferry/link/wire.h"
#include "ferry/storage/backend.h"
#include "ferry/storage/entry.h"

namespace ferry::link {

enum class Op : uint32_t {
  kCapabilities = 1,
  kDescribe = 2,
  kClockOffset = 3,
  kStat = 4,
  kListOpen = 5,
  kListNext = 6,
  kListClose = 7,
  kOpenWrite = 8,
  kWriterSetXattrs = 9,
  kWriterSetTags = 10,
  kCommit = 11,
  kAbort = 12,
  kMakeDirectory = 13,
  kCreateSymlink = 14,
  kCreateSpecial = 15,
  kCreateHardLink = 16,
  kSetMetadata = 17,
  kGetXattrs = 18,
  kSetXattrs = 19,
  kGetTags = 20,
  kSetTags = 21,
  kRemove = 22,
  kRemoveFiles = 23,
  kRemoveTree = 24,
  kSync = 25,
  kCleanupStaging = 26,
  kCleanupStagingEntry = 27,
  kComputeDigest = 28,
  kOpenRead = 29,
  kRead = 30,
  kReadNextData = 31,
  kReadRestat = 32,
  kReadXattrs = 33,
  kReadTags = 34,
  kCloseRead = 35,
  kSignatures = 36,
  kCopyBasis = 37,
  kPutFile = 38,
};
inline constexpr uint32_t kFirstOp = 1;
inline constexpr uint32_t kLastOp = 38;

// "STAT", "LIST_NEXT", ...; "UNKNOWN" outside the enum.
std::string_view OpName(Op op);

// Whether running `op` twice does what running it once does, reading
// nothing it changes: a receiver may run it again for a request sent again
// after a reconnection instead of keeping its response.
bool OpIsRepeatable(Op op);

// Bounds of the operations' fields.
inline constexpr size_t kMaxDescribeBytes = 4096;
// LIST_NEXT: at most this many entries, and the receiver stops adding
// entries once their encoding passes kListBatchBytes (an entry is at most
// about 10 KiB, so a batch stays within a frame).
inline constexpr size_t kMaxListBatch = 1000;
inline constexpr size_t kListBatchBytes = 1 << 20;
// REMOVE_FILES: at most this many paths, whose encoding the sender keeps
// within kRemoveBatchBytes.
inline constexpr size_t kMaxRemoveBatch = 1000;
inline constexpr size_t kRemoveBatchBytes = 1 << 20;
// PUT_FILE: a whole file of at most this many bytes in one request.
inline constexpr uint64_t kMaxPutFileBytes = kMaxChunkBytes;
// READ and COPY_BASIS lengths.
inline constexpr uint64_t kMaxReadBytes = 1 << 20;
inline constexpr uint64_t kMaxCopyBasisBytes = 64 << 20;
// Object tags: looser than any store's own limits, so that the store
// itself refuses (and says why) what it cannot hold.
inline constexpr size_t kMaxTagCount = 64;
inline constexpr size_t kMaxTagKeyBytes = 1024;
inline constexpr size_t kMaxTagValueBytes = 2048;
// CLEANUP_STAGING: items described one by one; beyond, only counted.
inline constexpr size_t kMaxCleanupReports = 1000;
inline constexpr size_t kMaxCleanupWhatBytes = 4096;
inline constexpr uint64_t kMaxCleanupAgeSeconds = uint64_t{100} * 366 * 86400;
// Capabilities.
inline constexpr int64_t kMaxGranularityNs = int64_t{86400} * 1000000000;
inline constexpr uint64_t kMaxPartBytes = uint64_t{1} << 43;  // 8 TiB
inline constexpr uint32_t kMaxParts = 1 << 20;
inline constexpr uint64_t kMaxPreferredReadBytes = uint64_t{1} << 30;
inline constexpr int kMaxIoConcurrency = 4096;

// One staging item a cleanup removed: its path and what it was.
struct CleanupReport {
  RelPath path;
  std::string what;  // at most kMaxCleanupWhatBytes
};

struct Request {
  Op op = Op::kDescribe;
  // LIST_NEXT, LIST_CLOSE: the lister; WRITER_SET_XATTRS, WRITER_SET_TAGS,
  // COMMIT, ABORT, COPY_BASIS: the writer; READ and READ_* and CLOSE_READ:
  // the reader. Ids are the receiver's (LIST_OPEN, OPEN_WRITE, OPEN_READ).
  uint32_t handle = 0;
  // The path every path operation names (CREATE_HARD_LINK: the existing
  // file; SIGNATURES: the basis).
  RelPath path;
  // CREATE_HARD_LINK: the new link; COPY_BASIS: the basis file.
  RelPath other_path;
  // COMMIT, CREATE_SYMLINK, CREATE_SPECIAL, SET_METADATA: the metadata;
  // CLEANUP_STAGING_ENTRY: the staging item.
  Entry entry;
  MetadataPolicy policy;  // with `entry`, but for CLEANUP_STAGING_ENTRY
  WriteHints hints;       // OPEN_WRITE
  // WRITER_SET_XATTRS, SET_XATTRS.
  XattrList xattrs;
  bool xattr_scope = false;
  bool acl_scope = false;
  ObjectTags tags;             // WRITER_SET_TAGS, SET_TAGS
  std::vector<RelPath> paths;  // REMOVE_FILES: at most kMaxRemoveBatch
  // READ: offset and length (1..kMaxReadBytes); READ_NEXT_DATA: offset;
  // COPY_BASIS: target offset, length (1..kMaxCopyBasisBytes) and
  // basis_offset.
  uint64_t offset = 0;
  uint64_t length = 0;
  uint64_t basis_offset = 0;
  // SIGNATURES: blocks [first_block, first_block + max_count) of
  // block_size bytes (a power of two in kMinSignatureBlockSize..
  // kMaxSignatureBlockSize; max_count 1..kMaxSignatureCount).
  uint32_t block_size = kMinSignatureBlockSize;
  uint64_t first_block = 0;
  uint64_t max_count = 1;
  DigestAlgorithm algorithm = DigestAlgorithm::kXxh3_128;  // COMPUTE_DIGEST
  // CLEANUP_STAGING and CLEANUP_STAGING_ENTRY: StagingCleanup's now (since
  // the epoch) and max_age.
  int64_t now_ns = 0;
  uint64_t max_age_s = 0;
  // PUT_FILE: the file's bytes [0, length) (length 0..kMaxPutFileBytes;
  // `path`, `hints`, `entry` and `policy` as OPEN_WRITE's and COMMIT's),
  // their XXH3-128 as read, and how `data` carries them (as a CHUNK's
  // data: as read, `length` bytes; zstd, 1..length bytes).
  BlockChecksum checksum;
  ChunkEncoding encoding = ChunkEncoding::kAsRead;
  std::vector<std::byte> data;
  // PUT_FILE: the writer's SetXattrs (xattrs, xattr_scope, acl_scope) and
  // SetTags (tags) to apply before the commit, if set.
  bool with_xattrs = false;
  bool with_tags = false;
};

struct Response {
  Status status;              // not OK: nothing below was sent
  Capabilities capabilities;  // CAPABILITIES (delta is not carried)
  std::string text;           // DESCRIBE
  // CLOCK_OFFSET: the backend's ClockOffset() at the receiver, and the
  // receiver's wall clock (nanoseconds since the epoch) when it answered.
  std::optional<int64_t> clock_offset_ns;
  int64_t receiver_wall_ns = 0;
  // STAT: the entry, if anything is there; OPEN_READ: the reader's entry();
  // READ_RESTAT: Restat(); COMPUTE_DIGEST: the file as opened.
  std::optional<Entry> entry;
  uint32_t handle = 0;                 // LIST_OPEN, OPEN_WRITE, OPEN_READ
  bool consistent = false;             // OPEN_READ: Reader::consistent()
  std::vector<Entry> entries;          // LIST_NEXT: none when exhausted
  XattrList xattrs;                    // GET_XATTRS, READ_XATTRS
  ObjectTags tags;                     // GET_TAGS, READ_TAGS
  std::vector<Status> statuses;        // REMOVE_FILES: one per path
  std::vector<CleanupReport> removed;  // CLEANUP_STAGING(_ENTRY)
  uint64_t removed_unreported = 0;     // removed beyond those described
  Digest digest;                       // COMPUTE_DIGEST
  std::vector<std::byte> data;         // READ: at most kMaxReadBytes
  Extent extent;                       // READ_NEXT_DATA
  SignatureList signatures;            // SIGNATURES
};

// Appends a whole REQUEST frame (stream = request_id). On error (a field
// beyond its bound) `*frame` is left as it was.
Status AppendRequest(std::vector<std::byte>* frame, uint32_t request_id,
                     const Request& request);
// Decodes a REQUEST payload: the operation and its arguments.
Result<Request> DecodeRequest(std::span<const std::byte> payload);

// Appends a whole RESPONSE frame to `op` (stream = request_id): the status
// and, if it is OK, the operation's results, in the link `version` agreed
// on the connection (a status carries its retryable flag and errno from
// version 2). On error `*frame` is left as it was.
Status AppendResponse(std::vector<std::byte>* frame, uint32_t request_id, Op op,
                      const Response& response, uint8_t version = 1);
// Decodes a RESPONSE payload to a request of `op`, written in `version`. The
// decoding problem is the error; the receiver's answer, OK or not, is
// Response::status.
Result<Response> DecodeResponse(Op op, std::span<const std::byte> payload,
                                uint8_t version = 1);

}  // namespace ferry::link
