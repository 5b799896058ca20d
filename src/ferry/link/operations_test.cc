#include "ferry/link/operations.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ferry/storage/testing.h"

namespace ferry::link {
namespace {

using ::ferry::testing::P;

std::vector<Op> AllOps() {
  std::vector<Op> ops;
  for (uint32_t op = kFirstOp; op <= kLastOp; ++op) {
    ops.push_back(static_cast<Op>(op));
  }
  return ops;
}

Entry SampleEntry() {
  Entry e;
  e.path = P("dir/file");
  e.mode = 0640;
  e.uid = 1000;
  e.size = 12345;
  e.mtime = FileTime{1600000000, 5};
  e.link_target = "t";
  e.etag = "\"etag\"";
  e.digest = DigestOfBuffer(DigestAlgorithm::kXxh3_128,
                            ::ferry::testing::AsBytes("x"));
  return e;
}

// Every field set to something other than its default; each operation
// encodes its own.
Request SampleRequest(Op op) {
  Request q;
  q.op = op;
  q.handle = 77;
  q.path = P("a/b");
  q.other_path = P("c");
  q.entry = SampleEntry();
  q.policy.atime = false;
  q.policy.dos_attributes = false;
  q.hints.size = 1 << 30;
  q.hints.sparse = true;
  q.hints.mode = 0600;
  q.xattrs = {{"user.a", "1"}, {"user.b", std::string("\0\xff", 2)}};
  q.xattr_scope = true;
  q.tags = {{"k1", "v1"}, {"k2", ""}};
  q.paths = {P("x"), P("y/z")};
  q.offset = 4096;
  q.length = 1000;
  q.basis_offset = 8192;
  q.block_size = 32 << 10;
  q.first_block = 3;
  q.max_count = 100;
  q.algorithm = DigestAlgorithm::kSha256;
  q.now_ns = -5;
  q.max_age_s = 86400;
  if (op == Op::kPutFile) {
    q.length = 3;
    q.data = {std::byte{'a'}, std::byte{'b'}, std::byte{'c'}};
    q.checksum = ComputeBlockChecksum(q.data);
    q.with_xattrs = true;
    q.with_tags = true;
  }
  return q;
}

Response SampleResponse() {
  Response r;
  r.capabilities.symlinks = true;
  r.capabilities.mtime_granularity_ns = 1000;
  r.capabilities.acl_model = AclModel::kWindows;
  r.capabilities.caller_uid = -1;
  r.capabilities.part_size_min = 5 << 20;
  r.capabilities.max_parts = 10000;
  r.capabilities.io_concurrency = 32;
  r.capabilities.object_tags = true;
  r.text = "memory:test";
  r.clock_offset_ns = -42;
  r.receiver_wall_ns = 1700000000000000000;
  r.entry = SampleEntry();
  r.handle = 9;
  r.consistent = true;
  r.entries = {SampleEntry(), SampleEntry()};
  r.xattrs = {{"user.x", "y"}};
  r.tags = {{"a", "b"}};
  r.statuses = {Status::Ok(), Status::NotFound("gone")};
  r.removed = {CleanupReport{P("d/.ferry-tmp-1"), "a staged file"}};
  r.removed_unreported = 3;
  r.digest = SampleEntry().digest;
  r.data = {std::byte{1}, std::byte{2}, std::byte{3}};
  r.extent = Extent{10, 20};
  r.signatures.block_size = 16 << 10;
  r.signatures.first_block = 2;
  r.signatures.blocks = {delta::BlockSignature{7, BlockChecksum{1, 2}}};
  return r;
}

std::span<const std::byte> PayloadOf(const std::vector<std::byte>& frame) {
  return std::span(frame).subspan(kFrameHeaderBytes);
}

TEST(LinkOperationsTest, EveryRequestRoundTripsAndRefusesEveryTruncation) {
  for (Op op : AllOps()) {
    SCOPED_TRACE(OpName(op));
    std::vector<std::byte> frame;
    ASSERT_OK(AppendRequest(&frame, 5, SampleRequest(op)));
    auto header = DecodeHeader(std::span(frame).first<kFrameHeaderBytes>());
    ASSERT_TRUE(header.ok());
    EXPECT_EQ(header->type, FrameType::kRequest);
    EXPECT_EQ(header->stream, 5u);
    auto payload = PayloadOf(frame);
    ASSERT_OK_AND_ASSIGN(Request got, DecodeRequest(payload));
    EXPECT_EQ(got.op, op);
    // The only encoding of its value.
    std::vector<std::byte> again;
    ASSERT_OK(AppendRequest(&again, 5, got));
    EXPECT_EQ(again, frame);
    for (size_t n = 0; n < payload.size(); ++n) {
      auto cut = DecodeRequest(payload.first(n));
      ASSERT_FALSE(cut.ok()) << "decoded from " << n << " bytes";
      EXPECT_EQ(cut.status().code(), StatusCode::kInvalidArgument);
    }
    // Nor a byte more.
    std::vector<std::byte> longer(payload.begin(), payload.end());
    longer.push_back(std::byte{0});
    EXPECT_FALSE(DecodeRequest(longer).ok());
  }
}

TEST(LinkOperationsTest, EveryResponseRoundTripsAndRefusesEveryTruncation) {
  const Response sample = SampleResponse();
  for (Op op : AllOps()) {
    SCOPED_TRACE(OpName(op));
    std::vector<std::byte> frame;
    ASSERT_OK(AppendResponse(&frame, 6, op, sample));
    auto payload = PayloadOf(frame);
    ASSERT_OK_AND_ASSIGN(Response got, DecodeResponse(op, payload));
    EXPECT_TRUE(got.status.ok());
    std::vector<std::byte> again;
    ASSERT_OK(AppendResponse(&again, 6, op, got));
    EXPECT_EQ(again, frame);
    for (size_t n = 0; n < payload.size(); ++n) {
      auto cut = DecodeResponse(op, payload.first(n));
      ASSERT_FALSE(cut.ok()) << "decoded from " << n << " bytes";
      EXPECT_EQ(cut.status().code(), StatusCode::kInvalidArgument);
    }
  }
}

TEST(LinkOperationsTest, FieldsSurviveTheTrip) {
  const Request q = SampleRequest(Op::kCopyBasis);
  std::vector<std::byte> frame;
  ASSERT_OK(AppendRequest(&frame, 1, q));
  ASSERT_OK_AND_ASSIGN(Request got, DecodeRequest(PayloadOf(frame)));
  EXPECT_EQ(got.handle, 77u);
  EXPECT_EQ(got.offset, 4096u);
  EXPECT_EQ(got.other_path, P("c"));
  EXPECT_EQ(got.basis_offset, 8192u);
  EXPECT_EQ(got.length, 1000u);

  frame.clear();
  ASSERT_OK(AppendRequest(&frame, 1, SampleRequest(Op::kOpenWrite)));
  ASSERT_OK_AND_ASSIGN(got, DecodeRequest(PayloadOf(frame)));
  EXPECT_EQ(got.hints.size, uint64_t{1} << 30);
  EXPECT_TRUE(got.hints.sparse);
  EXPECT_FALSE(got.hints.fsync);
  EXPECT_EQ(got.hints.mode, 0600u);

  frame.clear();
  ASSERT_OK(AppendRequest(&frame, 1, SampleRequest(Op::kCommit)));
  ASSERT_OK_AND_ASSIGN(got, DecodeRequest(PayloadOf(frame)));
  EXPECT_TRUE(SameEntry(got.entry, SampleEntry()));
  EXPECT_TRUE(got.policy.mode);
  EXPECT_FALSE(got.policy.atime);
  EXPECT_FALSE(got.policy.dos_attributes);

  const Response r = SampleResponse();
  frame.clear();
  ASSERT_OK(AppendResponse(&frame, 1, Op::kCapabilities, r));
  ASSERT_OK_AND_ASSIGN(Response caps,
                       DecodeResponse(Op::kCapabilities, PayloadOf(frame)));
  EXPECT_TRUE(caps.capabilities.symlinks);
  EXPECT_EQ(caps.capabilities.mtime_granularity_ns, 1000);
  EXPECT_EQ(caps.capabilities.acl_model, AclModel::kWindows);
  EXPECT_EQ(caps.capabilities.caller_uid, -1);
  EXPECT_EQ(caps.capabilities.part_size_min, 5u << 20);
  EXPECT_EQ(caps.capabilities.max_parts, 10000u);
  EXPECT_EQ(caps.capabilities.io_concurrency, 32);
  EXPECT_TRUE(caps.capabilities.object_tags);
  EXPECT_FALSE(caps.capabilities.delta);

  frame.clear();
  ASSERT_OK(AppendResponse(&frame, 1, Op::kRemoveFiles, r));
  ASSERT_OK_AND_ASSIGN(Response removed,
                       DecodeResponse(Op::kRemoveFiles, PayloadOf(frame)));
  ASSERT_EQ(removed.statuses.size(), 2u);
  EXPECT_TRUE(removed.statuses[0].ok());
  EXPECT_EQ(removed.statuses[1].code(), StatusCode::kNotFound);
  EXPECT_EQ(removed.statuses[1].message(), "gone");
}

TEST(LinkOperationsTest, AnErrorResponseCarriesOnlyTheStatus) {
  Response r = SampleResponse();
  r.status = Status(StatusCode::kPermissionDenied, "no");
  std::vector<std::byte> frame;
  ASSERT_OK(AppendResponse(&frame, 3, Op::kStat, r));
  ASSERT_OK_AND_ASSIGN(Response got,
                       DecodeResponse(Op::kStat, PayloadOf(frame)));
  EXPECT_EQ(got.status.code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(got.status.message(), "no");
  EXPECT_FALSE(got.entry.has_value());
}

TEST(LinkOperationsTest, EncodersRefuseWhatDecodersWould) {
  auto refused = [](const Request& q) {
    std::vector<std::byte> frame;
    Status st = AppendRequest(&frame, 1, q);
    EXPECT_TRUE(frame.empty());
    return st.code() == StatusCode::kInvalidArgument;
  };
  Request read = SampleRequest(Op::kRead);
  read.length = 0;
  EXPECT_TRUE(refused(read));
  read.length = kMaxReadBytes + 1;
  EXPECT_TRUE(refused(read));
  read.length = 10;
  read.offset = ~uint64_t{0} - 5;
  EXPECT_TRUE(refused(read));

  Request remove = SampleRequest(Op::kRemoveFiles);
  remove.paths.assign(kMaxRemoveBatch + 1, P("f"));
  EXPECT_TRUE(refused(remove));

  Request tags = SampleRequest(Op::kSetTags);
  for (size_t i = 0; i <= kMaxTagCount; ++i) {
    tags.tags["k" + std::to_string(i)] = "v";
  }
  EXPECT_TRUE(refused(tags));

  Request sig = SampleRequest(Op::kSignatures);
  sig.block_size = 48 << 10;  // no power of two
  EXPECT_TRUE(refused(sig));
  sig.block_size = 16 << 10;
  sig.max_count = kMaxSignatureCount + 1;
  EXPECT_TRUE(refused(sig));

  Request copy = SampleRequest(Op::kCopyBasis);
  copy.length = kMaxCopyBasisBytes + 1;
  EXPECT_TRUE(refused(copy));

  Request hints = SampleRequest(Op::kOpenWrite);
  hints.hints.mode = 010000;
  EXPECT_TRUE(refused(hints));

  Response r = SampleResponse();
  r.entries.assign(kMaxListBatch + 1, SampleEntry());
  std::vector<std::byte> frame;
  EXPECT_EQ(AppendResponse(&frame, 1, Op::kListNext, r).code(),
            StatusCode::kInvalidArgument);
  r = SampleResponse();
  r.entry.reset();
  EXPECT_FALSE(AppendResponse(&frame, 1, Op::kOpenRead, r).ok());
  r = SampleResponse();
  r.capabilities.mtime_granularity_ns = 0;
  EXPECT_FALSE(AppendResponse(&frame, 1, Op::kCapabilities, r).ok());
  EXPECT_TRUE(frame.empty());
}

// A payload built by hand: the operation, then raw bytes.
std::vector<std::byte> Raw(std::initializer_list<int> bytes) {
  std::vector<std::byte> out;
  for (int b : bytes) out.push_back(static_cast<std::byte>(b));
  return out;
}

TEST(LinkOperationsTest, DecodersRefuseWhatNoEncoderWrites) {
  // Unknown operations.
  EXPECT_FALSE(DecodeRequest(Raw({0})).ok());
  EXPECT_FALSE(DecodeRequest(Raw({static_cast<int>(kLastOp) + 1})).ok());
  // SYNC takes nothing.
  EXPECT_TRUE(DecodeRequest(Raw({25})).ok());
  EXPECT_FALSE(DecodeRequest(Raw({25, 0})).ok());
  // A boolean that is neither 0 nor 1 (WRITER_SET_XATTRS: handle 1, no
  // xattrs, scopes).
  EXPECT_TRUE(DecodeRequest(Raw({9, 1, 0, 1, 0})).ok());
  EXPECT_FALSE(DecodeRequest(Raw({9, 1, 0, 2, 0})).ok());
  // A metadata policy with an unknown bit (COMMIT of handle 1 would need an
  // entry: SET_METADATA's policy is last too).
  std::vector<std::byte> frame;
  ASSERT_OK(AppendRequest(&frame, 1, SampleRequest(Op::kSetMetadata)));
  std::vector<std::byte> payload(frame.begin() + kFrameHeaderBytes,
                                 frame.end());
  payload.back() |= std::byte{0x80};
  EXPECT_FALSE(DecodeRequest(payload).ok());
  // Tags out of order: SET_TAGS of "" with ("b", "") then ("a", "").
  EXPECT_FALSE(DecodeRequest(Raw({21, 0, 2, 1, 'b', 0, 1, 'a', 0})).ok());
  EXPECT_TRUE(DecodeRequest(Raw({21, 0, 2, 1, 'a', 0, 1, 'b', 0})).ok());
  // Repeated tags.
  EXPECT_FALSE(DecodeRequest(Raw({21, 0, 2, 1, 'a', 0, 1, 'a', 0})).ok());
  // REMOVE_FILES claiming more paths than bytes follow.
  EXPECT_FALSE(DecodeRequest(Raw({23, 0xe8, 0x07, 0})).ok());
  // A path that is not canonical.
  EXPECT_FALSE(DecodeRequest(Raw({4, 3, 'a', '/', '/'})).ok());
  EXPECT_FALSE(DecodeRequest(Raw({4, 2, '.', '.'})).ok());
  // READ_NEXT_DATA's extent ending beyond 2^64.
  auto extent = Raw(
      {0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x02});
  EXPECT_FALSE(DecodeResponse(Op::kReadNextData, extent).ok());
}

}  // namespace
}  // namespace ferry::link
