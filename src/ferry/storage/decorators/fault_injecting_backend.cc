#include "ferry/storage/decorators/fault_injecting_backend.h"

#include <vector>

namespace ferry {
namespace {

class FaultReader : public Reader {
 public:
  FaultReader(FaultInjectingBackend* owner, std::unique_ptr<Reader> inner)
      : owner_(owner), inner_(std::move(inner)) {}
  const Entry& entry() const override { return inner_->entry(); }
  Result<size_t> ReadAt(uint64_t offset, std::span<std::byte> out) override {
    FERRY_RETURN_IF_ERROR(owner_->Check(FaultOp::kRead, entry().path));
    return inner_->ReadAt(offset, out);
  }
  void WillRead(uint64_t offset, uint64_t length) override {
    inner_->WillRead(offset, length);
  }
  Result<Extent> NextData(uint64_t offset) override {
    return inner_->NextData(offset);
  }
  Result<Entry> Restat() override {
    FERRY_ASSIGN_OR_RETURN(Entry e, inner_->Restat());
    if (!owner_->Check(FaultOp::kChangeWhileRead, entry().path).ok()) {
      e.ctime.sec += 1;
    }
    return e;
  }
  bool consistent() const override { return inner_->consistent(); }
  Result<XattrList> Xattrs() override { return inner_->Xattrs(); }
  Result<ObjectTags> Tags() override { return inner_->Tags(); }

 private:
  FaultInjectingBackend* owner_;
  std::unique_ptr<Reader> inner_;
};

class FaultWriter : public StagedWriter {
 public:
  FaultWriter(FaultInjectingBackend* owner, RelPath path,
              std::unique_ptr<StagedWriter> inner)
      : owner_(owner), path_(std::move(path)), inner_(std::move(inner)) {}
  Status WriteAt(uint64_t offset, std::span<const std::byte> data) override {
    FERRY_RETURN_IF_ERROR(owner_->Check(FaultOp::kWrite, path_));
    if (!data.empty() && !owner_->Check(FaultOp::kCorruptWrite, path_).ok()) {
      std::vector<std::byte> damaged(data.begin(), data.end());
      damaged[damaged.size() / 2] ^= std::byte{0x20};
      return inner_->WriteAt(offset, damaged);
    }
    return inner_->WriteAt(offset, data);
  }
  Status Commit(const Entry& metadata, const MetadataPolicy& policy) override {
    Status st = owner_->Check(FaultOp::kCommit, path_);
    if (!st.ok()) {
      inner_->Abort();
      return st;
    }
    return inner_->Commit(metadata, policy);
  }
  std::optional<Status> BeginCommit(const Entry& metadata,
                                    const MetadataPolicy& policy) override {
    if (!owner_->defer_commits()) {
      Status st = owner_->Check(FaultOp::kCommit, path_);
      if (!st.ok()) {
        inner_->Abort();
        return st;
      }
      return inner_->BeginCommit(metadata, policy);
    }
    if (deferred_) return Status::Internal("BeginCommit twice");
    deferred_.emplace(metadata, policy);
    return std::nullopt;
  }
  Status FinishCommit() override {
    if (!deferred_) return inner_->FinishCommit();
    auto [metadata, policy] = std::move(*deferred_);
    deferred_.reset();
    return Commit(metadata, policy);
  }
  void Abort() override { inner_->Abort(); }
  Status SetTags(const ObjectTags& tags) override {
    return inner_->SetTags(tags);
  }

 private:
  FaultInjectingBackend* owner_;
  RelPath path_;
  std::unique_ptr<StagedWriter> inner_;
  std::optional<std::pair<Entry, MetadataPolicy>> deferred_;
};

}  // namespace

FaultInjectingBackend::FaultInjectingBackend(std::unique_ptr<Backend> inner,
                                             std::vector<FaultRule> rules)
    : inner_(std::move(inner)) {
  for (FaultRule& r : rules) {
    auto armed = std::make_unique<ArmedRule>();
    armed->remaining.store(r.times);
    armed->rule = std::move(r);
    rules_.push_back(std::move(armed));
  }
}

FaultInjectingBackend::~FaultInjectingBackend() = default;

Status FaultInjectingBackend::Check(FaultOp op, const RelPath& path) {
  for (auto& r : rules_) {
    if (r->rule.op != op) continue;
    if (r->rule.path != "*" && r->rule.path != path.str()) continue;
    if (r->rule.active && !r->rule.active()) continue;
    int left = r->remaining.load();
    bool fired = false;
    while (left != 0 && !fired) {
      fired = left < 0 || r->remaining.compare_exchange_weak(left, left - 1);
    }
    if (!fired) continue;
    if (r->rule.hook) r->rule.hook();
    if (op == FaultOp::kChangeWhileRead) {
      return Status(StatusCode::kSourceChanged, "injected change");
    }
    if (op == FaultOp::kCorruptWrite) {
      return Status::DataLoss("injected corruption");
    }
    if (!r->rule.status.ok()) return r->rule.status;
  }
  return Status::Ok();
}

const Capabilities& FaultInjectingBackend::capabilities() const {
  return inner_->capabilities();
}
std::string FaultInjectingBackend::Describe() const {
  return inner_->Describe();
}

Result<std::optional<Entry>> FaultInjectingBackend::Stat(const RelPath& path) {
  FERRY_RETURN_IF_ERROR(Check(FaultOp::kStat, path));
  return inner_->Stat(path);
}
Result<std::unique_ptr<Lister>> FaultInjectingBackend::List(
    const RelPath& dir) {
  FERRY_RETURN_IF_ERROR(Check(FaultOp::kList, dir));
  return inner_->List(dir);
}
Result<std::unique_ptr<Reader>> FaultInjectingBackend::OpenRead(
    const RelPath& path) {
  FERRY_RETURN_IF_ERROR(Check(FaultOp::kOpenRead, path));
  FERRY_ASSIGN_OR_RETURN(std::unique_ptr<Reader> r, inner_->OpenRead(path));
  return std::unique_ptr<Reader>(new FaultReader(this, std::move(r)));
}
Result<std::unique_ptr<StagedWriter>> FaultInjectingBackend::OpenWrite(
    const RelPath& path, const WriteHints& hints) {
  FERRY_RETURN_IF_ERROR(Check(FaultOp::kOpenWrite, path));
  FERRY_ASSIGN_OR_RETURN(std::unique_ptr<StagedWriter> w,
                         inner_->OpenWrite(path, hints));
  return std::unique_ptr<StagedWriter>(
      new FaultWriter(this, path, std::move(w)));
}
Status FaultInjectingBackend::MakeDirectory(const RelPath& path) {
  FERRY_RETURN_IF_ERROR(Check(FaultOp::kMakeDirectory, path));
  return inner_->MakeDirectory(path);
}
Status FaultInjectingBackend::CreateSymlink(const RelPath& path,
                                            const Entry& src,
                                            const MetadataPolicy& policy) {
  FERRY_RETURN_IF_ERROR(Check(FaultOp::kCreateLink, path));
  return inner_->CreateSymlink(path, src, policy);
}
Status FaultInjectingBackend::CreateSpecial(const RelPath& path,
                                            const Entry& src,
                                            const MetadataPolicy& policy) {
  FERRY_RETURN_IF_ERROR(Check(FaultOp::kCreateLink, path));
  return inner_->CreateSpecial(path, src, policy);
}
Status FaultInjectingBackend::CreateHardLink(const RelPath& existing,
                                             const RelPath& link) {
  FERRY_RETURN_IF_ERROR(Check(FaultOp::kCreateLink, link));
  return inner_->CreateHardLink(existing, link);
}
Status FaultInjectingBackend::SetMetadata(const RelPath& path, const Entry& src,
                                          const MetadataPolicy& policy) {
  FERRY_RETURN_IF_ERROR(Check(FaultOp::kSetMetadata, path));
  return inner_->SetMetadata(path, src, policy);
}
Result<ObjectTags> FaultInjectingBackend::GetTags(const RelPath& path) {
  return inner_->GetTags(path);
}
Status FaultInjectingBackend::SetTags(const RelPath& path,
                                      const ObjectTags& tags) {
  return inner_->SetTags(path, tags);
}
Status FaultInjectingBackend::Remove(const RelPath& path) {
  FERRY_RETURN_IF_ERROR(Check(FaultOp::kRemove, path));
  return inner_->Remove(path);
}
Status FaultInjectingBackend::RemoveTree(const RelPath& path) {
  FERRY_RETURN_IF_ERROR(Check(FaultOp::kRemove, path));
  return inner_->RemoveTree(path);
}
Status FaultInjectingBackend::Sync() { return inner_->Sync(); }

}  // namespace ferry
