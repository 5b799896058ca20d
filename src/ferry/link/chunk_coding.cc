#include "ferry/link/chunk_coding.h"

#include <zstd.h>

#include <memory>
#include <string>

#include "ferry/base/digest.h"

namespace ferry::link {
namespace {

constexpr int kZstdLevel = 1;

struct CCtxFree {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct DCtxFree {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};

ZSTD_CCtx* ThreadCCtx() {
  static thread_local std::unique_ptr<ZSTD_CCtx, CCtxFree> cctx(
      ZSTD_createCCtx());
  return cctx.get();
}

ZSTD_DCtx* ThreadDCtx() {
  static thread_local std::unique_ptr<ZSTD_DCtx, DCtxFree> dctx(
      ZSTD_createDCtx());
  return dctx.get();
}

Status Corrupt(const Chunk& chunk, std::string_view why) {
  return Status::DataLoss(
      "link chunk at offset " + std::to_string(chunk.offset) + " (" +
      std::to_string(chunk.length) + " bytes): " + std::string(why));
}

}  // namespace

ChunkEncoding CompressChunk(std::span<const std::byte> data,
                            std::vector<std::byte>* out) {
  out->clear();
  // Worth it only at 90% or less: a smaller output buffer makes zstd give
  // up (dstSize_tooSmall) as soon as that cannot be reached.
  const size_t limit = data.size() / 10 * 9;
  ZSTD_CCtx* cctx = ThreadCCtx();
  if (limit == 0 || cctx == nullptr) return ChunkEncoding::kAsRead;
  out->resize(limit);
  const size_t n = ZSTD_compressCCtx(cctx, out->data(), out->size(),
                                     data.data(), data.size(), kZstdLevel);
  if (ZSTD_isError(n) || n == 0 || n > limit) {
    out->clear();
    return ChunkEncoding::kAsRead;
  }
  out->resize(n);
  return ChunkEncoding::kZstd;
}

Result<std::span<const std::byte>> CheckedChunkData(
    const Chunk& chunk, std::vector<std::byte>* buffer) {
  std::span<const std::byte> data = chunk.data;
  if (chunk.length > kMaxChunkBytes) return Corrupt(chunk, "too long");
  if (chunk.encoding == ChunkEncoding::kZstd) {
    const unsigned long long declared =
        ZSTD_getFrameContentSize(chunk.data.data(), chunk.data.size());
    if (declared == ZSTD_CONTENTSIZE_ERROR) {
      return Corrupt(chunk, "not a zstd frame");
    }
    if (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared != chunk.length) {
      return Corrupt(chunk,
                     "zstd frame of " + std::to_string(declared) + " bytes");
    }
    ZSTD_DCtx* dctx = ThreadDCtx();
    if (dctx == nullptr) {
      return Status::Internal("link: cannot allocate a zstd context");
    }
    // Decoded in one pass into a buffer of exactly the declared length: a
    // frame that would write more fails instead of growing anything.
    buffer->resize(chunk.length);
    const size_t n = ZSTD_decompressDCtx(dctx, buffer->data(), buffer->size(),
                                         chunk.data.data(), chunk.data.size());
    if (ZSTD_isError(n)) {
      return Corrupt(chunk, std::string("zstd: ") + ZSTD_getErrorName(n));
    }
    if (n != chunk.length) {
      return Corrupt(chunk, "decompressed to " + std::to_string(n) + " bytes");
    }
    data = *buffer;
  }
  if (data.size() != chunk.length) return Corrupt(chunk, "wrong length");
  if (!(ComputeBlockChecksum(data) == chunk.checksum)) {
    return Corrupt(chunk, "checksum mismatch");
  }
  return data;
}

}  // namespace ferry::link
