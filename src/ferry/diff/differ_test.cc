#include "ferry/diff/differ.h"

#include <gtest/gtest.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "ferry/storage/decorators/fault_injecting_backend.h"
#include "ferry/storage/memory/memory_backend.h"
#include "ferry/storage/testing.h"

namespace ferry {
namespace {

using testing::P;

std::string Tag(PlanAction action) {
  switch (action) {
    case PlanAction::kCreate:
      return "create";
    case PlanAction::kReplace:
      return "replace";
    case PlanAction::kUpdateMetadata:
      return "update";
    case PlanAction::kLink:
      return "link";
    case PlanAction::kUnchanged:
      return "unchanged";
    case PlanAction::kSkipOverwrite:
      return "skip-overwrite";
    case PlanAction::kSkipDevice:
      return "skip-device";
    case PlanAction::kDelete:
      return "delete";
    case PlanAction::kFailUnlisted:
      return "fail-unlisted";
    case PlanAction::kFailMissing:
      return "fail-missing";
    case PlanAction::kFailCompare:
      return "fail-compare";
  }
  return "?";
}

using Tree = testing::MemoryTree;

struct Planned {
  std::vector<std::string> steps;  // "action path"
  std::vector<PlanItem> items;
  Status status;
};

// Scans both sides (dst may be null: TransferMode ALL) and collects the plan.
Planned Plan(Backend* src, Backend* dst, const DiffOptions& options) {
  Planned out;
  ScanOptions so;
  so.threads = 2;
  Scanner src_scan(src, so);
  Scanner dst_scan(dst ? dst : src, so);
  out.status = src_scan.Start();
  if (out.status.ok() && dst) out.status = dst_scan.Start();
  if (!out.status.ok()) return out;
  Differ differ(&src_scan, dst ? &dst_scan : nullptr, options);
  while (true) {
    PlanItem item;
    auto more = differ.Next(&item);
    if (!more.ok()) {
      out.status = more.status();
      break;
    }
    if (!*more) break;
    const RelPath& path =
        item.action == PlanAction::kDelete ? item.dst->path : item.src.path;
    out.steps.push_back(Tag(item.action) + " " + path.str());
    out.items.push_back(std::move(item));
  }
  return out;
}

using Steps = std::vector<std::string>;

DiffOptions Defaults() {
  DiffOptions o;
  o.compare.atime = false;
  return o;
}

const PlanItem* Find(const Planned& p, const std::string& path) {
  for (const PlanItem& i : p.items) {
    const RelPath& at =
        i.action == PlanAction::kDelete ? i.dst->path : i.src.path;
    if (at.str() == path) return &i;
  }
  return nullptr;
}

TEST(DifferTest, WhatOnlyTheSourceHasIsCreated) {
  Tree src, dst;
  src.File("a", "x").Dir("d").File("d/x", "y");
  Planned p = Plan(src.backend(), dst.backend(), Defaults());
  ASSERT_OK(p.status);
  EXPECT_EQ(p.steps, (Steps{"create a", "create d", "create d/x"}));
  for (const PlanItem& i : p.items) {
    EXPECT_EQ(i.reason, "new");
    EXPECT_FALSE(i.dst.has_value());
    EXPECT_TRUE(i.dst_known);
  }
}

TEST(DifferTest, IdenticalTreesPlanOnlyTheirFolders) {
  Tree src, dst;
  for (Tree* t : {&src, &dst}) {
    t->File("a", "same").Dir("d").Dir("d/e").File("d/e/f", "same");
  }
  Planned p = Plan(src.backend(), dst.backend(), Defaults());
  ASSERT_OK(p.status);
  EXPECT_EQ(p.steps, (Steps{"unchanged d", "unchanged d/e"}));
}

TEST(DifferTest, SizeOrMtimeChangesReplaceTheFile) {
  Tree src, dst;
  src.File("size", "longer").File("mtime", "same").File("content", "abc");
  dst.File("size", "short").File("mtime", "same").File("content", "xyz");
  src.Edit("mtime", [](Entry& e) { e.mtime = FileTime{2000, 0}; });
  Planned p = Plan(src.backend(), dst.backend(), Defaults());
  ASSERT_OK(p.status);
  // Same size and mtime is taken as the same content.
  EXPECT_EQ(p.steps, (Steps{"replace mtime", "replace size"}));
  EXPECT_EQ(Find(p, "size")->reason, "size differs");
  EXPECT_EQ(Find(p, "mtime")->reason, "mtime differs");
  ASSERT_TRUE(Find(p, "size")->dst.has_value());
  EXPECT_EQ(Find(p, "size")->dst->size, 5u);
}

TEST(DifferTest, MtimesAreComparedAtTheGivenGranularity) {
  Tree src, dst;
  src.File("f", "x");
  dst.File("f", "x");
  src.Edit("f", [](Entry& e) { e.mtime = FileTime{1000, 999}; });
  dst.Edit("f", [](Entry& e) { e.mtime = FileTime{1000, 0}; });
  DiffOptions coarse = Defaults();
  coarse.mtime_granularity_ns = 1000;
  EXPECT_EQ(Plan(src.backend(), dst.backend(), coarse).steps, Steps{});
  EXPECT_EQ(Plan(src.backend(), dst.backend(), Defaults()).steps,
            Steps{"replace f"});
  DiffOptions no_mtime = Defaults();
  no_mtime.compare.mtime = false;
  EXPECT_EQ(Plan(src.backend(), dst.backend(), no_mtime).steps, Steps{});
}

TEST(DifferTest, MetadataOnlyChangesUpdateMetadata) {
  Tree src, dst;
  for (Tree* t : {&src, &dst}) {
    t->File("mode", "x").File("owner", "x").Dir("dir").Link("link", "t");
  }
  src.Edit("mode", [](Entry& e) { e.mode = 0600; });
  src.Edit("owner", [](Entry& e) { e.uid = 5; });
  src.Edit("dir", [](Entry& e) { e.mtime = FileTime{5000, 1}; });
  src.Edit("link", [](Entry& e) { e.mode = 0700; });  // links have no mode
  Planned p = Plan(src.backend(), dst.backend(), Defaults());
  ASSERT_OK(p.status);
  EXPECT_EQ(p.steps, (Steps{"update dir", "update mode", "update owner"}));
  EXPECT_EQ(Find(p, "mode")->reason, "permissions differ");
  EXPECT_EQ(Find(p, "owner")->reason, "owner differs");
  EXPECT_EQ(Find(p, "dir")->reason, "mtime differs");

  DiffOptions ignore = Defaults();
  ignore.compare.mode = false;
  ignore.compare.uid = false;
  ignore.compare.mtime = false;
  EXPECT_EQ(Plan(src.backend(), dst.backend(), ignore).steps,
            (Steps{"unchanged dir"}));
}

// Windows' attributes and creation time: compared where both sides tell
// them (a zero btime says they are not known), the creation time to the
// second.
TEST(DifferTest, DosAttributesAndCreationTimeUpdateMetadata) {
  Tree src, dst;
  for (Tree* t : {&src, &dst}) {
    t->File("attrs", "x").File("created", "x").File("unknown", "x");
    t->File("same", "x").Dir("dir");
    for (const char* name : {"attrs", "created", "unknown", "same", "dir"}) {
      t->Edit(name, [](Entry& e) { e.btime = FileTime{1000, 0}; });
    }
  }
  src.Edit("attrs", [](Entry& e) { e.dos_attributes = kDosHidden; });
  src.Edit("created", [](Entry& e) { e.btime = FileTime{999, 0}; });
  src.Edit("same", [](Entry& e) { e.btime = FileTime{1000, 999}; });
  src.Edit("dir", [](Entry& e) { e.dos_attributes = kDosReadOnly; });
  src.Edit("unknown", [](Entry& e) { e.dos_attributes = kDosSystem; });
  dst.Edit("unknown", [](Entry& e) { e.btime = FileTime{}; });
  Planned p = Plan(src.backend(), dst.backend(), Defaults());
  ASSERT_OK(p.status);
  EXPECT_EQ(p.steps, (Steps{"update attrs", "update created", "update dir"}));
  EXPECT_EQ(Find(p, "attrs")->reason, "DOS attributes differ");
  EXPECT_EQ(Find(p, "created")->reason, "creation time differs");

  DiffOptions ignore = Defaults();
  ignore.compare.dos_attributes = false;
  EXPECT_EQ(Plan(src.backend(), dst.backend(), ignore).steps,
            (Steps{"unchanged dir"}));
}

// A destination file hard-linked to a name the source does not have
// (perhaps outside the location) is replaced, never has its metadata changed
// in place: that would change the other name's too. Whether or not both
// sides can hold hard links (a source without them, e.g. object storage,
// leaves it to this check alone).
TEST(DifferTest, MetadataIsNotChangedInPlaceThroughAHardLink) {
  Tree src, dst;
  for (Tree* t : {&src, &dst}) t->File("f", "x").File("g", "x");
  src.Edit("f", [](Entry& e) { e.mode = 0600; });
  src.Edit("g", [](Entry& e) { e.uid = 5; });
  dst.Edit("f", [](Entry& e) { e.nlink = 2; });  // one name elsewhere
  DiffOptions links = Defaults();
  links.hard_links = true;
  for (const DiffOptions& options : {Defaults(), links}) {
    Planned p = Plan(src.backend(), dst.backend(), options);
    ASSERT_OK(p.status);
    EXPECT_EQ(p.steps, (Steps{"replace f", "update g"}));
    EXPECT_EQ(Find(p, "f")->reason, options.hard_links
                                        ? "no longer a hard link at the source"
                                        : "a hard link at the destination");
  }
  DiffOptions never = Defaults();
  never.overwrite = false;
  EXPECT_EQ(Plan(src.backend(), dst.backend(), never).steps,
            (Steps{"skip-overwrite f", "skip-overwrite g"}));

  // Hard-linked at both sides, with one more name at the destination: the
  // first name is replaced and the second linked to it.
  Tree src2, dst2;
  for (Tree* t : {&src2, &dst2}) t->File("a", "x").File("b", "x");
  for (const char* name : {"a", "b"}) {
    src2.Edit(name, [](Entry& e) {
      e.ino = 7;
      e.nlink = 2;
      e.mode = 0600;
    });
    dst2.Edit(name, [](Entry& e) {
      e.ino = 8;
      e.nlink = 3;
    });
  }
  Planned p = Plan(src2.backend(), dst2.backend(), links);
  ASSERT_OK(p.status);
  EXPECT_EQ(p.steps, (Steps{"replace a", "link b"}));
  EXPECT_EQ(Find(p, "a")->reason, "more hard links at the destination");
  // As many names as the source's: changed in place, once.
  for (const char* name : {"a", "b"}) {
    dst2.Edit(name, [](Entry& e) { e.nlink = 2; });
  }
  EXPECT_EQ(Plan(src2.backend(), dst2.backend(), links).steps,
            (Steps{"update a"}));
}

TEST(DifferTest, TypeAndLinkTargetChangesReplace) {
  Tree src, dst;
  src.Link("was-file", "t").Link("target", "new").File("was-link", "x");
  dst.File("was-file", "x").Link("target", "old").Link("was-link", "t");
  Planned p = Plan(src.backend(), dst.backend(), Defaults());
  ASSERT_OK(p.status);
  EXPECT_EQ(p.steps,
            (Steps{"replace target", "replace was-file", "replace was-link"}));
  EXPECT_EQ(Find(p, "target")->reason, "link target differs");
  EXPECT_EQ(Find(p, "was-file")->reason, "type differs");
}

TEST(DifferTest, OverwriteNeverKeepsDestinationFiles) {
  Tree src, dst;
  src.File("changed", "new content")
      .File("meta", "x")
      .Dir("dir")
      .File("new", "n");
  dst.File("changed", "old").File("meta", "x").Dir("dir");
  src.Edit("meta", [](Entry& e) { e.mode = 0600; });
  src.Edit("dir", [](Entry& e) { e.mode = 0700; });
  DiffOptions never = Defaults();
  never.overwrite = false;
  Planned p = Plan(src.backend(), dst.backend(), never);
  ASSERT_OK(p.status);
  EXPECT_EQ(p.steps, (Steps{"skip-overwrite changed", "update dir",
                            "skip-overwrite meta", "create new"}));
}

TEST(DifferTest, OverwriteNeverSkipsAFolderWhereAFileIsKept) {
  Tree src, dst;
  src.Dir("d")
      .File("d/x", "x")
      .Dir("d/sub")
      .File("d/sub/y", "y")
      .File("z", "z");
  dst.File("d", "a file");
  DiffOptions never = Defaults();
  never.overwrite = false;
  Planned p = Plan(src.backend(), dst.backend(), never);
  ASSERT_OK(p.status);
  EXPECT_EQ(p.steps, (Steps{"skip-overwrite d", "create z"}));

  Planned always = Plan(src.backend(), dst.backend(), Defaults());
  EXPECT_EQ(always.steps, (Steps{"replace d", "create d/sub", "create d/sub/y",
                                 "create d/x", "create z"}));
}

TEST(DifferTest, AFolderReplacedByAFileTakesItsContentsAlong) {
  Tree src, dst;
  src.File("p", "now a file").File("q", "q");
  dst.Dir("p").File("p/a", "a").Dir("p/b").File("p/b/c", "c").File("p-x", "x");
  for (bool remove : {false, true}) {
    SCOPED_TRACE(remove ? "REMOVE" : "PRESERVE");
    DiffOptions o = Defaults();
    o.remove_deleted = remove;
    Planned p = Plan(src.backend(), dst.backend(), o);
    ASSERT_OK(p.status);
    const Steps want = remove ? Steps{"replace p", "delete p-x", "create q"}
                              : Steps{"replace p", "create q"};
    EXPECT_EQ(p.steps, want);
    ASSERT_NE(Find(p, "p"), nullptr);
    ASSERT_TRUE(Find(p, "p")->dst.has_value());
    EXPECT_TRUE(Find(p, "p")->dst->is_dir());
  }
}

TEST(DifferTest, DevicesOnlyWhenPreserved) {
  Tree src, dst;
  src.Special("same", EntryKind::kCharDevice, makedev(1, 3))
      .Special("moved", EntryKind::kCharDevice, makedev(1, 5))
      .Special("new", EntryKind::kCharDevice, makedev(1, 7));
  dst.Special("same", EntryKind::kCharDevice, makedev(1, 3))
      .Special("moved", EntryKind::kCharDevice, makedev(1, 9));
  Planned skipped = Plan(src.backend(), dst.backend(), Defaults());
  ASSERT_OK(skipped.status);
  EXPECT_EQ(skipped.steps, (Steps{"skip-device moved", "skip-device new",
                                  "skip-device same"}));
  DiffOptions keep = Defaults();
  keep.preserve_devices = true;
  Planned p = Plan(src.backend(), dst.backend(), keep);
  EXPECT_EQ(p.steps, (Steps{"replace moved", "create new"}));
  EXPECT_EQ(Find(p, "moved")->reason, "device number differs");
}

TEST(DifferTest, DeletesOnlyWhenAsked) {
  Tree src, dst;
  src.File("keep", "k");
  dst.File("keep", "k")
      .Dir("old")
      .File("old/y", "y")
      .Dir("old/z")
      .File("old/z/w", "w")
      .File("x", "x");
  EXPECT_EQ(Plan(src.backend(), dst.backend(), Defaults()).steps, Steps{});
  DiffOptions remove = Defaults();
  remove.remove_deleted = true;
  Planned p = Plan(src.backend(), dst.backend(), remove);
  ASSERT_OK(p.status);
  EXPECT_EQ(p.steps, (Steps{"delete old", "delete old/y", "delete old/z",
                            "delete old/z/w", "delete x"}));
  for (const PlanItem& i : p.items) {
    EXPECT_EQ(i.reason, "not at the source");
    ASSERT_TRUE(i.dst.has_value());
  }
}

TEST(DifferTest, NothingIsDeletedBeneathASourceFolderThatCouldNotBeListed) {
  Tree src, dst;
  src.Dir("d").File("d/x", "x").Dir("e");
  dst.Dir("d")
      .File("d/x", "x")
      .Dir("d/sub")
      .File("d/sub/y", "y")
      .Dir("e")
      .File("e/z", "z");
  FaultInjectingBackend faulty_src(
      OpenMemoryBackend(src.store()),
      {{FaultOp::kList, "d", Status::IoError("unreadable")}});
  DiffOptions remove = Defaults();
  remove.remove_deleted = true;
  Planned p = Plan(&faulty_src, dst.backend(), remove);
  ASSERT_OK(p.status);
  EXPECT_EQ(p.steps, (Steps{"unchanged d", "unchanged e", "delete e/z"}));
  EXPECT_TRUE(Find(p, "d")->src.listing_failed());
}

TEST(DifferTest, SourceItemsBeneathAnUnlistedDestinationFolderFail) {
  Tree src, dst;
  src.Dir("d").File("d/new", "n").Dir("d/sub").File("e", "e");
  dst.Dir("d").File("d/old", "o");
  FaultInjectingBackend faulty_dst(
      OpenMemoryBackend(dst.store()),
      {{FaultOp::kList, "d", Status::IoError("unreadable")}});
  DiffOptions remove = Defaults();
  remove.remove_deleted = true;
  Planned p = Plan(src.backend(), &faulty_dst, remove);
  ASSERT_OK(p.status);
  EXPECT_EQ(p.steps, (Steps{"unchanged d", "fail-unlisted d/new",
                            "fail-unlisted d/sub", "create e"}));
}

TEST(DifferTest, AnUnlistedDestinationOnlyFolderIsNotDeleted) {
  Tree src, dst;
  src.File("a", "a");
  dst.File("a", "a").Dir("gone").File("gone/x", "x");
  FaultInjectingBackend faulty_dst(
      OpenMemoryBackend(dst.store()),
      {{FaultOp::kList, "gone", Status::IoError("unreadable")}});
  DiffOptions remove = Defaults();
  remove.remove_deleted = true;
  Planned p = Plan(src.backend(), &faulty_dst, remove);
  ASSERT_OK(p.status);
  EXPECT_EQ(p.steps, Steps{});
}

TEST(DifferTest, TransferModeAllCopiesEverythingWithoutLooking) {
  Tree src;
  src.File("a", "x")
      .Dir("d")
      .File("d/b", "y")
      .Special("dev", EntryKind::kCharDevice, makedev(1, 3));
  Planned p = Plan(src.backend(), nullptr, Defaults());
  ASSERT_OK(p.status);
  EXPECT_EQ(p.steps,
            (Steps{"create a", "create d", "create d/b", "skip-device dev"}));
  for (const PlanItem& i : p.items) {
    if (i.action != PlanAction::kCreate) continue;
    EXPECT_EQ(i.reason, "transfer mode ALL");
    EXPECT_FALSE(i.dst_known);
  }
}

TEST(DifferTest, MapSourceAdjustsEntriesBeforeComparing) {
  Tree src, dst;
  src.File("f", "x");
  dst.File("f", "x");
  dst.Edit("f", [](Entry& e) { e.uid = 65534; });
  EXPECT_EQ(Plan(src.backend(), dst.backend(), Defaults()).steps,
            Steps{"update f"});
  DiffOptions mapped = Defaults();
  mapped.map_source = [](Entry* e) { e->uid = 65534; };
  EXPECT_EQ(Plan(src.backend(), dst.backend(), mapped).steps, Steps{});
}

TEST(DifferTest, PlanFollowsComparePathsOrder) {
  Tree src, dst;
  const std::vector<std::string> names = {"a", "a-b", "a.b", "a0", "B", "b"};
  for (const std::string& n : names) {
    src.Dir(n).File(n + "/in-src", "s").File(n + "/both", "s");
    dst.Dir(n).File(n + "/in-dst", "d").File(n + "/both", "longer");
    src.File(n + "-file", "s");
    dst.Dir(n + "-file").File(n + "-file/inside", "d");
  }
  DiffOptions remove = Defaults();
  remove.remove_deleted = true;
  Planned p = Plan(src.backend(), dst.backend(), remove);
  ASSERT_OK(p.status);
  std::vector<std::string> paths;
  for (const std::string& s : p.steps)
    paths.push_back(s.substr(s.find(' ') + 1));
  EXPECT_TRUE(std::is_sorted(paths.begin(), paths.end(), PathLess()))
      << ::testing::PrintToString(p.steps);
  EXPECT_EQ(paths.size(), names.size() * 5);
}

TEST(DifferTest, LaterNamesOfAHardLinkedFileBecomeLinks) {
  Tree src, dst;
  src.File("a", "shared").File("b", "shared").File("c", "alone");
  for (const char* name : {"a", "b"}) {
    src.Edit(name, [](Entry& e) {
      e.ino = 777;
      e.nlink = 2;
    });
  }
  DiffOptions links = Defaults();
  links.hard_links = true;
  Planned p = Plan(src.backend(), dst.backend(), links);
  ASSERT_OK(p.status);
  EXPECT_EQ(p.steps, (Steps{"create a", "link b", "create c"}));
  ASSERT_NE(Find(p, "b")->link_group, nullptr);
  EXPECT_EQ(Find(p, "a")->link_group, Find(p, "b")->link_group);
  EXPECT_EQ(Find(p, "b")->link_group->first, P("a"));

  EXPECT_EQ(Plan(src.backend(), dst.backend(), Defaults()).steps,
            (Steps{"create a", "create b", "create c"}));
}

// ------------------------------------------ Listings without metadata

// A backend whose listings tell only what an object store's do
// (Entry::kPartial: folder or not, size, ctime), counting the Stats that
// fill in the rest; Stat of `fail_stat` fails.
class PartialListing : public testing::ForwardingBackend {
 public:
  explicit PartialListing(Backend* inner) : ForwardingBackend(inner) {}

  std::atomic<int> stats{0};
  std::optional<std::string> fail_stat;

  std::string Describe() const override { return "partial"; }
  Result<std::optional<Entry>> Stat(const RelPath& path) override {
    stats.fetch_add(1);
    if (path.str() == fail_stat) return Status::IoError("HEAD failed");
    return inner()->Stat(path);
  }
  Result<std::unique_ptr<Lister>> List(const RelPath& dir) override {
    FERRY_ASSIGN_OR_RETURN(std::unique_ptr<Lister> listed, inner()->List(dir));
    return std::unique_ptr<Lister>(
        std::make_unique<Stripping>(std::move(listed)));
  }

 private:
  class Stripping : public Lister {
   public:
    explicit Stripping(std::unique_ptr<Lister> inner)
        : inner_(std::move(inner)) {}
    Result<bool> NextBatch(std::vector<Entry>* out) override {
      const size_t before = out->size();
      FERRY_ASSIGN_OR_RETURN(bool more, inner_->NextBatch(out));
      for (size_t i = before; i < out->size(); ++i) {
        Entry& e = (*out)[i];
        Entry p;
        p.path = e.path;
        p.kind = e.is_dir() ? EntryKind::kDirectory : EntryKind::kFile;
        p.size = e.is_file() ? e.size : e.link_target.size();
        p.ctime = e.is_dir() ? FileTime{} : e.ctime;
        p.flags = Entry::kPartial;
        e = std::move(p);
      }
      return more;
    }

   private:
    std::unique_ptr<Lister> inner_;
  };
};

DiffOptions TrustingWriteTimes() {
  DiffOptions o = Defaults();
  o.written_after_margin_ns = 3'000'000'000;
  return o;
}

// The destination's ctime is `seconds` after the source's.
void WrittenLater(Tree& src, Tree& dst, const std::string& path,
                  int64_t seconds) {
  FileTime at;
  src.Edit(path, [&](Entry& e) { at = e.ctime; });
  dst.Edit(path, [&](Entry& e) {
    e.ctime = at;
    e.ctime.sec += seconds;
  });
}

TEST(DifferPartialTest, AFileWrittenAfterTheSourceChangedIsNotLookedUp) {
  Tree src, dst;
  for (Tree* t : {&src, &dst}) t->File("a", "same").File("b", "same");
  WrittenLater(src, dst, "a", 10);
  WrittenLater(src, dst, "b", 10);
  PartialListing partial(dst.backend());
  Planned p = Plan(src.backend(), &partial, TrustingWriteTimes());
  ASSERT_OK(p.status);
  EXPECT_EQ(p.steps, Steps{});
  EXPECT_EQ(partial.stats.load(), 1);  // the root, by the scan
}

TEST(DifferPartialTest, OtherwiseTheMetadataIsLookedUpAndCompared) {
  Tree src, dst;
  for (Tree* t : {&src, &dst}) {
    t->File("same", "xx").File("soon", "xx").File("mtime", "xx").Dir("d");
  }
  dst.Edit("mtime", [](Entry& e) { e.mtime.sec += 1; });
  WrittenLater(src, dst, "same", 1);  // within the margin
  WrittenLater(src, dst, "soon", -5);
  WrittenLater(src, dst, "mtime", 1);
  PartialListing partial(dst.backend());
  Planned p = Plan(src.backend(), &partial, TrustingWriteTimes());
  ASSERT_OK(p.status);
  // A folder's metadata is always looked up; the files' ctimes prove nothing.
  EXPECT_EQ(p.steps, (Steps{"unchanged d", "replace mtime"}));
  EXPECT_EQ(Find(p, "mtime")->reason, "mtime differs");
  EXPECT_FALSE(Find(p, "mtime")->dst->partial());
  EXPECT_EQ(partial.stats.load(), 1 + 4);
}

TEST(DifferPartialTest, WithoutTrustEverythingIsLookedUp) {
  Tree src, dst;
  for (Tree* t : {&src, &dst}) t->File("a", "same");
  WrittenLater(src, dst, "a", 100);
  PartialListing partial(dst.backend());
  Planned p = Plan(src.backend(), &partial, Defaults());
  ASSERT_OK(p.status);
  EXPECT_EQ(p.steps, Steps{});
  EXPECT_EQ(partial.stats.load(), 2);
}

TEST(DifferPartialTest, ASizeChangeNeedsNoLookup) {
  Tree src, dst;
  src.File("a", "longer");
  dst.File("a", "short");
  PartialListing partial(dst.backend());
  Planned p = Plan(src.backend(), &partial, TrustingWriteTimes());
  ASSERT_OK(p.status);
  EXPECT_EQ(p.steps, Steps{"replace a"});
  EXPECT_EQ(partial.stats.load(), 1);
}

TEST(DifferPartialTest, ALinkAgainstAPartialEntryIsLookedUp) {
  Tree src, dst;
  src.Link("l", "target");
  dst.Link("l", "target");
  PartialListing partial(dst.backend());
  Planned p = Plan(src.backend(), &partial, TrustingWriteTimes());
  ASSERT_OK(p.status);
  EXPECT_EQ(p.steps, Steps{});  // the same link, once its type was read
  EXPECT_EQ(partial.stats.load(), 2);
}

TEST(DifferPartialTest, ASourceFolderToCreateGetsItsMetadata) {
  Tree src, dst;
  src.Dir("d").File("d/f", "x").Edit("d", [](Entry& e) { e.mode = 0700; });
  PartialListing partial(src.backend());
  Planned p = Plan(&partial, dst.backend(), TrustingWriteTimes());
  ASSERT_OK(p.status);
  EXPECT_EQ(p.steps, (Steps{"create d", "create d/f"}));
  EXPECT_FALSE(Find(p, "d")->src.partial());
  EXPECT_EQ(Find(p, "d")->src.mode, 0700u);
  // A file's metadata comes with its content, when it is read.
  EXPECT_TRUE(Find(p, "d/f")->src.partial());
}

TEST(DifferPartialTest, ALookupThatFailsFailsThatItemOnly) {
  Tree src, dst;
  for (Tree* t : {&src, &dst}) t->File("a", "xx").File("b", "xx");
  PartialListing partial(dst.backend());
  partial.fail_stat = "a";
  Planned p = Plan(src.backend(), &partial, TrustingWriteTimes());
  ASSERT_OK(p.status);
  EXPECT_EQ(p.steps, Steps{"fail-compare a"});
  EXPECT_NE(Find(p, "a")->reason.find("HEAD failed"), std::string::npos);
}

TEST(DifferPartialTest, ManyLookupsComeOutInOrder) {
  Tree src, dst;
  std::vector<std::string> want;
  for (int d = 0; d < 3; ++d) {
    const std::string dir = "d" + std::to_string(d);
    src.Dir(dir);
    dst.Dir(dir);
    want.push_back("unchanged " + dir);
    for (int i = 0; i < 120; ++i) {
      const std::string f = dir + "/f" + std::to_string(1000 + i);
      src.File(f, "x");
      dst.File(f, i % 7 == 0 ? "y" : "x");
      if (i % 7 == 0) {
        dst.Edit(f, [](Entry& e) { e.mtime.sec += 1; });
        want.push_back("replace " + f);
      }
    }
  }
  PartialListing partial(dst.backend());
  Planned p = Plan(src.backend(), &partial, Defaults());
  ASSERT_OK(p.status);
  EXPECT_EQ(p.steps, want);
  EXPECT_EQ(partial.stats.load(), 1 + 3 + 3 * 120);  // several windows
}

}  // namespace
}  // namespace ferry
