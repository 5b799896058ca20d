#include "ferry/link/wire.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <utility>

namespace ferry::link {

namespace {

constexpr uint8_t kKnownEntryFlags =
    Entry::kListingFailed | Entry::kStaging | Entry::kPartial;
constexpr uint8_t kEntryKinds = 7;
constexpr uint32_t kMaxMode = 07777;
constexpr uint64_t kNanosPerSecond = 1000000000;
constexpr size_t kChecksumBytes = 16;
constexpr size_t kSignatureBytes = 4 + kChecksumBytes;

std::string Num(uint64_t v) { return std::to_string(v); }

std::string_view AsText(std::span<const std::byte> bytes) {
  return std::string_view(reinterpret_cast<const char*>(bytes.data()),
                          bytes.size());
}

uint64_t LoadLe(std::span<const std::byte> bytes) {
  uint64_t v = 0;
  for (size_t i = bytes.size(); i-- > 0;) {
    v = (v << 8) | static_cast<uint8_t>(bytes[i]);
  }
  return v;
}

uint64_t LoadBe(std::span<const std::byte> bytes) {
  uint64_t v = 0;
  for (std::byte b : bytes) v = (v << 8) | static_cast<uint8_t>(b);
  return v;
}

void StoreLe(uint64_t v, std::span<std::byte> out) {
  for (std::byte& b : out) {
    b = static_cast<std::byte>(v & 0xff);
    v >>= 8;
  }
}

void WriteChecksum(WireWriter& w, const BlockChecksum& c) {
  std::array<std::byte, kChecksumBytes> bytes;
  for (size_t i = 0; i < 8; ++i) {
    bytes[i] = static_cast<std::byte>(c.high >> (56 - 8 * i));
    bytes[8 + i] = static_cast<std::byte>(c.low >> (56 - 8 * i));
  }
  w.WriteRaw(bytes);
}

Result<BlockChecksum> ReadChecksum(WireReader& r, std::string_view field) {
  FERRY_ASSIGN_OR_RETURN(auto bytes, r.ReadRaw(field, kChecksumBytes));
  return BlockChecksum{LoadBe(bytes.first(8)), LoadBe(bytes.subspan(8))};
}

// Whether [offset, offset + length) of a chunk is within bounds; empty if
// it is.
std::string ChunkRangeProblem(uint64_t offset, uint64_t length) {
  if (length < 1 || length > kMaxChunkBytes) {
    return "length: " + Num(length) + " not in 1.." + Num(kMaxChunkBytes);
  }
  if (offset > std::numeric_limits<uint64_t>::max() - length) {
    return "offset: " + Num(offset) + " + length " + Num(length) +
           " beyond 2^64";
  }
  return {};
}

// `message` cut to kMaxMessageBytes on a UTF-8 boundary, marked with "...".
std::string_view CutMessage(std::string_view message, std::string* storage) {
  if (message.size() <= kMaxMessageBytes) return message;
  size_t cut = kMaxMessageBytes - 3;
  while (cut > 0 && (static_cast<uint8_t>(message[cut]) & 0xc0) == 0x80) {
    --cut;
  }
  *storage = std::string(message.substr(0, cut)) + "...";
  return *storage;
}

std::string FileTimeProblem(std::string_view field, const FileTime& t) {
  if (t.nsec >= kNanosPerSecond) {
    return std::string(field) + ": nanoseconds " + Num(t.nsec) +
           " not below 10^9";
  }
  return {};
}

uint8_t DigestSizeOf(DigestAlgorithm algo) {
  return algo == DigestAlgorithm::kSha256 ? 32 : 16;
}

std::string DigestProblem(const Digest& d) {
  if (d.algorithm != DigestAlgorithm::kXxh3_128 &&
      d.algorithm != DigestAlgorithm::kSha256) {
    return "digest algorithm: " + Num(static_cast<uint8_t>(d.algorithm)) +
           " unknown";
  }
  if (d.size != 0 && d.size != DigestSizeOf(d.algorithm)) {
    return "digest size: " + Num(d.size) + " for " +
           std::string(DigestAlgorithmName(d.algorithm));
  }
  return {};
}

// What of `e` the wire cannot carry, beyond the lengths WriteBytes checks;
// empty if nothing.
std::string EntryProblem(const Entry& e) {
  if (static_cast<uint8_t>(e.kind) >= kEntryKinds) {
    return "entry kind: " + Num(static_cast<uint8_t>(e.kind)) + " not below 7";
  }
  if (e.flags & ~kKnownEntryFlags) {
    return "entry flags: unknown bits in " + Num(e.flags);
  }
  if (e.mode > kMaxMode) {
    return "entry mode: " + Num(e.mode) + " above 07777";
  }
  if (e.dos_attributes & ~kDosAttributeMask) {
    return "entry DOS attributes: unknown bits in " + Num(e.dos_attributes);
  }
  for (auto [field, t] :
       {std::pair{"entry mtime", &e.mtime}, std::pair{"entry atime", &e.atime},
        std::pair{"entry ctime", &e.ctime},
        std::pair{"entry btime", &e.btime}}) {
    if (std::string p = FileTimeProblem(field, *t); !p.empty()) return p;
  }
  return DigestProblem(e.digest);
}

std::string HelloProblem(const Hello& h) {
  if (h.lowest_version < 1 || h.lowest_version > h.highest_version) {
    return "versions: " + Num(h.lowest_version) + ".." +
           Num(h.highest_version) + " is no range of versions";
  }
  if (h.connection_count < 1 || h.connection_count > kMaxConnections) {
    return "connection count: " + Num(h.connection_count) + " not in 1.." +
           Num(kMaxConnections);
  }
  if (h.connection_index >= h.connection_count) {
    return "connection index: " + Num(h.connection_index) +
           " not below the count " + Num(h.connection_count);
  }
  return {};
}

std::string HelloOkProblem(const HelloOk& h) {
  if (h.version < 1) return "version: 0";
  if (h.window < kMinWindowBytes || h.window > kMaxWindowBytes) {
    return "window: " + Num(h.window) + " not in " + Num(kMinWindowBytes) +
           ".." + Num(kMaxWindowBytes);
  }
  return {};
}

std::string ChunkProblem(const Chunk& c) {
  if (std::string p = ChunkRangeProblem(c.offset, c.length); !p.empty()) {
    return p;
  }
  switch (c.encoding) {
    case ChunkEncoding::kAsRead:
      if (c.data.size() != c.length) {
        return "data: " + Num(c.data.size()) + " bytes as read, length " +
               Num(c.length);
      }
      return {};
    case ChunkEncoding::kZstd:
      if (c.data.empty() || c.data.size() > c.length) {
        return "data: " + Num(c.data.size()) +
               " bytes of zstd not in 1..length " + Num(c.length);
      }
      return {};
  }
  return "encoding: " + Num(static_cast<uint8_t>(c.encoding)) + " unknown";
}

std::string SignaturesProblem(uint64_t block_size, uint64_t first_block,
                              uint64_t count) {
  if (block_size < kMinSignatureBlockSize ||
      block_size > kMaxSignatureBlockSize || !std::has_single_bit(block_size)) {
    return "signature block size: " + Num(block_size) +
           " is no power of two in " + Num(kMinSignatureBlockSize) + ".." +
           Num(kMaxSignatureBlockSize);
  }
  if (count > kMaxSignatureCount) {
    return "signature count: " + Num(count) + " above " +
           Num(kMaxSignatureCount);
  }
  // The end of the last block must be an offset.
  if (first_block > std::numeric_limits<uint64_t>::max() / block_size - count) {
    return "signature first block: " + Num(first_block) + " beyond 2^64 bytes";
  }
  return {};
}

}  // namespace

std::string_view FrameTypeName(FrameType type) {
  switch (type) {
    case FrameType::kHello:
      return "HELLO";
    case FrameType::kHelloOk:
      return "HELLO_OK";
    case FrameType::kError:
      return "ERROR";
    case FrameType::kRequest:
      return "REQUEST";
    case FrameType::kResponse:
      return "RESPONSE";
    case FrameType::kChunk:
      return "CHUNK";
    case FrameType::kChunkAck:
      return "CHUNK_ACK";
    case FrameType::kPing:
      return "PING";
    case FrameType::kPong:
      return "PONG";
    case FrameType::kGoodbye:
      return "GOODBYE";
  }
  return "UNKNOWN";
}

// --- WireReader -------------------------------------------------------------

WireReader::WireReader(std::span<const std::byte> data, std::string_view what)
    : data_(data), what_(what) {}

Status WireReader::Error(std::string_view field,
                         std::string_view problem) const {
  std::string msg = "link frame: ";
  msg += what_;
  if (!field.empty()) {
    msg += ' ';
    msg += field;
  }
  msg += ": ";
  msg += problem;
  return Status::InvalidArgument(std::move(msg));
}

Status WireReader::Invalid(std::string_view field_and_problem) const {
  std::string msg = "link frame: ";
  msg += what_;
  msg += ' ';
  msg += field_and_problem;
  return Status::InvalidArgument(std::move(msg));
}

Result<uint64_t> WireReader::ReadVarint(std::string_view field) {
  uint64_t v = 0;
  for (size_t i = 0; i < 10; ++i) {
    if (pos_ + i >= data_.size()) return Error(field, "truncated varint");
    const uint8_t b = static_cast<uint8_t>(data_[pos_ + i]);
    if (i == 9 && (b & 0x80)) {
      return Error(field, "varint longer than 10 bytes");
    }
    if (i == 9 && b > 1) return Error(field, "varint beyond 64 bits");
    v |= static_cast<uint64_t>(b & 0x7f) << (7 * i);
    if (!(b & 0x80)) {
      if (b == 0 && i > 0) return Error(field, "overlong varint");
      pos_ += i + 1;
      return v;
    }
  }
  return Error(field, "varint longer than 10 bytes");  // not reached
}

Result<uint64_t> WireReader::ReadVarintIn(std::string_view field, uint64_t lo,
                                          uint64_t hi) {
  const size_t start = pos_;
  FERRY_ASSIGN_OR_RETURN(uint64_t v, ReadVarint(field));
  if (v < lo || v > hi) {
    pos_ = start;
    if (lo == 0) return Error(field, Num(v) + " above " + Num(hi));
    return Error(field, Num(v) + " not in " + Num(lo) + ".." + Num(hi));
  }
  return v;
}

Result<int64_t> WireReader::ReadZigzag(std::string_view field) {
  FERRY_ASSIGN_OR_RETURN(uint64_t u, ReadVarint(field));
  return static_cast<int64_t>((u >> 1) ^ (~(u & 1) + 1));
}

Result<std::span<const std::byte>> WireReader::ReadRaw(std::string_view field,
                                                       size_t n) {
  if (n > remaining()) {
    return Error(field, "truncated: " + Num(n) + " bytes, " + Num(remaining()) +
                            " left");
  }
  auto out = data_.subspan(pos_, n);
  pos_ += n;
  return out;
}

Result<uint8_t> WireReader::ReadU8(std::string_view field) {
  FERRY_ASSIGN_OR_RETURN(auto bytes, ReadRaw(field, 1));
  return static_cast<uint8_t>(bytes[0]);
}

Result<uint32_t> WireReader::ReadU32(std::string_view field) {
  FERRY_ASSIGN_OR_RETURN(auto bytes, ReadRaw(field, 4));
  return static_cast<uint32_t>(LoadLe(bytes));
}

Result<uint64_t> WireReader::ReadU64(std::string_view field) {
  FERRY_ASSIGN_OR_RETURN(auto bytes, ReadRaw(field, 8));
  return LoadLe(bytes);
}

Result<std::string_view> WireReader::ReadBytes(std::string_view field,
                                               size_t max) {
  const size_t start = pos_;
  FERRY_ASSIGN_OR_RETURN(uint64_t n, ReadVarint(field));
  if (n > max) {
    pos_ = start;
    return Error(field, "length " + Num(n) + " above " + Num(max));
  }
  auto bytes = ReadRaw(field, n);
  if (!bytes.ok()) {
    pos_ = start;
    return bytes.status();
  }
  return AsText(*bytes);
}

Result<RelPath> WireReader::ReadPath(std::string_view field) {
  const size_t start = pos_;
  FERRY_ASSIGN_OR_RETURN(std::string_view text,
                         ReadBytes(field, kMaxPathBytes));
  auto path = RelPath::Parse(text);
  if (!path.ok()) {
    pos_ = start;
    return Error(field, path.status().message());
  }
  // Parse tolerates what a canonical path never holds.
  if (path->str() != text) {
    pos_ = start;
    return Error(field, "a leading, trailing or doubled '/'");
  }
  return path;
}

std::span<const std::byte> WireReader::ReadRest() {
  auto out = data_.subspan(pos_);
  pos_ = data_.size();
  return out;
}

Status WireReader::Finish() const {
  if (remaining() == 0) return Status::Ok();
  return Error("", Num(remaining()) + " trailing bytes");
}

// --- WireWriter -------------------------------------------------------------

WireWriter::WireWriter(std::string* out) : str_(out) {}
WireWriter::WireWriter(std::vector<std::byte>* out) : vec_(out) {}

size_t WireWriter::size() const {
  return str_ != nullptr ? str_->size() : vec_->size();
}

void WireWriter::Append(const void* data, size_t n) {
  if (n == 0) return;
  if (str_ != nullptr) {
    str_->append(static_cast<const char*>(data), n);
  } else {
    const auto* p = static_cast<const std::byte*>(data);
    vec_->insert(vec_->end(), p, p + n);
  }
}

void WireWriter::Truncate(size_t n) {
  if (str_ != nullptr) {
    str_->resize(n);
  } else {
    vec_->resize(n);
  }
}

void WireWriter::WriteVarint(uint64_t v) {
  uint8_t buf[10];
  size_t n = 0;
  while (v >= 0x80) {
    buf[n++] = static_cast<uint8_t>(v) | 0x80;
    v >>= 7;
  }
  buf[n++] = static_cast<uint8_t>(v);
  Append(buf, n);
}

void WireWriter::WriteZigzag(int64_t v) {
  WriteVarint((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63));
}

void WireWriter::WriteU8(uint8_t v) { Append(&v, 1); }

void WireWriter::WriteU32(uint32_t v) {
  std::array<std::byte, 4> bytes;
  StoreLe(v, bytes);
  WriteRaw(bytes);
}

void WireWriter::WriteU64(uint64_t v) {
  std::array<std::byte, 8> bytes;
  StoreLe(v, bytes);
  WriteRaw(bytes);
}

void WireWriter::WriteRaw(std::span<const std::byte> data) {
  Append(data.data(), data.size());
}

void WireWriter::WriteRaw(std::string_view data) {
  Append(data.data(), data.size());
}

void WireWriter::WriteBytes(std::string_view field, std::string_view data,
                            size_t max) {
  if (data.size() > max) {
    Refuse(std::string(field) + ": " + Num(data.size()) + " bytes, above " +
           Num(max));
    return;
  }
  WriteVarint(data.size());
  WriteRaw(data);
}

void WireWriter::WritePath(std::string_view field, const RelPath& path) {
  WriteBytes(field, path.str(), kMaxPathBytes);
}

void WireWriter::Refuse(std::string_view field_and_problem) {
  if (status_.ok()) {
    status_ = Status::InvalidArgument("link encode: " +
                                      std::string(field_and_problem));
  }
}

void WireWriter::BeginFrame() {
  frame_start_ = size();
  in_frame_ = true;
  std::array<std::byte, kFrameHeaderBytes> zeros{};
  WriteRaw(zeros);
}

Status WireWriter::EndFrame(FrameType type, uint32_t stream) {
  if (!in_frame_)
    return Status::Internal("link encode: EndFrame without a frame");
  in_frame_ = false;
  const size_t payload = size() - frame_start_ - kFrameHeaderBytes;
  if (status_.ok() && payload > kMaxFramePayload) {
    Refuse(std::string(FrameTypeName(type)) + ": payload of " + Num(payload) +
           " bytes, above " + Num(kMaxFramePayload));
  }
  if (!status_.ok()) {
    Truncate(frame_start_);
    return status_;
  }
  auto header =
      EncodeHeader(FrameHeader{static_cast<uint32_t>(payload), type, stream});
  if (str_ != nullptr) {
    std::memcpy(str_->data() + frame_start_, header.data(), header.size());
  } else {
    std::memcpy(vec_->data() + frame_start_, header.data(), header.size());
  }
  return Status::Ok();
}

// --- Header -----------------------------------------------------------------

std::array<std::byte, kFrameHeaderBytes> EncodeHeader(
    const FrameHeader& header) {
  std::array<std::byte, kFrameHeaderBytes> out{};
  StoreLe(header.length, std::span(out).first(4));
  out[4] = static_cast<std::byte>(header.type);
  StoreLe(header.stream, std::span(out).subspan(8, 4));
  return out;
}

Result<FrameHeader> DecodeHeader(
    std::span<const std::byte, kFrameHeaderBytes> bytes) {
  WireReader r(bytes, "header");
  FrameHeader h;
  h.length = static_cast<uint32_t>(LoadLe(bytes.first(4)));
  if (h.length > kMaxFramePayload) {
    return r.Error("length", Num(h.length) + " above " + Num(kMaxFramePayload));
  }
  const auto type = static_cast<uint8_t>(bytes[4]);
  if (type < static_cast<uint8_t>(FrameType::kHello) ||
      type > static_cast<uint8_t>(FrameType::kGoodbye)) {
    return r.Error("type", Num(type) + " unknown");
  }
  h.type = static_cast<FrameType>(type);
  if (bytes[5] != std::byte{0}) {
    return r.Error("flags", Num(static_cast<uint8_t>(bytes[5])) + " not 0");
  }
  if (bytes[6] != std::byte{0} || bytes[7] != std::byte{0}) {
    return r.Error("reserved", "not 0");
  }
  h.stream = static_cast<uint32_t>(LoadLe(bytes.subspan(8, 4)));
  return h;
}

// --- Frames -----------------------------------------------------------------

void Hello::Encode(WireWriter& w) const {
  if (std::string p = HelloProblem(*this); !p.empty()) w.Refuse("HELLO " + p);
  w.WriteRaw(kHelloMagic);
  w.WriteU8(lowest_version);
  w.WriteU8(highest_version);
  w.WriteBytes("HELLO execution id", execution_id, kMaxExecutionIdBytes);
  w.WriteBytes("HELLO sender ARN", sender_arn, kMaxAgentArnBytes);
  w.WriteBytes("HELLO link proof", AsText(std::as_bytes(std::span(proof))),
               kLinkProofBytes);
  w.WriteVarint(connection_index);
  w.WriteVarint(connection_count);
}

Result<Hello> Hello::Decode(std::span<const std::byte> payload) {
  WireReader r(payload, "HELLO");
  Hello h;
  FERRY_ASSIGN_OR_RETURN(auto magic, r.ReadRaw("magic", kHelloMagic.size()));
  if (AsText(magic) != kHelloMagic) return r.Error("magic", "not FERRYLNK");
  FERRY_ASSIGN_OR_RETURN(h.lowest_version, r.ReadU8("lowest version"));
  FERRY_ASSIGN_OR_RETURN(h.highest_version, r.ReadU8("highest version"));
  FERRY_ASSIGN_OR_RETURN(h.execution_id,
                         r.ReadBytes("execution id", kMaxExecutionIdBytes));
  FERRY_ASSIGN_OR_RETURN(h.sender_arn,
                         r.ReadBytes("sender ARN", kMaxAgentArnBytes));
  FERRY_ASSIGN_OR_RETURN(std::string_view proof,
                         r.ReadBytes("link proof", kLinkProofBytes));
  if (proof.size() != kLinkProofBytes) {
    return r.Error("link proof",
                   Num(proof.size()) + " bytes, not " + Num(kLinkProofBytes));
  }
  std::memcpy(h.proof.data(), proof.data(), kLinkProofBytes);
  FERRY_ASSIGN_OR_RETURN(
      h.connection_index,
      r.ReadVarintIn("connection index", 0, kMaxConnections - 1));
  FERRY_ASSIGN_OR_RETURN(
      h.connection_count,
      r.ReadVarintIn("connection count", 1, kMaxConnections));
  FERRY_RETURN_IF_ERROR(r.Finish());
  if (std::string p = HelloProblem(h); !p.empty()) return r.Invalid(p);
  return h;
}

void HelloOk::Encode(WireWriter& w) const {
  if (std::string p = HelloOkProblem(*this); !p.empty()) {
    w.Refuse("HELLO_OK " + p);
  }
  w.WriteU8(version);
  w.WriteVarint(window);
}

Result<HelloOk> HelloOk::Decode(std::span<const std::byte> payload) {
  WireReader r(payload, "HELLO_OK");
  HelloOk h;
  FERRY_ASSIGN_OR_RETURN(h.version, r.ReadU8("version"));
  FERRY_ASSIGN_OR_RETURN(h.window, r.ReadVarint("window"));
  FERRY_RETURN_IF_ERROR(r.Finish());
  if (std::string p = HelloOkProblem(h); !p.empty()) return r.Invalid(p);
  return h;
}

void ErrorFrame::Encode(WireWriter& w) const {
  if (status.ok()) w.Refuse("ERROR status: OK");
  WriteStatus(w, status);
}

Result<ErrorFrame> ErrorFrame::Decode(std::span<const std::byte> payload) {
  WireReader r(payload, "ERROR");
  ErrorFrame e;
  FERRY_RETURN_IF_ERROR(ReadStatus(r, &e.status));
  FERRY_RETURN_IF_ERROR(r.Finish());
  if (e.status.ok()) return r.Error("status code", "0 (OK)");
  return e;
}

bool ErrorFrame::operator==(const ErrorFrame& o) const {
  return SameStatus(status, o.status);
}

void Chunk::Encode(WireWriter& w) const {
  if (std::string p = ChunkProblem(*this); !p.empty()) w.Refuse("CHUNK " + p);
  w.WriteVarint(offset);
  w.WriteVarint(length);
  WriteChecksum(w, checksum);
  w.WriteU8(static_cast<uint8_t>(encoding));
  w.WriteRaw(data);
}

Result<Chunk> Chunk::Decode(std::span<const std::byte> payload) {
  WireReader r(payload, "CHUNK");
  Chunk c;
  FERRY_ASSIGN_OR_RETURN(c.offset, r.ReadVarint("offset"));
  FERRY_ASSIGN_OR_RETURN(c.length, r.ReadVarint("length"));
  FERRY_ASSIGN_OR_RETURN(c.checksum, ReadChecksum(r, "checksum"));
  FERRY_ASSIGN_OR_RETURN(uint8_t encoding, r.ReadU8("encoding"));
  if (encoding > static_cast<uint8_t>(ChunkEncoding::kZstd)) {
    return r.Error("encoding", Num(encoding) + " unknown");
  }
  c.encoding = static_cast<ChunkEncoding>(encoding);
  c.data = r.ReadRest();
  if (std::string p = ChunkProblem(c); !p.empty()) return r.Invalid(p);
  return c;
}

bool Chunk::operator==(const Chunk& o) const {
  return offset == o.offset && length == o.length && checksum == o.checksum &&
         encoding == o.encoding && std::ranges::equal(data, o.data);
}

void ChunkAck::Encode(WireWriter& w) const {
  if (std::string p = ChunkRangeProblem(offset, length); !p.empty()) {
    w.Refuse("CHUNK_ACK " + p);
  }
  w.WriteVarint(offset);
  w.WriteVarint(length);
  WriteStatus(w, status);
}

Result<ChunkAck> ChunkAck::Decode(std::span<const std::byte> payload,
                                  uint8_t version) {
  WireReader r(payload, "CHUNK_ACK");
  r.set_version(version);
  ChunkAck a;
  FERRY_ASSIGN_OR_RETURN(a.offset, r.ReadVarint("offset"));
  FERRY_ASSIGN_OR_RETURN(a.length, r.ReadVarint("length"));
  if (std::string p = ChunkRangeProblem(a.offset, a.length); !p.empty()) {
    return r.Invalid(p);
  }
  FERRY_RETURN_IF_ERROR(ReadStatus(r, &a.status));
  FERRY_RETURN_IF_ERROR(r.Finish());
  return a;
}

bool ChunkAck::operator==(const ChunkAck& o) const {
  return offset == o.offset && length == o.length &&
         SameStatus(status, o.status);
}

void Ping::Encode(WireWriter& w) const { w.WriteU64(opaque); }

Result<Ping> Ping::Decode(std::span<const std::byte> payload) {
  WireReader r(payload, "PING");
  Ping p;
  FERRY_ASSIGN_OR_RETURN(p.opaque, r.ReadU64("opaque"));
  FERRY_RETURN_IF_ERROR(r.Finish());
  return p;
}

void Pong::Encode(WireWriter& w) const { w.WriteU64(opaque); }

Result<Pong> Pong::Decode(std::span<const std::byte> payload) {
  WireReader r(payload, "PONG");
  Pong p;
  FERRY_ASSIGN_OR_RETURN(p.opaque, r.ReadU64("opaque"));
  FERRY_RETURN_IF_ERROR(r.Finish());
  return p;
}

Result<Goodbye> Goodbye::Decode(std::span<const std::byte> payload) {
  WireReader r(payload, "GOODBYE");
  FERRY_RETURN_IF_ERROR(r.Finish());
  return Goodbye{};
}

// --- REQUEST and RESPONSE prefixes
// --------------------------------------------

void WriteRequestOp(WireWriter& w, uint32_t op) { w.WriteVarint(op); }

Result<uint32_t> ReadRequestOp(WireReader& r) {
  FERRY_ASSIGN_OR_RETURN(
      uint64_t op,
      r.ReadVarintIn("operation", 0, std::numeric_limits<uint32_t>::max()));
  return static_cast<uint32_t>(op);
}

void WriteResponseStatus(WireWriter& w, const Status& status) {
  WriteStatus(w, status);
}

Status ReadResponseStatus(WireReader& r, Status* status) {
  FERRY_RETURN_IF_ERROR(ReadStatus(r, status));
  if (!status->ok()) return r.Finish();
  return Status::Ok();
}

// --- Values -----------------------------------------------------------------

std::optional<Status> StatusFromWire(uint64_t code, std::string_view message) {
  if (code > kMaxStatusCode) return std::nullopt;
  const auto c = static_cast<StatusCode>(code);
  if (StatusCodeName(c) == "Unknown") return std::nullopt;
  return Status(c, std::string(message));
}

void WriteStatus(WireWriter& w, const Status& status) {
  std::string storage;
  w.WriteVarint(static_cast<uint64_t>(status.code()));
  w.WriteBytes("status message", CutMessage(status.message(), &storage),
               kMaxMessageBytes);
  if (w.version() >= 2) {
    w.WriteU8(status.retryable() ? 1 : 0);
    const int e = status.sys_errno();
    w.WriteVarint(e > 0 && static_cast<uint64_t>(e) <= kMaxStatusErrno
                      ? static_cast<uint64_t>(e)
                      : 0);
  }
}

Status ReadStatus(WireReader& r, Status* status) {
  FERRY_ASSIGN_OR_RETURN(uint64_t code,
                         r.ReadVarintIn("status code", 0, kMaxStatusCode));
  FERRY_ASSIGN_OR_RETURN(std::string_view message,
                         r.ReadBytes("status message", kMaxMessageBytes));
  std::optional<Status> s = StatusFromWire(code, message);
  if (!s) return r.Error("status code", Num(code) + " unknown");
  if (s->ok() && !message.empty()) {
    return r.Error("status message", "a message with code 0 (OK)");
  }
  if (r.version() >= 2) {
    FERRY_ASSIGN_OR_RETURN(uint8_t flags, r.ReadU8("status flags"));
    if (flags > 1) return r.Error("status flags", Num(flags) + " unknown");
    FERRY_ASSIGN_OR_RETURN(uint64_t sys_errno,
                           r.ReadVarintIn("status errno", 0, kMaxStatusErrno));
    if (s->ok() && (flags != 0 || sys_errno != 0)) {
      return r.Error("status flags", "flags or errno with code 0 (OK)");
    }
    if (!s->ok()) {
      s = Status(s->code(), std::string(s->message()),
                 static_cast<int>(sys_errno), flags == 1);
    }
  }
  *status = std::move(*s);
  return Status::Ok();
}

void WriteFileTime(WireWriter& w, std::string_view field, const FileTime& t) {
  if (std::string p = FileTimeProblem(field, t); !p.empty()) w.Refuse(p);
  w.WriteZigzag(t.sec);
  w.WriteVarint(t.nsec);
}

Result<FileTime> ReadFileTime(WireReader& r, std::string_view field) {
  FileTime t;
  FERRY_ASSIGN_OR_RETURN(t.sec, r.ReadZigzag(field));
  FERRY_ASSIGN_OR_RETURN(t.nsec, r.ReadVarintIn(field, 0, kNanosPerSecond - 1));
  return t;
}

void WriteDigest(WireWriter& w, const Digest& digest) {
  if (std::string p = DigestProblem(digest); !p.empty()) {
    w.Refuse(p);
    return;
  }
  w.WriteU8(static_cast<uint8_t>(digest.algorithm));
  w.WriteU8(digest.size);
  w.WriteRaw(AsText(std::as_bytes(std::span(digest.bytes).first(digest.size))));
}

Result<Digest> ReadDigest(WireReader& r) {
  Digest d;
  FERRY_ASSIGN_OR_RETURN(uint8_t algo, r.ReadU8("digest algorithm"));
  if (algo > static_cast<uint8_t>(DigestAlgorithm::kSha256)) {
    return r.Error("digest algorithm", Num(algo) + " unknown");
  }
  d.algorithm = static_cast<DigestAlgorithm>(algo);
  FERRY_ASSIGN_OR_RETURN(d.size, r.ReadU8("digest size"));
  if (d.size != 0 && d.size != DigestSizeOf(d.algorithm)) {
    return r.Error(
        "digest size",
        Num(d.size) + " for " + std::string(DigestAlgorithmName(d.algorithm)));
  }
  FERRY_ASSIGN_OR_RETURN(auto bytes, r.ReadRaw("digest", d.size));
  std::memcpy(d.bytes.data(), bytes.data(), bytes.size());
  return d;
}

void WriteEntry(WireWriter& w, const Entry& e) {
  if (std::string p = EntryProblem(e); !p.empty()) w.Refuse(p);
  w.WritePath("entry path", e.path);
  w.WriteU8(static_cast<uint8_t>(e.kind));
  w.WriteU8(e.flags);
  w.WriteVarint(e.mode);
  w.WriteVarint(e.uid);
  w.WriteVarint(e.gid);
  w.WriteVarint(e.nlink);
  w.WriteVarint(e.size);
  w.WriteVarint(e.allocated);
  WriteFileTime(w, "entry mtime", e.mtime);
  WriteFileTime(w, "entry atime", e.atime);
  WriteFileTime(w, "entry ctime", e.ctime);
  w.WriteVarint(e.dev);
  w.WriteVarint(e.ino);
  w.WriteVarint(e.rdev);
  w.WriteBytes("entry link target", e.link_target, kMaxLinkTargetBytes);
  w.WriteVarint(e.dos_attributes);
  WriteFileTime(w, "entry btime", e.btime);
  w.WriteU64(e.xattr_hash);
  w.WriteBytes("entry etag", e.etag, kMaxEtagBytes);
  w.WriteBytes("entry version", e.version, kMaxVersionIdBytes);
  WriteDigest(w, e.digest);
}

Result<Entry> ReadEntry(WireReader& r) {
  constexpr uint64_t kU32Max = std::numeric_limits<uint32_t>::max();
  Entry e;
  FERRY_ASSIGN_OR_RETURN(e.path, r.ReadPath("entry path"));
  FERRY_ASSIGN_OR_RETURN(uint8_t kind, r.ReadU8("entry kind"));
  if (kind >= kEntryKinds) return r.Error("entry kind", Num(kind) + " unknown");
  e.kind = static_cast<EntryKind>(kind);
  FERRY_ASSIGN_OR_RETURN(e.flags, r.ReadU8("entry flags"));
  if (e.flags & ~kKnownEntryFlags) {
    return r.Error("entry flags", "unknown bits in " + Num(e.flags));
  }
  FERRY_ASSIGN_OR_RETURN(e.mode, r.ReadVarintIn("entry mode", 0, kMaxMode));
  FERRY_ASSIGN_OR_RETURN(e.uid, r.ReadVarintIn("entry uid", 0, kU32Max));
  FERRY_ASSIGN_OR_RETURN(e.gid, r.ReadVarintIn("entry gid", 0, kU32Max));
  FERRY_ASSIGN_OR_RETURN(e.nlink, r.ReadVarintIn("entry nlink", 0, kU32Max));
  FERRY_ASSIGN_OR_RETURN(e.size, r.ReadVarint("entry size"));
  FERRY_ASSIGN_OR_RETURN(e.allocated, r.ReadVarint("entry allocated"));
  FERRY_ASSIGN_OR_RETURN(e.mtime, ReadFileTime(r, "entry mtime"));
  FERRY_ASSIGN_OR_RETURN(e.atime, ReadFileTime(r, "entry atime"));
  FERRY_ASSIGN_OR_RETURN(e.ctime, ReadFileTime(r, "entry ctime"));
  FERRY_ASSIGN_OR_RETURN(e.dev, r.ReadVarint("entry dev"));
  FERRY_ASSIGN_OR_RETURN(e.ino, r.ReadVarint("entry ino"));
  FERRY_ASSIGN_OR_RETURN(e.rdev, r.ReadVarint("entry rdev"));
  FERRY_ASSIGN_OR_RETURN(e.link_target,
                         r.ReadBytes("entry link target", kMaxLinkTargetBytes));
  FERRY_ASSIGN_OR_RETURN(e.dos_attributes,
                         r.ReadVarintIn("entry DOS attributes", 0, kU32Max));
  if (e.dos_attributes & ~kDosAttributeMask) {
    return r.Error("entry DOS attributes",
                   "unknown bits in " + Num(e.dos_attributes));
  }
  FERRY_ASSIGN_OR_RETURN(e.btime, ReadFileTime(r, "entry btime"));
  FERRY_ASSIGN_OR_RETURN(e.xattr_hash, r.ReadU64("entry xattr hash"));
  FERRY_ASSIGN_OR_RETURN(e.etag, r.ReadBytes("entry etag", kMaxEtagBytes));
  FERRY_ASSIGN_OR_RETURN(e.version,
                         r.ReadBytes("entry version", kMaxVersionIdBytes));
  FERRY_ASSIGN_OR_RETURN(e.digest, ReadDigest(r));
  return e;
}

void WriteXattrs(WireWriter& w, const XattrList& xattrs) {
  if (xattrs.size() > kMaxXattrCount) {
    w.Refuse("xattr count: " + Num(xattrs.size()) + " above " +
             Num(kMaxXattrCount));
    return;
  }
  size_t total = 0;
  for (const Xattr& x : xattrs) total += x.name.size() + x.value.size();
  if (total > kMaxXattrTotalBytes) {
    w.Refuse("xattrs: " + Num(total) + " bytes in all, above " +
             Num(kMaxXattrTotalBytes));
    return;
  }
  w.WriteVarint(xattrs.size());
  for (const Xattr& x : xattrs) {
    w.WriteBytes("xattr name", x.name, kMaxXattrNameBytes);
    w.WriteBytes("xattr value", x.value, kMaxXattrValueBytes);
  }
}

Result<XattrList> ReadXattrs(WireReader& r) {
  FERRY_ASSIGN_OR_RETURN(uint64_t count,
                         r.ReadVarintIn("xattr count", 0, kMaxXattrCount));
  XattrList out;
  out.reserve(count);
  size_t total = 0;
  for (uint64_t i = 0; i < count; ++i) {
    FERRY_ASSIGN_OR_RETURN(std::string_view name,
                           r.ReadBytes("xattr name", kMaxXattrNameBytes));
    FERRY_ASSIGN_OR_RETURN(std::string_view value,
                           r.ReadBytes("xattr value", kMaxXattrValueBytes));
    total += name.size() + value.size();
    if (total > kMaxXattrTotalBytes) {
      return r.Error("xattrs",
                     "more than " + Num(kMaxXattrTotalBytes) + " bytes in all");
    }
    out.push_back(Xattr{std::string(name), std::string(value)});
  }
  return out;
}

void WriteSignatures(WireWriter& w, const SignatureList& list) {
  if (std::string p = SignaturesProblem(list.block_size, list.first_block,
                                        list.blocks.size());
      !p.empty()) {
    w.Refuse(p);
    return;
  }
  w.WriteVarint(list.block_size);
  w.WriteVarint(list.first_block);
  w.WriteVarint(list.blocks.size());
  for (const BlockSignature& b : list.blocks) {
    w.WriteU32(b.weak);
    WriteChecksum(w, b.strong);
  }
}

Result<SignatureList> ReadSignatures(WireReader& r) {
  SignatureList list;
  FERRY_ASSIGN_OR_RETURN(
      list.block_size,
      r.ReadVarintIn("signature block size", kMinSignatureBlockSize,
                     kMaxSignatureBlockSize));
  FERRY_ASSIGN_OR_RETURN(list.first_block,
                         r.ReadVarint("signature first block"));
  FERRY_ASSIGN_OR_RETURN(
      uint64_t count, r.ReadVarintIn("signature count", 0, kMaxSignatureCount));
  if (std::string p =
          SignaturesProblem(list.block_size, list.first_block, count);
      !p.empty()) {
    return r.Invalid(p);
  }
  // Refuse a count the payload cannot hold before allocating for it.
  if (count * kSignatureBytes > r.remaining()) {
    return r.Error("signatures", "truncated: " + Num(count) + " blocks, " +
                                     Num(r.remaining()) + " bytes left");
  }
  list.blocks.resize(count);
  for (BlockSignature& b : list.blocks) {
    FERRY_ASSIGN_OR_RETURN(b.weak, r.ReadU32("signature weak"));
    FERRY_ASSIGN_OR_RETURN(b.strong, ReadChecksum(r, "signature strong"));
  }
  return list;
}

bool SameStatus(const Status& a, const Status& b) {
  return a.code() == b.code() && a.message() == b.message();
}

bool SameEntry(const Entry& a, const Entry& b) {
  return a.path == b.path && a.kind == b.kind && a.flags == b.flags &&
         a.mode == b.mode && a.uid == b.uid && a.gid == b.gid &&
         a.nlink == b.nlink && a.size == b.size && a.allocated == b.allocated &&
         a.mtime == b.mtime && a.atime == b.atime && a.ctime == b.ctime &&
         a.dev == b.dev && a.ino == b.ino && a.rdev == b.rdev &&
         a.link_target == b.link_target &&
         a.dos_attributes == b.dos_attributes && a.btime == b.btime &&
         a.xattr_hash == b.xattr_hash && a.etag == b.etag &&
         a.version == b.version && a.digest == b.digest;
}

}  // namespace ferry::link
