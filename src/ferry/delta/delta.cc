#include "ferry/delta/delta.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>
#include <string>
#include <utility>

namespace ferry::delta {
namespace {

// The weak checksum's field: p = 2^32 - 5, the largest prime below 2^32, and
// M, a primitive root mod p (its powers run through every nonzero residue
// before repeating, so no window length makes a byte's weight repeat).
constexpr uint64_t kPrime = 4294967291u;
constexpr uint64_t kMultiplier = 0x5bd1e995u;

// x mod p for any 64-bit x, using 2^32 = 5 (mod p).
inline uint64_t Reduce(uint64_t x) {
  x = (x & 0xffffffffu) + (x >> 32) * 5;  // < 6 * 2^32
  x = (x & 0xffffffffu) + (x >> 32) * 5;  // < 2^32 + 25
  return x >= kPrime ? x - kPrime : x;
}

uint64_t PowMod(uint64_t base, uint64_t exponent) {
  uint64_t result = 1;
  while (exponent != 0) {
    if (exponent & 1) result = Reduce(result * base);
    base = Reduce(base * base);
    exponent >>= 1;
  }
  return result;
}

inline uint64_t ByteTerm(std::byte b) {
  return static_cast<uint64_t>(std::to_integer<uint8_t>(b)) + 1;
}

// The source (or basis) is read in windows of this many bytes, plus a block.
constexpr size_t kReadWindow = 4 << 20;

// Fills `out` from `offset`, tolerating short reads; SourceChanged if the
// file ends first.
Status ReadFully(const ReadFn& read, uint64_t offset, std::span<std::byte> out,
                 uint64_t expected_size) {
  size_t done = 0;
  while (done < out.size()) {
    FERRY_ASSIGN_OR_RETURN(size_t n, read(offset + done, out.subspan(done)));
    if (n > out.size() - done) {
      return Status::Internal("read returned " + std::to_string(n) +
                              " bytes for a buffer of " +
                              std::to_string(out.size() - done));
    }
    if (n == 0) {
      return Status(StatusCode::kSourceChanged,
                    "file ended at byte " + std::to_string(offset + done) +
                        ", expected " + std::to_string(expected_size));
    }
    done += n;
  }
  return Status::Ok();
}

Status CheckBlockSize(uint32_t block_size) {
  if (block_size == 0 || block_size > kMaxBlockSize) {
    return Status::InvalidArgument("block size " + std::to_string(block_size) +
                                   " is not in [1, " +
                                   std::to_string(kMaxBlockSize) + "]");
  }
  return Status::Ok();
}

uint64_t BlockCount(uint64_t size, uint32_t block_size) {
  return size == 0 ? 0 : (size - 1) / block_size + 1;
}

bool StrongLess(const BlockChecksum& a, const BlockChecksum& b) {
  return a.high != b.high ? a.high < b.high : a.low < b.low;
}

// The basis's full blocks by weak checksum. Blocks with the same weak and
// strong checksums are kept once (the lowest-numbered), so a weak hit costs
// a binary search however many hostile duplicates there are; a bitmap of
// weak values answers most misses without the search.
class BlockIndex {
 public:
  struct Entry {
    uint32_t weak;
    BlockChecksum strong;
    uint64_t block;
  };

  explicit BlockIndex(std::span<const BlockSignature> blocks) {
    entries_.reserve(blocks.size());
    for (uint64_t i = 0; i < blocks.size(); ++i) {
      entries_.push_back({blocks[i].weak, blocks[i].strong, i});
    }
    std::sort(entries_.begin(), entries_.end(),
              [](const Entry& a, const Entry& b) {
                if (a.weak != b.weak) return a.weak < b.weak;
                if (a.strong != b.strong) return StrongLess(a.strong, b.strong);
                return a.block < b.block;
              });
    entries_.erase(std::unique(entries_.begin(), entries_.end(),
                               [](const Entry& a, const Entry& b) {
                                 return a.weak == b.weak &&
                                        a.strong == b.strong;
                               }),
                   entries_.end());
    // About 8 bits per entry, between 8 KiB and 2 MiB.
    filter_bits_log2_ = 16;
    while (filter_bits_log2_ < 24 &&
           (uint64_t{1} << filter_bits_log2_) < entries_.size() * 8) {
      ++filter_bits_log2_;
    }
    filter_.assign((size_t{1} << filter_bits_log2_) / 64, 0);
    for (const Entry& e : entries_) {
      const uint32_t bit = FilterBit(e.weak);
      filter_[bit / 64] |= uint64_t{1} << (bit % 64);
    }
  }

  bool empty() const { return entries_.empty(); }

  // False means no block has this weak checksum; true means maybe.
  bool MayContain(uint32_t weak) const {
    const uint32_t bit = FilterBit(weak);
    return (filter_[bit / 64] >> (bit % 64)) & 1;
  }

  // The distinct blocks with this weak checksum, sorted by strong checksum.
  std::span<const Entry> WithWeak(uint32_t weak) const {
    auto [first, last] = std::equal_range(
        entries_.begin(), entries_.end(), weak,
        [](const auto& a, const auto& b) { return Weak(a) < Weak(b); });
    return {first, last};
  }

  // The lowest-numbered block in `range` with this strong checksum.
  static std::optional<uint64_t> FindStrong(std::span<const Entry> range,
                                            const BlockChecksum& strong) {
    auto it = std::lower_bound(range.begin(), range.end(), strong,
                               [](const Entry& e, const BlockChecksum& s) {
                                 return StrongLess(e.strong, s);
                               });
    if (it == range.end() || it->strong != strong) return std::nullopt;
    return it->block;
  }

 private:
  static uint32_t Weak(uint32_t weak) { return weak; }
  static uint32_t Weak(const Entry& e) { return e.weak; }

  uint32_t FilterBit(uint32_t weak) const {
    return (weak * 0x9e3779b1u) >> (32 - filter_bits_log2_);
  }

  std::vector<Entry> entries_;
  int filter_bits_log2_ = 16;
  std::vector<uint64_t> filter_;
};

// A sliding buffer over the source: holds [start, start + length) and moves
// forward only.
class SourceWindow {
 public:
  SourceWindow(const ReadFn& read, uint64_t size, size_t capacity)
      : read_(read), size_(size), buffer_(capacity) {}

  uint64_t end() const { return start_ + length_; }
  const std::byte* at(uint64_t offset) const {
    return buffer_.data() + (offset - start_);
  }

  // Makes [offset, end) available. REQUIRES: end <= size, end - offset <=
  // capacity (which is at least a block and a byte, or the whole source),
  // offset not below an earlier call's.
  Status Fill(uint64_t offset, uint64_t end) {
    if (offset >= start_ && end <= this->end()) return Status::Ok();
    const size_t keep =
        offset < this->end() ? static_cast<size_t>(this->end() - offset) : 0;
    if (keep > 0) std::memmove(buffer_.data(), at(offset), keep);
    start_ = offset;
    length_ = keep;
    const size_t want = static_cast<size_t>(
        std::min<uint64_t>(buffer_.size() - length_, size_ - this->end()));
    FERRY_RETURN_IF_ERROR(ReadFully(
        read_, this->end(), std::span(buffer_.data() + length_, want), size_));
    length_ += want;
    return Status::Ok();
  }

 private:
  const ReadFn& read_;
  const uint64_t size_;
  std::vector<std::byte> buffer_;
  uint64_t start_ = 0;
  size_t length_ = 0;
};

// One ComputeDelta call.
class Matcher {
 public:
  Matcher(std::span<const BlockSignature> signatures, uint32_t block_size,
          uint64_t basis_size, const ReadFn& read_source, uint64_t source_size,
          const InstructionFn& emit, MatchStats& stats)
      : signatures_(signatures),
        block_size_(block_size),
        full_blocks_(basis_size / block_size),
        short_length_(basis_size % block_size),
        index_(signatures.first(full_blocks_)),
        source_size_(source_size),
        window_(read_source, source_size,
                static_cast<size_t>(
                    std::min<uint64_t>(kReadWindow + block_size, source_size))),
        emit_(emit),
        stats_(stats) {}

  Status Run() {
    const uint64_t b = block_size_;
    uint64_t pos = 0;
    if (source_size_ >= b && !index_.empty()) {
      RollingChecksum rolling;
      FERRY_RETURN_IF_ERROR(window_.Fill(pos, pos + b));
      rolling.Reset(std::span(window_.at(pos), b));
      while (true) {
        if (std::optional<uint64_t> block = MatchAt(pos, rolling.value())) {
          FERRY_RETURN_IF_ERROR(AddCopy(pos, *block * b, b));
          pos += b;
          if (pos + b > source_size_) break;
          FERRY_RETURN_IF_ERROR(window_.Fill(pos, pos + b));
          rolling.Reset(std::span(window_.at(pos), b));
          continue;
        }
        if (pos + b == source_size_) {
          ++pos;
          break;
        }
        if (pos + b + 1 > window_.end()) {
          FERRY_RETURN_IF_ERROR(window_.Fill(pos, pos + b + 1));
        }
        const std::byte* p = window_.at(pos);
        rolling.Roll(p[0], p[b]);
        ++pos;
        if (pos - covered_ >= kMaxLiteralLength) {
          FERRY_RETURN_IF_ERROR(EmitLiteral(covered_ + kMaxLiteralLength));
        }
      }
    }
    // The short last block, only where it ends the source.
    if (short_length_ > 0 && source_size_ >= short_length_ &&
        pos <= source_size_ - short_length_) {
      const uint64_t at = source_size_ - short_length_;
      FERRY_RETURN_IF_ERROR(window_.Fill(at, source_size_));
      const std::span<const std::byte> tail(window_.at(at), short_length_);
      const BlockSignature& last = signatures_[full_blocks_];
      if (WeakChecksum(tail) == last.weak) {
        ++stats_.strong_checks;
        if (ComputeBlockChecksum(tail) == last.strong) {
          FERRY_RETURN_IF_ERROR(
              AddCopy(at, full_blocks_ * block_size_, short_length_));
        } else {
          ++stats_.false_weak_matches;
        }
      }
    }
    FERRY_RETURN_IF_ERROR(EmitLiteral(source_size_));
    return FlushCopy();
  }

 private:
  // The block matching the source's block at `pos` (whose weak checksum is
  // `weak`), preferring the one that continues the pending copy.
  std::optional<uint64_t> MatchAt(uint64_t pos, uint32_t weak) {
    if (!index_.MayContain(weak)) return std::nullopt;
    // Checks that confirm nothing may cost 8 hashed bytes per byte scanned
    // plus 16 blocks; true matches pay for themselves by skipping a block.
    // Tested before the search, so hostile signatures cost no more than a
    // bitmap test per byte.
    const uint64_t b = block_size_;
    if (false_check_bytes_ + b > 16 * b + 8 * pos) {
      ++stats_.skipped_checks;
      return std::nullopt;
    }
    const auto candidates = index_.WithWeak(weak);
    if (candidates.empty()) return std::nullopt;
    const BlockChecksum strong =
        ComputeBlockChecksum(std::span(window_.at(pos), b));
    ++stats_.strong_checks;
    if (copy_ && copy_->target_offset + copy_->length == pos) {
      const uint64_t basis_end = copy_->basis_offset + copy_->length;
      const uint64_t next = basis_end / b;
      if (basis_end % b == 0 && next < full_blocks_ &&
          signatures_[next].weak == weak &&
          signatures_[next].strong == strong) {
        return next;
      }
    }
    if (std::optional<uint64_t> block =
            BlockIndex::FindStrong(candidates, strong)) {
      return block;
    }
    ++stats_.false_weak_matches;
    false_check_bytes_ += b;
    return std::nullopt;
  }

  // Everything before `target` not yet covered is literal.
  Status AddCopy(uint64_t target, uint64_t basis, uint64_t length) {
    if (target > covered_) FERRY_RETURN_IF_ERROR(EmitLiteral(target));
    if (copy_ && copy_->target_offset + copy_->length == target &&
        copy_->basis_offset + copy_->length == basis) {
      copy_->length += length;
    } else {
      FERRY_RETURN_IF_ERROR(FlushCopy());
      copy_ = Instruction{Instruction::Kind::kCopy, target, length, basis};
    }
    covered_ = target + length;
    return Status::Ok();
  }

  // Emits [covered_, end) as literal pieces, after the pending copy.
  Status EmitLiteral(uint64_t end) {
    if (covered_ >= end) return Status::Ok();
    FERRY_RETURN_IF_ERROR(FlushCopy());
    while (covered_ < end) {
      const uint64_t length = std::min(end - covered_, kMaxLiteralLength);
      stats_.literal_bytes += length;
      FERRY_RETURN_IF_ERROR(
          emit_(Instruction{Instruction::Kind::kLiteral, covered_, length, 0}));
      covered_ += length;
    }
    return Status::Ok();
  }

  Status FlushCopy() {
    if (!copy_) return Status::Ok();
    const Instruction copy = *copy_;
    copy_.reset();
    stats_.copied_bytes += copy.length;
    return emit_(copy);
  }

  const std::span<const BlockSignature> signatures_;
  const uint32_t block_size_;
  const uint64_t full_blocks_;
  const uint64_t short_length_;
  const BlockIndex index_;
  const uint64_t source_size_;
  SourceWindow window_;
  const InstructionFn& emit_;
  MatchStats& stats_;
  // Source bytes [0, covered_) are emitted or in copy_.
  uint64_t covered_ = 0;
  std::optional<Instruction> copy_;
  uint64_t false_check_bytes_ = 0;
};

}  // namespace

uint32_t ChooseBlockSize(uint64_t file_size) {
  constexpr uint64_t kBlocksPerFile = 16384;
  uint64_t size = kMinBlockSize;
  // Past 1.5 * size, 2 * size is the nearer power of two.
  while (size < kMaxBlockSize &&
         file_size >= (size + size / 2) * kBlocksPerFile) {
    size *= 2;
  }
  return static_cast<uint32_t>(size);
}

namespace {

// WeakChecksum goes through its bytes in pieces of this many.
constexpr size_t kPiece = 256;

// PieceWeights()[j] = M^(kPiece - 1 - j) mod p: the weight of byte j of a
// whole piece within the piece.
const std::array<uint32_t, kPiece>& PieceWeights() {
  static const std::array<uint32_t, kPiece> weights = [] {
    std::array<uint32_t, kPiece> w{};
    uint64_t power = 1;
    for (size_t j = kPiece; j-- > 0;) {
      w[j] = static_cast<uint32_t>(power);
      power = Reduce(power * kMultiplier);
    }
    return w;
  }();
  return weights;
}

// sum over j of ByteTerm(bytes[j]) * weights[j], reduced. Each product is
// under 2^9 * 2^32 and there are at most kPiece of them, so the sum fits in
// 64 bits unreduced: independent multiply-adds, which the compiler runs
// side by side (and vectorizes where it may use AVX2).
[[gnu::always_inline]] inline uint64_t WeightedSumLoop(const std::byte* bytes,
                                                       const uint32_t* weights,
                                                       size_t n) {
  uint64_t sum = 0;
  for (size_t j = 0; j < n; ++j) {
    sum += (uint64_t{std::to_integer<uint8_t>(bytes[j])} + 1) * weights[j];
  }
  return Reduce(sum);
}

uint64_t WeightedSumPortable(const std::byte* bytes, const uint32_t* weights,
                             size_t n) {
  return WeightedSumLoop(bytes, weights, n);
}

#if defined(__x86_64__)
// The same loop built for AVX2 (about 3 x as fast here). Chosen at run time
// by a plain test of the processor, not an ifunc: the sanitizers' runtimes
// are not ready when ifunc resolvers run.
[[gnu::target("avx2")]] uint64_t WeightedSumAvx2(const std::byte* bytes,
                                                 const uint32_t* weights,
                                                 size_t n) {
  return WeightedSumLoop(bytes, weights, n);
}

bool HaveAvx2() {
  static const bool have = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") != 0;
  }();
  return have;
}
#endif

using WeightedSumFn = uint64_t (*)(const std::byte*, const uint32_t*, size_t);

uint32_t WeakChecksumWith(WeightedSumFn weighted_sum,
                          std::span<const std::byte> data) {
  // Horner's rule byte by byte is one long chain of dependent
  // multiplications. Instead each piece of kPiece bytes is summed with
  // its bytes' weights from a table (weighted_sum), and Horner's rule
  // joins the pieces: h = h * M^kPiece + piece. The bytes before the first
  // whole piece (the length modulo kPiece) make the first, short piece,
  // weighted by the table's last entries (byte j of r is worth
  // M^(r - 1 - j)).
  static const uint64_t kPieceFactor = PowMod(kMultiplier, kPiece);
  const std::array<uint32_t, kPiece>& weights = PieceWeights();
  const size_t r = data.size() % kPiece;
  uint64_t h = weighted_sum(data.data(), weights.data() + (kPiece - r), r);
  for (size_t at = r; at < data.size(); at += kPiece) {
    h = Reduce(Reduce(h * kPieceFactor) +
               weighted_sum(data.data() + at, weights.data(), kPiece));
  }
  return static_cast<uint32_t>(h);
}

}  // namespace

uint32_t WeakChecksum(std::span<const std::byte> data) {
#if defined(__x86_64__)
  if (HaveAvx2()) return WeakChecksumWith(WeightedSumAvx2, data);
#endif
  return WeakChecksumWith(WeightedSumPortable, data);
}

namespace internal {
uint32_t PortableWeakChecksum(std::span<const std::byte> data) {
  return WeakChecksumWith(WeightedSumPortable, data);
}
}  // namespace internal

void RollingChecksum::Reset(std::span<const std::byte> window) {
  value_ = WeakChecksum(window);
  out_factor_ = static_cast<uint32_t>(PowMod(kMultiplier, window.size()));
}

void RollingChecksum::Roll(std::byte out, std::byte in) {
  const uint64_t out_term = Reduce(ByteTerm(out) * out_factor_);
  value_ = static_cast<uint32_t>(Reduce(uint64_t{value_} * kMultiplier +
                                        ByteTerm(in) + (kPrime - out_term)));
}

Result<std::vector<BlockSignature>> ComputeSignatures(const ReadFn& read,
                                                      uint64_t size,
                                                      uint32_t block_size,
                                                      uint64_t first_block,
                                                      size_t max_count) {
  FERRY_RETURN_IF_ERROR(CheckBlockSize(block_size));
  const uint64_t count = BlockCount(size, block_size);
  std::vector<BlockSignature> signatures;
  if (first_block >= count) return signatures;
  const uint64_t wanted = std::min<uint64_t>(count - first_block, max_count);
  signatures.reserve(wanted);
  const uint64_t blocks_per_read =
      std::max<uint64_t>(1, kReadWindow / block_size);
  std::vector<std::byte> buffer(static_cast<size_t>(
      std::min(std::min(blocks_per_read, wanted) * block_size,
               size - first_block * block_size)));
  for (uint64_t i = 0; i < wanted; i += blocks_per_read) {
    const uint64_t offset = (first_block + i) * block_size;
    const uint64_t blocks = std::min(blocks_per_read, wanted - i);
    const size_t length = std::min(blocks * block_size, size - offset);
    FERRY_RETURN_IF_ERROR(
        ReadFully(read, offset, std::span(buffer.data(), length), size));
    for (size_t at = 0; at < length; at += block_size) {
      const std::span<const std::byte> block(
          buffer.data() + at, std::min<size_t>(block_size, length - at));
      signatures.push_back({WeakChecksum(block), ComputeBlockChecksum(block)});
    }
  }
  return signatures;
}

Status ComputeDelta(std::span<const BlockSignature> signatures,
                    uint32_t block_size, uint64_t basis_size,
                    const ReadFn& read_source, uint64_t source_size,
                    const InstructionFn& emit, MatchStats* stats) {
  MatchStats local;
  MatchStats& out = stats ? *stats : local;
  out = MatchStats{};
  FERRY_RETURN_IF_ERROR(CheckBlockSize(block_size));
  if (signatures.size() != BlockCount(basis_size, block_size)) {
    return Status::InvalidArgument(
        std::to_string(signatures.size()) + " signatures for a basis of " +
        std::to_string(basis_size) + " bytes in blocks of " +
        std::to_string(block_size));
  }
  Matcher matcher(signatures, block_size, basis_size, read_source, source_size,
                  emit, out);
  return matcher.Run();
}

}  // namespace ferry::delta
