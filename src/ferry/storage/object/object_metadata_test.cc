#include "ferry/storage/object/object_metadata.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "ferry/storage/testing.h"

namespace ferry {
namespace {

using testing::P;

TEST(ObjectMetadataTest, ParsesTheDataSyncFormat) {
  EXPECT_EQ(ParseFileMode("0100644"), 0100644u);
  EXPECT_EQ(ParseFileMode("040755"), 040755u);
  EXPECT_EQ(ParseFileMode("0120777"), 0120777u);
  EXPECT_EQ(ParseFileMode("644"), 0644u);
  EXPECT_EQ(ParseId("1000"), 1000u);
  EXPECT_EQ(ParseId("4294967295"), 4294967295u);
  EXPECT_EQ(ParseFileTime("1600000000123456789ns"),
            (FileTime{1600000000, 123456789}));
  // Without "ns": milliseconds.
  EXPECT_EQ(ParseFileTime("1573154574123"), (FileTime{1573154574, 123000000}));
  EXPECT_EQ(ParseFileTime("-5ns"), (FileTime{-1, 999999995}));
}

TEST(ObjectMetadataTest, RejectsMalformedValues) {
  for (const char* bad :
       {"", "0", "x", "01006448", "0170644", "0777777", "+644", " 644"}) {
    if (std::string_view(bad) == "0") continue;  // 0 is a valid (odd) mode
    EXPECT_EQ(ParseFileMode(bad), std::nullopt) << bad;
  }
  for (const char* bad : {"", "-1", "4294967296", "1e3", "12 ", "0x10"}) {
    EXPECT_EQ(ParseId(bad), std::nullopt) << bad;
  }
  for (const char* bad :
       {"", "ns", "-", "1.5", "99999999999999999999ns", "9223372036854776ms",
        "92233720368547759", "1 ns", "12345678901234567890123456789"}) {
    EXPECT_EQ(ParseFileTime(bad), std::nullopt) << bad;
  }
  for (const char* bad : {"XXH3-128", "XXH3-128:", "XXH3-128:0011", "MD5:00",
                          "XXH3-128:00112233445566778899aabbccddeefg",
                          "SHA-256:00112233445566778899aabbccddeeff"}) {
    EXPECT_EQ(ParseDigestValue(bad), std::nullopt) << bad;
  }
}

TEST(ObjectMetadataTest, RoundTripsEverythingFerryWrites) {
  Entry src;
  src.mode = 02751;
  src.uid = 1234;
  src.gid = 5678;
  src.mtime = FileTime{1600000000, 123456789};
  src.atime = FileTime{-100, 5};
  src.digest = DigestOfBuffer(DigestAlgorithm::kSha256, testing::AsBytes("x"));
  ObjectMetadata md;
  SetPosixMetadata(src, EntryKind::kFile, MetadataPolicy{}, &md);
  SetDigestMetadata(src.digest, &md);
  EXPECT_EQ(md.at("file-permissions"), "0102751");
  EXPECT_EQ(md.at("file-owner"), "1234");
  EXPECT_EQ(md.at("file-group"), "5678");
  EXPECT_EQ(md.at("file-mtime"), "1600000000123456789ns");
  EXPECT_EQ(md.at("user-agent"), "ferry");
  EXPECT_EQ(md.at("ferry-digest").substr(0, 8), "SHA-256:");
  EXPECT_LE(MetadataBytes(md), 2048u);
  Entry e =
      EntryFromObject(P("a/b"), false, 42, "\"etag\"", FileTime{7, 999}, md);
  EXPECT_EQ(e.kind, EntryKind::kFile);
  EXPECT_EQ(e.path, P("a/b"));
  EXPECT_EQ(e.mode, 02751u);
  EXPECT_EQ(e.uid, 1234u);
  EXPECT_EQ(e.gid, 5678u);
  EXPECT_EQ(e.mtime, src.mtime);
  EXPECT_EQ(e.atime, src.atime);
  EXPECT_EQ(e.size, 42u);
  EXPECT_EQ(e.etag, "\"etag\"");
  EXPECT_EQ(e.digest, src.digest);
  // ctime is when the store last wrote it, in whole seconds.
  EXPECT_EQ(e.ctime, (FileTime{7, 0}));
}

TEST(ObjectMetadataTest, ForeignObjectsGetDefaults) {
  Entry e = EntryFromObject(P("f"), false, 10, "e", FileTime{1700000000, 0},
                            {{"content-type", "text/plain"}});
  EXPECT_EQ(e.kind, EntryKind::kFile);
  EXPECT_EQ(e.mode, 0644u);
  EXPECT_EQ(e.uid, 0u);
  EXPECT_EQ(e.mtime, (FileTime{1700000000, 0}));
  EXPECT_EQ(e.atime, e.mtime);
  EXPECT_TRUE(e.digest.empty());
  Entry d = EntryFromObject(P("d"), true, 0, "e", FileTime{5, 0}, {});
  EXPECT_EQ(d.kind, EntryKind::kDirectory);
  EXPECT_EQ(d.mode, 0755u);
  // Malformed values count as absent, one by one.
  Entry m = EntryFromObject(P("f"), false, 1, "e", FileTime{9, 0},
                            {{"file-permissions", "0100600"},
                             {"file-owner", "-1"},
                             {"file-mtime", "garbage"},
                             {"ferry-digest", "XXH3-128:nothex"}});
  EXPECT_EQ(m.mode, 0600u);
  EXPECT_EQ(m.uid, 0u);
  EXPECT_EQ(m.mtime, (FileTime{9, 0}));
  EXPECT_TRUE(m.digest.empty());
}

TEST(ObjectMetadataTest, LinksAndFoldersKeepTheirType) {
  Entry src;
  src.mode = 0700;
  ObjectMetadata md;
  // Without the mode in the policy, a link still says it is a link.
  SetPosixMetadata(src, EntryKind::kSymlink,
                   MetadataPolicy{false, false, false, false, false}, &md);
  EXPECT_EQ(md.at("file-permissions"), "0120777");
  Entry link = EntryFromObject(P("l"), false, 3, "e", FileTime{}, md);
  EXPECT_EQ(link.kind, EntryKind::kSymlink);
  // A folder type on a plain key does not make it a folder.
  Entry odd = EntryFromObject(P("x"), false, 3, "e", FileTime{},
                              {{"file-permissions", "040700"}});
  EXPECT_EQ(odd.kind, EntryKind::kFile);
  EXPECT_EQ(odd.mode, 0700u);
  // Applying file metadata keeps an existing mode when the policy leaves
  // it out.
  ObjectMetadata kept = {{"file-permissions", "0100604"}, {"other", "x"}};
  SetPosixMetadata(src, EntryKind::kFile,
                   MetadataPolicy{false, false, false, true, false}, &kept);
  EXPECT_EQ(kept.at("file-permissions"), "0100604");
  EXPECT_EQ(kept.at("other"), "x");
}

}  // namespace
}  // namespace ferry
