// Delta transfer: rsync's rolling-checksum scheme (docs/link.md, "Delta
// transfer"), as pure functions over a read callback.
//
// The receiver cuts the file it already holds (the basis) into blocks of
// `block_size` bytes, the last one possibly shorter, and sends one
// BlockSignature per block: a rolling weak checksum and an XXH3-128 strong
// checksum. The sender rolls the weak checksum over its source at every byte
// offset, confirms weak hits with the strong checksum, and describes the
// source as an ordered stream of Instructions: literal ranges it sends itself
// and copy ranges the receiver fills from its basis.
//
// Signatures come off the network and are treated as hostile: duplicates,
// absurd counts and crafted weak collisions cost bounded work (see
// ComputeDelta). Nothing here keeps state between calls; every function is
// safe to call concurrently with its own arguments.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "ferry/base/digest.h"
#include "ferry/base/status.h"

namespace ferry::delta {

// ChooseBlockSize's bounds: blocks are never smaller than 16 KiB (the
// signatures of a 4 GiB file then fit in 6 MiB) nor larger than 1 MiB.
inline constexpr uint32_t kMinBlockSize = 16 << 10;
inline constexpr uint32_t kMaxBlockSize = 1 << 20;
// ComputeDelta never emits a literal instruction longer than this, so a
// caller can send each as one message and start before the match is done.
inline constexpr uint64_t kMaxLiteralLength = 1 << 20;

// The block size for a basis of `file_size` bytes: the power of two nearest
// file_size / 16384 (ties round up), clamped to [kMinBlockSize,
// kMaxBlockSize].
uint32_t ChooseBlockSize(uint64_t file_size);

// One block of the basis. The wire codec (src/ferry/link/) encodes these.
struct BlockSignature {
  uint32_t weak = 0;     // WeakChecksum of the block
  BlockChecksum strong;  // ComputeBlockChecksum of the block
  bool operator==(const BlockSignature&) const = default;
};

// The weak checksum is a polynomial hash (Rabin-Karp) of the window,
//   sum over i of (byte[i] + 1) * M^(n-1-i)  mod p,   p = 2^32 - 5,
// with M a primitive root mod p. Unlike rsync's two 16-bit sums (whose
// first half, a plain byte sum, crowds into a narrow range for 16 KiB
// blocks), every byte is spread over all 32 bits, and unlike XOR-rotate
// hashes (buzhash) periodic data such as fixed-size records does not cancel
// out. The +1 makes runs of zeros of different lengths differ. Rolling costs
// two multiplications and two cheap reductions per byte.
uint32_t WeakChecksum(std::span<const std::byte> data);

namespace internal {
// WeakChecksum without the AVX2 build of its loop, whatever the processor:
// for tests, which check that both give the definition's value.
uint32_t PortableWeakChecksum(std::span<const std::byte> data);
}  // namespace internal

// The weak checksum of a window of fixed length sliding over data. Not
// thread-safe; cheap to copy.
class RollingChecksum {
 public:
  // Starts over on `window`; the window length stays fixed until the next
  // Reset.
  void Reset(std::span<const std::byte> window);
  // Slides the window one byte: `out` is its first byte, `in` the byte just
  // after its end. REQUIRES: Reset was called with a non-empty window.
  void Roll(std::byte out, std::byte in);
  // Equals WeakChecksum of the current window.
  uint32_t value() const { return value_; }

 private:
  uint32_t value_ = 0;
  uint32_t out_factor_ = 1;  // M^window_length mod p
};

// Reads up to out.size() bytes at `offset`; returns how many it read, fewer
// only at the end of the file. Errors (Cancelled included) stop the caller.
using ReadFn =
    std::function<Result<size_t>(uint64_t offset, std::span<std::byte> out)>;

// The signatures of blocks [first_block, first_block + max_count) of a basis
// of `size` bytes read through `read`, fewer if the file has fewer blocks
// (none if first_block is past the end). The last block may be short; its
// signature covers just its bytes. Reads in pieces of about 4 MiB. Fails
// with InvalidArgument if block_size is 0 or above kMaxBlockSize, and with
// SourceChanged if the file ends before `size`. Small blocks serve tests; a
// receiver answering a peer should insist on [kMinBlockSize, kMaxBlockSize]
// and a bounded max_count, which bounds the memory this returns (24 bytes a
// signature).
Result<std::vector<BlockSignature>> ComputeSignatures(const ReadFn& read,
                                                      uint64_t size,
                                                      uint32_t block_size,
                                                      uint64_t first_block,
                                                      size_t max_count);

// One step of rebuilding the source at the receiver. Applied in order they
// cover the source exactly once, in increasing target_offset.
struct Instruction {
  enum class Kind : uint8_t { kLiteral, kCopy };
  Kind kind = Kind::kLiteral;
  // Where the bytes go in the new file.
  uint64_t target_offset = 0;
  uint64_t length = 0;
  // kCopy: where they come from in the basis. kLiteral: 0; the sender reads
  // the source at target_offset itself.
  uint64_t basis_offset = 0;
  bool operator==(const Instruction&) const = default;
};

// Called once per instruction; an error stops ComputeDelta, which returns it.
using InstructionFn = std::function<Status(const Instruction&)>;

struct MatchStats {
  uint64_t literal_bytes = 0;
  uint64_t copied_bytes = 0;
  // Strong checksums computed to confirm a weak hit, and how many of those
  // confirmed nothing.
  uint64_t strong_checks = 0;
  uint64_t false_weak_matches = 0;
  // Offsets whose weak checksum may have matched but that went unchecked
  // because the false-match budget was spent (see ComputeDelta): only with
  // hostile signatures or a basis above about 32 GiB, where 32-bit weak
  // checksums of unrelated data collide often.
  uint64_t skipped_checks = 0;
};

// Matches a source of `source_size` bytes, read through `read_source`,
// against the signatures of a basis of `basis_size` bytes cut into blocks of
// `block_size`, and emits the instructions that rebuild the source.
//
// Literal runs are emitted in pieces of at most kMaxLiteralLength bytes;
// matched blocks that are consecutive in both files merge into one copy
// (identical files give one copy of the whole file). A full block may match
// at any source offset; a short last block only where it ends the source.
// When two blocks have equal signatures, the one continuing the current copy
// is preferred.
//
// Bounds: the source is read in 4 MiB windows (memory is about 4 MiB plus
// one block, plus about 32 bytes per signature for the index); a weak hit costs
// a binary search among the blocks with that weak checksum, however many there
// are; the strong checksums computed for weak hits that confirm nothing cost at
// most 8 times the source bytes scanned plus 16 blocks (past that, weak hits go
// unchecked until scanning pays for more), so crafted weak collisions make the
// delta larger but never the work quadratic.
//
// Fails with InvalidArgument if block_size is 0 or above kMaxBlockSize or if
// the signature count is not the basis's block count, with SourceChanged if
// the source ends before source_size; errors from read_source and emit are
// returned as they are. `stats`, if given, is filled in either way.
Status ComputeDelta(std::span<const BlockSignature> signatures,
                    uint32_t block_size, uint64_t basis_size,
                    const ReadFn& read_source, uint64_t source_size,
                    const InstructionFn& emit, MatchStats* stats = nullptr);

}  // namespace ferry::delta
