// The conformance tests (see backend_conformance.h): defined once here,
// instantiated per backend elsewhere.
#include "tests/conformance/backend_conformance.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "ferry/base/clock.h"
#include "ferry/base/digest.h"
#include "ferry/base/utf8.h"
#include "ferry/storage/backend.h"
#include "ferry/storage/testing.h"

namespace ferry::conformance {

std::string FreshName() {
  static std::mt19937_64 rng{std::random_device{}()};
  static std::mutex mu;
  std::lock_guard lock(mu);
  char buf[32];
  std::snprintf(buf, sizeof(buf), "t%016llx",
                static_cast<unsigned long long>(rng()));
  return buf;
}
namespace {

using testing::AsBytes;
using testing::ListDir;
using testing::ListNames;
using testing::P;
using testing::RandomBytes;
using testing::ReadFile;
using testing::WriteFile;

struct Owner {
  uint32_t uid;
  uint32_t gid;
};

// Ids to give files: other than ours when we may chown, so that applying
// them is visible.
Owner TestOwner() {
  if (::geteuid() == 0) return Owner{1234, 5678};
  return Owner{static_cast<uint32_t>(::geteuid()),
               static_cast<uint32_t>(::getegid())};
}

constexpr FileTime kMtime{1600000000, 123456789};
constexpr FileTime kAtime{1500000000, 987654321};

}  // namespace

void BackendConformanceTest::SetUp() {
  if (GetParam().skip) {
    if (std::string why = GetParam().skip(); !why.empty()) GTEST_SKIP() << why;
  }
  backend_ = GetParam().open(&keep_);
  ASSERT_NE(backend_, nullptr);
}

void BackendConformanceTest::TearDown() {
  backend_.reset();
  keep_.reset();
}

MetadataPolicy BackendConformanceTest::FullPolicy() {
  MetadataPolicy p;
  p.mode = caps().posix_mode;
  p.uid = p.gid = caps().posix_owner;
  p.atime = caps().atime;
  p.mtime = true;
  p.dos_attributes = caps().dos_attributes;
  return p;
}

Entry BackendConformanceTest::Meta(EntryKind kind, uint32_t mode) {
  Entry e;
  e.kind = kind;
  e.mode = mode;
  Owner o = TestOwner();
  e.uid = o.uid;
  e.gid = o.gid;
  e.mtime = kMtime;
  e.atime = kAtime;
  return e;
}

bool BackendConformanceTest::SameTime(FileTime a, FileTime b) {
  return TimesMatch(a, b, caps().mtime_granularity_ns);
}

std::optional<Entry> BackendConformanceTest::StatOrDie(const RelPath& path) {
  auto r = b()->Stat(path);
  EXPECT_TRUE(r.ok()) << path.Display() << ": " << r.status().ToString();
  return r.ok() ? *r : std::nullopt;
}

Entry BackendConformanceTest::Completed(const Entry& listed) {
  if (!listed.partial()) return listed;
  std::optional<Entry> st = StatOrDie(listed.path);
  EXPECT_TRUE(st.has_value()) << listed.path.Display() << " listed, not found";
  if (!st) return listed;
  EXPECT_FALSE(st->partial()) << "Stat gave a partial entry";
  EXPECT_EQ(st->is_dir(), listed.is_dir()) << listed.path.Display();
  if (st->is_file()) {
    EXPECT_EQ(st->size, listed.size) << listed.path.Display();
    EXPECT_EQ(st->etag, listed.etag) << listed.path.Display();
  }
  if (caps().change_time && !listed.is_dir()) {
    EXPECT_EQ(st->ctime, listed.ctime) << listed.path.Display();
  }
  return *st;
}

void BackendConformanceTest::ExpectOnly(const RelPath& dir,
                                        std::set<std::string> allowed) {
  auto names = ListNames(b(), dir);
  ASSERT_TRUE(names.ok()) << names.status().ToString();
  for (const std::string& n : *names) {
    EXPECT_TRUE(allowed.count(n) || IsFerryTempName(n))
        << "unexpected " << EscapeForDisplay(n) << " in " << dir.Display();
  }
}

void BackendConformanceTest::ExpectExactly(const RelPath& dir,
                                           std::vector<std::string> want) {
  auto names = ListNames(b(), dir);
  ASSERT_TRUE(names.ok()) << names.status().ToString();
  std::sort(want.begin(), want.end(), PathLess());
  EXPECT_EQ(*names, want) << "in " << dir.Display();
}

uint64_t BackendConformanceTest::PartOf(uint64_t size) {
  auto part = PartSize(caps(), size);
  EXPECT_TRUE(part.ok()) << part.status().ToString();
  return part.ok() ? *part : 0;
}

Status BackendConformanceTest::WriteInParts(StagedWriter* w,
                                            std::string_view content,
                                            size_t block) {
  for (size_t off = 0; off < content.size(); off += block) {
    const size_t n = std::min(block, content.size() - off);
    FERRY_RETURN_IF_ERROR(w->WriteAt(off, AsBytes(content.substr(off, n))));
  }
  return Status::Ok();
}

namespace {

// ---------------------------------------------------------------- Stat, List

TEST_P(BackendConformanceTest, RootIsADirectory) {
  auto root = StatOrDie(RelPath());
  ASSERT_TRUE(root.has_value());
  EXPECT_TRUE(root->is_dir());
  EXPECT_TRUE(root->path.IsRoot());
  EXPECT_FALSE(b()->Describe().empty());
}

TEST_P(BackendConformanceTest, MissingPathsStatAsNothing) {
  EXPECT_EQ(StatOrDie(P("missing")), std::nullopt);
  EXPECT_EQ(StatOrDie(P("missing/deeper/still")), std::nullopt);
  ASSERT_OK(WriteFile(b(), P("file"), "x"));
  EXPECT_EQ(StatOrDie(P("file/child")), std::nullopt);
}

TEST_P(BackendConformanceTest, MakeDirectoryIsIdempotent) {
  ASSERT_OK(b()->MakeDirectory(P("d")));
  ASSERT_OK(b()->MakeDirectory(P("d")));
  ASSERT_OK(b()->MakeDirectory(P("d/e")));
  auto d = StatOrDie(P("d"));
  ASSERT_TRUE(d.has_value());
  EXPECT_TRUE(d->is_dir());
  EXPECT_EQ(d->path, P("d"));
  ExpectExactly(RelPath(), {"d"});
  ASSERT_OK_AND_ASSIGN(std::vector<Entry> inside, ListDir(b(), P("d")));
  ASSERT_EQ(inside.size(), 1u);
  EXPECT_EQ(inside[0].path, P("d/e"));
  EXPECT_TRUE(inside[0].is_dir());
  EXPECT_OK(b()->MakeDirectory(RelPath()));
}

TEST_P(BackendConformanceTest, MakeDirectoryNeedsAParentAndAFreePath) {
  if (caps().implied_directories) {
    // Folders are key prefixes: a folder needs no parent, and makes it.
    ASSERT_OK(b()->MakeDirectory(P("no/parent")));
    auto no = StatOrDie(P("no"));
    ASSERT_TRUE(no.has_value());
    EXPECT_TRUE(no->is_dir());
    ASSERT_OK(b()->RemoveTree(P("no")));
  } else {
    EXPECT_FALSE(b()->MakeDirectory(P("no/parent")).ok());
  }
  EXPECT_EQ(StatOrDie(P("no")), std::nullopt);
  ASSERT_OK(WriteFile(b(), P("f"), "keep"));
  // TransferMode ALL tells "something else is there" by this code.
  EXPECT_EQ(b()->MakeDirectory(P("f")).code(), StatusCode::kAlreadyExists);
  auto f = StatOrDie(P("f"));
  ASSERT_TRUE(f.has_value());
  EXPECT_TRUE(f->is_file());
  EXPECT_EQ(ReadFile(b(), P("f")).value(), "keep");
}

TEST_P(BackendConformanceTest, ListReturnsDirectChildrenWithFullPaths) {
  ASSERT_OK(b()->MakeDirectory(P("d")));
  ASSERT_OK(b()->MakeDirectory(P("d/sub")));
  ASSERT_OK(WriteFile(b(), P("d/b"), "bb"));
  ASSERT_OK(WriteFile(b(), P("d/a-c"), "a"));
  ASSERT_OK(WriteFile(b(), P("d/sub/deep"), "not listed"));
  ASSERT_OK(WriteFile(b(), P("top"), "t"));

  ASSERT_OK_AND_ASSIGN(auto lister, b()->List(P("d")));
  std::vector<Entry> raw;
  while (true) {
    ASSERT_OK_AND_ASSIGN(bool more, lister->NextBatch(&raw));
    if (!more) break;
  }
  // An exhausted lister stays exhausted.
  std::vector<Entry> after;
  ASSERT_OK_AND_ASSIGN(bool again, lister->NextBatch(&after));
  EXPECT_FALSE(again);
  EXPECT_TRUE(after.empty());

  if (caps().sorted_listing) {
    EXPECT_TRUE(std::is_sorted(raw.begin(), raw.end(),
                               [](const Entry& x, const Entry& y) {
                                 return ComparePaths(x.path, y.path) < 0;
                               }));
  }
  std::sort(raw.begin(), raw.end(), [](const Entry& x, const Entry& y) {
    return ComparePaths(x.path, y.path) < 0;
  });
  ASSERT_EQ(raw.size(), 3u);
  EXPECT_EQ(raw[0].path, P("d/a-c"));
  EXPECT_TRUE(raw[0].is_file());
  EXPECT_EQ(raw[0].size, 1u);
  EXPECT_EQ(raw[1].path, P("d/b"));
  EXPECT_EQ(raw[1].size, 2u);
  EXPECT_EQ(raw[2].path, P("d/sub"));
  EXPECT_TRUE(raw[2].is_dir());
}

// What a listing tells without Entry::kPartial is what Stat tells, and so is
// the folder's own entry a listing may give (Lister::Self).
TEST_P(BackendConformanceTest, ListedEntriesAgreeWithStat) {
  const MetadataPolicy policy = FullPolicy();
  ASSERT_OK(b()->MakeDirectory(P("d")));
  ASSERT_OK(b()->MakeDirectory(P("d/sub")));
  ASSERT_OK(
      b()->SetMetadata(P("d/sub"), Meta(EntryKind::kDirectory, 0750), policy));
  ASSERT_OK(WriteFile(b(), P("d/f"), "content", Meta(EntryKind::kFile, 0640),
                      policy));
  ASSERT_OK(
      WriteFile(b(), P("d/sub/g"), "g", Meta(EntryKind::kFile, 0600), policy));
  if (caps().symlinks) {
    Entry link = Meta(EntryKind::kSymlink, 0777);
    link.link_target = "f";
    ASSERT_OK(b()->CreateSymlink(P("d/l"), link, policy));
  }
  for (const char* dir : {"d", "d/sub"}) {
    SCOPED_TRACE(dir);
    ASSERT_OK_AND_ASSIGN(auto lister, b()->List(P(dir)));
    std::vector<Entry> listed;
    while (true) {
      ASSERT_OK_AND_ASSIGN(bool more, lister->NextBatch(&listed));
      if (!more) break;
    }
    std::optional<Entry> self = lister->Self();
    if (self) listed.push_back(*self);
    for (const Entry& e : listed) {
      SCOPED_TRACE(e.path.str());
      ASSERT_OK_AND_ASSIGN(std::optional<Entry> st, b()->Stat(e.path));
      ASSERT_TRUE(st.has_value());
      if (e.partial()) continue;  // a link may be listed as a file, say
      EXPECT_EQ(e.kind, st->kind);
      if (e.is_file()) EXPECT_EQ(e.size, st->size);
      EXPECT_EQ(e.mtime, st->mtime);
      if (caps().posix_mode) EXPECT_EQ(e.mode, st->mode);
      if (caps().posix_owner) {
        EXPECT_EQ(e.uid, st->uid);
        EXPECT_EQ(e.gid, st->gid);
      }
      if (e.kind == EntryKind::kSymlink) {
        EXPECT_EQ(e.link_target, st->link_target);
      }
    }
    if (self) EXPECT_EQ(self->path, P(dir));
  }
}

TEST_P(BackendConformanceTest, ListSpansManyBatches) {
  ASSERT_OK(b()->MakeDirectory(P("many")));
  constexpr int kCount = 1100;  // beyond one POSIX batch (1024)
  // Written from several threads (backends are thread-safe): a network
  // store takes one request at a time per thread.
  std::atomic<int> next{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < 8; ++t) {
    writers.emplace_back([&] {
      for (int i; (i = next.fetch_add(1)) < kCount;) {
        EXPECT_OK(WriteFile(b(), P("many/f" + std::to_string(i)), ""));
      }
    });
  }
  for (std::thread& w : writers) w.join();
  ASSERT_OK_AND_ASSIGN(std::vector<Entry> all, ListDir(b(), P("many")));
  ASSERT_EQ(all.size(), static_cast<size_t>(kCount));
  std::set<std::string> unique;
  for (const Entry& e : all) unique.insert(e.path.str());
  EXPECT_EQ(unique.size(), static_cast<size_t>(kCount));
}

TEST_P(BackendConformanceTest, ListOfMissingOrNonDirectoryFails) {
  ASSERT_OK(WriteFile(b(), P("f"), "x"));
  for (const RelPath& path : {P("missing"), P("f")}) {
    SCOPED_TRACE(path.Display());
    if (caps().implied_directories) {
      // Nothing has that prefix: an empty listing.
      ASSERT_OK_AND_ASSIGN(std::vector<Entry> listed, ListDir(b(), path));
      EXPECT_TRUE(listed.empty());
    } else {
      EXPECT_FALSE(b()->List(path).ok());
    }
  }
}

// ------------------------------------------------------------ Staged writes

TEST_P(BackendConformanceTest, WrittenFileReadsBackWithItsMetadata) {
  const std::string content = RandomBytes(100000, 1);
  Entry meta = Meta(EntryKind::kFile, 0640);
  ASSERT_OK(WriteFile(b(), P("f"), content, meta, FullPolicy()));

  auto st = StatOrDie(P("f"));
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->kind, EntryKind::kFile);
  EXPECT_EQ(st->path, P("f"));
  EXPECT_EQ(st->size, content.size());
  EXPECT_TRUE(SameTime(st->mtime, kMtime))
      << st->mtime.sec << "." << st->mtime.nsec;
  if (caps().mtime_granularity_ns <= 1) {
    EXPECT_EQ(st->mtime, kMtime) << "nanoseconds were lost";
  }
  if (caps().atime) {
    EXPECT_TRUE(SameTime(st->atime, kAtime));
  }
  if (caps().posix_mode) {
    EXPECT_EQ(st->mode, 0640u);
  }
  if (caps().posix_owner) {
    EXPECT_EQ(st->uid, meta.uid);
    EXPECT_EQ(st->gid, meta.gid);
  }
  // A listing says the same as Stat (or less: Entry::kPartial).
  ASSERT_OK_AND_ASSIGN(std::vector<Entry> listed, ListDir(b(), RelPath()));
  ASSERT_EQ(listed.size(), 1u);
  const Entry whole = Completed(listed[0]);
  EXPECT_EQ(whole.size, st->size);
  EXPECT_EQ(whole.mtime, st->mtime);
  EXPECT_EQ(whole.mode, st->mode);

  ASSERT_OK_AND_ASSIGN(std::string got, ReadFile(b(), P("f")));
  EXPECT_TRUE(got == content) << "content differs";
}

// Windows' attributes and creation time: what Commit and SetMetadata give a
// file or folder, a listing reports (the creation time to the second), and
// a read-only file can still be replaced and removed.
TEST_P(BackendConformanceTest, DosAttributesAndCreationTimeAreKept) {
  if (!caps().dos_attributes) GTEST_SKIP() << "no DOS attributes";
  const FileTime created{1400000000, 250000000};  // 2014
  Entry meta = Meta(EntryKind::kFile, 0644);
  meta.dos_attributes = kDosReadOnly | kDosHidden | kDosArchive;
  meta.btime = created;
  ASSERT_OK(WriteFile(b(), P("f"), "data", meta, FullPolicy()));
  Entry plain = Meta(EntryKind::kFile, 0644);
  plain.dos_attributes = 0;
  plain.btime = created;
  ASSERT_OK(WriteFile(b(), P("plain"), "data", plain, FullPolicy()));
  ASSERT_OK(b()->MakeDirectory(P("d")));
  Entry dir = Meta(EntryKind::kDirectory, 0755);
  dir.dos_attributes = kDosSystem;
  dir.btime = FileTime{1300000000, 0};
  ASSERT_OK(b()->SetMetadata(P("d"), dir, FullPolicy()));

  auto listed = [&](std::string_view name) -> Entry {
    auto all = ListDir(b(), RelPath());
    EXPECT_TRUE(all.ok()) << all.status().ToString();
    for (const Entry& e : all.ok() ? *all : std::vector<Entry>{}) {
      if (e.path.name() == name) return Completed(e);
    }
    ADD_FAILURE() << name << " is not listed";
    return Entry();
  };
  Entry f = listed("f");
  EXPECT_EQ(f.dos_attributes & kDosAttributeMask,
            kDosReadOnly | kDosHidden | kDosArchive);
  EXPECT_EQ(f.btime.sec, created.sec);
  EXPECT_TRUE(SameTime(f.mtime, kMtime)) << "setting attributes moved mtime";
  EXPECT_EQ(listed("plain").dos_attributes & kDosAttributeMask, 0u);
  Entry d = listed("d");
  EXPECT_EQ(d.dos_attributes & kDosAttributeMask, kDosSystem);
  EXPECT_EQ(d.btime.sec, 1300000000);
  EXPECT_EQ(DosAttributesDifference(meta, f), "");

  // A file's Stat tells its attributes too.
  auto st = StatOrDie(P("f"));
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->dos_attributes & kDosAttributeMask,
            kDosReadOnly | kDosHidden | kDosArchive);

  // Read-only is no obstacle to ferry itself.
  Entry again = Meta(EntryKind::kFile, 0644);
  again.btime = created;
  ASSERT_OK(WriteFile(b(), P("f"), "new data", again, FullPolicy()));
  EXPECT_EQ(listed("f").dos_attributes & kDosAttributeMask, 0u);
  ASSERT_OK(WriteFile(b(), P("f"), "data", meta, FullPolicy()));
  ASSERT_OK(b()->Remove(P("f")));
  EXPECT_FALSE(StatOrDie(P("f")).has_value());
}

TEST_P(BackendConformanceTest, CommitAppliesNoMetadataThePolicyLeavesOut) {
  Entry meta = Meta(EntryKind::kFile, 0604);
  meta.mtime = FileTime{1000000000, 5};  // 2001
  const int64_t before = WallNanos() / 1000000000;
  ASSERT_OK(WriteFile(
      b(), P("f"), "data", meta,
      MetadataPolicy{false, false, false, false, false, false, false}));
  auto st = StatOrDie(P("f"));
  ASSERT_TRUE(st.has_value());
  EXPECT_GE(st->mtime.sec, before - 5) << "the source mtime was applied";
  EXPECT_EQ(st->size, 4u);
}

TEST_P(BackendConformanceTest, EmptyFile) {
  ASSERT_OK(WriteFile(b(), P("empty"), "", Meta(EntryKind::kFile, 0600),
                      FullPolicy()));
  auto st = StatOrDie(P("empty"));
  ASSERT_TRUE(st.has_value());
  EXPECT_TRUE(st->is_file());
  EXPECT_EQ(st->size, 0u);
  EXPECT_TRUE(SameTime(st->mtime, kMtime));
  EXPECT_EQ(ReadFile(b(), P("empty")).value(), "");
}

TEST_P(BackendConformanceTest, MultiBlockFileInBlockSizedWrites) {
  const std::string content = RandomBytes(3 * kBlockSize + 4321, 2);
  WriteHints hints;
  hints.size = content.size();
  ASSERT_OK_AND_ASSIGN(auto w, b()->OpenWrite(P("big"), hints));
  // In order from the start: every part is written from its start to its
  // end (parts are whole blocks).
  ASSERT_OK(WriteInParts(w.get(), content, kBlockSize));
  Entry meta = Meta(EntryKind::kFile, 0644);
  meta.size = content.size();
  ASSERT_OK(w->Commit(meta, FullPolicy()));
  ASSERT_OK_AND_ASSIGN(std::string got, ReadFile(b(), P("big")));
  EXPECT_EQ(got.size(), content.size());
  EXPECT_TRUE(got == content) << "content differs";
}

TEST_P(BackendConformanceTest, StagedWriteIsInvisibleUntilCommit) {
  for (bool may_exist : {true, false}) {
    SCOPED_TRACE(may_exist ? "may_exist" : "path known free");
    const RelPath path = P(may_exist ? "a" : "b");
    WriteHints hints;
    hints.size = 5;
    hints.may_exist = may_exist;
    ASSERT_OK_AND_ASSIGN(auto w, b()->OpenWrite(path, hints));
    ASSERT_OK(w->WriteAt(0, AsBytes("hello")));
    EXPECT_EQ(StatOrDie(path), std::nullopt);
    EXPECT_FALSE(b()->OpenRead(path).ok());
    ExpectOnly(RelPath(), {"a"});
    Entry meta = Meta(EntryKind::kFile, 0644);
    meta.size = 5;
    ASSERT_OK(w->Commit(meta, FullPolicy()));
    auto st = StatOrDie(path);
    ASSERT_TRUE(st.has_value());
    EXPECT_EQ(ReadFile(b(), path).value(), "hello");
  }
  ExpectExactly(RelPath(), {"a", "b"});
}

TEST_P(BackendConformanceTest, AbortLeavesNoTrace) {
  ASSERT_OK(b()->MakeDirectory(P("d")));
  WriteHints hints;
  hints.size = 2 * kBlockSize;
  ASSERT_OK_AND_ASSIGN(auto w, b()->OpenWrite(P("d/f"), hints));
  ASSERT_OK(w->WriteAt(0, AsBytes(RandomBytes(kBlockSize, 3))));
  w->Abort();
  EXPECT_EQ(StatOrDie(P("d/f")), std::nullopt);
  ExpectExactly(P("d"), {});
  // After Abort, Commit must not publish anything.
  Entry meta = Meta(EntryKind::kFile, 0644);
  meta.size = 2 * kBlockSize;
  EXPECT_FALSE(w->Commit(meta, FullPolicy()).ok());
  w.reset();
  EXPECT_EQ(StatOrDie(P("d/f")), std::nullopt);
  ExpectExactly(P("d"), {});
}

TEST_P(BackendConformanceTest, DestroyingAnUncommittedWriterLeavesNoTrace) {
  ASSERT_OK(b()->MakeDirectory(P("d")));
  for (bool may_exist : {true, false}) {
    WriteHints hints;
    hints.size = 10;
    hints.may_exist = may_exist;
    ASSERT_OK_AND_ASSIGN(auto w, b()->OpenWrite(P("d/f"), hints));
    ASSERT_OK(w->WriteAt(0, AsBytes("0123456789")));
  }
  EXPECT_EQ(StatOrDie(P("d/f")), std::nullopt);
  ExpectExactly(P("d"), {});
}

TEST_P(BackendConformanceTest, AbortKeepsTheExistingFile) {
  ASSERT_OK(WriteFile(b(), P("f"), "original"));
  WriteHints hints;
  hints.size = 3;
  ASSERT_OK_AND_ASSIGN(auto w, b()->OpenWrite(P("f"), hints));
  ASSERT_OK(w->WriteAt(0, AsBytes("new")));
  w->Abort();
  w.reset();
  EXPECT_EQ(ReadFile(b(), P("f")).value(), "original");
  ExpectExactly(RelPath(), {"f"});
}

TEST_P(BackendConformanceTest, CommitReplacesAnExistingFile) {
  ASSERT_OK(WriteFile(b(), P("f"), "the old, longer content"));
  WriteHints hints;
  hints.size = 3;
  ASSERT_OK_AND_ASSIGN(auto w, b()->OpenWrite(P("f"), hints));
  ASSERT_OK(w->WriteAt(0, AsBytes("new")));
  // Until Commit the old version is all anyone sees.
  EXPECT_EQ(ReadFile(b(), P("f")).value(), "the old, longer content");
  Entry meta = Meta(EntryKind::kFile, 0600);
  meta.size = 3;
  ASSERT_OK(w->Commit(meta, FullPolicy()));
  auto st = StatOrDie(P("f"));
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->size, 3u);
  EXPECT_TRUE(SameTime(st->mtime, kMtime));
  EXPECT_EQ(ReadFile(b(), P("f")).value(), "new");
  ExpectExactly(RelPath(), {"f"});
}

TEST_P(BackendConformanceTest, CommitFailsWhenADirectoryIsInTheWay) {
  ASSERT_OK(b()->MakeDirectory(P("d")));
  ASSERT_OK(WriteFile(b(), P("d/inner"), "inside"));
  // A store of implied folders trusts a caller that says the path is free
  // (checking would cost a listing per file written).
  std::vector<bool> cases = {true};
  if (!caps().implied_directories) cases.push_back(false);
  for (bool may_exist : cases) {
    WriteHints hints;
    hints.size = 4;
    hints.may_exist = may_exist;
    auto w = b()->OpenWrite(P("d"), hints);
    if (w.ok()) {
      ASSERT_OK((*w)->WriteAt(0, AsBytes("file")));
      Entry meta = Meta(EntryKind::kFile, 0644);
      meta.size = 4;
      // TransferMode ALL tells "a folder is in the way" by this code.
      EXPECT_EQ((*w)->Commit(meta, FullPolicy()).code(),
                StatusCode::kFailedPrecondition);
    }
  }
  if (caps().symlinks) {
    Entry link = Meta(EntryKind::kSymlink, 0777);
    link.link_target = "x";
    EXPECT_EQ(b()->CreateSymlink(P("d"), link, MetadataPolicy{}).code(),
              StatusCode::kFailedPrecondition);
  }
  if (caps().special_files) {
    EXPECT_EQ(b()->CreateSpecial(P("d"), Meta(EntryKind::kFifo, 0600),
                                 MetadataPolicy{})
                  .code(),
              StatusCode::kFailedPrecondition);
  }
  auto d = StatOrDie(P("d"));
  ASSERT_TRUE(d.has_value());
  EXPECT_TRUE(d->is_dir());
  EXPECT_EQ(ReadFile(b(), P("d/inner")).value(), "inside");
  ExpectExactly(RelPath(), {"d"});
  ExpectExactly(P("d"), {"inner"});
}

TEST_P(BackendConformanceTest, WritesNeedAParentDirectory) {
  WriteHints hints;
  hints.size = 1;
  if (caps().implied_directories) {
    // The file's key implies its folders.
    ASSERT_OK(WriteFile(b(), P("implied/deeper/f"), "x"));
    auto dir = StatOrDie(P("implied/deeper"));
    ASSERT_TRUE(dir.has_value());
    EXPECT_TRUE(dir->is_dir());
    ExpectExactly(RelPath(), {"implied"});
    ExpectExactly(P("implied"), {"deeper"});
    EXPECT_FALSE(b()->OpenWrite(RelPath(), hints).ok());
    // Without a marker, the folders go with their last file.
    ASSERT_OK(b()->Remove(P("implied/deeper/f")));
    EXPECT_EQ(StatOrDie(P("implied")), std::nullopt);
    ExpectExactly(RelPath(), {});
    return;
  }
  auto w = b()->OpenWrite(P("missing/f"), hints);
  if (w.ok()) {
    ASSERT_OK((*w)->WriteAt(0, AsBytes("x")));
    Entry meta;
    meta.size = 1;
    EXPECT_FALSE((*w)->Commit(meta, MetadataPolicy{}).ok());
  }
  EXPECT_EQ(StatOrDie(P("missing")), std::nullopt);
  EXPECT_FALSE(b()->OpenWrite(RelPath(), hints).ok());
  ExpectExactly(RelPath(), {});
}

TEST_P(BackendConformanceTest, TrailingHoleIsSizedByCommit) {
  WriteHints hints;
  hints.size = 2 * kBlockSize;
  hints.sparse = true;
  ASSERT_OK_AND_ASSIGN(auto w, b()->OpenWrite(P("f"), hints));
  ASSERT_OK(w->WriteAt(0, AsBytes("head")));
  Entry meta = Meta(EntryKind::kFile, 0644);
  meta.size = 2 * kBlockSize;
  ASSERT_OK(w->Commit(meta, FullPolicy()));
  ASSERT_OK_AND_ASSIGN(std::string got, ReadFile(b(), P("f")));
  ASSERT_EQ(got.size(), 2 * kBlockSize);
  EXPECT_EQ(got.substr(0, 4), "head");
  EXPECT_EQ(got.find_first_not_of('\0', 4), std::string::npos);
}

TEST_P(BackendConformanceTest, ConcurrentWritesToDisjointRanges) {
  constexpr size_t kPiece = 64 * 1024;
  constexpr size_t kPieces = 48;
  constexpr int kThreads = 6;
  const std::string content = RandomBytes(kPiece * kPieces - 17, 4);
  WriteHints hints;
  hints.size = content.size();
  ASSERT_OK_AND_ASSIGN(auto w, b()->OpenWrite(P("f"), hints));
  // Without parts, the units are pieces written in any order; with parts,
  // each part is written by one thread from its start, in pieces.
  const uint64_t part = PartOf(content.size());
  const size_t unit = part > 0 ? part : kPiece;
  const int64_t units =
      static_cast<int64_t>((content.size() + unit - 1) / unit);
  std::atomic<int> failures{0};
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        // Each thread writes every kThreads-th unit, from the end backwards.
        for (int64_t i = units - 1 - t; i >= 0; i -= kThreads) {
          const size_t start = static_cast<size_t>(i) * unit;
          const size_t end = std::min(start + unit, content.size());
          for (size_t off = start; off < end; off += kPiece) {
            size_t n = std::min(kPiece, end - off);
            if (!w->WriteAt(off,
                            AsBytes(std::string_view(content).substr(off, n)))
                     .ok()) {
              ++failures;
            }
          }
        }
      });
    }
  }
  EXPECT_EQ(failures.load(), 0);
  Entry meta = Meta(EntryKind::kFile, 0644);
  meta.size = content.size();
  ASSERT_OK(w->Commit(meta, FullPolicy()));
  ASSERT_OK_AND_ASSIGN(std::string got, ReadFile(b(), P("f")));
  EXPECT_TRUE(got == content) << "content differs";
}

TEST_P(BackendConformanceTest, ManyWritersInOneDirectoryAtOnce) {
  constexpr int kThreads = 6;
  constexpr int kPerThread = 40;
  std::atomic<int> failures{0};
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          std::string name = "f" + std::to_string(t) + "-" + std::to_string(i);
          Status st = WriteFile(b(), P(name), name);
          if (!st.ok()) {
            ++failures;
            ADD_FAILURE() << name << ": " << st.ToString();
          }
        }
      });
    }
  }
  EXPECT_EQ(failures.load(), 0);
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> names,
                       ListNames(b(), RelPath()));
  EXPECT_EQ(names.size(), static_cast<size_t>(kThreads * kPerThread));
  EXPECT_EQ(ReadFile(b(), P("f3-7")).value(), "f3-7");
}

// ------------------------------------------------------------------ Reading

TEST_P(BackendConformanceTest, ReadAtOffsetsAndEndOfFile) {
  const std::string content = RandomBytes(10000, 5);
  ASSERT_OK(WriteFile(b(), P("f"), content));
  ASSERT_OK_AND_ASSIGN(auto r, b()->OpenRead(P("f")));
  EXPECT_EQ(r->entry().size, content.size());
  EXPECT_EQ(r->entry().path, P("f"));
  EXPECT_TRUE(r->entry().is_file());

  // Reads everything available from `offset` into a buffer of `len` bytes.
  auto read = [&](uint64_t offset, size_t len) {
    std::string buf(len, '\0');
    size_t done = 0;
    while (done < len) {
      auto n = r->ReadAt(offset + done, std::as_writable_bytes(std::span<char>(
                                            buf.data() + done, len - done)));
      EXPECT_TRUE(n.ok()) << n.status().ToString();
      if (!n.ok() || *n == 0) break;
      done += *n;
    }
    buf.resize(done);
    return buf;
  };
  EXPECT_EQ(read(0, 100), content.substr(0, 100));
  EXPECT_EQ(read(5000, 1234), content.substr(5000, 1234));
  EXPECT_EQ(read(9990, 100), content.substr(9990));
  EXPECT_EQ(read(0, 20000), content);
  EXPECT_EQ(read(10000, 10), "");
  EXPECT_EQ(read(1 << 30, 10), "");
  std::byte one[1];
  ASSERT_OK_AND_ASSIGN(size_t at_eof, r->ReadAt(content.size(), one));
  EXPECT_EQ(at_eof, 0u);
}

TEST_P(BackendConformanceTest, ConcurrentReadsAtDifferentOffsets) {
  const std::string content = RandomBytes(2 * kBlockSize + 999, 6);
  ASSERT_OK(WriteFile(b(), P("f"), content));
  ASSERT_OK_AND_ASSIGN(auto r, b()->OpenRead(P("f")));
  std::atomic<int> mismatches{0};
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        std::vector<std::byte> buf(4096);
        for (uint64_t off = t * 4096; off < content.size(); off += 4 * 4096) {
          auto n = r->ReadAt(off, buf);
          size_t want = std::min<size_t>(4096, content.size() - off);
          if (!n.ok() || *n != want ||
              std::memcmp(buf.data(), content.data() + off, want) != 0) {
            ++mismatches;
          }
        }
      });
    }
  }
  EXPECT_EQ(mismatches.load(), 0);
}

TEST_P(BackendConformanceTest, OpenReadNeedsARegularFile) {
  EXPECT_FALSE(b()->OpenRead(P("missing")).ok());
  ASSERT_OK(b()->MakeDirectory(P("d")));
  EXPECT_FALSE(b()->OpenRead(P("d")).ok());
  EXPECT_FALSE(b()->OpenRead(RelPath()).ok());
}

TEST_P(BackendConformanceTest, RestatSeesMetadataChanges) {
  ASSERT_OK(WriteFile(b(), P("f"), "content"));
  ASSERT_OK_AND_ASSIGN(auto r, b()->OpenRead(P("f")));
  ASSERT_OK_AND_ASSIGN(Entry first, r->Restat());
  EXPECT_EQ(first.size, 7u);
  EXPECT_EQ(first.mtime, r->entry().mtime);
  Entry change = Meta(EntryKind::kFile, 0600);
  change.mtime = FileTime{1234567890, 500};
  MetadataPolicy only_mtime{false, false, false, true, false};
  ASSERT_OK(b()->SetMetadata(P("f"), change, only_mtime));
  ASSERT_OK_AND_ASSIGN(Entry now, r->Restat());
  EXPECT_TRUE(SameTime(now.mtime, change.mtime));
  EXPECT_FALSE(now.mtime == first.mtime && now.ctime == first.ctime)
      << "Restat did not see the change";
  if (!caps().change_time) {
    EXPECT_EQ(now.ctime, FileTime{}) << "no change time, yet one is reported";
  }
  // The content did not change: reading on still works.
  std::byte buf[7];
  ASSERT_OK_AND_ASSIGN(size_t n, r->ReadAt(0, buf));
  EXPECT_EQ(n, 7u);
}

TEST_P(BackendConformanceTest, AReaderNeverMixesVersions) {
  ASSERT_OK(WriteFile(b(), P("f"), "first"));
  ASSERT_OK_AND_ASSIGN(auto r, b()->OpenRead(P("f")));
  if (!caps().replace_while_open) {
    // The open file stays as it is, and the write says why it failed.
    Status st = WriteFile(b(), P("f"), "second, longer");
    EXPECT_EQ(st.code(), StatusCode::kPermissionDenied) << st.ToString();
    EXPECT_NE(st.message().find("in use"), std::string_view::npos)
        << st.ToString();
    std::string buf(5, '\0');
    ASSERT_OK_AND_ASSIGN(
        size_t n, r->ReadAt(0, std::as_writable_bytes(std::span<char>(buf))));
    EXPECT_EQ(buf.substr(0, n), "first");
    r.reset();
    ASSERT_OK(WriteFile(b(), P("f"), "second, longer"));
    EXPECT_EQ(ReadFile(b(), P("f")).value(), "second, longer");
    ExpectExactly(RelPath(), {"f"});
    return;
  }
  ASSERT_OK(WriteFile(b(), P("f"), "second, longer"));
  // A reader either goes on reading the version it opened (a file system's
  // open file) or fails as changed, and then Restat tells the new version
  // (an object store pins the ETag it opened).
  std::string buf(5, '\0');
  auto n = r->ReadAt(0, std::as_writable_bytes(std::span<char>(buf)));
  if (n.ok()) {
    EXPECT_EQ(buf.substr(0, *n), "first");
  } else {
    EXPECT_EQ(n.status().code(), StatusCode::kSourceChanged)
        << n.status().ToString();
    ASSERT_OK_AND_ASSIGN(Entry now, r->Restat());
    EXPECT_EQ(now.size, 14u);
  }
}

TEST_P(BackendConformanceTest, NextDataNeverSkipsData) {
  const std::string content = RandomBytes(3 * kBlockSize / 2, 7);
  ASSERT_OK(WriteFile(b(), P("f"), content));
  ASSERT_OK_AND_ASSIGN(auto r, b()->OpenRead(P("f")));
  ASSERT_OK_AND_ASSIGN(Extent first, r->NextData(0));
  EXPECT_EQ(first.offset, 0u);
  EXPECT_EQ(first.length, content.size());
  ASSERT_OK_AND_ASSIGN(Extent middle, r->NextData(1000));
  EXPECT_EQ(middle.offset, 1000u);
  EXPECT_EQ(middle.offset + middle.length, content.size());
  ASSERT_OK_AND_ASSIGN(Extent end, r->NextData(content.size()));
  EXPECT_EQ(end.length, 0u);
}

TEST_P(BackendConformanceTest, SparseFileKeepsItsHoles) {
  if (!caps().sparse_files) GTEST_SKIP() << "no sparse files";
  const uint64_t size = 4 * kBlockSize;
  const std::string a = RandomBytes(8192, 8);
  const std::string c = RandomBytes(4096, 9);
  WriteHints hints;
  hints.size = size;
  hints.sparse = true;
  ASSERT_OK_AND_ASSIGN(auto w, b()->OpenWrite(P("sparse"), hints));
  ASSERT_OK(w->WriteAt(kBlockSize, AsBytes(a)));
  ASSERT_OK(w->WriteAt(3 * kBlockSize, AsBytes(c)));
  Entry meta = Meta(EntryKind::kFile, 0644);
  meta.size = size;
  ASSERT_OK(w->Commit(meta, FullPolicy()));

  auto st = StatOrDie(P("sparse"));
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->size, size);
  EXPECT_LT(st->allocated, size) << "no hole was kept";
  EXPECT_TRUE(st->MaybeSparse());

  ASSERT_OK_AND_ASSIGN(auto r, b()->OpenRead(P("sparse")));
  // Walk the data extents: they must cover both written ranges and start
  // after the leading hole.
  std::vector<Extent> extents;
  for (uint64_t pos = 0; pos < size;) {
    ASSERT_OK_AND_ASSIGN(Extent e, r->NextData(pos));
    if (e.length == 0) break;
    ASSERT_GE(e.offset, pos);
    extents.push_back(e);
    pos = e.offset + e.length;
  }
  ASSERT_FALSE(extents.empty());
  EXPECT_GT(extents.front().offset, 0u) << "the leading hole was not seen";
  auto covered = [&](uint64_t from, uint64_t len) {
    for (const Extent& e : extents) {
      if (e.offset <= from && from + len <= e.offset + e.length) return true;
    }
    return false;
  };
  EXPECT_TRUE(covered(kBlockSize, a.size()));
  EXPECT_TRUE(covered(3 * kBlockSize, c.size()));
  ASSERT_OK_AND_ASSIGN(Extent tail, r->NextData(3 * kBlockSize + 2 * 4096));
  EXPECT_EQ(tail.length, 0u) << "the trailing hole was not seen";

  ASSERT_OK_AND_ASSIGN(std::string got, ReadFile(b(), P("sparse")));
  ASSERT_EQ(got.size(), size);
  EXPECT_EQ(got.substr(kBlockSize, a.size()), a);
  EXPECT_EQ(got.substr(3 * kBlockSize, c.size()), c);
  EXPECT_EQ(got.find_first_not_of('\0'), kBlockSize);
  EXPECT_EQ(got.find_first_not_of('\0', kBlockSize + a.size()), 3 * kBlockSize);
}

// ----------------------------------------------------------------- Metadata

TEST_P(BackendConformanceTest, SetMetadataOnFilesAndDirectories) {
  ASSERT_OK(WriteFile(b(), P("f"), "x"));
  ASSERT_OK(b()->MakeDirectory(P("d")));
  for (auto [path, kind, mode] :
       {std::tuple{P("f"), EntryKind::kFile, 0604u},
        std::tuple{P("d"), EntryKind::kDirectory, 0751u}}) {
    SCOPED_TRACE(path.Display());
    Entry meta = Meta(kind, mode);
    ASSERT_OK(b()->SetMetadata(path, meta, FullPolicy()));
    auto st = StatOrDie(path);
    ASSERT_TRUE(st.has_value());
    EXPECT_EQ(st->kind, kind);
    EXPECT_TRUE(SameTime(st->mtime, kMtime));
    if (caps().atime) {
      EXPECT_TRUE(SameTime(st->atime, kAtime));
    }
    if (caps().posix_mode) {
      EXPECT_EQ(st->mode, mode);
    }
    if (caps().posix_owner) {
      EXPECT_EQ(st->uid, meta.uid);
      EXPECT_EQ(st->gid, meta.gid);
    }
  }
  EXPECT_EQ(ReadFile(b(), P("f")).value(), "x");
}

TEST_P(BackendConformanceTest, SetMetadataAppliesOnlyWhatThePolicySelects) {
  Entry first = Meta(EntryKind::kFile, 0640);
  ASSERT_OK(WriteFile(b(), P("f"), "x", first, FullPolicy()));
  Entry second = Meta(EntryKind::kFile, 0604);
  second.mtime = FileTime{1700000000, 42};
  second.uid += 1;
  second.gid += 1;

  ASSERT_OK(b()->SetMetadata(P("f"), second,
                             MetadataPolicy{false, false, false, true, false}));
  auto st = StatOrDie(P("f"));
  ASSERT_TRUE(st.has_value());
  EXPECT_TRUE(SameTime(st->mtime, second.mtime));
  if (caps().posix_mode) {
    EXPECT_EQ(st->mode, 0640u) << "mode was applied";
  }
  if (caps().posix_owner) {
    EXPECT_EQ(st->uid, first.uid) << "uid was applied";
  }

  if (caps().posix_mode) {
    ASSERT_OK(b()->SetMetadata(
        P("f"), second, MetadataPolicy{true, false, false, false, false}));
    st = StatOrDie(P("f"));
    ASSERT_TRUE(st.has_value());
    EXPECT_EQ(st->mode, 0604u);
    EXPECT_TRUE(SameTime(st->mtime, second.mtime));
  }
}

TEST_P(BackendConformanceTest, SetMetadataOnAMissingPathFails) {
  EXPECT_FALSE(
      b()->SetMetadata(P("missing"), Meta(EntryKind::kFile, 0644), FullPolicy())
          .ok());
  EXPECT_EQ(StatOrDie(P("missing")), std::nullopt);
}

// ------------------------------------------------------------------ Removal

TEST_P(BackendConformanceTest, RemoveFilesAndEmptyDirectories) {
  ASSERT_OK(WriteFile(b(), P("f"), "x"));
  ASSERT_OK(b()->MakeDirectory(P("d")));
  ASSERT_OK(b()->Remove(P("f")));
  ASSERT_OK(b()->Remove(P("d")));
  EXPECT_EQ(StatOrDie(P("f")), std::nullopt);
  EXPECT_EQ(StatOrDie(P("d")), std::nullopt);
  ExpectExactly(RelPath(), {});
}

TEST_P(BackendConformanceTest, RemoveOfANonEmptyDirectoryFailsAndKeepsIt) {
  ASSERT_OK(b()->MakeDirectory(P("d")));
  ASSERT_OK(WriteFile(b(), P("d/f"), "x"));
  EXPECT_FALSE(b()->Remove(P("d")).ok());
  EXPECT_EQ(ReadFile(b(), P("d/f")).value(), "x");
}

TEST_P(BackendConformanceTest, RemoveOfAMissingPathIsNotFound) {
  Status st = b()->Remove(P("missing"));
  EXPECT_TRUE(st.IsNotFound()) << st.ToString();
  EXPECT_FALSE(b()->Remove(RelPath()).ok());
}

TEST_P(BackendConformanceTest, RemoveTreeRemovesEverythingBeneath) {
  ASSERT_OK(b()->MakeDirectory(P("keep")));
  ASSERT_OK(WriteFile(b(), P("keep/k"), "k"));
  ASSERT_OK(b()->MakeDirectory(P("d")));
  ASSERT_OK(b()->MakeDirectory(P("d/e")));
  ASSERT_OK(b()->MakeDirectory(P("d/e/g")));
  ASSERT_OK(WriteFile(b(), P("d/a"), "a"));
  ASSERT_OK(WriteFile(b(), P("d/e/f"), "f"));
  ASSERT_OK(WriteFile(b(), P("d/e/g/h"), "h"));
  if (caps().symlinks) {
    Entry link = Meta(EntryKind::kSymlink, 0777);
    link.link_target = "../keep";
    ASSERT_OK(b()->CreateSymlink(P("d/link"), link, MetadataPolicy{}));
  }
  ASSERT_OK(b()->RemoveTree(P("d")));
  EXPECT_EQ(StatOrDie(P("d")), std::nullopt);
  ExpectExactly(RelPath(), {"keep"});
  EXPECT_EQ(ReadFile(b(), P("keep/k")).value(), "k");

  ASSERT_OK(WriteFile(b(), P("file"), "x"));
  ASSERT_OK(b()->RemoveTree(P("file")));
  EXPECT_EQ(StatOrDie(P("file")), std::nullopt);
  EXPECT_OK(b()->RemoveTree(P("missing")));
  EXPECT_OK(b()->RemoveTree(P("missing/deeper")));
}

// ----------------------------------------------------------------- Symlinks

TEST_P(BackendConformanceTest, SymlinksKeepTheirTargetBytes) {
  Entry link = Meta(EntryKind::kSymlink, 0777);
  link.link_target = "../../some where/x\\y\n\xff";
  Status st = b()->CreateSymlink(P("l"), link, FullPolicy());
  if (!caps().symlinks) {
    EXPECT_EQ(st.code(), StatusCode::kNotSupported) << st.ToString();
    EXPECT_EQ(StatOrDie(P("l")), std::nullopt);
    return;
  }
  ASSERT_OK(st);
  auto got = StatOrDie(P("l"));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->kind, EntryKind::kSymlink);
  EXPECT_EQ(got->link_target, link.link_target);
  if (caps().symlink_times) {
    EXPECT_TRUE(SameTime(got->mtime, kMtime));
  }
  if (caps().posix_owner) {
    EXPECT_EQ(got->uid, link.uid);
  }
  ASSERT_OK_AND_ASSIGN(std::vector<Entry> listed, ListDir(b(), RelPath()));
  ASSERT_EQ(listed.size(), 1u);
  const Entry whole = Completed(listed[0]);
  EXPECT_EQ(whole.kind, EntryKind::kSymlink);
  EXPECT_EQ(whole.link_target, link.link_target);
}

TEST_P(BackendConformanceTest, CreateSymlinkReplacesLinksAndFiles) {
  if (!caps().symlinks) GTEST_SKIP() << "no symlinks";
  Entry link = Meta(EntryKind::kSymlink, 0777);
  link.link_target = "first";
  ASSERT_OK(b()->CreateSymlink(P("l"), link, MetadataPolicy{}));
  link.link_target = "second";
  ASSERT_OK(b()->CreateSymlink(P("l"), link, MetadataPolicy{}));
  EXPECT_EQ(StatOrDie(P("l"))->link_target, "second");

  ASSERT_OK(WriteFile(b(), P("f"), "was a file"));
  ASSERT_OK(b()->CreateSymlink(P("f"), link, MetadataPolicy{}));
  auto f = StatOrDie(P("f"));
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->kind, EntryKind::kSymlink);
  ExpectExactly(RelPath(), {"f", "l"});
}

TEST_P(BackendConformanceTest, SymlinksAreNeverFollowed) {
  if (!caps().symlinks) GTEST_SKIP() << "no symlinks";
  ASSERT_OK(b()->MakeDirectory(P("d")));
  ASSERT_OK(WriteFile(b(), P("d/f"), "target content",
                      Meta(EntryKind::kFile, 0640), FullPolicy()));
  Entry to_dir = Meta(EntryKind::kSymlink, 0777);
  to_dir.link_target = "d";
  ASSERT_OK(b()->CreateSymlink(P("ld"), to_dir, MetadataPolicy{}));
  Entry to_file = Meta(EntryKind::kSymlink, 0777);
  to_file.link_target = "d/f";
  ASSERT_OK(b()->CreateSymlink(P("lf"), to_file, MetadataPolicy{}));
  auto before = StatOrDie(P("d"));
  ASSERT_TRUE(before.has_value());

  EXPECT_EQ(StatOrDie(P("ld"))->kind, EntryKind::kSymlink);
  auto through = b()->Stat(P("ld/f"));
  EXPECT_TRUE(!through.ok() || !through->has_value())
      << "Stat went through a link";
  if (caps().implied_directories) {
    // A link's name is no key prefix: nothing is beneath it. (Such a store
    // has no parents to check: a folder or file made beneath a link's name
    // would not go through it either, but ferry never makes one.)
    ASSERT_OK_AND_ASSIGN(std::vector<Entry> beneath, ListDir(b(), P("ld")));
    EXPECT_TRUE(beneath.empty());
  } else {
    EXPECT_FALSE(b()->List(P("ld")).ok());
    EXPECT_FALSE(b()->MakeDirectory(P("ld/sub")).ok());
    EXPECT_FALSE(WriteFile(b(), P("ld/new"), "x").ok());
  }
  EXPECT_FALSE(b()->OpenRead(P("lf")).ok());
  EXPECT_FALSE(b()->OpenRead(P("ld/f")).ok());
  EXPECT_FALSE(b()->MakeDirectory(P("ld")).ok());
  EXPECT_FALSE(b()->Remove(P("ld/f")).ok());
  Entry meta = Meta(EntryKind::kDirectory, 0700);
  meta.mtime = FileTime{1111111111, 0};
  (void)b()->SetMetadata(P("ld"), meta, FullPolicy());
  (void)b()->SetMetadata(P("ld/f"), meta, FullPolicy());
  Entry file_meta = Meta(EntryKind::kFile, 0600);
  file_meta.mtime = FileTime{1111111111, 0};
  (void)b()->SetMetadata(P("lf"), file_meta, FullPolicy());

  ExpectExactly(P("d"), {"f"});
  auto after = StatOrDie(P("d"));
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->mtime, before->mtime);
  EXPECT_EQ(after->mode, before->mode);
  auto f = StatOrDie(P("d/f"));
  ASSERT_TRUE(f.has_value());
  EXPECT_TRUE(SameTime(f->mtime, kMtime)) << "metadata went through a link";
  if (caps().posix_mode) {
    EXPECT_EQ(f->mode, 0640u);
  }
  EXPECT_EQ(ReadFile(b(), P("d/f")).value(), "target content");

  // Writing a file where a link is replaces the link, not its target.
  ASSERT_OK(WriteFile(b(), P("lf"), "replaced"));
  EXPECT_EQ(StatOrDie(P("lf"))->kind, EntryKind::kFile);
  EXPECT_EQ(ReadFile(b(), P("lf")).value(), "replaced");
  EXPECT_EQ(ReadFile(b(), P("d/f")).value(), "target content");

  // Removing a link removes the link.
  ASSERT_OK(b()->Remove(P("ld")));
  EXPECT_EQ(StatOrDie(P("ld")), std::nullopt);
  EXPECT_EQ(ReadFile(b(), P("d/f")).value(), "target content");
  ASSERT_OK(b()->CreateSymlink(P("ld"), to_dir, MetadataPolicy{}));
  ASSERT_OK(b()->RemoveTree(P("ld")));
  EXPECT_EQ(ReadFile(b(), P("d/f")).value(), "target content");
}

// ------------------------------------------------------------ Special files

TEST_P(BackendConformanceTest, FifosAndSocketsWhenSupported) {
  for (EntryKind kind : {EntryKind::kFifo, EntryKind::kSocket}) {
    SCOPED_TRACE(EntryKindName(kind));
    const RelPath path = P(std::string(EntryKindName(kind)));
    Entry src = Meta(kind, 0640);
    Status st = b()->CreateSpecial(path, src, FullPolicy());
    if (!caps().special_files) {
      EXPECT_EQ(st.code(), StatusCode::kNotSupported) << st.ToString();
      EXPECT_EQ(StatOrDie(path), std::nullopt);
      continue;
    }
    ASSERT_OK(st);
    auto got = StatOrDie(path);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->kind, kind);
    EXPECT_TRUE(SameTime(got->mtime, kMtime));
    if (caps().posix_mode) {
      EXPECT_EQ(got->mode, 0640u);
    }
    if (caps().posix_owner) {
      EXPECT_EQ(got->uid, src.uid);
    }
    // Not a file to read (and opening it must not block).
    EXPECT_FALSE(b()->OpenRead(path).ok());
    // Created again: replaced.
    src.mode = 0600;
    ASSERT_OK(b()->CreateSpecial(path, src, FullPolicy()));
    if (caps().posix_mode) {
      EXPECT_EQ(StatOrDie(path)->mode, 0600u);
    }
  }
  if (caps().special_files) {
    ASSERT_OK(WriteFile(b(), P("was-file"), "x"));
    ASSERT_OK(b()->CreateSpecial(P("was-file"), Meta(EntryKind::kFifo, 0644),
                                 MetadataPolicy{}));
    EXPECT_EQ(StatOrDie(P("was-file"))->kind, EntryKind::kFifo);
    ExpectExactly(RelPath(), {"fifo", "socket", "was-file"});
  }
}

TEST_P(BackendConformanceTest, DevicesWhenSupported) {
  Entry dev = Meta(EntryKind::kCharDevice, 0600);
  dev.rdev = makedev(1, 3);
  Status st = b()->CreateSpecial(P("null"), dev, FullPolicy());
  if (!caps().devices) {
    EXPECT_EQ(st.code(), StatusCode::kNotSupported) << st.ToString();
    return;
  }
  if (st.code() == StatusCode::kPermissionDenied) {
    GTEST_SKIP() << "this process may not create devices: " << st.ToString();
  }
  ASSERT_OK(st);
  auto got = StatOrDie(P("null"));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->kind, EntryKind::kCharDevice);
  EXPECT_EQ(got->rdev, dev.rdev);
  EXPECT_EQ(got->size, 0u);
}

TEST_P(BackendConformanceTest, CreateSpecialRefusesOrdinaryKinds) {
  for (EntryKind kind :
       {EntryKind::kFile, EntryKind::kDirectory, EntryKind::kSymlink}) {
    EXPECT_FALSE(
        b()->CreateSpecial(P("x"), Meta(kind, 0644), FullPolicy()).ok())
        << EntryKindName(kind);
  }
  EXPECT_EQ(StatOrDie(P("x")), std::nullopt);
}

TEST_P(BackendConformanceTest, HardLinksWhenSupported) {
  ASSERT_OK(WriteFile(b(), P("a"), "shared"));
  ASSERT_OK(WriteFile(b(), P("b"), "other"));
  Status st = b()->CreateHardLink(P("a"), P("c"));
  if (!caps().hard_links) {
    EXPECT_EQ(st.code(), StatusCode::kNotSupported) << st.ToString();
    EXPECT_EQ(StatOrDie(P("c")), std::nullopt);
    return;
  }
  ASSERT_OK(st);
  ASSERT_OK(b()->CreateHardLink(P("a"), P("b")));  // replaces b
  auto a = StatOrDie(P("a"));
  auto b2 = StatOrDie(P("b"));
  auto c = StatOrDie(P("c"));
  ASSERT_TRUE(a && b2 && c);
  EXPECT_EQ(a->ino, c->ino);
  EXPECT_EQ(a->dev, c->dev);
  EXPECT_EQ(a->ino, b2->ino);
  EXPECT_EQ(a->nlink, 3u);
  EXPECT_EQ(ReadFile(b(), P("b")).value(), "shared");
  ExpectExactly(RelPath(), {"a", "b", "c"});
}

// -------------------------------------------------------------------- Names

std::vector<std::string> AllOddNames() {
  std::string long_utf8;
  for (int i = 0; i < 127; ++i) long_utf8 += "\xc3\xa9";
  long_utf8 += "x";
  return {
      "new\nline",   "back\\slash",  "invalid \xff\xfe utf8",
      "tab\there",   " lead",        "trail ",
      "...",         "..a",          "a..",
      "-dash",       "colon:star*?", "quote\"'`",
      "%percent%20", "caf\xc3\xa9",  std::string(255, 'n'),
      long_utf8,     "\x01\x7f",
  };
}

// The odd names a backend can store: all of them, or (utf8_names_only) the
// valid UTF-8 ones, or (windows_names) the ones Windows can hold.
std::vector<std::string> OddNames(const Capabilities& caps) {
  std::vector<std::string> names;
  for (std::string& n : AllOddNames()) {
    if (caps.utf8_names_only && !IsValidUtf8(n)) continue;
    if (caps.windows_names && !WindowsNameProblem(n).empty()) continue;
    if (caps.azure_names && !AzureNameProblem(n).empty()) continue;
    names.push_back(std::move(n));
  }
  return names;
}

TEST_P(BackendConformanceTest, OddNamesRoundTrip) {
  const std::vector<std::string> names = OddNames(caps());
  for (const std::string& name : names) {
    ASSERT_EQ(name.size() <= 255, true);
    ASSERT_OK(WriteFile(b(), RelPath().Child(name), "content of " + name));
  }
  ExpectExactly(RelPath(), names);
  for (const std::string& name : names) {
    SCOPED_TRACE(EscapeForDisplay(name));
    auto st = StatOrDie(RelPath().Child(name));
    ASSERT_TRUE(st.has_value());
    EXPECT_EQ(st->path.name(), name);
    EXPECT_EQ(ReadFile(b(), RelPath().Child(name)).value(),
              "content of " + name);
  }
}

TEST_P(BackendConformanceTest, OddDirectoryNamesHoldFiles) {
  for (const std::string& name : OddNames(caps())) {
    SCOPED_TRACE(EscapeForDisplay(name));
    RelPath dir = RelPath().Child("d" + name.substr(0, 254));
    ASSERT_OK(b()->MakeDirectory(dir));
    RelPath file = dir.Child(name);
    ASSERT_OK(WriteFile(b(), file, "x"));
    ASSERT_OK_AND_ASSIGN(std::vector<Entry> inside, ListDir(b(), dir));
    ASSERT_EQ(inside.size(), 1u);
    EXPECT_EQ(inside[0].path, file);
    ASSERT_OK(b()->RemoveTree(dir));
  }
  ExpectExactly(RelPath(), {});
}

TEST_P(BackendConformanceTest, NamesAzureCannotKeepAreRefusedClearly) {
  if (!caps().azure_names) GTEST_SKIP() << "not Azure's rules";
  for (const char* name : {"back\\slash", "new\nline", "trail."}) {
    SCOPED_TRACE(EscapeForDisplay(name));
    WriteHints hints;
    hints.size = 1;
    auto w = b()->OpenWrite(P("d").Child(name), hints);
    ASSERT_FALSE(w.ok());
    EXPECT_EQ(w.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(w.status().message().find("Azure"), std::string_view::npos)
        << w.status().message();
    EXPECT_EQ(b()->MakeDirectory(RelPath().Child(name)).code(),
              StatusCode::kInvalidArgument);
  }
  ExpectExactly(RelPath(), {});
}

TEST_P(BackendConformanceTest, NamesThatAreNotUtf8AreRefusedClearly) {
  if (!caps().utf8_names_only) GTEST_SKIP() << "any bytes make a name";
  const RelPath bad = RelPath().Child("invalid \xff\xfe utf8");
  WriteHints hints;
  hints.size = 1;
  auto w = b()->OpenWrite(bad, hints);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(w.status().message().find("UTF-8"), std::string_view::npos)
      << w.status().message();
  Status dir = b()->MakeDirectory(bad);
  EXPECT_EQ(dir.code(), StatusCode::kInvalidArgument) << dir.ToString();
  if (caps().symlinks) {
    Entry link = Meta(EntryKind::kSymlink, 0777);
    link.link_target = "t";
    Status st = b()->CreateSymlink(bad, link, FullPolicy());
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
  }
  ExpectExactly(RelPath(), {});
}

TEST_P(BackendConformanceTest, NamesWindowsCannotHoldAreRefusedClearly) {
  if (!caps().windows_names) GTEST_SKIP() << "Windows' rules do not apply";
  for (std::string name : AllOddNames()) {
    const std::string why = WindowsNameProblem(name);
    if (why.empty() || !IsValidUtf8(name)) continue;
    SCOPED_TRACE(EscapeForDisplay(name));
    WriteHints hints;
    hints.size = 1;
    auto w = b()->OpenWrite(RelPath().Child(name), hints);
    ASSERT_FALSE(w.ok());
    EXPECT_EQ(w.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(w.status().message().find(why), std::string_view::npos)
        << w.status().message();
    Status dir = b()->MakeDirectory(RelPath().Child(name));
    EXPECT_EQ(dir.code(), StatusCode::kInvalidArgument) << dir.ToString();
  }
  ExpectExactly(RelPath(), {});
}

TEST_P(BackendConformanceTest, RemoveFilesRemovesEachAndToleratesMissing) {
  ASSERT_OK(b()->MakeDirectory(P("d")));
  std::vector<RelPath> paths;
  for (int i = 0; i < 5; ++i) {
    paths.push_back(P("d/f" + std::to_string(i)));
    ASSERT_OK(WriteFile(b(), paths.back(), "x"));
  }
  paths.push_back(P("d/missing"));
  std::vector<Status> results = b()->RemoveFiles(paths);
  ASSERT_EQ(results.size(), paths.size());
  for (size_t i = 0; i < results.size(); ++i) {
    EXPECT_OK(results[i]) << paths[i].Display();
  }
  ExpectExactly(P("d"), {});
}

TEST_P(BackendConformanceTest, PathsStayBeneathTheRoot) {
  // ".." can never be spelled as a RelPath...
  EXPECT_FALSE(RelPath::Parse("../escape").ok());
  EXPECT_FALSE(RelPath::Parse("a/../../escape").ok());
  // ...and names that merely look like it are ordinary children.
  ASSERT_OK(b()->MakeDirectory(P("sub")));
  std::vector<std::string> names;
  for (const char* name : {"...", "..a", ".. ", "a..", ".a"}) {
    if (caps().windows_names && !WindowsNameProblem(name).empty()) continue;
    if (caps().azure_names && !AzureNameProblem(name).empty()) continue;
    names.push_back(name);
    ASSERT_OK(WriteFile(b(), P(std::string("sub/") + name), name));
  }
  ExpectExactly(P("sub"), names);
  ExpectExactly(RelPath(), {"sub"});
}

TEST_P(BackendConformanceTest, SyncSucceeds) {
  ASSERT_OK(WriteFile(b(), P("f"), "x"));
  EXPECT_OK(b()->Sync());
}

// ---------------------------------------------------- Extended attributes

// The attributes a test set, as a backend reports them (it may hold others,
// such as a security label).
XattrList Ours(const XattrList& list) {
  XattrList out;
  for (const Xattr& x : list) {
    if (x.name.rfind("user.ferry.", 0) == 0) out.push_back(x);
  }
  return out;
}

TEST_P(BackendConformanceTest, ExtendedAttributesWhenSupported) {
  using std::string_literals::operator""s;
  ASSERT_OK(WriteFile(b(), P("f"), "x"));
  ASSERT_OK(b()->MakeDirectory(P("d")));
  const XattrList first = {{"user.ferry.a", "1"},
                           {"user.ferry.b", "bin\0ary\xff"s}};
  const XattrList second = {{"user.ferry.b", "2"}, {"user.ferry.c", ""}};
  for (const RelPath& path : {P("f"), P("d")}) {
    SCOPED_TRACE(path.Display());
    EXPECT_OK(b()->SetXattrs(path, {}, true, false));
    Status st = b()->SetXattrs(path, first, true, false);
    if (!caps().xattrs) {
      EXPECT_EQ(st.code(), StatusCode::kNotSupported) << st.ToString();
      continue;
    }
    ASSERT_OK(st);
    ASSERT_OK_AND_ASSIGN(XattrList got, b()->GetXattrs(path));
    EXPECT_EQ(Ours(got), first);
    // Exactly the given ones: b changes, c arrives, a goes.
    ASSERT_OK(b()->SetXattrs(path, second, true, false));
    ASSERT_OK_AND_ASSIGN(got, b()->GetXattrs(path));
    EXPECT_EQ(Ours(got), second);
  }
  if (!caps().xattrs) return;
  ASSERT_OK_AND_ASSIGN(auto reader, b()->OpenRead(P("f")));
  ASSERT_OK_AND_ASSIGN(XattrList from_reader, reader->Xattrs());
  EXPECT_EQ(Ours(from_reader), second);
  EXPECT_FALSE(b()->GetXattrs(P("missing")).ok());
}

TEST_P(BackendConformanceTest, AStagedFileCarriesItsAttributes) {
  WriteHints hints;
  hints.size = 4;
  ASSERT_OK_AND_ASSIGN(auto w, b()->OpenWrite(P("f"), hints));
  ASSERT_OK(w->WriteAt(0, AsBytes("data")));
  const XattrList attrs = {{"user.ferry.origin", "staged"}};
  Status st = w->SetXattrs(attrs, true, false);
  if (!caps().xattrs) {
    EXPECT_EQ(st.code(), StatusCode::kNotSupported) << st.ToString();
    return;
  }
  ASSERT_OK(st);
  EXPECT_EQ(StatOrDie(P("f")), std::nullopt);
  Entry meta = Meta(EntryKind::kFile, 0644);
  meta.size = 4;
  ASSERT_OK(w->Commit(meta, FullPolicy()));
  ASSERT_OK_AND_ASSIGN(XattrList got, b()->GetXattrs(P("f")));
  EXPECT_EQ(Ours(got), attrs);
}

// ------------------------------------------------- Capabilities of the seam

// Writes `content` as `path` through a writer given `tags` (none: SetTags
// is not called), committed with the full policy.
Status WriteTagged(Backend* b, const RelPath& path, std::string_view content,
                   const std::optional<ObjectTags>& tags,
                   const MetadataPolicy& policy, uint64_t part) {
  WriteHints hints;
  hints.size = content.size();
  FERRY_ASSIGN_OR_RETURN(auto w, b->OpenWrite(path, hints));
  if (tags) FERRY_RETURN_IF_ERROR(w->SetTags(*tags));
  const size_t block = part > 0 ? std::min<uint64_t>(part, kBlockSize)
                                : std::max<size_t>(content.size(), 1);
  for (size_t off = 0; off < content.size(); off += block) {
    const size_t n = std::min(block, content.size() - off);
    FERRY_RETURN_IF_ERROR(w->WriteAt(off, AsBytes(content.substr(off, n))));
  }
  Entry meta;
  meta.kind = EntryKind::kFile;
  meta.mode = 0640;
  meta.mtime = kMtime;
  meta.size = content.size();
  return w->Commit(meta, policy);
}

TEST_P(BackendConformanceTest, ObjectTagsAreStoredExactlyWithTheFile) {
  // Characters S3 allows in tags: letters of any script, digits, spaces and
  // + - = . _ : / @.
  const ObjectTags first = {{"project", "ferry"},
                            {"with space+plus", "a=b:c/d@e_f.g-h"},
                            {"caf\xc3\xa9", "\xe6\x97\xa5\xe6\x9c\xac"},
                            {"empty", ""}};
  const ObjectTags second = {{"project", "other"}, {"new", "1"}};
  if (!caps().object_tags) {
    ASSERT_OK(WriteTagged(b(), P("f"), "x", ObjectTags{}, FullPolicy(), 0));
    EXPECT_EQ(WriteTagged(b(), P("g"), "x", first, FullPolicy(), 0).code(),
              StatusCode::kNotSupported);
    EXPECT_EQ(b()->SetTags(P("f"), first).code(), StatusCode::kNotSupported);
    EXPECT_OK(b()->SetTags(P("f"), {}));
    ASSERT_OK_AND_ASSIGN(ObjectTags none, b()->GetTags(P("f")));
    EXPECT_TRUE(none.empty());
    return;
  }
  // Staged: nothing visible until Commit, then exactly these tags.
  WriteHints hints;
  hints.size = 4;
  ASSERT_OK_AND_ASSIGN(auto w, b()->OpenWrite(P("f"), hints));
  ASSERT_OK(w->SetTags(first));
  ASSERT_OK(w->WriteAt(0, AsBytes("data")));
  EXPECT_EQ(StatOrDie(P("f")), std::nullopt);
  Entry meta = Meta(EntryKind::kFile, 0644);
  meta.size = 4;
  ASSERT_OK(w->Commit(meta, FullPolicy()));
  ASSERT_OK_AND_ASSIGN(ObjectTags got, b()->GetTags(P("f")));
  EXPECT_EQ(got, first);
  ASSERT_OK_AND_ASSIGN(auto reader, b()->OpenRead(P("f")));
  ASSERT_OK_AND_ASSIGN(got, reader->Tags());
  EXPECT_EQ(got, first);
  reader.reset();

  // A file in parts (where the backend takes parts) gets them too, though
  // its metadata are replaced after the upload completes.
  const uint64_t part = PartOf(2 * kBlockSize);
  const std::string big = RandomBytes(part > 0 ? part + 100 : 3000, 21);
  ASSERT_OK(WriteTagged(b(), P("big"), big, second, FullPolicy(), part));
  ASSERT_OK_AND_ASSIGN(got, b()->GetTags(P("big")));
  EXPECT_EQ(got, second);
  EXPECT_TRUE(ReadFile(b(), P("big")).value() == big) << "content differs";
  EXPECT_TRUE(SameTime(StatOrDie(P("big"))->mtime, kMtime));

  // Written again: the new writer's tags replace the old ones; none given,
  // none kept.
  ASSERT_OK(WriteTagged(b(), P("f"), "data2", second, FullPolicy(), 0));
  ASSERT_OK_AND_ASSIGN(got, b()->GetTags(P("f")));
  EXPECT_EQ(got, second);
  ASSERT_OK(WriteTagged(b(), P("f"), "data3", std::nullopt, FullPolicy(), 0));
  ASSERT_OK_AND_ASSIGN(got, b()->GetTags(P("f")));
  EXPECT_TRUE(got.empty());
  ASSERT_OK(WriteTagged(b(), P("big"), big, ObjectTags{}, FullPolicy(), part));
  ASSERT_OK_AND_ASSIGN(got, b()->GetTags(P("big")));
  EXPECT_TRUE(got.empty());

  // SetTags on a path: exactly these; none removes them all.
  ASSERT_OK(b()->SetTags(P("f"), first));
  ASSERT_OK_AND_ASSIGN(got, b()->GetTags(P("f")));
  EXPECT_EQ(got, first);
  // A metadata change may drop them (a copy onto itself); given again,
  // they are as before, and the metadata change holds.
  Entry later = Meta(EntryKind::kFile, 0600);
  later.mtime = FileTime{1700000000, 7};
  ASSERT_OK(b()->SetMetadata(P("f"), later, FullPolicy()));
  ASSERT_OK(b()->SetTags(P("f"), first));
  ASSERT_OK_AND_ASSIGN(got, b()->GetTags(P("f")));
  EXPECT_EQ(got, first);
  EXPECT_TRUE(SameTime(StatOrDie(P("f"))->mtime, later.mtime));
  EXPECT_TRUE(ReadFile(b(), P("f")).value() == "data3");
  ASSERT_OK(b()->SetTags(P("f"), {}));
  ASSERT_OK_AND_ASSIGN(got, b()->GetTags(P("f")));
  EXPECT_TRUE(got.empty());

  EXPECT_EQ(b()->GetTags(P("missing")).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(b()->SetTags(P("missing"), first).code(), StatusCode::kNotFound);
}

TEST_P(BackendConformanceTest, ObjectTagsBeyondS3sLimitsAreRefusedClearly) {
  if (!caps().object_tags) GTEST_SKIP() << "no object tags";
  ObjectTags ten;
  for (int i = 0; i < 10; ++i) ten["k" + std::to_string(i)] = "v";
  std::string key(128, 'k');
  std::string value(256, 'v');
  const ObjectTags longest = {{key, value}};
  // At the limits: stored.
  for (const ObjectTags& tags : {ten, longest}) {
    ASSERT_OK(WriteTagged(b(), P("f"), "x", tags, FullPolicy(), 0));
    ASSERT_OK_AND_ASSIGN(ObjectTags got, b()->GetTags(P("f")));
    EXPECT_EQ(got, tags);
  }
  // Beyond: refused by the writer (nothing is written) and by SetTags,
  // saying what is wrong.
  ObjectTags eleven = ten;
  eleven["k10"] = "v";
  const std::vector<std::pair<ObjectTags, std::string>> bad = {
      {eleven, "at most 10"},
      {{{key + "k", "v"}}, "129 characters; at most 128"},
      {{{"k", value + "v"}}, "257 characters; at most 256"},
      {{{"", "v"}}, "without a key"},
      {{{"k", "\xff"}}, "UTF-8"},
  };
  for (const auto& [tags, why] : bad) {
    SCOPED_TRACE(why);
    WriteHints hints;
    hints.size = 1;
    ASSERT_OK_AND_ASSIGN(auto w, b()->OpenWrite(P("g"), hints));
    Status st = w->SetTags(tags);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
    EXPECT_NE(st.message().find(why), std::string_view::npos) << st.ToString();
    w->Abort();
    st = b()->SetTags(P("f"), tags);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
    EXPECT_NE(st.message().find(why), std::string_view::npos) << st.ToString();
  }
  EXPECT_EQ(StatOrDie(P("g")), std::nullopt);
  ASSERT_OK_AND_ASSIGN(ObjectTags got, b()->GetTags(P("f")));
  EXPECT_EQ(got, longest);
}

TEST_P(BackendConformanceTest, ContentDigestsAreStoredAndReported) {
  const std::string content = RandomBytes(3000, 11);
  Entry meta = Meta(EntryKind::kFile, 0644);
  meta.digest = DigestOfBuffer(DigestAlgorithm::kXxh3_128, AsBytes(content));
  ASSERT_OK(WriteFile(b(), P("f"), content, meta, FullPolicy()));
  auto st = StatOrDie(P("f"));
  ASSERT_TRUE(st.has_value());
  if (!caps().content_digests) return;
  EXPECT_EQ(st->digest, meta.digest);
  ASSERT_OK_AND_ASSIGN(std::vector<Entry> listed, ListDir(b(), RelPath()));
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(Completed(listed[0]).digest, meta.digest);
  ASSERT_OK_AND_ASSIGN(auto r, b()->OpenRead(P("f")));
  EXPECT_EQ(r->entry().digest, meta.digest);
  // Metadata changes keep it; new content replaces it.
  Entry later = Meta(EntryKind::kFile, 0600);
  later.mtime = FileTime{1700000000, 7};
  ASSERT_OK(b()->SetMetadata(P("f"), later, FullPolicy()));
  EXPECT_EQ(StatOrDie(P("f"))->digest, meta.digest);
  Entry sha = Meta(EntryKind::kFile, 0644);
  sha.digest = DigestOfBuffer(DigestAlgorithm::kSha256, AsBytes("other"));
  ASSERT_OK(WriteFile(b(), P("f"), "other", sha, FullPolicy()));
  EXPECT_EQ(StatOrDie(P("f"))->digest, sha.digest);
  ASSERT_OK(WriteFile(b(), P("f"), "no digest"));
  EXPECT_TRUE(StatOrDie(P("f"))->digest.empty());
}

TEST_P(BackendConformanceTest, DigestsOfMultipartFiles) {
  if (!caps().content_digests) GTEST_SKIP() << "no content digests";
  const std::string content = RandomBytes(3 * kBlockSize + 5, 12);
  WriteHints hints;
  hints.size = content.size();
  ASSERT_OK_AND_ASSIGN(auto w, b()->OpenWrite(P("big"), hints));
  ASSERT_OK(WriteInParts(w.get(), content, kBlockSize));
  Entry meta = Meta(EntryKind::kFile, 0640);
  meta.size = content.size();
  meta.digest = DigestOfBuffer(DigestAlgorithm::kXxh3_128, AsBytes(content));
  ASSERT_OK(w->Commit(meta, FullPolicy()));
  auto st = StatOrDie(P("big"));
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->digest, meta.digest);
  EXPECT_TRUE(SameTime(st->mtime, kMtime));
  if (caps().posix_mode) {
    EXPECT_EQ(st->mode, 0640u);
  }
  EXPECT_TRUE(ReadFile(b(), P("big")).value() == content);
}

TEST_P(BackendConformanceTest, SettableMtimeIsWhatStatReports) {
  Entry meta = Meta(EntryKind::kFile, 0644);
  meta.mtime = FileTime{1000000000, 5};  // 2001
  ASSERT_OK(WriteFile(b(), P("f"), "x", meta,
                      MetadataPolicy{false, false, false, true, false}));
  auto st = StatOrDie(P("f"));
  ASSERT_TRUE(st.has_value());
  if (caps().settable_mtime) {
    EXPECT_TRUE(SameTime(st->mtime, meta.mtime));
  } else {
    EXPECT_GT(st->mtime.sec, meta.mtime.sec) << "an upload time was expected";
  }
}

TEST_P(BackendConformanceTest, ImpliedDirectoriesLoseOnlyTheirMarker) {
  if (!caps().implied_directories) GTEST_SKIP() << "real directories";
  ASSERT_OK(b()->MakeDirectory(P("d")));
  ASSERT_OK(WriteFile(b(), P("d/e/f"), "x"));
  EXPECT_FALSE(b()->Remove(P("d")).ok()) << "removed a non-empty folder";
  // The marker keeps a folder's metadata; the folder stays as long as
  // something is beneath it.
  Entry meta = Meta(EntryKind::kDirectory, 0700);
  ASSERT_OK(b()->SetMetadata(P("d/e"), meta, FullPolicy()));
  auto e = StatOrDie(P("d/e"));
  ASSERT_TRUE(e.has_value());
  EXPECT_TRUE(e->is_dir());
  EXPECT_TRUE(SameTime(e->mtime, kMtime));
  ASSERT_OK(b()->Remove(P("d/e/f")));
  ASSERT_OK(b()->Remove(P("d/e")));
  EXPECT_EQ(StatOrDie(P("d/e")), std::nullopt);
  ASSERT_OK(b()->Remove(P("d")));
  ExpectExactly(RelPath(), {});
}

// Writes `content` as parts, `part` bytes each, with part 0 first written
// half with `junk`, then again from its start.
Status WriteWithRewrite(StagedWriter* w, std::string_view content,
                        std::string_view junk, uint64_t part) {
  FERRY_RETURN_IF_ERROR(w->WriteAt(0, AsBytes(junk.substr(0, part / 2))));
  for (uint64_t start = 0; start < content.size(); start += part) {
    const uint64_t end = std::min<uint64_t>(start + part, content.size());
    for (uint64_t off = start; off < end; off += kBlockSize / 4) {
      const uint64_t n = std::min<uint64_t>(kBlockSize / 4, end - off);
      FERRY_RETURN_IF_ERROR(w->WriteAt(off, AsBytes(content.substr(off, n))));
    }
  }
  return Status::Ok();
}

TEST_P(BackendConformanceTest, APartWrittenAgainFromItsStartReplacesItself) {
  const std::string content = RandomBytes(2 * kBlockSize + 100, 13);
  const std::string junk = RandomBytes(2 * kBlockSize, 14);
  const uint64_t part = PartOf(content.size());
  WriteHints hints;
  hints.size = content.size();
  ASSERT_OK_AND_ASSIGN(auto w, b()->OpenWrite(P("f"), hints));
  // A changed file is written again from the start: so is a part.
  ASSERT_OK(WriteWithRewrite(w.get(), content, junk,
                             part > 0 ? part : content.size()));
  // A part complete and sent is written again too.
  if (part > 0 && part < content.size()) {
    ASSERT_OK(w->WriteAt(0, AsBytes(std::string_view(junk).substr(0, part))));
    ASSERT_OK(WriteInParts(w.get(), std::string_view(content).substr(0, part),
                           kBlockSize / 2));
  }
  Entry meta = Meta(EntryKind::kFile, 0644);
  meta.size = content.size();
  ASSERT_OK(w->Commit(meta, FullPolicy()));
  EXPECT_TRUE(ReadFile(b(), P("f")).value() == content) << "content differs";
}

TEST_P(BackendConformanceTest, AbortedPartWritesLeaveNoStaging) {
  if (caps().part_size_min == 0) GTEST_SKIP() << "no parts";
  // Big enough for three parts of whatever size the backend takes.
  const uint64_t part = PartOf(uint64_t{64} << 20);
  const std::string content = RandomBytes(2 * part + kBlockSize, 15);
  ASSERT_EQ(PartOf(content.size()), part);
  for (bool abort : {true, false}) {
    SCOPED_TRACE(abort ? "Abort" : "destroyed");
    WriteHints hints;
    hints.size = content.size();
    ASSERT_OK_AND_ASSIGN(auto w, b()->OpenWrite(P("f"), hints));
    // Two whole parts: they are sent before the file is complete.
    ASSERT_OK(WriteInParts(
        w.get(), std::string_view(content).substr(0, 2 * part), kBlockSize));
    if (abort) w->Abort();
    w.reset();
    EXPECT_EQ(StatOrDie(P("f")), std::nullopt);
  }
  // Nothing is left for a cleanup to find, however old it is.
  std::vector<std::string> removed;
  StagingCleanup cleanup;
  cleanup.now = std::chrono::system_clock::now() + std::chrono::hours(48);
  cleanup.max_age = std::chrono::seconds(0);
  cleanup.on_removed = [&](const RelPath& path, const std::string& what) {
    removed.push_back(path.Display() + ": " + what);
  };
  ASSERT_OK(b()->CleanupStaging(cleanup));
  EXPECT_TRUE(removed.empty()) << removed.front();
  ExpectExactly(RelPath(), {});
}

TEST_P(BackendConformanceTest, CleanupStagingLeavesLiveWritesAlone) {
  const std::string content = RandomBytes(3 * kBlockSize, 16);
  WriteHints hints;
  hints.size = content.size();
  ASSERT_OK_AND_ASSIGN(auto w, b()->OpenWrite(P("f"), hints));
  ASSERT_OK(WriteInParts(
      w.get(), std::string_view(content).substr(0, content.size() - 10),
      kBlockSize));
  int removed = 0;
  StagingCleanup cleanup;
  cleanup.now = std::chrono::system_clock::now() + std::chrono::hours(48);
  cleanup.max_age = std::chrono::seconds(0);
  cleanup.on_removed = [&](const RelPath&, const std::string&) { ++removed; };
  ASSERT_OK(b()->CleanupStaging(cleanup));
  EXPECT_EQ(removed, 0);
  ASSERT_OK(w->WriteAt(
      content.size() - 10,
      AsBytes(std::string_view(content).substr(content.size() - 10))));
  Entry meta = Meta(EntryKind::kFile, 0644);
  meta.size = content.size();
  ASSERT_OK(w->Commit(meta, FullPolicy()));
  EXPECT_TRUE(ReadFile(b(), P("f")).value() == content) << "content differs";
}

TEST_P(BackendConformanceTest, PartSizesFitTheCapabilities) {
  if (caps().part_size_min == 0) {
    EXPECT_EQ(PartOf(uint64_t{1} << 40), 0u);
    return;
  }
  EXPECT_GT(caps().part_size_max, 0u);
  EXPECT_GT(caps().max_parts, 0u);
  for (uint64_t size : {uint64_t{0}, uint64_t{1} << 20, uint64_t{1} << 34}) {
    const uint64_t part = PartOf(size);
    EXPECT_GE(part, caps().part_size_min);
    EXPECT_LE(part, caps().part_size_max);
    EXPECT_LE((size + part - 1) / part, caps().max_parts);
  }
}

}  // namespace
}  // namespace ferry::conformance
