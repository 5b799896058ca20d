#include "ferry/delta/delta.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace ferry::delta {
namespace {

using Bytes = std::vector<std::byte>;

Bytes RandomBytes(std::mt19937_64& rng, size_t n) {
  Bytes out(n);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const uint64_t v = rng();
    std::memcpy(out.data() + i, &v, 8);
  }
  for (; i < n; ++i) out[i] = static_cast<std::byte>(rng());
  return out;
}

Bytes Text(std::string_view s) {
  Bytes out(s.size());
  std::memcpy(out.data(), s.data(), s.size());
  return out;
}

Bytes Concat(std::initializer_list<std::span<const std::byte>> parts) {
  Bytes out;
  for (auto part : parts) out.insert(out.end(), part.begin(), part.end());
  return out;
}

std::span<const std::byte> Slice(const Bytes& b, size_t offset, size_t n) {
  return std::span(b).subspan(offset, n);
}

// A ReadFn over a buffer that remembers the largest read it served.
struct BufferReader {
  const Bytes* data;
  size_t largest_read = 0;
  uint64_t bytes_read = 0;

  ReadFn fn() {
    return [this](uint64_t offset, std::span<std::byte> out) -> Result<size_t> {
      largest_read = std::max(largest_read, out.size());
      if (offset > data->size()) {
        return Status::InvalidArgument("read past the end");
      }
      const size_t n = std::min<uint64_t>(out.size(), data->size() - offset);
      std::memcpy(out.data(), data->data() + offset, n);
      bytes_read += n;
      return n;
    };
  }
};

Bytes Sub(const Bytes& b, size_t offset, size_t n) {
  return Bytes(b.begin() + offset, b.begin() + offset + n);
}

std::vector<BlockSignature> Signatures(const Bytes& basis,
                                       uint32_t block_size) {
  BufferReader reader{&basis};
  auto sigs =
      ComputeSignatures(reader.fn(), basis.size(), block_size, 0, SIZE_MAX);
  EXPECT_TRUE(sigs.ok()) << sigs.status().ToString();
  return sigs.ok() ? *sigs : std::vector<BlockSignature>{};
}

struct Delta {
  std::vector<Instruction> instructions;
  MatchStats stats;
  size_t largest_read = 0;
};

Delta Match(std::span<const BlockSignature> sigs, uint32_t block_size,
            uint64_t basis_size, const Bytes& source) {
  Delta delta;
  BufferReader reader{&source};
  Status s = ComputeDelta(
      sigs, block_size, basis_size, reader.fn(), source.size(),
      [&](const Instruction& i) {
        delta.instructions.push_back(i);
        return Status::Ok();
      },
      &delta.stats);
  EXPECT_TRUE(s.ok()) << s.ToString();
  delta.largest_read = reader.largest_read;
  return delta;
}

// What the receiver does: builds the new file from the basis and the
// source's literal bytes, checking every instruction's contract on the way.
Bytes Apply(const Bytes& basis, const Bytes& source,
            const std::vector<Instruction>& instructions) {
  Bytes out;
  for (const Instruction& in : instructions) {
    EXPECT_EQ(in.target_offset, out.size()) << "gap or overlap";
    EXPECT_GT(in.length, 0u);
    if (in.target_offset != out.size() || in.length == 0) break;
    switch (in.kind) {
      case Instruction::Kind::kLiteral:
        EXPECT_LE(in.length, kMaxLiteralLength);
        EXPECT_EQ(in.basis_offset, 0u);
        EXPECT_LE(in.target_offset + in.length, source.size());
        if (in.target_offset + in.length > source.size()) return out;
        out.insert(out.end(), source.begin() + in.target_offset,
                   source.begin() + in.target_offset + in.length);
        break;
      case Instruction::Kind::kCopy:
        EXPECT_LE(in.basis_offset + in.length, basis.size());
        if (in.basis_offset + in.length > basis.size()) return out;
        out.insert(out.end(), basis.begin() + in.basis_offset,
                   basis.begin() + in.basis_offset + in.length);
        break;
    }
  }
  return out;
}

// Signatures of `basis`, the delta of `source` against them, and a check that
// applying it rebuilds `source`.
Delta RoundTrip(const Bytes& basis, const Bytes& source, uint32_t block_size) {
  const auto sigs = Signatures(basis, block_size);
  Delta delta = Match(sigs, block_size, basis.size(), source);
  const Bytes rebuilt = Apply(basis, source, delta.instructions);
  EXPECT_TRUE(rebuilt == source)
      << "rebuilt " << rebuilt.size() << " bytes of " << source.size();
  EXPECT_EQ(delta.stats.literal_bytes + delta.stats.copied_bytes,
            source.size());
  EXPECT_LE(delta.largest_read, (4u << 20) + block_size);
  return delta;
}

Instruction Literal(uint64_t target, uint64_t length) {
  return {Instruction::Kind::kLiteral, target, length, 0};
}
Instruction Copy(uint64_t target, uint64_t length, uint64_t basis) {
  return {Instruction::Kind::kCopy, target, length, basis};
}

TEST(DeltaTest, ChooseBlockSizeIsNearestPowerOfTwoClamped) {
  EXPECT_EQ(ChooseBlockSize(0), 16u << 10);
  EXPECT_EQ(ChooseBlockSize(8 << 20), 16u << 10);
  EXPECT_EQ(ChooseBlockSize(256ull << 20), 16u << 10);
  // 16384 blocks of 16 KiB up to 1.5 * 16 KiB per block, then 32 KiB.
  EXPECT_EQ(ChooseBlockSize(16384ull * 24576 - 1), 16u << 10);
  EXPECT_EQ(ChooseBlockSize(16384ull * 24576), 32u << 10);
  EXPECT_EQ(ChooseBlockSize(1ull << 30), 64u << 10);
  EXPECT_EQ(ChooseBlockSize(3ull << 30), 256u << 10);  // 192 KiB per block
  EXPECT_EQ(ChooseBlockSize(16ull << 30), 1u << 20);
  EXPECT_EQ(ChooseBlockSize(1ull << 50), 1u << 20);
  EXPECT_EQ(ChooseBlockSize(UINT64_MAX), 1u << 20);
}

TEST(DeltaChecksumTest, RollingEqualsFreshChecksumOfEveryWindow) {
  std::mt19937_64 rng(1);
  Bytes data = RandomBytes(rng, 5000);
  // Runs of the extreme byte values too.
  std::fill(data.begin() + 1000, data.begin() + 1600, std::byte{0});
  std::fill(data.begin() + 2000, data.begin() + 2600, std::byte{0xff});
  for (size_t window : {1, 2, 7, 64, 100, 1024, 4096}) {
    RollingChecksum rolling;
    rolling.Reset(Slice(data, 0, window));
    ASSERT_EQ(rolling.value(), WeakChecksum(Slice(data, 0, window)));
    for (size_t pos = 1; pos + window <= data.size(); ++pos) {
      rolling.Roll(data[pos - 1], data[pos + window - 1]);
      ASSERT_EQ(rolling.value(), WeakChecksum(Slice(data, pos, window)))
          << "window " << window << " at " << pos;
    }
  }
}

TEST(DeltaChecksumTest, WeakChecksumIsThePolynomialOfItsDefinition) {
  // sum of (byte[i] + 1) * M^(n-1-i) mod 2^32 - 5, by Horner's rule in the
  // plainest arithmetic, against the computation in weighted pieces, for
  // lengths on and off the pieces' boundaries.
  constexpr uint64_t kP = 4294967291u;
  constexpr uint64_t kM = 0x5bd1e995u;
  std::mt19937_64 rng(7);
  const Bytes data = RandomBytes(rng, (1 << 20) + 300);
  for (size_t n : {0,       1,
                   7,       8,
                   9,       15,
                   16,      17,
                   63,      64,
                   65,      255,
                   256,     257,
                   511,     512,
                   513,     1000,
                   65536,   70000,
                   1 << 20, (1 << 20) + 300}) {
    uint64_t want = 0;
    for (size_t i = 0; i < n; ++i) {
      want = (want * kM % kP + std::to_integer<uint64_t>(data[i]) + 1) % kP;
    }
    EXPECT_EQ(WeakChecksum(Slice(data, 0, n)), want) << "length " << n;
    EXPECT_EQ(internal::PortableWeakChecksum(Slice(data, 0, n)), want)
        << "length " << n;
  }
  // The largest terms everywhere: the sums that go unreduced are largest.
  const Bytes ones(5000, std::byte{0xff});
  for (size_t n : {255, 256, 257, 4096, 5000}) {
    uint64_t want = 0;
    for (size_t i = 0; i < n; ++i) want = (want * kM % kP + 256) % kP;
    EXPECT_EQ(WeakChecksum(Slice(ones, 0, n)), want) << "length " << n;
    EXPECT_EQ(internal::PortableWeakChecksum(Slice(ones, 0, n)), want)
        << "length " << n;
  }
}

TEST(DeltaChecksumTest, WeakChecksumSeparatesSimpleInputs) {
  const Bytes zeros(64);
  EXPECT_EQ(WeakChecksum({}), 0u);
  EXPECT_NE(WeakChecksum(Slice(zeros, 0, 32)), WeakChecksum(zeros));
  EXPECT_NE(WeakChecksum(Text("ab")), WeakChecksum(Text("ba")));
  Bytes ones(64, std::byte{1});
  EXPECT_NE(WeakChecksum(zeros), WeakChecksum(ones));
  // 32-byte records that rsync's sums and XOR-rotate hashes map together.
  Bytes a(1024), b(1024);
  for (size_t i = 0; i < a.size(); ++i) {
    a[i] = static_cast<std::byte>(i % 32);
    b[i] = static_cast<std::byte>(31 - i % 32);
  }
  EXPECT_NE(WeakChecksum(a), WeakChecksum(b));
}

TEST(DeltaSignaturesTest, CoverBlocksWithShortLast) {
  std::mt19937_64 rng(2);
  const Bytes data = RandomBytes(rng, 1000);
  BufferReader reader{&data};
  auto sigs = ComputeSignatures(reader.fn(), data.size(), 256, 0, 100);
  ASSERT_TRUE(sigs.ok()) << sigs.status().ToString();
  ASSERT_EQ(sigs->size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    const auto block =
        Slice(data, i * 256, std::min<size_t>(256, 1000 - i * 256));
    EXPECT_EQ((*sigs)[i].weak, WeakChecksum(block)) << i;
    EXPECT_EQ((*sigs)[i].strong, ComputeBlockChecksum(block)) << i;
  }
}

TEST(DeltaSignaturesTest, PagesAreSlicesOfTheWhole) {
  std::mt19937_64 rng(3);
  // Blocks of 1000 bytes make a read window of many blocks and a last
  // window shorter than the others.
  const Bytes data = RandomBytes(rng, 9'000'123);
  const auto all = Signatures(data, 1000);
  ASSERT_EQ(all.size(), 9001u);
  BufferReader reader{&data};
  std::vector<BlockSignature> paged;
  for (uint64_t first = 0; first < all.size(); first += 2500) {
    auto page = ComputeSignatures(reader.fn(), data.size(), 1000, first, 2500);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    EXPECT_EQ(page->size(), std::min<size_t>(2500, all.size() - first));
    paged.insert(paged.end(), page->begin(), page->end());
  }
  EXPECT_EQ(paged, all);
  EXPECT_LE(reader.largest_read, 4u << 20);
  auto past = ComputeSignatures(reader.fn(), data.size(), 1000, 9001, 10);
  ASSERT_TRUE(past.ok());
  EXPECT_TRUE(past->empty());
  auto none = ComputeSignatures(reader.fn(), data.size(), 1000, 5, 0);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST(DeltaSignaturesTest, RejectsBadBlockSizeAndShortFile) {
  const Bytes data(100);
  BufferReader reader{&data};
  EXPECT_EQ(ComputeSignatures(reader.fn(), 100, 0, 0, 10).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ComputeSignatures(reader.fn(), 100, kMaxBlockSize + 1, 0, 10)
                .status()
                .code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ComputeSignatures(reader.fn(), 150, 64, 0, 10).status().code(),
            StatusCode::kSourceChanged);
  auto empty = ComputeSignatures(reader.fn(), 0, 64, 0, 10);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(DeltaMatchTest, EmptyFiles) {
  const Bytes empty;
  EXPECT_TRUE(RoundTrip(empty, empty, 64).instructions.empty());
  EXPECT_TRUE(RoundTrip(Text("old content"), empty, 64).instructions.empty());
  const Bytes source = Text("new content");
  EXPECT_EQ(RoundTrip(empty, source, 64).instructions,
            std::vector{Literal(0, source.size())});
}

TEST(DeltaMatchTest, IdenticalFilesAreOneCopy) {
  std::mt19937_64 rng(4);
  for (size_t size : {64, 640, 1000, 1, 63, 65}) {
    const Bytes data = RandomBytes(rng, size);
    const Delta delta = RoundTrip(data, data, 64);
    EXPECT_EQ(delta.instructions, std::vector{Copy(0, size, 0)}) << size;
    EXPECT_EQ(delta.stats.false_weak_matches, 0u);
  }
}

TEST(DeltaMatchTest, RepeatedBlocksStillMergeIntoOneCopy) {
  // Every block has the same signature; the matcher keeps following the
  // basis in order instead of jumping back to the first block.
  const Bytes zeros(64 * 100 + 10);
  EXPECT_EQ(RoundTrip(zeros, zeros, 64).instructions,
            std::vector{Copy(0, zeros.size(), 0)});
}

TEST(DeltaMatchTest, SourceShorterThanABlock) {
  std::mt19937_64 rng(5);
  const Bytes basis = RandomBytes(rng, 1000);
  const Bytes source = Sub(basis, 0, 50);
  EXPECT_EQ(RoundTrip(basis, source, 64).instructions,
            std::vector{Literal(0, 50)});
}

TEST(DeltaMatchTest, ShortLastBlockMatchesOnlyAtTheEnd) {
  std::mt19937_64 rng(6);
  const Bytes basis = RandomBytes(rng, 64 * 3 + 20);
  const auto tail = Slice(basis, 64 * 3, 20);
  // Bytes inserted in front: the whole basis follows, short block included.
  const Bytes prefix = RandomBytes(rng, 5);
  Bytes source = Concat({prefix, basis});
  EXPECT_EQ(RoundTrip(basis, source, 64).instructions,
            (std::vector{Literal(0, 5), Copy(5, basis.size(), 0)}));
  // The short block alone in the middle of the source is literal.
  const Bytes filler = RandomBytes(rng, 100);
  source = Concat({filler, tail, filler});
  EXPECT_EQ(RoundTrip(basis, source, 64).instructions,
            std::vector{Literal(0, source.size())});
  // A basis smaller than one block that is the source's end.
  const Bytes small = RandomBytes(rng, 30);
  source = Concat({filler, small});
  EXPECT_EQ(RoundTrip(small, source, 64).instructions,
            (std::vector{Literal(0, 100), Copy(100, 30, 0)}));
  EXPECT_EQ(RoundTrip(small, small, 64).instructions,
            std::vector{Copy(0, 30, 0)});
}

TEST(DeltaMatchTest, InsertedBytesShiftTheRest) {
  std::mt19937_64 rng(7);
  const Bytes basis = RandomBytes(rng, 64 * 20);
  const Bytes inserted = RandomBytes(rng, 13);
  const Bytes source = Concat(
      {Slice(basis, 0, 640), inserted, Slice(basis, 640, basis.size() - 640)});
  EXPECT_EQ(RoundTrip(basis, source, 64).instructions,
            (std::vector{Copy(0, 640, 0), Literal(640, 13),
                         Copy(653, basis.size() - 640, 640)}));
}

TEST(DeltaMatchTest, DeletedBytesShiftTheRest) {
  std::mt19937_64 rng(8);
  const Bytes basis = RandomBytes(rng, 64 * 20);
  // Deleting 10 bytes from block 5 leaves its 54 others literal.
  const Bytes source =
      Concat({Slice(basis, 0, 330), Slice(basis, 340, basis.size() - 340)});
  EXPECT_EQ(RoundTrip(basis, source, 64).instructions,
            (std::vector{Copy(0, 320, 0), Literal(320, 54),
                         Copy(374, basis.size() - 384, 384)}));
}

TEST(DeltaMatchTest, ChangedMiddleAndAppendedTail) {
  std::mt19937_64 rng(9);
  const Bytes basis = RandomBytes(rng, 64 * 20 + 7);
  Bytes source = basis;
  source[64 * 10 + 3] ^= std::byte{1};
  const Bytes appended = RandomBytes(rng, 200);
  source.insert(source.end(), appended.begin(), appended.end());
  // The short last block is no longer at the end, so it becomes literal.
  EXPECT_EQ(RoundTrip(basis, source, 64).instructions,
            (std::vector{Copy(0, 640, 0), Literal(640, 64),
                         Copy(704, 64 * 9, 704), Literal(1280, 207)}));
  // Appended to a basis of whole blocks: one copy and the tail.
  const Bytes whole = Sub(basis, 0, 640);
  source = Concat({whole, appended});
  EXPECT_EQ(RoundTrip(whole, source, 64).instructions,
            (std::vector{Copy(0, 640, 0), Literal(640, 200)}));
}

TEST(DeltaMatchTest, ReorderedBlocksAreSeparateCopies) {
  std::mt19937_64 rng(10);
  const Bytes basis = RandomBytes(rng, 64 * 4);
  const Bytes source = Concat({Slice(basis, 128, 128), Slice(basis, 0, 128)});
  EXPECT_EQ(RoundTrip(basis, source, 64).instructions,
            (std::vector{Copy(0, 128, 128), Copy(128, 128, 0)}));
}

TEST(DeltaMatchTest, LongLiteralsComeInPieces) {
  std::mt19937_64 rng(11);
  const Bytes basis = RandomBytes(rng, 4096);
  const Bytes fresh = RandomBytes(rng, 3 * kMaxLiteralLength + 5);
  const Bytes source = Concat({fresh, basis});
  const Delta delta = RoundTrip(basis, source, 1024);
  const uint64_t m = kMaxLiteralLength;
  EXPECT_EQ(delta.instructions,
            (std::vector{Literal(0, m), Literal(m, m), Literal(2 * m, m),
                         Literal(3 * m, 5), Copy(3 * m + 5, 4096, 0)}));
}

// Random edits (insert, delete, replace) at random places, on files of many
// sizes and block sizes that do and do not divide them.
TEST(DeltaMatchTest, RandomEditsRoundTrip) {
  std::mt19937_64 rng(12);
  const uint32_t block_sizes[] = {16, 64, 100, 512, 4096};
  for (int round = 0; round < 300; ++round) {
    const uint32_t block_size = block_sizes[rng() % std::size(block_sizes)];
    const size_t size =
        rng() % 4 == 0 ? rng() % (2 * block_size) : rng() % (block_size * 40);
    Bytes basis = RandomBytes(rng, size);
    if (rng() % 4 == 0) {  // long runs of one byte: many equal blocks
      for (auto& b : basis)
        b = static_cast<std::byte>(std::to_integer<int>(b) & 1);
    }
    Bytes source = basis;
    const int edits = static_cast<int>(rng() % 6);
    for (int e = 0; e < edits; ++e) {
      const size_t at = source.empty() ? 0 : rng() % (source.size() + 1);
      const size_t n = 1 + rng() % (2 * block_size);
      switch (rng() % 3) {
        case 0: {
          const Bytes ins = RandomBytes(rng, n);
          source.insert(source.begin() + at, ins.begin(), ins.end());
          break;
        }
        case 1:
          source.erase(source.begin() + at,
                       source.begin() + std::min(source.size(), at + n));
          break;
        case 2:
          for (size_t i = at; i < std::min(source.size(), at + n); ++i) {
            source[i] = static_cast<std::byte>(rng());
          }
          break;
      }
    }
    SCOPED_TRACE("round " + std::to_string(round) + ", block " +
                 std::to_string(block_size) + ", basis " +
                 std::to_string(basis.size()) + ", source " +
                 std::to_string(source.size()));
    const Delta delta = RoundTrip(basis, source, block_size);
    if (HasFailure()) return;
    if (edits == 0) {
      EXPECT_LE(delta.instructions.size(), 1u);
    }
  }
}

// (1 MiB in 1 GiB is for the link's benchmark to measure; 16 MiB keeps
// this test short under the sanitizers.)
TEST(DeltaMatchTest, OneMiBChangedIn16MiBSendsAboutOneMiB) {
  std::mt19937_64 rng(13);
  const size_t size = 16 << 20;
  const Bytes basis = RandomBytes(rng, size);
  Bytes source = basis;
  // 1 MiB replaced at an offset that is not a block boundary.
  const size_t at = (7 << 20) + 12345;
  const Bytes changed = RandomBytes(rng, 1 << 20);
  std::copy(changed.begin(), changed.end(), source.begin() + at);
  const uint32_t block_size = ChooseBlockSize(size);
  ASSERT_EQ(block_size, 16u << 10);
  const Delta delta = RoundTrip(basis, source, block_size);
  RecordProperty("literal_bytes", std::to_string(delta.stats.literal_bytes));
  std::printf("16 MiB, 1 MiB changed: %llu literal bytes, %zu instructions\n",
              static_cast<unsigned long long>(delta.stats.literal_bytes),
              delta.instructions.size());
  EXPECT_GE(delta.stats.literal_bytes, 1u << 20);
  EXPECT_LE(delta.stats.literal_bytes, (1u << 20) + 2 * block_size);
  // One copy before, the literal pieces, one copy after.
  EXPECT_LE(delta.instructions.size(), 5u);
  EXPECT_EQ(delta.stats.skipped_checks, 0u);
}

TEST(DeltaMatchTest, LargeBlocksAcrossReadWindows) {
  std::mt19937_64 rng(16);
  const Bytes basis = RandomBytes(rng, (9 << 20) + 123);
  const Bytes inserted = RandomBytes(rng, 1000);
  const size_t at = (3 << 20) + 5;
  const size_t cut = 6 << 20;
  const Bytes source =
      Concat({Slice(basis, 0, at), inserted, Slice(basis, at, cut - at),
              Slice(basis, cut + 77, basis.size() - cut - 77)});
  const Delta delta = RoundTrip(basis, source, kMaxBlockSize);
  // Block 3 (with the insertion) and block 6 (less its first 77 bytes) are
  // literal; the rest, the short last block included, is copied.
  EXPECT_EQ(delta.stats.literal_bytes, 2 * kMaxBlockSize + 1000 - 77);
}

// 65536 signatures with the weak checksum of a block of zeros and distinct
// made-up strong checksums, against a source of zeros: every position is a
// weak hit. The work stays linear and the result correct.
TEST(DeltaMatchTest, HostileWeakCollisionsCostBoundedWork) {
  const uint32_t block_size = 16 << 10;
  const Bytes zeros(block_size);
  const uint32_t weak = WeakChecksum(zeros);
  std::vector<BlockSignature> sigs(65536);
  for (size_t i = 0; i < sigs.size(); ++i) {
    sigs[i] = {weak, {i * 0x9e3779b97f4a7c15ull, i}};
  }
  const uint64_t basis_size = uint64_t{65536} * block_size;
  const Bytes source(4 << 20);
  Delta delta = Match(sigs, block_size, basis_size, source);
  EXPECT_EQ(Apply(Bytes{}, source, delta.instructions), source);
  EXPECT_EQ(delta.stats.literal_bytes, source.size());
  const uint64_t positions = source.size() - block_size + 1;
  EXPECT_LE(delta.stats.strong_checks, 16 + 8 * positions / block_size);
  EXPECT_EQ(delta.stats.strong_checks, delta.stats.false_weak_matches);
  EXPECT_GT(delta.stats.skipped_checks, 0u);
  std::printf("hostile: %llu strong checks, %llu skipped\n",
              static_cast<unsigned long long>(delta.stats.strong_checks),
              static_cast<unsigned long long>(delta.stats.skipped_checks));

  // One true zero block among them is found at every block of the source.
  sigs[40000].strong = ComputeBlockChecksum(zeros);
  delta = Match(sigs, block_size, basis_size, source);
  ASSERT_EQ(delta.instructions.size(), source.size() / block_size);
  for (size_t i = 0; i < delta.instructions.size(); ++i) {
    EXPECT_EQ(delta.instructions[i],
              Copy(i * block_size, block_size, 40000ull * block_size));
  }
  EXPECT_EQ(delta.stats.false_weak_matches, 0u);
}

TEST(DeltaMatchTest, HostileDuplicatesOfRealBlocks) {
  std::mt19937_64 rng(14);
  const Bytes basis = RandomBytes(rng, 64 * 10);
  auto sigs = Signatures(basis, 64);
  // 65536 copies of block 3's signature and a basis size to match.
  std::vector<BlockSignature> hostile(65536, sigs[3]);
  std::copy(sigs.begin(), sigs.end(), hostile.begin());
  const Bytes source = RandomBytes(rng, 1 << 20);
  const Delta delta = Match(hostile, 64, hostile.size() * 64, source);
  EXPECT_EQ(delta.stats.literal_bytes, source.size());
  const Bytes with_block = Concat({source, Slice(basis, 192, 64)});
  const Delta found = Match(hostile, 64, hostile.size() * 64, with_block);
  EXPECT_EQ(found.instructions.back(), Copy(source.size(), 64, 192));
}

TEST(DeltaMatchTest, RejectsInconsistentSignatures) {
  const Bytes source(100);
  BufferReader reader{&source};
  const auto ignore = [](const Instruction&) { return Status::Ok(); };
  std::vector<BlockSignature> sigs(3);
  EXPECT_EQ(ComputeDelta(sigs, 64, 64 * 5, reader.fn(), 100, ignore).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ComputeDelta(sigs, 64, 64 * 2, reader.fn(), 100, ignore).code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(
      ComputeDelta(sigs, 64, 64 * 2 + 1, reader.fn(), 100, ignore).ok());
  EXPECT_EQ(ComputeDelta(sigs, 0, 64, reader.fn(), 100, ignore).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(
      ComputeDelta({}, kMaxBlockSize + 1, 0, reader.fn(), 100, ignore).code(),
      StatusCode::kInvalidArgument);
}

TEST(DeltaMatchTest, ErrorsStopTheMatch) {
  std::mt19937_64 rng(15);
  const Bytes basis = RandomBytes(rng, 64 * 10);
  const auto sigs = Signatures(basis, 64);
  const Bytes source = Concat({RandomBytes(rng, 100), basis});
  BufferReader reader{&source};

  int calls = 0;
  Status s = ComputeDelta(sigs, 64, basis.size(), reader.fn(), source.size(),
                          [&](const Instruction&) {
                            ++calls;
                            return Status::Cancelled("stop");
                          });
  EXPECT_TRUE(s.IsCancelled()) << s.ToString();
  EXPECT_EQ(calls, 1);

  const auto failing = [](uint64_t, std::span<std::byte>) -> Result<size_t> {
    return Status::IoError("disk gone");
  };
  const auto ignore = [](const Instruction&) { return Status::Ok(); };
  EXPECT_EQ(ComputeDelta(sigs, 64, basis.size(), failing, 1000, ignore).code(),
            StatusCode::kIoError);
  // The source is shorter than it was said to be.
  EXPECT_EQ(ComputeDelta(sigs, 64, basis.size(), reader.fn(), source.size() + 1,
                         ignore)
                .code(),
            StatusCode::kSourceChanged);
}

}  // namespace
}  // namespace ferry::delta
