#include "ferry/storage/backend.h"

namespace ferry {

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
