#include "ferry/link/wire.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

namespace ferry::link {
namespace {

std::span<const std::byte> AsSpan(const std::string& s) {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

// A message's payload as Encode writes it; REQUIRES: it encodes.
template <typename Message>
std::string Payload(const Message& msg) {
  std::string out;
  WireWriter w(&out);
  msg.Encode(w);
  EXPECT_TRUE(w.status().ok()) << w.status().ToString();
  return out;
}

// Every proper prefix of `encoded`, and `encoded` with a byte appended, fail
// to decode (cleanly: no crash, an InvalidArgument naming the link frame).
// Short prefixes are decoded from copies of exactly their size, so that
// AddressSanitizer sees any read past them.
template <typename DecodeFn>
void ExpectEveryTruncationFails(const std::string& encoded, DecodeFn decode) {
  for (size_t n = 0; n < encoded.size(); ++n) {
    std::string_view prefix = std::string_view(encoded).substr(0, n);
    Status s = n <= 16384 ? decode(std::string(prefix)) : decode(prefix);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument)
        << "prefix of " << n << " of " << encoded.size() << " bytes";
    EXPECT_NE(s.message().find("link frame: "), std::string_view::npos)
        << s.ToString();
  }
  Status trailing = decode(encoded + '\0');
  EXPECT_EQ(trailing.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(decode(encoded).ok());
}

template <typename Message>
void ExpectMessageTruncationsFail(const Message& msg) {
  ExpectEveryTruncationFails(Payload(msg), [](std::string_view bytes) {
    return Message::Decode(std::as_bytes(std::span(bytes))).status();
  });
}

// Encodes with `write`, decodes with `read` from a reader over exactly the
// bytes written, and requires the reader to finish.
template <typename T, typename WriteFn, typename ReadFn>
Result<T> RoundTrip(WriteFn write, ReadFn read, std::string* encoded) {
  encoded->clear();
  WireWriter w(encoded);
  write(w);
  if (!w.status().ok()) return w.status();
  WireReader r(AsSpan(*encoded), "TEST");
  FERRY_ASSIGN_OR_RETURN(T value, read(r));
  FERRY_RETURN_IF_ERROR(r.Finish());
  return value;
}

template <typename ReadFn>
Status DecodeValue(std::string_view bytes, ReadFn read) {
  WireReader r(std::as_bytes(std::span(bytes)), "TEST");
  auto got = read(r);
  if (!got.ok()) return got.status();
  return r.Finish();
}

Entry FullEntry() {
  Entry e;
  e.path = *RelPath::Parse("dir/sub/file name \xff");
  e.kind = EntryKind::kSymlink;
  e.flags = Entry::kListingFailed | Entry::kStaging | Entry::kPartial;
  e.mode = 07777;
  e.uid = std::numeric_limits<uint32_t>::max();
  e.gid = 1000;
  e.nlink = 3;
  e.size = std::numeric_limits<uint64_t>::max();
  e.allocated = 1 << 20;
  e.mtime = {1700000000, 999999999};
  e.atime = {-1, 1};  // before the epoch
  e.ctime = {std::numeric_limits<int64_t>::min(), 0};
  e.dev = 0x1234;
  e.ino = std::numeric_limits<uint64_t>::max() - 1;
  e.rdev = 0x0801;
  e.link_target = std::string(kMaxLinkTargetBytes, 't');
  e.dos_attributes = kDosAttributeMask;
  e.btime = {std::numeric_limits<int64_t>::max(), 500};
  e.xattr_hash = 0xfedcba9876543210;
  e.etag = "\"0123456789abcdef\"";
  e.version = "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY";
  e.digest = DigestOfBuffer(DigestAlgorithm::kSha256, AsSpan("content"));
  return e;
}

TEST(LinkWireTest, VarintRoundTripsAndIsMinimal) {
  const uint64_t values[] = {0,
                             1,
                             127,
                             128,
                             16383,
                             16384,
                             uint64_t{1} << 35,
                             (uint64_t{1} << 63) - 1,
                             uint64_t{1} << 63,
                             std::numeric_limits<uint64_t>::max()};
  const size_t sizes[] = {1, 1, 1, 2, 2, 3, 6, 9, 10, 10};
  for (size_t i = 0; i < std::size(values); ++i) {
    std::string out;
    auto got = RoundTrip<uint64_t>(
        [&](WireWriter& w) { w.WriteVarint(values[i]); },
        [](WireReader& r) { return r.ReadVarint("v"); }, &out);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(*got, values[i]);
    EXPECT_EQ(out.size(), sizes[i]) << values[i];
  }
}

TEST(LinkWireTest, ZigzagRoundTrips) {
  for (int64_t v :
       {int64_t{0}, int64_t{-1}, int64_t{1}, int64_t{-64}, int64_t{63},
        int64_t{64}, std::numeric_limits<int64_t>::min(),
        std::numeric_limits<int64_t>::max()}) {
    std::string out;
    auto got = RoundTrip<int64_t>(
        [&](WireWriter& w) { w.WriteZigzag(v); },
        [](WireReader& r) { return r.ReadZigzag("z"); }, &out);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(*got, v);
  }
  std::string out;
  WireWriter w(&out);
  w.WriteZigzag(-1);
  w.WriteZigzag(1);
  EXPECT_EQ(out, std::string("\x01\x02", 2));
}

TEST(LinkWireTest, FixedWidthIsLittleEndian) {
  std::string out;
  WireWriter w(&out);
  w.WriteU8(0xab);
  w.WriteU32(0x01020304);
  w.WriteU64(0x0102030405060708);
  EXPECT_EQ(
      out,
      std::string("\xab\x04\x03\x02\x01\x08\x07\x06\x05\x04\x03\x02\x01", 13));
  WireReader r(AsSpan(out), "TEST");
  EXPECT_EQ(*r.ReadU8("a"), 0xab);
  EXPECT_EQ(*r.ReadU32("b"), 0x01020304u);
  EXPECT_EQ(*r.ReadU64("c"), 0x0102030405060708u);
  EXPECT_TRUE(r.Finish().ok());
  EXPECT_FALSE(r.ReadU8("d").ok());
}

TEST(LinkWireTest, WriterAppendsToByteVectors) {
  std::vector<std::byte> out{std::byte{9}};
  WireWriter w(&out);
  w.WriteVarint(300);
  w.WriteBytes("b", "xy", 2);
  ASSERT_EQ(out.size(), 6u);
  EXPECT_EQ(out[0], std::byte{9});
  EXPECT_EQ(out[1], std::byte{0xac});
  EXPECT_EQ(out[2], std::byte{0x02});
  EXPECT_EQ(out[3], std::byte{2});
  EXPECT_EQ(out[5], std::byte{'y'});
}

TEST(LinkWireTest, BadVarintsAreRefusedNamingTheField) {
  struct Case {
    std::string bytes;
    std::string_view problem;
  };
  const Case cases[] = {
      {"", "truncated varint"},
      {"\x80", "truncated varint"},
      {std::string(9, '\xff'), "truncated varint"},
      {std::string(10, '\x80') + '\x01', "varint longer than 10 bytes"},
      {std::string(9, '\xff') + '\x02', "varint beyond 64 bits"},
      {std::string(9, '\xff') + '\x7f', "varint beyond 64 bits"},
      {std::string("\x80\x00", 2), "overlong varint"},
      {std::string("\xff\x80\x00", 3), "overlong varint"},
  };
  for (const Case& c : cases) {
    WireReader r(AsSpan(c.bytes), "CHUNK");
    auto got = r.ReadVarint("offset");
    ASSERT_FALSE(got.ok()) << c.problem;
    EXPECT_EQ(got.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(got.status().message(),
              "link frame: CHUNK offset: " + std::string(c.problem));
    EXPECT_EQ(r.remaining(), c.bytes.size());  // position unchanged
  }
  // The largest value: nine 0xff and a final 0x01.
  std::string max = std::string(9, '\xff') + '\x01';
  WireReader r(AsSpan(max), "CHUNK");
  EXPECT_EQ(*r.ReadVarint("offset"), std::numeric_limits<uint64_t>::max());
}

TEST(LinkWireTest, LengthAboveBoundIsRefused) {
  std::string out;
  WireWriter w(&out);
  w.WriteVarint(kMaxMessageBytes + 1);
  w.WriteRaw(std::string(kMaxMessageBytes + 1, 'm'));
  WireReader r(AsSpan(out), "ERROR");
  auto got = r.ReadBytes("message", kMaxMessageBytes);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().message(),
            "link frame: ERROR message: length 4097 above 4096");

  // A length within bound but beyond the payload is a truncation.
  std::string short_bytes(
      "\x05"
      "abc",
      4);
  WireReader r2(AsSpan(short_bytes), "ERROR");
  auto got2 = r2.ReadBytes("message", kMaxMessageBytes);
  ASSERT_FALSE(got2.ok());
  EXPECT_NE(got2.status().message().find("truncated"), std::string_view::npos);
  EXPECT_EQ(r2.remaining(), 4u);

  // The writer refuses to write it.
  std::string refused;
  WireWriter w2(&refused);
  w2.WriteBytes("message", std::string(kMaxMessageBytes + 1, 'm'),
                kMaxMessageBytes);
  EXPECT_EQ(w2.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(refused.empty());
}

TEST(LinkWireTest, TrailingBytesAreRefused) {
  std::string bytes("\x01\x02\x03", 3);
  WireReader r(AsSpan(bytes), "PING");
  ASSERT_TRUE(r.ReadU8("x").ok());
  Status s = r.Finish();
  EXPECT_EQ(s.message(), "link frame: PING: 2 trailing bytes");
  ExpectMessageTruncationsFail(Ping{0x0102030405060708});
  EXPECT_FALSE(Goodbye::Decode(AsSpan(std::string(1, '\0'))).ok());
  EXPECT_TRUE(Goodbye::Decode({}).ok());
}

TEST(LinkWireTest, PathsMustBeCanonicalRelPaths) {
  auto read = [](std::string text) {
    std::string out;
    WireWriter w(&out);
    w.WriteVarint(text.size());
    w.WriteRaw(text);
    WireReader r(AsSpan(out), "REQUEST");
    return r.ReadPath("path");
  };
  for (std::string bad :
       {std::string("../x"), std::string("/abs"), std::string("a\0b", 3),
        std::string("."), std::string("a/./b"), std::string("a//b"),
        std::string("a/"), std::string("/")}) {
    auto got = read(bad);
    EXPECT_EQ(got.status().code(), StatusCode::kInvalidArgument)
        << EscapeForDisplay(bad);
    EXPECT_NE(got.status().message().find("link frame: REQUEST path: "),
              std::string_view::npos)
        << got.status().ToString();
  }
  auto root = read("");
  ASSERT_TRUE(root.ok());
  EXPECT_TRUE(root->IsRoot());
  auto deep = read("a/b/c d");
  ASSERT_TRUE(deep.ok());
  EXPECT_EQ(deep->str(), "a/b/c d");
  EXPECT_FALSE(read(std::string(kMaxPathBytes + 1, 'x')).ok());
  EXPECT_TRUE(read(std::string(kMaxPathBytes, 'x')).ok());

  std::string out;
  WireWriter w(&out);
  w.WritePath("entry path",
              *RelPath::Parse(std::string(kMaxPathBytes + 1, 'x')));
  EXPECT_EQ(w.status().message(),
            "link encode: entry path: 4097 bytes, above 4096");
}

TEST(LinkWireTest, HeaderRoundTrips) {
  FrameHeader h{kMaxFramePayload, FrameType::kChunkAck, 0xdeadbeef};
  auto bytes = EncodeHeader(h);
  EXPECT_EQ(bytes[0], std::byte{0x00});
  EXPECT_EQ(bytes[2], std::byte{0x21});  // 2 MiB + 64 KiB = 0x210000
  EXPECT_EQ(bytes[4], std::byte{7});
  EXPECT_EQ(bytes[8], std::byte{0xef});
  auto got = DecodeHeader(bytes);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, h);
}

TEST(LinkWireTest, HeaderRefusesUnknownTypeFlagsReservedAndLength) {
  const auto good = EncodeHeader({10, FrameType::kPing, 1});
  ASSERT_TRUE(DecodeHeader(good).ok());
  for (uint8_t type : {0, 11, 255}) {
    auto bad = good;
    bad[4] = std::byte{type};
    auto got = DecodeHeader(bad);
    ASSERT_FALSE(got.ok());
    EXPECT_NE(got.status().message().find("header type"),
              std::string_view::npos);
  }
  for (size_t i : {5, 6, 7}) {
    auto bad = good;
    bad[i] = std::byte{1};
    EXPECT_FALSE(DecodeHeader(bad).ok()) << i;
  }
  auto too_long = EncodeHeader({kMaxFramePayload + 1, FrameType::kChunk, 1});
  auto got = DecodeHeader(too_long);
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find("header length"),
            std::string_view::npos);
  auto huge = EncodeHeader({0xffffffff, FrameType::kChunk, 1});
  EXPECT_FALSE(DecodeHeader(huge).ok());
}

// Appends `msg` as a frame, then decodes header and payload.
template <typename Message>
void ExpectFrameRoundTrips(const Message& msg, uint32_t stream) {
  std::vector<std::byte> buf{std::byte{0x55}};  // something before it
  ASSERT_TRUE(AppendFrame(&buf, stream, msg).ok());
  ASSERT_GE(buf.size(), 1 + kFrameHeaderBytes);
  auto header = DecodeHeader(
      std::span<const std::byte, kFrameHeaderBytes>(buf.data() + 1, 12));
  ASSERT_TRUE(header.ok()) << header.status().ToString();
  EXPECT_EQ(header->type, Message::kType);
  EXPECT_EQ(header->stream, stream);
  ASSERT_EQ(header->length, buf.size() - 1 - kFrameHeaderBytes);
  auto got = Message::Decode(std::span(buf).subspan(1 + kFrameHeaderBytes));
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(*got == msg) << FrameTypeName(Message::kType);
  if (header->length <= (64 << 10)) ExpectMessageTruncationsFail(msg);
}

Hello FullHello() {
  Hello h;
  h.lowest_version = 1;
  h.highest_version = 3;
  h.execution_id = "exec-0123456789abcdef0";
  h.sender_arn = "arn:aws:datasync:us-east-1:111122223333:agent/agent-0abc";
  for (size_t i = 0; i < h.proof.size(); ++i) {
    h.proof[i] = static_cast<uint8_t>(i * 7);
  }
  h.connection_index = 62;
  h.connection_count = 64;
  return h;
}

TEST(LinkWireTest, FramesRoundTrip) {
  ExpectFrameRoundTrips(FullHello(), 0);
  ExpectFrameRoundTrips(HelloOk{1, kMaxWindowBytes}, 0);
  ExpectFrameRoundTrips(HelloOk{2, kMinWindowBytes}, 0);
  ExpectFrameRoundTrips(
      ErrorFrame{Status(StatusCode::kPermissionDenied, "not the agent named")},
      0);
  ExpectFrameRoundTrips(ChunkAck{1 << 20, 1 << 20, Status::Ok()}, 5);
  ExpectFrameRoundTrips(ChunkAck{0, 17, Status::DataLoss("checksum")}, 6);
  ExpectFrameRoundTrips(Ping{0x0123456789abcdef}, 0);
  ExpectFrameRoundTrips(Pong{0x0123456789abcdef}, 0);
  ExpectFrameRoundTrips(Goodbye{}, 0);

  std::string data(kMaxChunkBytes, '\0');
  for (size_t i = 0; i < data.size(); i += 4093) data[i] = static_cast<char>(i);
  Chunk full;
  full.offset = 7 * kMaxChunkBytes;
  full.length = kMaxChunkBytes;
  full.checksum = ComputeBlockChecksum(AsSpan(data));
  full.data = AsSpan(data);
  ExpectFrameRoundTrips(full, 0xffffffff);
  Chunk small = full;
  small.offset = 0;
  small.length = 1000;
  small.data = small.data.first(1000);
  ExpectFrameRoundTrips(small, 1);

  Chunk zstd;
  zstd.offset = std::numeric_limits<uint64_t>::max() - 100;
  zstd.length = 100;
  zstd.checksum = {1, 2};
  zstd.encoding = ChunkEncoding::kZstd;
  std::string compressed = "(zstd)";
  zstd.data = AsSpan(compressed);
  std::vector<std::byte> buf;
  ASSERT_TRUE(AppendFrame(&buf, 3, zstd).ok());
  auto got = Chunk::Decode(std::span(buf).subspan(kFrameHeaderBytes));
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(*got == zstd);
  // The data is a view into the payload, not a copy.
  EXPECT_EQ(got->data.data(), buf.data() + buf.size() - compressed.size());
}

TEST(LinkWireTest, ChecksumIsBigEndianHighThenLow) {
  Chunk c;
  c.length = 1;
  c.checksum = {0x0102030405060708, 0x090a0b0c0d0e0f10};
  std::string one = "x";
  c.data = AsSpan(one);
  std::string payload = Payload(c);
  // offset 0, length 1, then the checksum.
  EXPECT_EQ(payload.substr(2, 16),
            "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10");
  EXPECT_EQ(payload.substr(18), std::string("\0x", 2));
}

TEST(LinkWireTest, HelloRefusesWhatIsOutOfBounds) {
  const std::string good = Payload(FullHello());
  auto decode = [](const std::string& p) { return Hello::Decode(AsSpan(p)); };
  ASSERT_TRUE(decode(good).ok());

  std::string bad_magic = good;
  bad_magic[0] = 'f';
  EXPECT_EQ(decode(bad_magic).status().message(),
            "link frame: HELLO magic: not FERRYLNK");

  for (auto [lowest, highest] : {std::pair{0, 1}, std::pair{2, 1}}) {
    Hello h = FullHello();
    h.lowest_version = static_cast<uint8_t>(lowest);
    h.highest_version = static_cast<uint8_t>(highest);
    std::string p;
    WireWriter w(&p);
    h.Encode(w);
    EXPECT_FALSE(w.status().ok());
    EXPECT_FALSE(decode(p).ok());
  }
  for (auto [index, count] : {std::pair{0, 0}, std::pair{64, 64},
                              std::pair{3, 3}, std::pair{0, 65}}) {
    Hello h = FullHello();
    h.connection_index = index;
    h.connection_count = count;
    std::string p;
    WireWriter w(&p);
    h.Encode(w);
    EXPECT_FALSE(w.status().ok()) << index << "/" << count;
    EXPECT_FALSE(decode(p).ok()) << index << "/" << count;
  }
  // A proof that is not 32 bytes: shorter (31) than HMAC-SHA256.
  std::string p;
  WireWriter w(&p);
  w.WriteRaw(kHelloMagic);
  w.WriteU8(1);
  w.WriteU8(1);
  w.WriteBytes("id", "e", 128);
  w.WriteBytes("arn", "a", 256);
  w.WriteBytes("proof", std::string(31, 'p'), 32);
  w.WriteVarint(0);
  w.WriteVarint(1);
  EXPECT_EQ(decode(p).status().message(),
            "link frame: HELLO link proof: 31 bytes, not 32");

  Hello long_id = FullHello();
  long_id.execution_id.assign(kMaxExecutionIdBytes + 1, 'e');
  std::vector<std::byte> frame{std::byte{1}};
  EXPECT_FALSE(AppendFrame(&frame, 0, long_id).ok());
  EXPECT_EQ(frame.size(), 1u);  // left as it was
}

TEST(LinkWireTest, HelloOkRefusesWindowOutOfBounds) {
  for (uint64_t window :
       {kMinWindowBytes - 1, kMaxWindowBytes + 1, uint64_t{0}}) {
    std::string p;
    WireWriter w(&p);
    HelloOk{1, window}.Encode(w);
    EXPECT_FALSE(w.status().ok());
    auto got = HelloOk::Decode(AsSpan(p));
    ASSERT_FALSE(got.ok());
    EXPECT_NE(got.status().message().find("HELLO_OK window"),
              std::string_view::npos);
  }
  EXPECT_FALSE(
      HelloOk::Decode(AsSpan(std::string("\x00\x80\x80\x04", 4))).ok());
}

TEST(LinkWireTest, ChunkRefusesInconsistentLengths) {
  std::string data(10, 'd');
  auto encode_raw = [&](uint64_t offset, uint64_t length, uint8_t encoding,
                        size_t data_size) {
    std::string p;
    WireWriter w(&p);
    w.WriteVarint(offset);
    w.WriteVarint(length);
    w.WriteRaw(std::string(16, 'c'));
    w.WriteU8(encoding);
    w.WriteRaw(std::string_view(data).substr(0, data_size));
    return p;
  };
  auto decode = [](const std::string& p) { return Chunk::Decode(AsSpan(p)); };
  EXPECT_TRUE(decode(encode_raw(0, 10, 0, 10)).ok());
  EXPECT_TRUE(decode(encode_raw(0, 10, 1, 10)).ok());
  EXPECT_TRUE(decode(encode_raw(0, 10, 1, 1)).ok());
  EXPECT_FALSE(decode(encode_raw(0, 10, 0, 9)).ok());   // as read: short
  EXPECT_FALSE(decode(encode_raw(0, 9, 0, 10)).ok());   // as read: long
  EXPECT_FALSE(decode(encode_raw(0, 9, 1, 10)).ok());   // zstd beyond length
  EXPECT_FALSE(decode(encode_raw(0, 10, 1, 0)).ok());   // zstd empty
  EXPECT_FALSE(decode(encode_raw(0, 0, 0, 0)).ok());    // length 0
  EXPECT_FALSE(decode(encode_raw(0, 10, 2, 10)).ok());  // encoding
  EXPECT_FALSE(
      decode(encode_raw(std::numeric_limits<uint64_t>::max() - 5, 10, 0, 10))
          .ok());  // the end beyond 2^64
  auto too_long = decode(encode_raw(0, kMaxChunkBytes + 1, 1, 10));
  EXPECT_EQ(too_long.status().message(),
            "link frame: CHUNK length: 1048577 not in 1..1048576");

  Chunk c;
  c.length = 11;
  c.data = AsSpan(data);
  std::vector<std::byte> frame;
  EXPECT_FALSE(AppendFrame(&frame, 1, c).ok());
  EXPECT_TRUE(frame.empty());
}

TEST(LinkWireTest, StatusesRoundTripEveryCode) {
  for (int c = 0; c <= static_cast<int>(StatusCode::kInternal); ++c) {
    auto code = static_cast<StatusCode>(c);
    Status s(code, code == StatusCode::kOk ? "" : "message of code");
    std::string out;
    Status got;
    auto decoded = RoundTrip<bool>([&](WireWriter& w) { WriteStatus(w, s); },
                                   [&](WireReader& r) -> Result<bool> {
                                     FERRY_RETURN_IF_ERROR(ReadStatus(r, &got));
                                     return true;
                                   },
                                   &out);
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    EXPECT_TRUE(SameStatus(got, s)) << got.ToString();
    ExpectEveryTruncationFails(out, [&](std::string_view b) {
      return DecodeValue(b, [](WireReader& r) -> Result<bool> {
        Status st;
        FERRY_RETURN_IF_ERROR(ReadStatus(r, &st));
        return true;
      });
    });
  }
}

TEST(LinkWireTest, StatusRefusesUnknownCodesAndOkWithMessage) {
  auto read = [](uint64_t code, std::string message) {
    std::string out;
    WireWriter w(&out);
    w.WriteVarint(code);
    w.WriteBytes("m", message, kMaxMessageBytes);
    WireReader r(AsSpan(out), "RESPONSE");
    Status got;
    return ReadStatus(r, &got);
  };
  EXPECT_TRUE(read(13, "internal").ok());
  EXPECT_EQ(read(14, "x").message(),
            "link frame: RESPONSE status code: 14 unknown");
  EXPECT_EQ(read(64, "x").message(),
            "link frame: RESPONSE status code: 64 above 63");
  EXPECT_EQ(read(0, "x").message(),
            "link frame: RESPONSE status message: a message with code 0 (OK)");
  EXPECT_FALSE(StatusFromWire(14, "x").has_value());
  ASSERT_TRUE(StatusFromWire(8, "bad").has_value());
  EXPECT_EQ(StatusFromWire(8, "bad")->code(), StatusCode::kDataLoss);

  // An ERROR frame carries an error.
  std::string ok_status("\x00\x00", 2);
  EXPECT_FALSE(ErrorFrame::Decode(AsSpan(ok_status)).ok());
  std::string out;
  WireWriter w(&out);
  ErrorFrame{Status::Ok()}.Encode(w);
  EXPECT_FALSE(w.status().ok());
}

TEST(LinkWireTest, FromVersion2AStatusCarriesItsRetryableFlagAndErrno) {
  const Status reset(StatusCode::kUnavailable, "reset", ECONNRESET,
                     /*retryable=*/true);
  const Status refused(StatusCode::kPermissionDenied, "no", EACCES, false);
  const Status huge_errno(StatusCode::kIoError, "odd", 1 << 20, true);
  for (const uint8_t version : {uint8_t{1}, uint8_t{2}}) {
    for (const Status& s : {reset, refused, huge_errno, Status::Ok()}) {
      SCOPED_TRACE(std::to_string(version) + " " + s.ToString());
      std::string out;
      WireWriter w(&out);
      w.set_version(version);
      WriteStatus(w, s);
      ASSERT_OK(w.status());
      WireReader r(AsSpan(out), "RESPONSE");
      r.set_version(version);
      Status got;
      ASSERT_OK(ReadStatus(r, &got));
      ASSERT_OK(r.Finish());
      EXPECT_TRUE(SameStatus(got, s));
      EXPECT_EQ(got.retryable(), version >= 2 && s.retryable());
      const int want_errno =
          version >= 2 && s.sys_errno() <= static_cast<int>(kMaxStatusErrno)
              ? s.sys_errno()
              : 0;
      EXPECT_EQ(got.sys_errno(), want_errno);
      ExpectEveryTruncationFails(out, [&](std::string_view b) {
        return DecodeValue(b, [&](WireReader& rr) -> Result<bool> {
          rr.set_version(version);
          Status st;
          FERRY_RETURN_IF_ERROR(ReadStatus(rr, &st));
          return true;
        });
      });
    }
  }
  // What a version 2 reader refuses.
  auto read = [](uint64_t code, uint8_t flags, uint64_t sys_errno) {
    std::string out;
    WireWriter w(&out);
    w.WriteVarint(code);
    w.WriteBytes("m", code == 0 ? "" : "m", kMaxMessageBytes);
    w.WriteU8(flags);
    w.WriteVarint(sys_errno);
    WireReader r(AsSpan(out), "RESPONSE");
    r.set_version(2);
    Status got;
    return ReadStatus(r, &got);
  };
  EXPECT_TRUE(read(7, 1, 104).ok());
  EXPECT_EQ(read(7, 2, 0).message(),
            "link frame: RESPONSE status flags: 2 unknown");
  EXPECT_EQ(read(7, 0, 4096).message(),
            "link frame: RESPONSE status errno: 4096 above 4095");
  EXPECT_EQ(read(0, 1, 0).message(),
            "link frame: RESPONSE status flags: flags or errno with code 0 "
            "(OK)");
  EXPECT_FALSE(read(0, 0, 5).ok());
}

TEST(LinkWireTest, LongStatusMessagesAreCutOnACharacter) {
  // 4092 ASCII bytes, then 3-byte characters: the cut at 4093 would split
  // one.
  std::string message(4092, 'm');
  for (int i = 0; i < 10; ++i) message += "\xe2\x82\xac";  // U+20AC
  Status s = Status::IoError(message);
  std::string out;
  Status got;
  auto decoded = RoundTrip<bool>([&](WireWriter& w) { WriteStatus(w, s); },
                                 [&](WireReader& r) -> Result<bool> {
                                   FERRY_RETURN_IF_ERROR(ReadStatus(r, &got));
                                   return true;
                                 },
                                 &out);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(got.code(), StatusCode::kIoError);
  EXPECT_EQ(got.message(), std::string(4092, 'm') + "...");
}

TEST(LinkWireTest, RequestAndResponsePrefixes) {
  std::string out;
  WireWriter w(&out);
  WriteRequestOp(w, 7);
  w.WriteU8(1);
  WireReader r(AsSpan(out), "REQUEST");
  EXPECT_EQ(*ReadRequestOp(r), 7u);
  EXPECT_EQ(r.remaining(), 1u);

  std::string big;
  WireWriter wb(&big);
  wb.WriteVarint(uint64_t{1} << 32);
  WireReader rb(AsSpan(big), "REQUEST");
  EXPECT_EQ(ReadRequestOp(rb).status().message(),
            "link frame: REQUEST operation: 4294967296 above 4294967295");

  // An OK response is followed by results; an error by nothing.
  std::string ok;
  WireWriter wo(&ok);
  WriteResponseStatus(wo, Status::Ok());
  wo.WriteVarint(42);
  WireReader ro(AsSpan(ok), "RESPONSE");
  Status got;
  ASSERT_TRUE(ReadResponseStatus(ro, &got).ok());
  EXPECT_TRUE(got.ok());
  EXPECT_EQ(*ro.ReadVarint("result"), 42u);

  std::string err;
  WireWriter we(&err);
  WriteResponseStatus(we, Status::NotFound("gone"));
  WireReader re(AsSpan(err), "RESPONSE");
  ASSERT_TRUE(ReadResponseStatus(re, &got).ok());
  EXPECT_TRUE(got.IsNotFound());
  EXPECT_EQ(got.message(), "gone");
  we.WriteU8(0);
  WireReader re2(AsSpan(err), "RESPONSE");
  EXPECT_FALSE(ReadResponseStatus(re2, &got).ok());
}

TEST(LinkWireTest, EntryWithEveryFieldRoundTrips) {
  for (const Entry& e : {FullEntry(), Entry{}}) {
    std::string out;
    auto got = RoundTrip<Entry>([&](WireWriter& w) { WriteEntry(w, e); },
                                ReadEntry, &out);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_TRUE(SameEntry(*got, e));
    ExpectEveryTruncationFails(
        out, [](std::string_view b) { return DecodeValue(b, ReadEntry); });
  }
  // SameEntry sees every field.
  Entry a = FullEntry();
  Entry b = a;
  b.btime.nsec += 1;
  EXPECT_FALSE(SameEntry(a, b));
}

// An entry's fields written one by one, so that each can be made bad.
struct RawEntry {
  std::string path = "a/b";
  uint8_t kind = 0;
  uint8_t flags = 0;
  uint64_t mode = 0644, uid = 1, gid = 2, nlink = 1;
  uint64_t nsec = 0;
  uint64_t dos = 0;
  uint8_t digest_algorithm = 0, digest_size = 0;

  std::string Encode() const {
    std::string out;
    WireWriter w(&out);
    w.WriteVarint(path.size());
    w.WriteRaw(path);
    w.WriteU8(kind);
    w.WriteU8(flags);
    for (uint64_t v : {mode, uid, gid, nlink, uint64_t{0}, uint64_t{0}}) {
      w.WriteVarint(v);
    }
    for (int i = 0; i < 3; ++i) {
      w.WriteZigzag(-5);
      w.WriteVarint(nsec);
    }
    for (int i = 0; i < 3; ++i) w.WriteVarint(0);  // dev, ino, rdev
    w.WriteVarint(0);                              // link target
    w.WriteVarint(dos);
    w.WriteZigzag(0);
    w.WriteVarint(0);
    w.WriteU64(0);
    w.WriteVarint(0);  // etag
    w.WriteVarint(0);  // version
    w.WriteU8(digest_algorithm);
    w.WriteU8(digest_size);
    w.WriteRaw(std::string(digest_size, 'd'));
    return out;
  }
};

TEST(LinkWireTest, EntryRefusesValuesOutOfBounds) {
  auto check = [](const RawEntry& raw, std::string_view field) {
    Status s = DecodeValue(raw.Encode(), ReadEntry);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << field;
    EXPECT_NE(s.message().find(field), std::string_view::npos) << s.ToString();
  };
  EXPECT_TRUE(DecodeValue(RawEntry{}.Encode(), ReadEntry).ok());
  RawEntry r;
  r.path = "../x";
  check(r, "entry path");
  r = {};
  r.kind = 7;
  check(r, "entry kind");
  r = {};
  r.flags = 8;
  check(r, "entry flags");
  r = {};
  r.mode = 010000;
  check(r, "entry mode");
  r = {};
  r.uid = uint64_t{1} << 32;
  check(r, "entry uid");
  r = {};
  r.gid = uint64_t{1} << 32;
  check(r, "entry gid");
  r = {};
  r.nlink = uint64_t{1} << 32;
  check(r, "entry nlink");
  r = {};
  r.nsec = 1000000000;
  check(r, "entry mtime");
  r = {};
  r.dos = 0x8;
  check(r, "entry DOS attributes");
  r = {};
  r.digest_algorithm = 2;
  check(r, "digest algorithm");
  r = {};
  r.digest_algorithm = 1;
  r.digest_size = 16;
  check(r, "digest size");
  r = {};
  r.digest_size = 32;
  check(r, "digest size");

  // The encoder refuses what the decoder would.
  for (auto spoil : std::initializer_list<void (*)(Entry&)>{
           [](Entry& e) { e.mode = 010000; },
           [](Entry& e) { e.flags = 0x80; },
           [](Entry& e) { e.dos_attributes = 0x10; },
           [](Entry& e) { e.atime.nsec = 1000000000; },
           [](Entry& e) { e.digest.size = 20; },
           [](Entry& e) { e.etag.assign(kMaxEtagBytes + 1, 'e'); },
           [](Entry& e) { e.kind = static_cast<EntryKind>(9); },
       }) {
    Entry e = FullEntry();
    spoil(e);
    std::string out;
    WireWriter w(&out);
    WriteEntry(w, e);
    EXPECT_EQ(w.status().code(), StatusCode::kInvalidArgument);
  }
}

TEST(LinkWireTest, DigestsAndTimesRoundTrip) {
  for (const Digest& d :
       {Digest{}, Digest{DigestAlgorithm::kSha256, 0, {}},
        DigestOfBuffer(DigestAlgorithm::kXxh3_128, AsSpan("x")),
        DigestOfBuffer(DigestAlgorithm::kSha256, AsSpan("x"))}) {
    std::string out;
    auto got = RoundTrip<Digest>([&](WireWriter& w) { WriteDigest(w, d); },
                                 ReadDigest, &out);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(*got, d);
    EXPECT_EQ(out.size(), 2u + d.size);
    ExpectEveryTruncationFails(
        out, [](std::string_view b) { return DecodeValue(b, ReadDigest); });
  }
  auto read_time = [](WireReader& r) { return ReadFileTime(r, "mtime"); };
  for (FileTime t : {FileTime{0, 0}, FileTime{-1, 999999999},
                     FileTime::FromNanos(-1), FileTime{1 << 30, 12345}}) {
    std::string out;
    auto got = RoundTrip<FileTime>(
        [&](WireWriter& w) { WriteFileTime(w, "mtime", t); }, read_time, &out);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(*got, t);
    ExpectEveryTruncationFails(
        out, [&](std::string_view b) { return DecodeValue(b, read_time); });
  }
}

TEST(LinkWireTest, XattrsRoundTripWithinBounds) {
  XattrList list = {{"security.capability", std::string("\x01\x00\x00\x02", 4)},
                    {"system.nt_sec_desc", "REVISION:1"},
                    {"user.empty", ""}};
  std::string out;
  auto got = RoundTrip<XattrList>([&](WireWriter& w) { WriteXattrs(w, list); },
                                  ReadXattrs, &out);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, list);
  ExpectEveryTruncationFails(
      out, [](std::string_view b) { return DecodeValue(b, ReadXattrs); });

  // The largest: 16 values of 64 KiB less their names' bytes (1 MiB in all).
  XattrList largest;
  for (char c = 'a'; c < 'a' + 16; ++c) {
    std::string name(kMaxXattrNameBytes, c);
    largest.push_back(
        {name, std::string(kMaxXattrValueBytes - name.size(), 'v')});
  }
  got = RoundTrip<XattrList>([&](WireWriter& w) { WriteXattrs(w, largest); },
                             ReadXattrs, &out);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, largest);

  auto refused = [](const XattrList& l) {
    std::string bytes;
    WireWriter w(&bytes);
    WriteXattrs(w, l);
    EXPECT_FALSE(w.status().ok());
    // The same list written without the writer's checks.
    std::string raw;
    WireWriter rw(&raw);
    rw.WriteVarint(l.size());
    for (const Xattr& x : l) {
      rw.WriteVarint(x.name.size());
      rw.WriteRaw(x.name);
      rw.WriteVarint(x.value.size());
      rw.WriteRaw(x.value);
    }
    return DecodeValue(raw, ReadXattrs);
  };
  EXPECT_FALSE(refused({{std::string(256, 'n'), "v"}}).ok());
  EXPECT_FALSE(
      refused({{"n", std::string(kMaxXattrValueBytes + 1, 'v')}}).ok());
  XattrList many(kMaxXattrCount + 1, Xattr{"n", "v"});
  EXPECT_EQ(refused(many).message(),
            "link frame: TEST xattr count: 1025 above 1024");
  XattrList big(17, Xattr{"n", std::string(kMaxXattrValueBytes - 1, 'v')});
  EXPECT_EQ(refused(big).message(),
            "link frame: TEST xattrs: more than 1048576 bytes in all");
}

TEST(LinkWireTest, SignaturesRoundTripWithinBounds) {
  SignatureList list;
  list.block_size = kMaxSignatureBlockSize;
  list.first_block = 12345;
  for (uint32_t i = 0; i < 100; ++i) {
    list.blocks.push_back({i * 0x01010101u, {i, ~uint64_t{i}}});
  }
  std::string out;
  auto got = RoundTrip<SignatureList>(
      [&](WireWriter& w) { WriteSignatures(w, list); }, ReadSignatures, &out);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, list);
  ExpectEveryTruncationFails(
      out, [](std::string_view b) { return DecodeValue(b, ReadSignatures); });

  // The most a response holds: 65,536 signatures in one frame.
  SignatureList most;
  most.block_size = kMinSignatureBlockSize;
  most.blocks.resize(kMaxSignatureCount);
  std::vector<std::byte> frame;
  WireWriter fw(&frame);
  fw.BeginFrame();
  WriteResponseStatus(fw, Status::Ok());
  WriteSignatures(fw, most);
  ASSERT_TRUE(fw.EndFrame(FrameType::kResponse, 9).ok());

  auto refused = [](uint64_t block_size, uint64_t first, uint64_t count) {
    std::string raw;
    WireWriter w(&raw);
    w.WriteVarint(block_size);
    w.WriteVarint(first);
    w.WriteVarint(count);
    w.WriteRaw(std::string(count * 20, 's'));
    return DecodeValue(raw, ReadSignatures);
  };
  EXPECT_TRUE(refused(16384, 0, 2).ok());
  EXPECT_FALSE(refused(8192, 0, 1).ok());
  EXPECT_FALSE(refused(2 << 20, 0, 1).ok());
  EXPECT_TRUE(refused(32768, 0, 1).ok());
  EXPECT_FALSE(refused(49152, 0, 1).ok());  // not a power of 2
  EXPECT_FALSE(refused(16384, 0, kMaxSignatureCount + 1).ok());
  EXPECT_FALSE(refused(16384, uint64_t{1} << 50, 0).ok());  // end beyond 2^64
  EXPECT_FALSE(
      refused(16384, (uint64_t{1} << 50) - 1, 1).ok());  // ends at 2^64
  EXPECT_TRUE(refused(16384, (uint64_t{1} << 50) - 2, 1).ok());

  std::string lying("\x80\x80\x01\x00\x80\x80\x04",
                    7);  // 65,536 blocks, no bytes
  Status s = DecodeValue(lying, ReadSignatures);
  EXPECT_NE(s.message().find("truncated"), std::string_view::npos)
      << s.ToString();

  SignatureList bad = list;
  bad.block_size = 3000;
  std::string bytes;
  WireWriter w(&bytes);
  WriteSignatures(w, bad);
  EXPECT_FALSE(w.status().ok());
}

TEST(LinkWireTest, FrameAboveMaxPayloadIsNotWritten) {
  std::string buf = "keep";
  WireWriter w(&buf);
  w.BeginFrame();
  w.WriteRaw(std::string(kMaxFramePayload + 1, 'x'));
  Status s = w.EndFrame(FrameType::kResponse, 1);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(buf, "keep");

  std::string ok;
  WireWriter w2(&ok);
  w2.BeginFrame();
  w2.WriteRaw(std::string(kMaxFramePayload, 'x'));
  EXPECT_TRUE(w2.EndFrame(FrameType::kResponse, 1).ok());
  EXPECT_EQ(ok.size(), kFrameHeaderBytes + kMaxFramePayload);
}

}  // namespace
}  // namespace ferry::link
