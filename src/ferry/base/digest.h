// Content digests and in-flight block checksums.
//
// Data moves in blocks of kBlockSize bytes (the last one shorter). Each block
// carries an XXH3-128 checksum computed where it is read and checked where it
// is written. A file's content digest, the one verification compares and
// reports name, is one of:
//   XXH3-128 (default): for a file of at most one block, XXH3-128 of its
//     content (what `xxh128sum` prints); for a larger file, XXH3-128 over the
//     concatenated 16-byte big-endian block checksums. The block checksums are
//     computed anyway, so the digest costs no extra pass and blocks may be
//     hashed in any order.
//   SHA-256: SHA-256 of the whole content (what `sha256sum` prints); blocks
//     must be fed in file order.
// FileDigestBuilder is thread-safe: chunk workers of one file feed it
// concurrently.
#pragma once

#include <array>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>

#include "ferry/base/status.h"

namespace ferry {

inline constexpr uint64_t kBlockSize = 1 << 20;

enum class DigestAlgorithm : uint8_t { kXxh3_128, kSha256 };

std::string_view DigestAlgorithmName(DigestAlgorithm algo);  // "XXH3-128"
Result<DigestAlgorithm> ParseDigestAlgorithm(std::string_view name);

struct BlockChecksum {
  uint64_t high = 0;
  uint64_t low = 0;
  bool operator==(const BlockChecksum&) const = default;
};

BlockChecksum ComputeBlockChecksum(std::span<const std::byte> data);
// The checksum of a full block of zeros (a hole), computed once.
const BlockChecksum& ZeroBlockChecksum();
// A read-only buffer of kBlockSize zero bytes.
std::span<const std::byte> ZeroBlock();

struct Digest {
  DigestAlgorithm algorithm = DigestAlgorithm::kXxh3_128;
  uint8_t size = 0;  // 0 means "no digest"
  std::array<uint8_t, 32> bytes{};

  bool empty() const { return size == 0; }
  std::string Hex() const;
  bool operator==(const Digest& o) const {
    return algorithm == o.algorithm && size == o.size &&
           std::equal(bytes.begin(), bytes.begin() + size, o.bytes.begin());
  }
};

// Builds one file's digest from its blocks.
class FileDigestBuilder {
 public:
  FileDigestBuilder(DigestAlgorithm algo, uint64_t file_size);
  ~FileDigestBuilder();
  FileDigestBuilder(const FileDigestBuilder&) = delete;
  FileDigestBuilder& operator=(const FileDigestBuilder&) = delete;

  // Adds block `index` (offset index * kBlockSize) with its checksum. For
  // SHA-256 this waits until every earlier block has been added; it returns
  // Cancelled if Abort() is called meanwhile.
  Status AddBlock(uint64_t index, const BlockChecksum& checksum,
                  std::span<const std::byte> data);
  // Wakes any waiter; later AddBlock calls fail.
  void Abort();
  // REQUIRES: every block was added.
  Result<Digest> Finish();

  uint64_t block_count() const { return block_count_; }
  // How many AddBlock calls wait for earlier blocks now (SHA-256): tests use
  // it to know a caller is blocked rather than hoping it got there.
  int waiting() const;

 private:
  void FoldLeafLocked(const BlockChecksum& checksum);

  const DigestAlgorithm algo_;
  const uint64_t block_count_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  uint64_t next_index_ = 0;
  int waiting_ = 0;
  bool aborted_ = false;
  BlockChecksum single_leaf_;
  std::map<uint64_t, BlockChecksum> out_of_order_;
  struct HashState;
  std::unique_ptr<HashState> state_;
};

// Digest of a whole buffer (tests and small tools).
Digest DigestOfBuffer(DigestAlgorithm algo, std::span<const std::byte> data);

}  // namespace ferry
