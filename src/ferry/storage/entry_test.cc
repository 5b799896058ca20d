#include "ferry/storage/entry.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace ferry {
namespace {

constexpr EntryKind kAllKinds[] = {
    EntryKind::kFile,        EntryKind::kDirectory,  EntryKind::kSymlink,
    EntryKind::kBlockDevice, EntryKind::kCharDevice, EntryKind::kFifo,
    EntryKind::kSocket,
};

TEST(EntryKindTest, NamesAreDistinct) {
  std::set<std::string> names;
  for (EntryKind k : kAllKinds) {
    std::string name(EntryKindName(k));
    EXPECT_NE(name, "unknown");
    names.insert(name);
  }
  EXPECT_EQ(names.size(), std::size(kAllKinds));
  EXPECT_EQ(EntryKindName(EntryKind::kFile), "file");
  EXPECT_EQ(EntryKindName(EntryKind::kDirectory), "directory");
  EXPECT_EQ(EntryKindName(EntryKind::kSymlink), "symlink");
}

TEST(EntryKindTest, LettersAreDataSyncs) {
  std::string letters;
  for (EntryKind k : kAllKinds) letters.push_back(EntryKindLetter(k));
  EXPECT_EQ(letters, "RDLBCFS");
}

TEST(FileTimeTest, OrdersBySecondsThenNanoseconds) {
  EXPECT_LT((FileTime{1, 999999999}), (FileTime{2, 0}));
  EXPECT_LT((FileTime{2, 0}), (FileTime{2, 1}));
  EXPECT_EQ((FileTime{3, 4}), (FileTime{3, 4}));
  EXPECT_EQ((FileTime{2, 5}).Nanos(), 2000000005);
  EXPECT_EQ((FileTime{-1, 0}).Nanos(), -1000000000);
}

TEST(TimesMatchTest, NanosecondGranularityIsExact) {
  EXPECT_TRUE(TimesMatch({5, 123456789}, {5, 123456789}, 1));
  EXPECT_FALSE(TimesMatch({5, 123456789}, {5, 123456788}, 1));
  EXPECT_FALSE(TimesMatch({5, 0}, {6, 0}, 0));
  EXPECT_TRUE(TimesMatch({5, 7}, {5, 7}, 0));
}

TEST(TimesMatchTest, SubSecondGranularityTruncates) {
  // Microseconds: equal once the nanoseconds below a microsecond are dropped.
  EXPECT_TRUE(TimesMatch({5, 1001999}, {5, 1001000}, 1000));
  EXPECT_FALSE(TimesMatch({5, 1001999}, {5, 1002000}, 1000));
  // 100 ns (NTFS/SMB).
  EXPECT_TRUE(TimesMatch({9, 150}, {9, 199}, 100));
  EXPECT_FALSE(TimesMatch({9, 199}, {9, 200}, 100));
  EXPECT_FALSE(TimesMatch({9, 100}, {10, 100}, 100));
}

TEST(TimesMatchTest, WholeSecondGranularity) {
  EXPECT_TRUE(TimesMatch({5, 999999999}, {5, 0}, 1000000000));
  EXPECT_FALSE(TimesMatch({5, 999999999}, {6, 0}, 1000000000));
  // Two seconds (FAT): 4 and 5 share a slot, 5 and 6 do not.
  EXPECT_TRUE(TimesMatch({4, 0}, {5, 500}, 2000000000));
  EXPECT_FALSE(TimesMatch({5, 0}, {6, 0}, 2000000000));
}

TEST(TimesMatchTest, BeforeTheEpochTruncatesDownward) {
  EXPECT_TRUE(TimesMatch({-2, 0}, {-1, 0}, 2000000000));
  EXPECT_FALSE(TimesMatch({-1, 0}, {0, 0}, 2000000000));
  EXPECT_FALSE(TimesMatch({-3, 0}, {-2, 0}, 2000000000));
}

TEST(EntryTest, KindPredicatesAndFlags) {
  Entry e;
  EXPECT_TRUE(e.is_file());
  EXPECT_FALSE(e.is_dir());
  EXPECT_FALSE(e.listing_failed());
  e.kind = EntryKind::kDirectory;
  e.flags |= Entry::kListingFailed;
  EXPECT_TRUE(e.is_dir());
  EXPECT_TRUE(e.listing_failed());
}

TEST(EntryTest, MaybeSparseOnlyForFilesWithLessAllocatedThanSize) {
  Entry e;
  e.size = 1 << 20;
  e.allocated = 4096;
  EXPECT_TRUE(e.MaybeSparse());
  e.allocated = e.size;
  EXPECT_FALSE(e.MaybeSparse());
  e.allocated = e.size + 4096;  // preallocated beyond the end
  EXPECT_FALSE(e.MaybeSparse());
  e.allocated = 0;
  e.kind = EntryKind::kDirectory;
  EXPECT_FALSE(e.MaybeSparse());
}

TEST(EntryTest, FileTimeFromNanosKeepsNsecInRange) {
  EXPECT_EQ(FileTime::FromNanos(1500000000123456789),
            (FileTime{1500000000, 123456789}));
  EXPECT_EQ(FileTime::FromNanos(0), (FileTime{0, 0}));
  EXPECT_EQ(FileTime::FromNanos(-1), (FileTime{-1, 999999999}));
  EXPECT_EQ(FileTime::FromNanos(-2000000000), (FileTime{-2, 0}));
  EXPECT_EQ(FileTime::FromNanos(FileTime{-5, 7}.Nanos()), (FileTime{-5, 7}));
}

TEST(EntryTest, TempNamesAreRecognisedByTheirExactPattern) {
  EXPECT_TRUE(IsFerryTempName(std::string(kTempPrefix) + "1234-0"));
  EXPECT_TRUE(IsFerryTempName(std::string(kTempPrefix) + "4a2-ff"));
  EXPECT_TRUE(IsFerryTempName(std::string(kTempPrefix) + "12-34-56"));
  // Only ferry's own patterns, [<host tag>-]<pid>-<counter> in hex: a user's
  // file that merely starts the same way is data.
  EXPECT_FALSE(IsFerryTempName(kTempPrefix));
  EXPECT_FALSE(IsFerryTempName(std::string(kTempPrefix) + "notes"));
  EXPECT_FALSE(IsFerryTempName(std::string(kTempPrefix) + "12-"));
  EXPECT_FALSE(IsFerryTempName(std::string(kTempPrefix) + "-12"));
  EXPECT_FALSE(IsFerryTempName(std::string(kTempPrefix) + "12-34-56-78"));
  EXPECT_FALSE(IsFerryTempName(std::string(kTempPrefix) + "12--56"));
  EXPECT_FALSE(IsFerryTempName(std::string(kTempPrefix) + "12-3G"));
  EXPECT_FALSE(IsFerryTempName("x" + std::string(kTempPrefix)));
  EXPECT_FALSE(IsFerryTempName(kTempPrefix.substr(0, kTempPrefix.size() - 1)));
  EXPECT_FALSE(IsFerryTempName(""));
  EXPECT_FALSE(IsFerryTempName("data.txt"));
}

TEST(MetadataPolicyTest, DefaultsApplyEverything) {
  MetadataPolicy p;
  EXPECT_TRUE(p.mode && p.uid && p.gid && p.mtime && p.atime);
}

TEST(XattrTest, WantedNamesFollowTheScopes) {
  for (const char* name : {"user.comment", "trusted.overlay", "security.ima",
                           "security.capability"}) {
    EXPECT_TRUE(XattrWanted(name, true, false)) << name;
    EXPECT_FALSE(XattrWanted(name, false, true)) << name;
  }
  EXPECT_FALSE(XattrWanted("security.selinux", true, true))
      << "the destination's policy decides its label";
  for (const char* acl :
       {"system.posix_acl_access", "system.posix_acl_default"}) {
    EXPECT_TRUE(XattrWanted(acl, false, true)) << acl;
    EXPECT_FALSE(XattrWanted(acl, true, false)) << acl;
  }
  EXPECT_FALSE(XattrWanted("system.nfs4_acl", true, true));
  EXPECT_FALSE(XattrWanted("user", true, true));
  EXPECT_FALSE(XattrWanted("userx.a", true, true));
  EXPECT_FALSE(XattrWanted("", true, true));
}

TEST(XattrTest, FilterKeepsTheWantedOnesSortedByName) {
  XattrList list = {{"user.b", "2"},
                    {"security.selinux", "label"},
                    {"system.posix_acl_access", "acl"},
                    {"user.a", "1"},
                    {"trusted.t", "t"}};
  EXPECT_EQ(FilterXattrs(list, true, false),
            (XattrList{{"trusted.t", "t"}, {"user.a", "1"}, {"user.b", "2"}}));
  EXPECT_EQ(FilterXattrs(list, false, true),
            (XattrList{{"system.posix_acl_access", "acl"}}));
  EXPECT_TRUE(FilterXattrs(list, false, false).empty());
}

TEST(XattrTest, HashIsZeroOnlyForNoAttributes) {
  EXPECT_EQ(XattrHash({}), 0u);
  XattrList one = {{"user.a", ""}};
  EXPECT_NE(XattrHash(one), 0u);
  EXPECT_EQ(XattrHash(one), XattrHash(XattrList{{"user.a", ""}}));
}

TEST(XattrTest, HashSeesEveryNameAndValueByte) {
  using std::string_literals::operator""s;
  const XattrList base = {{"user.a", "value"}, {"user.b", "x"}};
  const uint64_t h = XattrHash(base);
  EXPECT_NE(h, XattrHash({{"user.a", "value"}, {"user.b", "y"}}));
  EXPECT_NE(h, XattrHash({{"user.a", "value"}, {"user.c", "x"}}));
  EXPECT_NE(h, XattrHash({{"user.a", "value"}}));
  EXPECT_NE(h, XattrHash({{"user.a", "value\0"s}, {"user.b", "x"}}));
  // Name and value boundaries count: no two lists share a byte stream.
  EXPECT_NE(XattrHash({{"user.ab", "c"}}), XattrHash({{"user.a", "bc"}}));
}

}  // namespace
}  // namespace ferry
