#include "ferry/base/digest.h"

#include <openssl/evp.h>
#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "ferry/base/hex.h"

namespace ferry {

std::string_view DigestAlgorithmName(DigestAlgorithm algo) {
  switch (algo) {
    case DigestAlgorithm::kXxh3_128:
      return "XXH3-128";
    case DigestAlgorithm::kSha256:
      return "SHA-256";
  }
  return "?";
}

Result<DigestAlgorithm> ParseDigestAlgorithm(std::string_view name) {
  std::string n;
  for (char c : name) {
    if (c != '-' && c != '_') n.push_back(static_cast<char>(std::tolower(c)));
  }
  if (n == "xxh3128" || n == "xxh3") return DigestAlgorithm::kXxh3_128;
  if (n == "sha256") return DigestAlgorithm::kSha256;
  return Status::InvalidArgument("unknown checksum algorithm '" +
                                 std::string(name) +
                                 "' (expected XXH3-128 or SHA-256)");
}

BlockChecksum ComputeBlockChecksum(std::span<const std::byte> data) {
  XXH128_hash_t h = XXH3_128bits(data.data(), data.size());
  return BlockChecksum{h.high64, h.low64};
}

std::span<const std::byte> ZeroBlock() {
  static const std::vector<std::byte>* zeros =
      new std::vector<std::byte>(kBlockSize);
  return *zeros;
}

const BlockChecksum& ZeroBlockChecksum() {
  static const BlockChecksum sum = ComputeBlockChecksum(ZeroBlock());
  return sum;
}

std::string Digest::Hex() const {
  return LowerHex(reinterpret_cast<const unsigned char*>(bytes.data()), size);
}

namespace {

void PutBigEndian(uint64_t v, uint8_t* out) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<uint8_t>(v & 0xFF);
    v >>= 8;
  }
}

Digest FromChecksum(const BlockChecksum& c) {
  Digest d;
  d.algorithm = DigestAlgorithm::kXxh3_128;
  d.size = 16;
  PutBigEndian(c.high, d.bytes.data());
  PutBigEndian(c.low, d.bytes.data() + 8);
  return d;
}

}  // namespace

struct FileDigestBuilder::HashState {
  XXH3_state_t* xxh = nullptr;
  EVP_MD_CTX* sha = nullptr;
  ~HashState() {
    if (xxh) XXH3_freeState(xxh);
    if (sha) EVP_MD_CTX_free(sha);
  }
};

FileDigestBuilder::FileDigestBuilder(DigestAlgorithm algo, uint64_t file_size)
    : algo_(algo),
      block_count_(file_size == 0 ? 1
                                  : (file_size + kBlockSize - 1) / kBlockSize),
      state_(std::make_unique<HashState>()) {
  if (algo_ == DigestAlgorithm::kSha256) {
    state_->sha = EVP_MD_CTX_new();
    EVP_DigestInit_ex(state_->sha, EVP_sha256(), nullptr);
  } else if (block_count_ > 1) {
    state_->xxh = XXH3_createState();
    XXH3_128bits_reset(state_->xxh);
  }
}

FileDigestBuilder::~FileDigestBuilder() = default;

void FileDigestBuilder::FoldLeafLocked(const BlockChecksum& checksum) {
  if (block_count_ == 1) {
    single_leaf_ = checksum;
    return;
  }
  uint8_t buf[16];
  PutBigEndian(checksum.high, buf);
  PutBigEndian(checksum.low, buf + 8);
  XXH3_128bits_update(state_->xxh, buf, sizeof(buf));
}

Status FileDigestBuilder::AddBlock(uint64_t index,
                                   const BlockChecksum& checksum,
                                   std::span<const std::byte> data) {
  std::unique_lock lock(mu_);
  if (index >= block_count_) {
    return Status::Internal("block index beyond the file's end");
  }
  if (algo_ == DigestAlgorithm::kSha256) {
    ++waiting_;
    cv_.wait(lock, [&] { return aborted_ || next_index_ == index; });
    --waiting_;
    if (aborted_) return Status::Cancelled("file digest aborted");
    EVP_DigestUpdate(state_->sha, data.data(), data.size());
    ++next_index_;
    cv_.notify_all();
    return Status::Ok();
  }
  if (aborted_) return Status::Cancelled("file digest aborted");
  if (index != next_index_) {
    out_of_order_.emplace(index, checksum);
    return Status::Ok();
  }
  FoldLeafLocked(checksum);
  ++next_index_;
  for (auto it = out_of_order_.begin();
       it != out_of_order_.end() && it->first == next_index_;
       it = out_of_order_.erase(it)) {
    FoldLeafLocked(it->second);
    ++next_index_;
  }
  return Status::Ok();
}

int FileDigestBuilder::waiting() const {
  std::lock_guard lock(mu_);
  return waiting_;
}

void FileDigestBuilder::Abort() {
  std::lock_guard lock(mu_);
  aborted_ = true;
  cv_.notify_all();
}

Result<Digest> FileDigestBuilder::Finish() {
  std::lock_guard lock(mu_);
  if (aborted_) return Status::Cancelled("file digest aborted");
  if (next_index_ != block_count_) {
    return Status::Internal("file digest finished before all blocks arrived");
  }
  if (algo_ == DigestAlgorithm::kSha256) {
    Digest d;
    d.algorithm = DigestAlgorithm::kSha256;
    unsigned int len = 0;
    EVP_DigestFinal_ex(state_->sha, d.bytes.data(), &len);
    d.size = static_cast<uint8_t>(len);
    return d;
  }
  if (block_count_ == 1) return FromChecksum(single_leaf_);
  XXH128_hash_t h = XXH3_128bits_digest(state_->xxh);
  return FromChecksum(BlockChecksum{h.high64, h.low64});
}

Digest DigestOfBuffer(DigestAlgorithm algo, std::span<const std::byte> data) {
  FileDigestBuilder builder(algo, data.size());
  uint64_t index = 0;
  for (uint64_t off = 0; off < data.size() || index == 0; off += kBlockSize) {
    auto block =
        data.subspan(off, std::min<uint64_t>(kBlockSize, data.size() - off));
    (void)builder.AddBlock(index++, ComputeBlockChecksum(block), block);
    if (data.empty()) break;
  }
  return builder.Finish().value();
}

}  // namespace ferry
