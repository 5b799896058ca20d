#include "ferry/verify/journal.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

#include "ferry/storage/testing.h"

namespace ferry {
namespace {

using testing::AsBytes;
using testing::P;

JournalRecord Record(const std::string& path, EntryKind kind) {
  JournalRecord r;
  r.applied.path = P(path);
  r.applied.kind = kind;
  r.applied.mode = 04755;
  r.applied.uid = 4000000000u;
  r.applied.gid = 65534;
  r.applied.size = (uint64_t{1} << 40) + 3;
  r.applied.mtime = FileTime{1700000000, 999999999};
  r.applied.atime = FileTime{-86400, 1};  // before the epoch
  r.applied.rdev = 0x0102030405060708ull;
  r.applied.link_target = "../target\nwith\\odd\xff bytes";
  r.applied.xattr_hash = 0xfeedfacecafebeefull;
  r.digest = DigestOfBuffer(DigestAlgorithm::kSha256, AsBytes(path));
  return r;
}

void ExpectSame(const JournalRecord& want, const JournalRecord& got) {
  const Entry& w = want.applied;
  const Entry& g = got.applied;
  EXPECT_EQ(g.path, w.path);
  EXPECT_EQ(g.kind, w.kind);
  EXPECT_EQ(g.mode, w.mode);
  EXPECT_EQ(g.uid, w.uid);
  EXPECT_EQ(g.gid, w.gid);
  EXPECT_EQ(g.size, w.size);
  EXPECT_EQ(g.mtime, w.mtime);
  EXPECT_EQ(g.atime, w.atime);
  EXPECT_EQ(g.rdev, w.rdev);
  EXPECT_EQ(g.link_target, w.link_target);
  EXPECT_EQ(g.xattr_hash, w.xattr_hash);
  EXPECT_EQ(got.metadata_only, want.metadata_only);
  EXPECT_TRUE(got.digest == want.digest)
      << got.digest.Hex() << " vs " << want.digest.Hex();
}

TEST(JournalTest, EmptyJournalReadsNothing) {
  Journal j;
  EXPECT_EQ(j.size(), 0u);
  ASSERT_OK(j.Rewind());
  JournalRecord r;
  ASSERT_OK_AND_ASSIGN(bool more, j.Next(&r));
  EXPECT_FALSE(more);
}

TEST(JournalTest, RecordsRoundTripInOrder) {
  std::vector<JournalRecord> written;
  written.push_back(Record("a/file", EntryKind::kFile));
  written.push_back(Record("dir", EntryKind::kDirectory));
  written.back().metadata_only = true;
  written.back().digest = Digest();  // none
  written.push_back(Record("dev", EntryKind::kCharDevice));
  written.back().digest = DigestOfBuffer(DigestAlgorithm::kXxh3_128, {});
  written.push_back(Record("odd/new\nline \xff", EntryKind::kSymlink));
  written.push_back(Record("", EntryKind::kDirectory));  // the root
  written.back().applied.path = RelPath();
  Journal j;
  for (const JournalRecord& r : written) ASSERT_OK(j.Append(r));
  EXPECT_EQ(j.size(), written.size());
  ASSERT_OK(j.Rewind());
  for (const JournalRecord& want : written) {
    SCOPED_TRACE(want.applied.path.Display());
    JournalRecord got;
    ASSERT_OK_AND_ASSIGN(bool more, j.Next(&got));
    ASSERT_TRUE(more);
    ExpectSame(want, got);
  }
  JournalRecord end;
  ASSERT_OK_AND_ASSIGN(bool more, j.Next(&end));
  EXPECT_FALSE(more);
}

TEST(JournalTest, ARecordDoesNotInheritTheLastOnesFields) {
  Journal j;
  ASSERT_OK(j.Append(Record("first", EntryKind::kSymlink)));
  JournalRecord plain;
  plain.applied.path = P("second");
  ASSERT_OK(j.Append(plain));
  ASSERT_OK(j.Rewind());
  JournalRecord r;
  ASSERT_TRUE(j.Next(&r).value());
  ASSERT_TRUE(j.Next(&r).value());  // read into the same record
  ExpectSame(plain, r);
}

TEST(JournalTest, RewindReadsFromTheStartAgain) {
  Journal j;
  ASSERT_OK(j.Append(Record("x", EntryKind::kFile)));
  ASSERT_OK(j.Append(Record("y", EntryKind::kFile)));
  for (int pass = 0; pass < 2; ++pass) {
    ASSERT_OK(j.Rewind());
    JournalRecord r;
    ASSERT_TRUE(j.Next(&r).value());
    EXPECT_EQ(r.applied.path, P("x"));
  }
}

TEST(JournalTest, ConcurrentAppendsAreAllKept) {
  Journal j;
  constexpr int kThreads = 4;
  constexpr int kEach = 500;
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kEach; ++i) {
          JournalRecord r =
              Record("t" + std::to_string(t) + "/f" + std::to_string(i),
                     EntryKind::kFile);
          EXPECT_OK(j.Append(r));
        }
      });
    }
  }
  EXPECT_EQ(j.size(), static_cast<uint64_t>(kThreads * kEach));
  ASSERT_OK(j.Rewind());
  std::set<std::string> seen;
  JournalRecord r;
  while (j.Next(&r).value()) {
    EXPECT_EQ(r.digest, DigestOfBuffer(DigestAlgorithm::kSha256,
                                       AsBytes(r.applied.path.str())))
        << "a record was torn: " << r.applied.path.Display();
    seen.insert(r.applied.path.str());
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kThreads * kEach));
}

TEST(JournalTest, LongPathsAndTargetsRoundTrip) {
  Journal j;
  std::string path;
  for (int i = 0; i < 40; ++i) path += std::string(200, 'a' + i % 26) + "/";
  path += "leaf";
  JournalRecord r = Record(path, EntryKind::kSymlink);
  r.applied.link_target = std::string(60000, 't');
  ASSERT_OK(j.Append(r));
  ASSERT_OK(j.Rewind());
  JournalRecord got;
  ASSERT_TRUE(j.Next(&got).value());
  ExpectSame(r, got);
}

}  // namespace
}  // namespace ferry
