// The data of a CHUNK frame as sent and as received (docs/link.md,
// "Compression", "Integrity"): zstd at level 1 where it saves at least a
// tenth, and the receiver's bounded decoding and checksum check. Stateless
// functions (each thread keeps its own zstd contexts); thread-safe.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "ferry/base/status.h"
#include "ferry/link/wire.h"

namespace ferry::link {

// Compresses `data` (at most kMaxChunkBytes) into `*out` and returns kZstd
// when the result is at most 90% of data.size(); otherwise returns kAsRead
// and leaves `*out` empty.
ChunkEncoding CompressChunk(std::span<const std::byte> data,
                            std::vector<std::byte>* out);

// The data `chunk` carries, as read: a view of chunk.data when it is sent as
// read, else decompressed into `*buffer`. Never allocates more than
// chunk.length bytes (at most kMaxChunkBytes), however the zstd frame
// describes itself. DataLoss when the data does not decode to exactly
// chunk.length bytes or their XXH3-128 is not chunk.checksum: nothing of
// such a chunk may be written.
Result<std::span<const std::byte>> CheckedChunkData(
    const Chunk& chunk, std::vector<std::byte>* buffer);

}  // namespace ferry::link
