#include "ferry/base/digest.h"

#include <gtest/gtest.h>
#include <openssl/sha.h>
#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace ferry {
namespace {

std::vector<std::byte> Bytes(size_t n, uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::byte> out(n);
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v = rng();
    std::memcpy(out.data() + i, &v, std::min<size_t>(8, n - i));
  }
  return out;
}

std::span<const std::byte> Block(const std::vector<std::byte>& data,
                                 uint64_t index) {
  uint64_t off = index * kBlockSize;
  return std::span<const std::byte>(data).subspan(
      off, std::min<uint64_t>(kBlockSize, data.size() - off));
}

std::string Hex(const uint8_t* p, size_t n) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kHex[p[i] >> 4]);
    out.push_back(kHex[p[i] & 15]);
  }
  return out;
}

// What `xxh128sum` prints: the canonical (big-endian) form.
std::string Xxh128Hex(std::span<const std::byte> data) {
  XXH128_canonical_t c;
  XXH128_canonicalFromHash(&c, XXH3_128bits(data.data(), data.size()));
  return Hex(c.digest, sizeof(c.digest));
}

// What `sha256sum` prints.
std::string Sha256Hex(std::span<const std::byte> data) {
  uint8_t md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), md);
  return Hex(md, sizeof(md));
}

// The documented XXH3-128 digest of a file above one block: XXH3-128 over the
// 16-byte big-endian block checksums.
std::string TreeXxhHex(const std::vector<std::byte>& data) {
  std::vector<std::byte> leaves;
  for (uint64_t i = 0; i * kBlockSize < data.size(); ++i) {
    XXH128_canonical_t c;
    auto block = Block(data, i);
    XXH128_canonicalFromHash(&c, XXH3_128bits(block.data(), block.size()));
    const auto* p = reinterpret_cast<const std::byte*>(c.digest);
    leaves.insert(leaves.end(), p, p + sizeof(c.digest));
  }
  return Xxh128Hex(leaves);
}

TEST(DigestTest, AlgorithmNamesRoundTrip) {
  EXPECT_EQ(DigestAlgorithmName(DigestAlgorithm::kXxh3_128), "XXH3-128");
  EXPECT_EQ(DigestAlgorithmName(DigestAlgorithm::kSha256), "SHA-256");
  for (const char* name : {"XXH3-128", "xxh3_128", "xxh3", "XXH3128"}) {
    auto a = ParseDigestAlgorithm(name);
    ASSERT_TRUE(a.ok()) << name;
    EXPECT_EQ(*a, DigestAlgorithm::kXxh3_128) << name;
  }
  for (const char* name : {"SHA-256", "sha256", "Sha_256"}) {
    auto a = ParseDigestAlgorithm(name);
    ASSERT_TRUE(a.ok()) << name;
    EXPECT_EQ(*a, DigestAlgorithm::kSha256) << name;
  }
}

TEST(DigestTest, UnknownAlgorithmIsRejectedByName) {
  auto a = ParseDigestAlgorithm("md5");
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(a.status().message().find("md5"), std::string_view::npos);
  EXPECT_FALSE(ParseDigestAlgorithm("").ok());
}

TEST(DigestTest, XxhOfAtMostOneBlockIsPlainXxh3_128) {
  for (size_t n : {size_t{0}, size_t{1}, size_t{4096}, size_t{kBlockSize - 1},
                   size_t{kBlockSize}}) {
    std::vector<std::byte> data = Bytes(n, 7);
    Digest d = DigestOfBuffer(DigestAlgorithm::kXxh3_128, data);
    EXPECT_EQ(d.algorithm, DigestAlgorithm::kXxh3_128);
    EXPECT_EQ(d.size, 16);
    EXPECT_EQ(d.Hex(), Xxh128Hex(data)) << "size " << n;
  }
}

TEST(DigestTest, XxhOfEmptyFileIsTheWellKnownValue) {
  Digest d = DigestOfBuffer(DigestAlgorithm::kXxh3_128, {});
  EXPECT_EQ(d.Hex(), "99aa06d3014798d86001c324468d497f");
}

TEST(DigestTest, XxhOfSeveralBlocksHashesTheBlockChecksums) {
  for (size_t n : {size_t{kBlockSize + 1}, size_t{3 * kBlockSize},
                   size_t{3 * kBlockSize + 12345}}) {
    std::vector<std::byte> data = Bytes(n, 11);
    Digest d = DigestOfBuffer(DigestAlgorithm::kXxh3_128, data);
    EXPECT_EQ(d.Hex(), TreeXxhHex(data)) << "size " << n;
    EXPECT_NE(d.Hex(), Xxh128Hex(data));
  }
}

TEST(DigestTest, Sha256IsThatOfTheWholeContent) {
  for (size_t n : {size_t{0}, size_t{3}, size_t{kBlockSize},
                   size_t{kBlockSize + 1}, size_t{3 * kBlockSize + 777}}) {
    std::vector<std::byte> data = Bytes(n, 13);
    Digest d = DigestOfBuffer(DigestAlgorithm::kSha256, data);
    EXPECT_EQ(d.algorithm, DigestAlgorithm::kSha256);
    EXPECT_EQ(d.size, 32);
    EXPECT_EQ(d.Hex(), Sha256Hex(data)) << "size " << n;
  }
  std::string abc = "abc";
  EXPECT_EQ(DigestOfBuffer(DigestAlgorithm::kSha256,
                           std::as_bytes(std::span<const char>(abc)))
                .Hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(DigestTest, ContentChangesChangeTheDigest) {
  std::vector<std::byte> data = Bytes(2 * kBlockSize + 5, 17);
  for (DigestAlgorithm algo :
       {DigestAlgorithm::kXxh3_128, DigestAlgorithm::kSha256}) {
    Digest before = DigestOfBuffer(algo, data);
    std::vector<std::byte> changed = data;
    changed[kBlockSize + 3] ^= std::byte{1};
    EXPECT_FALSE(DigestOfBuffer(algo, changed) == before);
    EXPECT_TRUE(DigestOfBuffer(algo, data) == before);
  }
}

TEST(DigestTest, DigestsOfDifferentAlgorithmsNeverCompareEqual) {
  Digest a = DigestOfBuffer(DigestAlgorithm::kXxh3_128, {});
  Digest b = a;
  b.algorithm = DigestAlgorithm::kSha256;
  EXPECT_FALSE(a == b);
  Digest none;
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(none.Hex(), "");
  EXPECT_FALSE(a.empty());
}

TEST(FileDigestBuilderTest, BlockCountCoversTheFile) {
  EXPECT_EQ(FileDigestBuilder(DigestAlgorithm::kXxh3_128, 0).block_count(), 1u);
  EXPECT_EQ(FileDigestBuilder(DigestAlgorithm::kXxh3_128, 1).block_count(), 1u);
  EXPECT_EQ(
      FileDigestBuilder(DigestAlgorithm::kXxh3_128, kBlockSize).block_count(),
      1u);
  EXPECT_EQ(
      FileDigestBuilder(DigestAlgorithm::kSha256, kBlockSize + 1).block_count(),
      2u);
}

TEST(FileDigestBuilderTest, XxhAcceptsBlocksOutOfOrder) {
  std::vector<std::byte> data = Bytes(7 * kBlockSize + 100, 19);
  const uint64_t blocks = 8;
  std::vector<uint64_t> order(blocks);
  std::iota(order.begin(), order.end(), 0);
  std::mt19937 rng(3);
  for (int round = 0; round < 5; ++round) {
    std::shuffle(order.begin(), order.end(), rng);
    FileDigestBuilder b(DigestAlgorithm::kXxh3_128, data.size());
    for (uint64_t i : order) {
      auto block = Block(data, i);
      ASSERT_TRUE(b.AddBlock(i, ComputeBlockChecksum(block), block).ok());
    }
    auto d = b.Finish();
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    EXPECT_EQ(d->Hex(), TreeXxhHex(data));
  }
}

TEST(FileDigestBuilderTest, XxhFromConcurrentWorkers) {
  std::vector<std::byte> data = Bytes(16 * kBlockSize, 23);
  FileDigestBuilder b(DigestAlgorithm::kXxh3_128, data.size());
  {
    std::vector<std::jthread> workers;
    for (int64_t w = 0; w < 4; ++w) {
      workers.emplace_back([&, w] {
        for (int64_t i = 15 - w; i >= 0; i -= 4) {  // each from the top down
          auto block = Block(data, i);
          EXPECT_TRUE(b.AddBlock(i, ComputeBlockChecksum(block), block).ok());
        }
      });
    }
  }
  auto d = b.Finish();
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->Hex(), TreeXxhHex(data));
}

// Waits (at most 30 s) until `n` AddBlock calls of `b` are blocked.
::testing::AssertionResult WaitForWaiters(const FileDigestBuilder& b, int n) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (b.waiting() < n) {
    if (std::chrono::steady_clock::now() > deadline) {
      return ::testing::AssertionFailure()
             << b.waiting() << " callers wait, expected " << n;
    }
    std::this_thread::yield();
  }
  return ::testing::AssertionSuccess();
}

TEST(FileDigestBuilderTest, Sha256WaitsForEarlierBlocks) {
  std::vector<std::byte> data = Bytes(6 * kBlockSize + 9, 29);
  FileDigestBuilder b(DigestAlgorithm::kSha256, data.size());
  {
    // Blocks 6..1 first: each must wait for its predecessors, so all six
    // are blocked until block 0 arrives.
    std::vector<std::jthread> workers;
    for (int64_t i = 6; i >= 1; --i) {
      workers.emplace_back([&, i] {
        auto block = Block(data, i);
        EXPECT_TRUE(b.AddBlock(i, ComputeBlockChecksum(block), block).ok());
      });
    }
    ASSERT_TRUE(WaitForWaiters(b, 6));
    auto block0 = Block(data, 0);
    EXPECT_TRUE(b.AddBlock(0, ComputeBlockChecksum(block0), block0).ok());
  }
  EXPECT_EQ(b.waiting(), 0);
  auto d = b.Finish();
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->Hex(), Sha256Hex(data));
}

TEST(FileDigestBuilderTest, AbortWakesAWaiter) {
  std::vector<std::byte> data = Bytes(2 * kBlockSize, 31);
  FileDigestBuilder b(DigestAlgorithm::kSha256, data.size());
  std::atomic<bool> returned{false};
  Status waited;
  std::jthread t([&] {
    auto block = Block(data, 1);
    waited = b.AddBlock(1, ComputeBlockChecksum(block), block);
    returned = true;
  });
  ASSERT_TRUE(WaitForWaiters(b, 1)) << "block 1 did not wait for block 0";
  EXPECT_FALSE(returned.load());
  b.Abort();
  t.join();
  EXPECT_TRUE(waited.IsCancelled()) << waited.ToString();
  EXPECT_FALSE(b.Finish().ok());
  auto block0 = Block(data, 0);
  EXPECT_FALSE(b.AddBlock(0, ComputeBlockChecksum(block0), block0).ok());
}

TEST(FileDigestBuilderTest, FinishBeforeEveryBlockFails) {
  std::vector<std::byte> data = Bytes(3 * kBlockSize, 37);
  FileDigestBuilder b(DigestAlgorithm::kXxh3_128, data.size());
  auto block = Block(data, 0);
  ASSERT_TRUE(b.AddBlock(0, ComputeBlockChecksum(block), block).ok());
  auto block2 = Block(data, 2);
  ASSERT_TRUE(b.AddBlock(2, ComputeBlockChecksum(block2), block2).ok());
  EXPECT_FALSE(b.Finish().ok());
}

TEST(FileDigestBuilderTest, BlockBeyondTheEndIsRejected) {
  FileDigestBuilder b(DigestAlgorithm::kXxh3_128, kBlockSize);
  std::span<const std::byte> none;
  EXPECT_FALSE(b.AddBlock(1, ComputeBlockChecksum(none), none).ok());
  FileDigestBuilder s(DigestAlgorithm::kSha256, kBlockSize);
  EXPECT_FALSE(s.AddBlock(5, ComputeBlockChecksum(none), none).ok());
}

TEST(BlockChecksumTest, ZeroBlockIsAFullBlockOfZeros) {
  std::span<const std::byte> zeros = ZeroBlock();
  ASSERT_EQ(zeros.size(), kBlockSize);
  EXPECT_TRUE(std::all_of(zeros.begin(), zeros.end(),
                          [](std::byte b) { return b == std::byte{0}; }));
  std::vector<std::byte> mine(kBlockSize);
  EXPECT_EQ(ZeroBlockChecksum(), ComputeBlockChecksum(mine));
  mine[kBlockSize - 1] = std::byte{1};
  EXPECT_FALSE(ZeroBlockChecksum() == ComputeBlockChecksum(mine));
}

TEST(BlockChecksumTest, IsXxh3_128OfTheBlock) {
  std::vector<std::byte> data = Bytes(1000, 41);
  XXH128_hash_t h = XXH3_128bits(data.data(), data.size());
  BlockChecksum c = ComputeBlockChecksum(data);
  EXPECT_EQ(c.high, h.high64);
  EXPECT_EQ(c.low, h.low64);
}

}  // namespace
}  // namespace ferry
