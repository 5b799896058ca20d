// Fuzzes the agent-to-agent link's wire codec (link/wire.h), which decodes
// whatever a peer agent sends. The first byte picks a decoder (the frame
// header, a frame's payload, or a value inside a request or response), or all
// of them; the rest is its input. A decoder refuses only with
// InvalidArgument; whatever it accepts must encode again without a problem,
// to exactly the bytes it came from (every value has one encoding), and
// decode to an equal value.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include "ferry/link/wire.h"

namespace {

using namespace ferry;
using namespace ferry::link;

void Check(bool ok) {
  if (!ok) std::abort();
}

std::span<const std::byte> AsSpan(const std::string& s) {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

bool SameBytes(const std::string& a, std::span<const std::byte> b) {
  return std::ranges::equal(AsSpan(a), b);
}

void CheckRefusal(const Status& s) {
  Check(s.code() == StatusCode::kInvalidArgument);
}

void FuzzHeader(std::span<const std::byte> in) {
  if (in.size() < kFrameHeaderBytes) return;
  auto bytes = in.first<kFrameHeaderBytes>();
  auto got = DecodeHeader(bytes);
  if (!got.ok()) return CheckRefusal(got.status());
  Check(got->length <= kMaxFramePayload);
  Check(std::ranges::equal(EncodeHeader(*got), bytes));
}

template <typename Message>
void FuzzMessage(std::span<const std::byte> in) {
  auto got = Message::Decode(in);
  if (!got.ok()) return CheckRefusal(got.status());
  std::string out;
  WireWriter w(&out);
  got->Encode(w);
  Check(w.status().ok());
  Check(SameBytes(out, in));
  auto again = Message::Decode(AsSpan(out));
  Check(again.ok() && *again == *got);

  std::vector<std::byte> frame;
  Check(AppendFrame(&frame, 7, *got).ok());
  auto header = DecodeHeader(std::span(frame).first<kFrameHeaderBytes>());
  Check(header.ok() && header->type == Message::kType &&
        header->length == in.size());
}

// A value inside a request or response: read, finish, write, compare.
template <typename T, typename ReadFn, typename WriteFn, typename EqFn>
void FuzzValue(std::span<const std::byte> in, ReadFn read, WriteFn write,
               EqFn eq) {
  WireReader r(in, "FUZZ");
  Result<T> got = read(r);
  if (!got.ok()) return CheckRefusal(got.status());
  if (Status s = r.Finish(); !s.ok()) return CheckRefusal(s);
  std::string out;
  WireWriter w(&out);
  write(w, *got);
  Check(w.status().ok());
  Check(SameBytes(out, in));
  WireReader r2(AsSpan(out), "FUZZ");
  Result<T> again = read(r2);
  Check(again.ok() && r2.Finish().ok() && eq(*again, *got));
}

template <typename T>
bool Equal(const T& a, const T& b) {
  return a == b;
}

// Status has no operator== and Result<Status> cannot be; a wrapper.
struct WireStatus {
  Status status;
};

Result<WireStatus> ReadWireStatus(WireReader& r) {
  WireStatus s;
  FERRY_RETURN_IF_ERROR(ReadStatus(r, &s.status));
  return s;
}

// The same in version 2, which adds the retryable flag and errno.
Result<WireStatus> ReadWireStatus2(WireReader& r) {
  r.set_version(2);
  return ReadWireStatus(r);
}

// A CHUNK_ACK in version 2: decoded, written again byte for byte.
void FuzzChunkAck2(std::span<const std::byte> in) {
  auto got = ChunkAck::Decode(in, 2);
  if (!got.ok()) return CheckRefusal(got.status());
  std::vector<std::byte> frame;
  Check(AppendFrame(&frame, 7, *got, 2).ok());
  Check(std::ranges::equal(std::span(frame).subspan(kFrameHeaderBytes), in));
  auto again = ChunkAck::Decode(std::span(frame).subspan(kFrameHeaderBytes), 2);
  Check(again.ok() && *again == *got &&
        again->status.retryable() == got->status.retryable() &&
        again->status.sys_errno() == got->status.sys_errno());
}

void FuzzRequestOp(std::span<const std::byte> in) {
  WireReader r(in, "REQUEST");
  auto op = ReadRequestOp(r);
  if (!op.ok()) return CheckRefusal(op.status());
  std::string out;
  WireWriter w(&out);
  WriteRequestOp(w, *op);
  w.WriteRaw(r.ReadRest());
  Check(SameBytes(out, in));
}

void FuzzResponseStatus(std::span<const std::byte> in) {
  WireReader r(in, "RESPONSE");
  Status status;
  if (Status s = ReadResponseStatus(r, &status); !s.ok()) {
    return CheckRefusal(s);
  }
  Check(status.ok() || r.remaining() == 0);
  std::string out;
  WireWriter w(&out);
  WriteResponseStatus(w, status);
  w.WriteRaw(r.ReadRest());
  Check(w.status().ok());
  Check(SameBytes(out, in));
}

using FuzzFn = void (*)(std::span<const std::byte>);

const FuzzFn kDecoders[] = {
    FuzzHeader,
    FuzzMessage<Hello>,
    FuzzMessage<HelloOk>,
    FuzzMessage<ErrorFrame>,
    FuzzMessage<Chunk>,
    FuzzMessage<ChunkAck>,
    FuzzChunkAck2,
    FuzzMessage<Ping>,
    FuzzMessage<Pong>,
    FuzzMessage<Goodbye>,
    FuzzRequestOp,
    FuzzResponseStatus,
    [](std::span<const std::byte> in) {
      FuzzValue<WireStatus>(
          in, ReadWireStatus,
          [](WireWriter& w, const WireStatus& s) { WriteStatus(w, s.status); },
          [](const WireStatus& a, const WireStatus& b) {
            return SameStatus(a.status, b.status);
          });
    },
    [](std::span<const std::byte> in) {
      FuzzValue<WireStatus>(
          in, ReadWireStatus2,
          [](WireWriter& w, const WireStatus& s) {
            w.set_version(2);
            WriteStatus(w, s.status);
          },
          [](const WireStatus& a, const WireStatus& b) {
            return SameStatus(a.status, b.status) &&
                   a.status.retryable() == b.status.retryable() &&
                   a.status.sys_errno() == b.status.sys_errno();
          });
    },
    [](std::span<const std::byte> in) {
      FuzzValue<Entry>(in, ReadEntry, WriteEntry, SameEntry);
    },
    [](std::span<const std::byte> in) {
      FuzzValue<FileTime>(
          in, [](WireReader& r) { return ReadFileTime(r, "time"); },
          [](WireWriter& w, const FileTime& t) { WriteFileTime(w, "time", t); },
          Equal<FileTime>);
    },
    [](std::span<const std::byte> in) {
      FuzzValue<Digest>(in, ReadDigest, WriteDigest, Equal<Digest>);
    },
    [](std::span<const std::byte> in) {
      FuzzValue<XattrList>(in, ReadXattrs, WriteXattrs, Equal<XattrList>);
    },
    [](std::span<const std::byte> in) {
      FuzzValue<SignatureList>(in, ReadSignatures, WriteSignatures,
                               Equal<SignatureList>);
    },
};
constexpr size_t kDecoderCount = std::size(kDecoders);

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // libFuzzer's input is a heap copy of exactly its size: a read past it is
  // caught.
  const auto rest = std::as_bytes(std::span(data + 1, size - 1));
  const size_t pick = data[0] % (kDecoderCount + 1);
  if (pick < kDecoderCount) {
    kDecoders[pick](rest);
  } else {
    for (FuzzFn decode : kDecoders) decode(rest);
  }
  return 0;
}
