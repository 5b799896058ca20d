// FaultInjectingBackend: wraps a Backend and makes chosen operations on chosen
// paths fail, so that the engine's handling of unreadable files, failed
// listings, failed writes and files that change while read can be tested on
// any backend. A rule may also carry a hook, called when it fires, with which
// a test pauses an operation at a known point (to cancel there, say) instead
// of guessing with sleeps. Rules are fixed before use; thread-safe like the
// wrapped backend.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ferry/storage/backend.h"

namespace ferry {

enum class FaultOp : uint8_t {
  kStat,
  kList,
  kOpenRead,
  kRead,
  kOpenWrite,
  kWrite,
  kCommit,
  kSetMetadata,
  kRemove,
  kMakeDirectory,
  // CreateSymlink, CreateSpecial and CreateHardLink (the new name's path).
  kCreateLink,
  // Restat() after reading reports a changed file (ctime moved) for the first
  // `times` reads, as if a writer were busy with it.
  kChangeWhileRead,
  // StagedWriter::WriteAt writes the data with one byte flipped, as damage
  // between the read and the storage would (the call itself succeeds).
  kCorruptWrite,
};

struct FaultRule {
  FaultOp op;
  std::string path;  // the exact relative path ("" = root, "*" = any)
  // What the operation returns (ignored for kChangeWhileRead and
  // kCorruptWrite); OK lets the operation go on (a hook-only rule).
  Status status;
  int times = -1;  // how many times to fire; -1 = always
  // Called on the operation's thread each time the rule fires, before the
  // operation goes on or fails.
  std::function<void()> hook = nullptr;
  // When set, the rule fires only while this returns true (an outage a test
  // turns on and off); it is not counted in `times` otherwise.
  std::function<bool()> active = nullptr;
};

class FaultInjectingBackend : public Backend {
 public:
  FaultInjectingBackend(std::unique_ptr<Backend> inner,
                        std::vector<FaultRule> rules);
  ~FaultInjectingBackend() override;

  const Capabilities& capabilities() const override;
  std::string Describe() const override;
  Result<std::optional<Entry>> Stat(const RelPath& path) override;
  Result<std::unique_ptr<Lister>> List(const RelPath& dir) override;
  Result<std::unique_ptr<Reader>> OpenRead(const RelPath& path) override;
  Result<std::unique_ptr<StagedWriter>> OpenWrite(
      const RelPath& path, const WriteHints& hints) override;
  Status MakeDirectory(const RelPath& path) override;
  Status CreateSymlink(const RelPath& path, const Entry& src,
                       const MetadataPolicy& policy) override;
  Status CreateSpecial(const RelPath& path, const Entry& src,
                       const MetadataPolicy& policy) override;
  Status CreateHardLink(const RelPath& existing, const RelPath& link) override;
  Status SetMetadata(const RelPath& path, const Entry& src,
                     const MetadataPolicy& policy) override;
  Result<ObjectTags> GetTags(const RelPath& path) override;
  Status SetTags(const RelPath& path, const ObjectTags& tags) override;
  Status Remove(const RelPath& path) override;
  Status RemoveTree(const RelPath& path) override;
  Status Sync() override;

  // Fires the rules for (op, path) that are armed (their hooks run), and
  // returns the first non-OK status among them; OK if none.
  Status Check(FaultOp op, const RelPath& path);

  // Writers' BeginCommit leaves every commit under way, to be made (and its
  // kCommit rules fired) in FinishCommit, as a backend whose commit is a
  // request to another machine does: the callers' handling of commits under
  // way, tested on any backend. Set before use.
  void set_defer_commits(bool defer) { defer_commits_ = defer; }
  bool defer_commits() const { return defer_commits_; }

 private:
  struct ArmedRule {
    FaultRule rule;
    std::atomic<int> remaining;
  };
  std::unique_ptr<Backend> inner_;
  std::vector<std::unique_ptr<ArmedRule>> rules_;
  bool defer_commits_ = false;
};

}  // namespace ferry
