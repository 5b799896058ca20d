#include "ferry/storage/registry.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>

#include "ferry/storage/memory/memory_backend.h"
#include "ferry/storage/testing.h"

namespace ferry {
namespace {

using testing::P;
using testing::TempDir;

TEST(ParseLocationUriTest, PlainPathsAreLocal) {
  ASSERT_OK_AND_ASSIGN(LocationSpec abs, ParseLocationUri("/srv/data"));
  EXPECT_EQ(abs.type, "local");
  EXPECT_EQ(abs.path, "/srv/data");
  EXPECT_FALSE(abs.create_root);
  ASSERT_OK_AND_ASSIGN(LocationSpec rel, ParseLocationUri("some/dir"));
  EXPECT_EQ(rel.type, "local");
  EXPECT_EQ(rel.path, "some/dir");
}

TEST(ParseLocationUriTest, FileUrisNeedAnAbsolutePath) {
  ASSERT_OK_AND_ASSIGN(LocationSpec spec, ParseLocationUri("file:///srv/data"));
  EXPECT_EQ(spec.type, "local");
  EXPECT_EQ(spec.path, "/srv/data");
  auto rel = ParseLocationUri("file://srv/data");
  EXPECT_FALSE(rel.ok());
  EXPECT_EQ(rel.status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(ParseLocationUri("file://").ok());
}

TEST(ParseLocationUriTest, MemoryNeedsAName) {
  ASSERT_OK_AND_ASSIGN(LocationSpec spec, ParseLocationUri("memory:scratch"));
  EXPECT_EQ(spec.type, "memory");
  EXPECT_EQ(spec.path, "scratch");
  EXPECT_FALSE(ParseLocationUri("memory:").ok());
}

TEST(ParseLocationUriTest, EmptyIsAnError) {
  EXPECT_FALSE(ParseLocationUri("").ok());
}

TEST(ParseLocationUriTest, S3UrisNameABucketAndAPrefix) {
  ASSERT_OK_AND_ASSIGN(LocationSpec spec,
                       ParseLocationUri("s3://my-bucket/some/prefix/"));
  EXPECT_EQ(spec.type, "s3");
  EXPECT_EQ(spec.bucket, "my-bucket");
  EXPECT_EQ(spec.path, "some/prefix");
  EXPECT_EQ(spec.Describe(), "s3://my-bucket/some/prefix");
  ASSERT_OK_AND_ASSIGN(spec, ParseLocationUri("s3://my-bucket"));
  EXPECT_EQ(spec.bucket, "my-bucket");
  EXPECT_EQ(spec.path, "");
  EXPECT_FALSE(ParseLocationUri("s3://").ok());
  EXPECT_FALSE(ParseLocationUri("s3:///prefix").ok());
  auto escape = ParseLocationUri("s3://b/a/../../etc");
  ASSERT_FALSE(escape.ok());
  EXPECT_NE(escape.status().message().find("prefix"), std::string_view::npos)
      << escape.status().message();
}

TEST(ParseLocationUriTest, SmbUrisNameTheAccountServerShareAndFolder) {
  ASSERT_OK_AND_ASSIGN(
      LocationSpec spec,
      ParseLocationUri("smb://CORP;alice@nas.example:4450/data/a%20b/c/"));
  EXPECT_EQ(spec.type, "smb");
  EXPECT_EQ(spec.endpoint.domain, "CORP");
  EXPECT_EQ(spec.endpoint.user, "alice");
  EXPECT_EQ(spec.host, "nas.example:4450");
  EXPECT_EQ(spec.bucket, "data");
  EXPECT_EQ(spec.path, "a b/c");
  EXPECT_EQ(spec.Describe(), "smb://nas.example:4450/data/a b/c");

  ASSERT_OK_AND_ASSIGN(LocationSpec bare, ParseLocationUri("smb://nas/share"));
  EXPECT_EQ(bare.host, "nas");
  EXPECT_EQ(bare.bucket, "share");
  EXPECT_EQ(bare.path, "");
  EXPECT_EQ(bare.endpoint.user, "");

  auto password = ParseLocationUri("smb://alice:secret@nas/share");
  ASSERT_FALSE(password.ok());
  EXPECT_NE(password.status().message().find("FERRY_SMB_PASSWORD"),
            std::string::npos);
  EXPECT_EQ(password.status().message().find("secret"), std::string::npos)
      << "the refusal must not repeat the password";
  for (const char* bad : {"smb://nas", "smb://nas/", "smb:///share",
                          "smb://@nas/share", "smb://nas/share/a/../b"}) {
    auto r = ParseLocationUri(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  }
}

TEST(ParseLocationUriTest, UnservedSchemesAreErrorsThatNameThem) {
  for (const char* uri : {"azure://acct/c/", "hdfs://nn/a/"}) {
    auto r = ParseLocationUri(uri);
    ASSERT_FALSE(r.ok()) << uri;
    std::string scheme(std::string_view(uri).substr(0, 3));
    EXPECT_NE(r.status().message().find(scheme), std::string_view::npos)
        << r.status().message();
    EXPECT_NE(r.status().message().find("memory"), std::string_view::npos)
        << "the message should list what is served: " << r.status().message();
  }
}

TEST(ParseLocationUriTest, NfsLocations) {
  ASSERT_OK_AND_ASSIGN(LocationSpec spec,
                       ParseLocationUri("nfs://10.0.0.5/export/dir/sub/"));
  EXPECT_EQ(spec.type, "nfs");
  EXPECT_EQ(spec.host, "10.0.0.5");
  EXPECT_EQ(spec.path, "export/dir/sub");
  EXPECT_EQ(spec.endpoint.version, "");
  EXPECT_EQ(spec.Describe(), "nfs://10.0.0.5/export/dir/sub");
  ASSERT_OK_AND_ASSIGN(spec,
                       ParseLocationUri("nfs://nas:2049/export?version=4"));
  EXPECT_EQ(spec.host, "nas:2049");
  EXPECT_EQ(spec.path, "export");
  EXPECT_EQ(spec.endpoint.version, "4");
  for (const char* bad :
       {"nfs://", "nfs://host", "nfs://host/", "nfs:///export",
        "nfs://host/export?version=5", "nfs://host/export?uid=0",
        "nfs://user@host/export", "nfs://host/a/../b"}) {
    auto r = ParseLocationUri(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(r.status().message().find("nfs://HOST"), std::string_view::npos)
        << r.status().message();
  }
}

TEST(ParseLocationUriTest, AzureContainerUrls) {
  ASSERT_OK_AND_ASSIGN(
      LocationSpec spec,
      ParseLocationUri("https://acct.blob.core.windows.net/box/dir/sub/"));
  EXPECT_EQ(spec.type, "azure");
  EXPECT_EQ(spec.endpoint.url, "https://acct.blob.core.windows.net");
  EXPECT_EQ(spec.endpoint.user, "acct");
  EXPECT_EQ(spec.bucket, "box");
  EXPECT_EQ(spec.path, "dir/sub");
  EXPECT_EQ(spec.Describe(), "https://acct.blob.core.windows.net/box/dir/sub");
  // Path-style, as Azurite serves it.
  ASSERT_OK_AND_ASSIGN(
      spec, ParseLocationUri("http://127.0.0.1:10000/devstoreaccount1/box"));
  EXPECT_EQ(spec.endpoint.url, "http://127.0.0.1:10000/devstoreaccount1");
  EXPECT_EQ(spec.endpoint.user, "devstoreaccount1");
  EXPECT_EQ(spec.bucket, "box");
  EXPECT_EQ(spec.path, "");
  for (const char* bad :
       {"https://acct.blob.core.windows.net/", "http://127.0.0.1:10000/acct",
        "https://", "https://u@acct.blob.core.windows.net/box",
        "https://acct.blob.core.windows.net/box/a/../b"}) {
    auto r = ParseLocationUri(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
  }
  // A token in the URL is refused, and not repeated.
  auto r = ParseLocationUri(
      "https://acct.blob.core.windows.net/box?sv=2021&sig=SECRET");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().find("SECRET"), std::string_view::npos);
  EXPECT_NE(r.status().message().find("FERRY_AZURE_SAS"),
            std::string_view::npos);
}

TEST(ParseLocationUriTest, SchemeLookalikeInsideAPathIsLocal) {
  ASSERT_OK_AND_ASSIGN(LocationSpec spec, ParseLocationUri("dir/x://y"));
  EXPECT_EQ(spec.type, "local");
  EXPECT_EQ(spec.path, "dir/x://y");
}

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override { RegisterBuiltinBackends(); }
};

TEST_F(RegistryTest, NamedMemoryLocationsShareOneStorePerName) {
  LocationSpec a{"memory", "registry-test-shared"};
  ASSERT_OK_AND_ASSIGN(auto writer, OpenBackend(a));
  ASSERT_OK_AND_ASSIGN(auto reader, OpenBackend(a));
  ASSERT_OK(testing::WriteFile(writer.get(), P("f"), "hello"));
  ASSERT_OK_AND_ASSIGN(std::string got,
                       testing::ReadFile(reader.get(), P("f")));
  EXPECT_EQ(got, "hello");
  EXPECT_EQ(NamedMemoryStore("registry-test-shared")->GetFile("f"), "hello");

  LocationSpec other{"memory", "registry-test-other"};
  ASSERT_OK_AND_ASSIGN(auto elsewhere, OpenBackend(other));
  ASSERT_OK_AND_ASSIGN(auto missing, elsewhere->Stat(P("f")));
  EXPECT_FALSE(missing.has_value());
}

TEST_F(RegistryTest, OpensLocalDirectories) {
  TempDir tmp;
  ASSERT_OK_AND_ASSIGN(LocationSpec spec, ParseLocationUri(tmp.path()));
  ASSERT_OK_AND_ASSIGN(auto backend, OpenBackend(spec));
  ASSERT_OK(testing::WriteFile(backend.get(), P("x"), "data"));
  EXPECT_TRUE(std::filesystem::is_regular_file(tmp.Sub("x")));
}

TEST_F(RegistryTest, CreateRootMakesAMissingLocalRoot) {
  TempDir tmp;
  LocationSpec spec;
  spec.type = "local";
  spec.path = tmp.Sub("new/deeper");
  auto missing = OpenBackend(spec);
  EXPECT_FALSE(missing.ok());
  EXPECT_FALSE(std::filesystem::exists(tmp.Sub("new")));
  spec.create_root = true;
  ASSERT_OK_AND_ASSIGN(auto backend, OpenBackend(spec));
  EXPECT_TRUE(std::filesystem::is_directory(tmp.Sub("new/deeper")));
  ASSERT_OK_AND_ASSIGN(auto root, backend->Stat(RelPath()));
  ASSERT_TRUE(root.has_value());
  EXPECT_TRUE(root->is_dir());
}

TEST_F(RegistryTest, UnknownTypeListsTheKnownOnes) {
  auto r = OpenBackend(LocationSpec{"ftp", "host"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  std::string_view msg = r.status().message();
  EXPECT_NE(msg.find("ftp"), std::string_view::npos) << msg;
  EXPECT_NE(msg.find("local"), std::string_view::npos) << msg;
  EXPECT_NE(msg.find("memory"), std::string_view::npos) << msg;
}

TEST_F(RegistryTest, RegisteredFactoriesAreUsed) {
  auto store = std::make_shared<MemoryStore>();
  store->PutFile("marker", "from the custom factory");
  auto seen_path = std::make_shared<std::string>();
  RegisterBackend(
      "registry-test-custom", [store, seen_path](const LocationSpec& spec) {
        *seen_path = spec.path;
        return Result<std::unique_ptr<Backend>>(OpenMemoryBackend(store));
      });
  ASSERT_OK_AND_ASSIGN(auto backend,
                       OpenBackend(LocationSpec{"registry-test-custom", "p"}));
  EXPECT_EQ(*seen_path, "p");
  ASSERT_OK_AND_ASSIGN(std::string got,
                       testing::ReadFile(backend.get(), P("marker")));
  EXPECT_EQ(got, "from the custom factory");
}

TEST_F(RegistryTest, RegisteringBuiltinsTwiceIsHarmless) {
  RegisterBuiltinBackends();
  RegisterBuiltinBackends();
  ASSERT_OK_AND_ASSIGN(auto backend,
                       OpenBackend(LocationSpec{"memory", "registry-twice"}));
  ASSERT_OK_AND_ASSIGN(auto root, backend->Stat(RelPath()));
  EXPECT_TRUE(root.has_value());
}

}  // namespace
}  // namespace ferry
