#include "ferry/storage/backend.h"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace ferry {

Result<uint64_t> PartSize(const Capabilities& caps, uint64_t size) {
  if (caps.part_size_min == 0) return uint64_t{0};
  constexpr uint64_t kMiB = 1 << 20;
  uint64_t part = std::max(caps.part_size_min, caps.part_size_preferred);
  part = (part + kMiB - 1) / kMiB * kMiB;
  if (caps.max_parts > 0) {
    const uint64_t needed = (size + caps.max_parts - 1) / caps.max_parts;
    if (needed > part) part = (needed + kMiB - 1) / kMiB * kMiB;
  }
  if (caps.part_size_max > 0 && part > caps.part_size_max) {
    return Status::InvalidArgument(
        "a file of " + std::to_string(size) + " bytes does not fit in " +
        std::to_string(caps.max_parts) + " parts of at most " +
        std::to_string(caps.part_size_max) + " bytes");
  }
  return part;
}

Status Backend::CleanupStaging(const StagingCleanup&) { return Status::Ok(); }

Result<std::pair<Digest, Entry>> Backend::ComputeDigest(
    const RelPath& path, DigestAlgorithm algorithm, const std::stop_token& stop,
    const std::function<void(uint64_t bytes)>& on_bytes) {
  static thread_local std::unique_ptr<std::byte[]> buffer(
      new std::byte[kBlockSize]);
  FERRY_ASSIGN_OR_RETURN(std::unique_ptr<Reader> reader, OpenRead(path));
  const Entry& e = reader->entry();
  FileDigestBuilder builder(algorithm, e.size);
  std::span<std::byte> buf(buffer.get(), kBlockSize);
  if (e.size == 0) {
    std::span<const std::byte> empty;
    FERRY_RETURN_IF_ERROR(
        builder.AddBlock(0, ComputeBlockChecksum(empty), empty));
  }
  uint64_t index = 0;
  for (uint64_t pos = 0; pos < e.size; pos += kBlockSize, ++index) {
    if (stop.stop_requested()) {
      return Status::Cancelled("verification cancelled");
    }
    uint64_t len = std::min<uint64_t>(kBlockSize, e.size - pos);
    FERRY_ASSIGN_OR_RETURN(size_t n, reader->ReadAt(pos, buf.subspan(0, len)));
    if (n < len) {
      return Status(StatusCode::kSourceChanged,
                    path.Display() + " shrank while it was read");
    }
    auto block = buf.subspan(0, len);
    FERRY_RETURN_IF_ERROR(
        builder.AddBlock(index, ComputeBlockChecksum(block), block));
    if (on_bytes) on_bytes(len);
  }
  FERRY_ASSIGN_OR_RETURN(Digest d, builder.Finish());
  return std::make_pair(d, e);
}

std::vector<Result<std::optional<Entry>>> Backend::StatMany(
    std::span<const RelPath> paths) {
  std::vector<Result<std::optional<Entry>>> out;
  out.reserve(paths.size());
  for (const RelPath& p : paths) out.push_back(Stat(p));
  return out;
}

std::vector<Result<XattrList>> Backend::GetXattrsMany(
    std::span<const RelPath> paths) {
  std::vector<Result<XattrList>> out;
  out.reserve(paths.size());
  for (const RelPath& p : paths) out.push_back(GetXattrs(p));
  return out;
}

std::vector<Result<std::pair<Digest, Entry>>> Backend::ComputeDigestMany(
    std::span<const RelPath> paths, DigestAlgorithm algorithm,
    const std::stop_token& stop,
    const std::function<void(uint64_t bytes)>& on_bytes) {
  std::vector<Result<std::pair<Digest, Entry>>> out;
  out.reserve(paths.size());
  for (const RelPath& p : paths) {
    out.push_back(ComputeDigest(p, algorithm, stop, on_bytes));
  }
  return out;
}

std::vector<Status> Backend::RemoveFiles(std::span<const RelPath> paths,
                                         std::stop_token stop) {
  std::vector<Status> out;
  out.reserve(paths.size());
  for (const RelPath& p : paths) {
    if (stop.stop_requested()) {
      out.push_back(Status::Cancelled("cancelled"));
      continue;
    }
    Status st = Remove(p);
    out.push_back(st.IsNotFound() ? Status::Ok() : std::move(st));
  }
  return out;
}

Status Backend::CleanupStagingEntry(const Entry&, const StagingCleanup&) {
  return Status::Ok();
}

Result<Extent> Reader::NextData(uint64_t offset) {
  uint64_t size = entry().size;
  if (offset >= size) return Extent{size, 0};
  return Extent{offset, size - offset};
}

Status StagedWriter::SetXattrs(const XattrList& xattrs, bool, bool) {
  if (xattrs.empty()) return Status::Ok();
  return Status::NotSupported("this location cannot store extended attributes");
}

Result<XattrList> Backend::GetXattrs(const RelPath&) { return XattrList{}; }

Status Backend::SetXattrs(const RelPath& path, const XattrList& xattrs, bool,
                          bool) {
  if (xattrs.empty()) return Status::Ok();
  return Status::NotSupported(Describe() +
                              " cannot store extended attributes (" +
                              path.Display() + ")");
}

Status StagedWriter::SetTags(const ObjectTags& tags) {
  if (tags.empty()) return Status::Ok();
  return Status::NotSupported("this location cannot store object tags");
}

Status StagedWriter::CopyFromBasis(uint64_t, const RelPath& basis, uint64_t,
                                   uint64_t) {
  return Status::NotSupported("this location cannot copy from " +
                              basis.Display() + " (no delta transfer)");
}

Result<std::vector<delta::BlockSignature>> Backend::BlockSignatures(
    const RelPath& path, uint32_t, uint64_t, uint64_t) {
  return Status::NotSupported(Describe() + " sends no block signatures of " +
                              path.Display() + " (no delta transfer)");
}

Result<ObjectTags> Backend::GetTags(const RelPath&) { return ObjectTags{}; }

Status Backend::SetTags(const RelPath& path, const ObjectTags& tags) {
  if (tags.empty()) return Status::Ok();
  return Status::NotSupported(Describe() + " cannot store object tags (" +
                              path.Display() + ")");
}

Status Backend::CreateSymlink(const RelPath& path, const Entry&,
                              const MetadataPolicy&) {
  return Status::NotSupported(Describe() + " cannot store symbolic links (" +
                              path.Display() + ")");
}

Status Backend::CreateSpecial(const RelPath& path, const Entry& src,
                              const MetadataPolicy&) {
  return Status::NotSupported(Describe() + " cannot store a " +
                              std::string(EntryKindName(src.kind)) + " (" +
                              path.Display() + ")");
}

Status Backend::CreateHardLink(const RelPath&, const RelPath& link) {
  return Status::NotSupported(Describe() + " cannot store hard links (" +
                              link.Display() + ")");
}

Status Backend::RemoveTree(const RelPath& path) {
  FERRY_ASSIGN_OR_RETURN(std::optional<Entry> entry, Stat(path));
  if (!entry) return Status::Ok();
  if (entry->is_dir()) {
    FERRY_ASSIGN_OR_RETURN(std::unique_ptr<Lister> lister, List(path));
    std::vector<Entry> children;
    while (true) {
      FERRY_ASSIGN_OR_RETURN(bool more, lister->NextBatch(&children));
      if (!more) break;
    }
    lister.reset();
    for (const Entry& child : children) {
      FERRY_RETURN_IF_ERROR(RemoveTree(child.path));
    }
  }
  Status st = Remove(path);
  if (st.IsNotFound()) return Status::Ok();
  return st;
}

}  // namespace ferry
