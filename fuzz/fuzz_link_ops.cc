// Fuzzes the link's operations (link/operations.h), which decode what a peer
// agent sends on both sides: the receiver decodes REQUEST payloads, the
// sender RESPONSE payloads to each operation; and the receiver's check of a
// CHUNK's data (zstd decompression bounded by the declared length, then the
// checksum). The first byte picks the decoder: 0 a request, 1..kLastOp the
// response to that operation, kLastOp + 1 a chunk's data, kLastOp + 2 all
// of them; the rest is the input. A decoder refuses only with InvalidArgument
// (a chunk's data with DataLoss); whatever it accepts must encode again without
// a problem to exactly the bytes it came from, and decode again.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "ferry/base/digest.h"
#include "ferry/link/chunk_coding.h"
#include "ferry/link/operations.h"
#include "ferry/link/wire.h"

namespace {

using namespace ferry;
using namespace ferry::link;

void Check(bool ok) {
  if (!ok) std::abort();
}

std::span<const std::byte> PayloadOf(const std::vector<std::byte>& frame) {
  return std::span(frame).subspan(kFrameHeaderBytes);
}

void FuzzRequest(std::span<const std::byte> in) {
  auto got = DecodeRequest(in);
  if (!got.ok()) {
    Check(got.status().code() == StatusCode::kInvalidArgument);
    return;
  }
  std::vector<std::byte> frame;
  Check(AppendRequest(&frame, 9, *got).ok());
  Check(std::ranges::equal(PayloadOf(frame), in));
  auto again = DecodeRequest(PayloadOf(frame));
  Check(again.ok() && again->op == got->op);
}

void FuzzResponse(Op op, std::span<const std::byte> in) {
  for (const uint8_t version : {kLowestLinkVersion, kLinkVersion}) {
    auto got = DecodeResponse(op, in, version);
    if (!got.ok()) {
      Check(got.status().code() == StatusCode::kInvalidArgument);
      continue;
    }
    std::vector<std::byte> frame;
    Check(AppendResponse(&frame, 9, op, *got, version).ok());
    Check(std::ranges::equal(PayloadOf(frame), in));
    auto again = DecodeResponse(op, PayloadOf(frame), version);
    Check(again.ok() && again->status.retryable() == got->status.retryable() &&
          again->status.sys_errno() == got->status.sys_errno());
  }
}

void FuzzChunkData(std::span<const std::byte> in) {
  auto chunk = Chunk::Decode(in);
  if (!chunk.ok()) return;
  std::vector<std::byte> buffer;
  auto data = CheckedChunkData(*chunk, &buffer);
  if (!data.ok()) {
    Check(data.status().code() == StatusCode::kDataLoss);
    return;
  }
  Check(data->size() == chunk->length);
  Check(ComputeBlockChecksum(*data) == chunk->checksum);
  Check(buffer.size() <= kMaxChunkBytes);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const auto rest = std::as_bytes(std::span(data + 1, size - 1));
  const uint32_t pick = data[0] % (kLastOp + 3);
  if (pick == 0) {
    FuzzRequest(rest);
  } else if (pick <= kLastOp) {
    FuzzResponse(static_cast<Op>(pick), rest);
  } else if (pick == kLastOp + 1) {
    FuzzChunkData(rest);
  } else {
    FuzzRequest(rest);
    for (uint32_t op = kFirstOp; op <= kLastOp; ++op) {
      FuzzResponse(static_cast<Op>(op), rest);
    }
    FuzzChunkData(rest);
  }
  return 0;
}
