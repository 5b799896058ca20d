// The binary wire codec of the agent-to-agent link (docs/link.md, "Framing",
// "Frame types", "Entries, statuses and the rest").
//
// A frame is a 12-byte header and a payload. WireWriter appends primitives
// (and whole frames) to a caller's buffer; WireReader decodes them from a
// payload it does not own, checking every length and bound before use, so
// anything a peer sends is refused with InvalidArgument naming the frame and
// field ("link frame: CHUNK offset: truncated varint") rather than trusted.
// Encoders check the same bounds the decoders do (a too-long path, an
// out-of-range mode) and record the first problem in the writer, so nothing
// this side sends can be refused by the other for being malformed. Every
// accepted encoding is the only one of its value: varints are minimal, paths
// canonical. Value types and codecs; thread-compatible.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/base/digest.h"
#include "ferry/base/rel_path.h"
#include "ferry/base/status.h"
#include "ferry/delta/delta.h"
#include "ferry/storage/entry.h"

namespace ferry::link {

// The versions this build speaks (docs/link.md, "Versions"). Version 2
// adds to each status its retryable flag and errno.
inline constexpr uint8_t kLinkVersion = 2;
inline constexpr uint8_t kLowestLinkVersion = 1;
inline constexpr size_t kFrameHeaderBytes = 12;
// A CHUNK of one block plus its fields, or a RESPONSE of 65,536 signatures
// (1.25 MiB), fits.
inline constexpr uint32_t kMaxFramePayload = (2u << 20) + (64u << 10);
inline constexpr uint64_t kMaxChunkBytes = kBlockSize;
inline constexpr size_t kMaxMessageBytes = 4096;  // status messages
inline constexpr size_t kMaxPathBytes = 4096;
inline constexpr size_t kMaxLinkTargetBytes = 4096;
inline constexpr size_t kMaxEtagBytes = 1024;
inline constexpr size_t kMaxVersionIdBytes = 1024;
inline constexpr uint64_t kMaxStatusCode = 63;     // codes on the wire are < 64
inline constexpr uint64_t kMaxStatusErrno = 4095;  // version 2

// HELLO.
inline constexpr std::string_view kHelloMagic = "FERRYLNK";
inline constexpr size_t kMaxExecutionIdBytes = 128;
inline constexpr size_t kMaxAgentArnBytes = 256;
inline constexpr size_t kLinkProofBytes = 32;  // HMAC-SHA256
inline constexpr uint32_t kMaxConnections = 64;
// HELLO_OK: the receiver's window of unacknowledged chunk data.
inline constexpr uint64_t kMinWindowBytes = 64 << 10;
inline constexpr uint64_t kMaxWindowBytes = 256 << 20;

// Extended attributes.
inline constexpr size_t kMaxXattrCount = 1024;
inline constexpr size_t kMaxXattrNameBytes = 255;
inline constexpr size_t kMaxXattrValueBytes = 64 << 10;
inline constexpr size_t kMaxXattrTotalBytes = 1 << 20;  // names and values

// Block signatures (delta transfer).
inline constexpr uint32_t kMinSignatureBlockSize = delta::kMinBlockSize;
inline constexpr uint32_t kMaxSignatureBlockSize = delta::kMaxBlockSize;
inline constexpr size_t kMaxSignatureCount = 65536;

enum class FrameType : uint8_t {
  kHello = 1,
  kHelloOk = 2,
  kError = 3,
  kRequest = 4,
  kResponse = 5,
  kChunk = 6,
  kChunkAck = 7,
  kPing = 8,
  kPong = 9,
  kGoodbye = 10,
};

// "HELLO", "HELLO_OK", ...; "UNKNOWN" for a value outside the enum.
std::string_view FrameTypeName(FrameType type);

// Decodes primitives from a payload it does not own (REQUIRES: `data` and
// `what` outlive the reader). Every read fails with InvalidArgument
// "link frame: <what> <field>: <problem>" and leaves the position unchanged.
class WireReader {
 public:
  // `what` names the frame (or value) in error messages: "CHUNK".
  WireReader(std::span<const std::byte> data, std::string_view what);

  // Unsigned LEB128, minimal, at most 10 bytes and 64 bits.
  Result<uint64_t> ReadVarint(std::string_view field);
  // A varint within [lo, hi].
  Result<uint64_t> ReadVarintIn(std::string_view field, uint64_t lo,
                                uint64_t hi);
  Result<int64_t> ReadZigzag(std::string_view field);
  Result<uint8_t> ReadU8(std::string_view field);
  Result<uint32_t> ReadU32(std::string_view field);  // little-endian
  Result<uint64_t> ReadU64(std::string_view field);  // little-endian
  // Exactly `n` bytes, as a view into the payload.
  Result<std::span<const std::byte>> ReadRaw(std::string_view field, size_t n);
  // bytes(max): a varint length at most `max`, then that many bytes, as a
  // view into the payload.
  Result<std::string_view> ReadBytes(std::string_view field, size_t max);
  // bytes(kMaxPathBytes) in the canonical form of a RelPath; empty is the
  // root.
  Result<RelPath> ReadPath(std::string_view field);
  // Everything left, as a view; the reader is then at its end.
  std::span<const std::byte> ReadRest();

  // OK if every byte was read; else the trailing bytes are an error.
  Status Finish() const;

  // "link frame: <what> <field>: <problem>".
  Status Error(std::string_view field, std::string_view problem) const;
  // "link frame: <what> <field_and_problem>".
  Status Invalid(std::string_view field_and_problem) const;

  size_t remaining() const { return data_.size() - pos_; }
  std::string_view what() const { return what_; }

  // The link version the payload was written in (what a status holds).
  uint8_t version() const { return version_; }
  void set_version(uint8_t version) { version_ = version; }

 private:
  std::span<const std::byte> data_;
  size_t pos_ = 0;
  std::string_view what_;
  uint8_t version_ = 1;
};

// Appends primitives to a buffer it does not own (REQUIRES: the buffer
// outlives the writer). A value beyond its field's bound is refused: the
// first such problem is kept in status() ("link encode: entry path: 5000
// bytes, above 4096"), the writer stays failed, and the caller must not send
// what it wrote (EndFrame() removes it).
class WireWriter {
 public:
  explicit WireWriter(std::string* out);
  explicit WireWriter(std::vector<std::byte>* out);

  void WriteVarint(uint64_t v);
  void WriteZigzag(int64_t v);
  void WriteU8(uint8_t v);
  void WriteU32(uint32_t v);
  void WriteU64(uint64_t v);
  void WriteRaw(std::span<const std::byte> data);
  void WriteRaw(std::string_view data);
  // bytes(max); a longer value is refused (see status()).
  void WriteBytes(std::string_view field, std::string_view data, size_t max);
  void WritePath(std::string_view field, const RelPath& path);

  // Records "link encode: <field_and_problem>" unless a problem was recorded
  // already.
  void Refuse(std::string_view field_and_problem);
  const Status& status() const { return status_; }

  // Bytes in the buffer, including what it held before the writer.
  size_t size() const;

  // The link version to write in (what a status holds).
  uint8_t version() const { return version_; }
  void set_version(uint8_t version) { version_ = version; }

  // A frame: BeginFrame() reserves the header, the payload is written, and
  // EndFrame() fills the header in. If a problem was recorded, or the payload
  // is above kMaxFramePayload, EndFrame() returns it and removes the frame
  // from the buffer. REQUIRES: one BeginFrame() per EndFrame().
  void BeginFrame();
  Status EndFrame(FrameType type, uint32_t stream);

 private:
  void Append(const void* data, size_t n);
  void Truncate(size_t n);

  std::string* str_ = nullptr;
  std::vector<std::byte>* vec_ = nullptr;
  size_t frame_start_ = 0;
  bool in_frame_ = false;
  uint8_t version_ = 1;
  Status status_;
};

struct FrameHeader {
  uint32_t length = 0;  // of the payload
  FrameType type = FrameType::kGoodbye;
  uint32_t stream = 0;  // request id, or writer id for chunks
  bool operator==(const FrameHeader&) const = default;
};

std::array<std::byte, kFrameHeaderBytes> EncodeHeader(
    const FrameHeader& header);
// Refuses an unknown type, a flag or reserved bit set, and a length above
// kMaxFramePayload.
Result<FrameHeader> DecodeHeader(
    std::span<const std::byte, kFrameHeaderBytes> bytes);

// The frames. Each has kType, Encode (appends the payload; problems go to
// the writer's status) and Decode (one whole payload; trailing bytes are an
// error). AppendFrame() below writes header and payload at once.

struct Hello {
  static constexpr FrameType kType = FrameType::kHello;
  uint8_t lowest_version = kLowestLinkVersion;  // 1 <= lowest <= highest
  uint8_t highest_version = kLinkVersion;
  std::string execution_id;                      // at most kMaxExecutionIdBytes
  std::string sender_arn;                        // at most kMaxAgentArnBytes
  std::array<uint8_t, kLinkProofBytes> proof{};  // HMAC-SHA256
  uint32_t connection_index = 0;                 // < connection_count
  uint32_t connection_count = 1;                 // 1..kMaxConnections

  void Encode(WireWriter& w) const;
  static Result<Hello> Decode(std::span<const std::byte> payload);
  bool operator==(const Hello&) const = default;
};

struct HelloOk {
  static constexpr FrameType kType = FrameType::kHelloOk;
  uint8_t version = kLinkVersion;     // at least 1
  uint64_t window = kMinWindowBytes;  // kMinWindowBytes..kMaxWindowBytes

  void Encode(WireWriter& w) const;
  static Result<HelloOk> Decode(std::span<const std::byte> payload);
  bool operator==(const HelloOk&) const = default;
};

struct ErrorFrame {
  static constexpr FrameType kType = FrameType::kError;
  Status status;  // not OK

  void Encode(WireWriter& w) const;
  static Result<ErrorFrame> Decode(std::span<const std::byte> payload);
  bool operator==(const ErrorFrame& o) const;
};

enum class ChunkEncoding : uint8_t { kAsRead = 0, kZstd = 1 };

struct Chunk {
  static constexpr FrameType kType = FrameType::kChunk;
  uint64_t offset = 0;
  uint64_t length = 0;     // of the data as read: 1..kMaxChunkBytes
  BlockChecksum checksum;  // XXH3-128 of the data as read
  ChunkEncoding encoding = ChunkEncoding::kAsRead;
  // As read: `length` bytes. Zstd: 1..`length` bytes. Decode() returns a
  // view into the payload; it lives as long as the payload does.
  std::span<const std::byte> data;

  void Encode(WireWriter& w) const;
  static Result<Chunk> Decode(std::span<const std::byte> payload);
  bool operator==(const Chunk& o) const;  // compares the data's bytes
};

struct ChunkAck {
  static constexpr FrameType kType = FrameType::kChunkAck;
  uint64_t offset = 0;
  uint64_t length = 0;  // as the CHUNK's
  Status status;        // DataLoss: send the block again

  void Encode(WireWriter& w) const;
  // `version`: the link version agreed on the connection.
  static Result<ChunkAck> Decode(std::span<const std::byte> payload,
                                 uint8_t version = 1);
  bool operator==(const ChunkAck& o) const;
};

struct Ping {
  static constexpr FrameType kType = FrameType::kPing;
  uint64_t opaque = 0;  // 8 bytes the PONG returns as they are

  void Encode(WireWriter& w) const;
  static Result<Ping> Decode(std::span<const std::byte> payload);
  bool operator==(const Ping&) const = default;
};

struct Pong {
  static constexpr FrameType kType = FrameType::kPong;
  uint64_t opaque = 0;

  void Encode(WireWriter& w) const;
  static Result<Pong> Decode(std::span<const std::byte> payload);
  bool operator==(const Pong&) const = default;
};

struct Goodbye {
  static constexpr FrameType kType = FrameType::kGoodbye;

  void Encode(WireWriter&) const {}
  static Result<Goodbye> Decode(std::span<const std::byte> payload);
  bool operator==(const Goodbye&) const = default;
};

// Appends one whole frame; on error (a field beyond its bound) `out` is left
// as it was.
template <typename Message, typename Buffer>
Status AppendFrame(Buffer* out, uint32_t stream, const Message& msg,
                   uint8_t version = 1) {
  WireWriter w(out);
  w.set_version(version);
  w.BeginFrame();
  msg.Encode(w);
  return w.EndFrame(Message::kType, stream);
}

// REQUEST and RESPONSE bodies belong to the operations; these are their
// common prefixes. A REQUEST payload starts with the operation (a varint
// below 2^32); a RESPONSE payload with a status, followed by the results only
// if it is OK (ReadResponseStatus checks that nothing follows an error).
void WriteRequestOp(WireWriter& w, uint32_t op);
Result<uint32_t> ReadRequestOp(WireReader& r);
void WriteResponseStatus(WireWriter& w, const Status& status);
Status ReadResponseStatus(WireReader& r, Status* status);

// The values inside requests and responses, read from and written to a
// request's or response's reader or writer. Each Read refuses what its Write
// would refuse; on error it may have consumed part of the value (the payload
// is refused as a whole).

// varint code (a StatusCode) and bytes(kMaxMessageBytes) message, and from
// version 2 (the writer's or reader's version()) u8 flags (bit 0: retryable;
// the others 0) and varint errno (at most kMaxStatusErrno; a larger one is
// sent as 0); both 0 for OK. Version 1 carries the code and message only. A
// longer message is cut to kMaxMessageBytes on a UTF-8 boundary, ending in
// "...".
void WriteStatus(WireWriter& w, const Status& status);
// Returns the decoding problem; the decoded status goes to *status. An OK
// status carries no message.
Status ReadStatus(WireReader& r, Status* status);
// The Status a code and message make; nullopt if `code` is no StatusCode.
std::optional<Status> StatusFromWire(uint64_t code, std::string_view message);

void WriteFileTime(WireWriter& w, std::string_view field, const FileTime& t);
Result<FileTime> ReadFileTime(WireReader& r, std::string_view field);

void WriteDigest(WireWriter& w, const Digest& digest);
Result<Digest> ReadDigest(WireReader& r);

void WriteEntry(WireWriter& w, const Entry& entry);
Result<Entry> ReadEntry(WireReader& r);

void WriteXattrs(WireWriter& w, const XattrList& xattrs);
Result<XattrList> ReadXattrs(WireReader& r);

using BlockSignature = delta::BlockSignature;

// A run of a basis file's block signatures: blocks [first_block,
// first_block + blocks.size()) of block_size bytes each.
struct SignatureList {
  uint32_t block_size = kMinSignatureBlockSize;  // a power of two
  uint64_t first_block = 0;                      // index of blocks[0]
  std::vector<BlockSignature> blocks;            // at most kMaxSignatureCount
  bool operator==(const SignatureList&) const = default;
};

void WriteSignatures(WireWriter& w, const SignatureList& list);
Result<SignatureList> ReadSignatures(WireReader& r);

// Equality of what the wire carries, for tests and the fuzz target.
bool SameStatus(const Status& a, const Status& b);
bool SameEntry(const Entry& a, const Entry& b);

}  // namespace ferry::link
