#include "ferry/agent/allowed_paths.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "ferry/agent/location_spec.h"

namespace ferry::agent {
namespace {

namespace fs = std::filesystem;

bool Contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

class AllowedPathsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ferry-allowed-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    // The temporary folder itself may sit behind a symlink (/tmp on some
    // systems): compare with its real path.
    root_ = fs::canonical(tmpl).string();
    fs::create_directories(root_ + "/data/sub");
    fs::create_directories(root_ + "/data2");
    fs::create_directories(root_ + "/outside");
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  std::string root_;
};

TEST_F(AllowedPathsTest, NormalizeResolvesDotsLexicallyAndSymlinks) {
  EXPECT_EQ(*NormalizePath("/"), "/");
  EXPECT_EQ(*NormalizePath("/.."), "/");
  EXPECT_EQ(*NormalizePath("/../../etc"), "/etc");
  EXPECT_EQ(*NormalizePath(root_ + "//data/./sub/"), root_ + "/data/sub");
  EXPECT_EQ(*NormalizePath(root_ + "/data/sub/../../outside"),
            root_ + "/outside");
  // What does not exist yet is kept as written beneath what does.
  EXPECT_EQ(*NormalizePath(root_ + "/data/new/deeper/.."), root_ + "/data/new");
  fs::create_directory_symlink(root_ + "/outside", root_ + "/data/link");
  EXPECT_EQ(*NormalizePath(root_ + "/data/link"), root_ + "/outside");
  EXPECT_EQ(*NormalizePath(root_ + "/data/link/not-yet"),
            root_ + "/outside/not-yet");
  fs::create_symlink(root_ + "/nowhere", root_ + "/data/dangling");
  auto dangling = NormalizePath(root_ + "/data/dangling/x");
  ASSERT_FALSE(dangling.ok());
  EXPECT_EQ(dangling.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(Contains(dangling.status().message(), root_ + "/data/dangling"))
      << dangling.status().message();

  auto relative = NormalizePath("data/sub");
  ASSERT_FALSE(relative.ok());
  EXPECT_EQ(relative.status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(NormalizePath("").ok());
}

TEST_F(AllowedPathsTest, WithinComparesWholeComponents) {
  EXPECT_TRUE(IsWithin("/data", "/data"));
  EXPECT_TRUE(IsWithin("/data/x", "/data"));
  EXPECT_FALSE(IsWithin("/data2", "/data"));
  EXPECT_FALSE(IsWithin("/data2/x", "/data"));
  EXPECT_FALSE(IsWithin("/dat", "/data"));
  EXPECT_FALSE(IsWithin("/", "/data"));
  EXPECT_TRUE(IsWithin("/anything", "/"));
  EXPECT_TRUE(IsWithin("/", "/"));
}

TEST_F(AllowedPathsTest, CheckRefusesWhatResolvesOutside) {
  const std::vector<std::string> allowed = {root_ + "/data",
                                            root_ + "/elsewhere"};
  EXPECT_EQ(*CheckAllowedPath(root_ + "/data", allowed), root_ + "/data");
  EXPECT_EQ(*CheckAllowedPath(root_ + "/data/sub/", allowed),
            root_ + "/data/sub");
  // A destination that does not exist yet, beneath an allowed directory.
  EXPECT_EQ(*CheckAllowedPath(root_ + "/data/new/dir", allowed),
            root_ + "/data/new/dir");

  // The review's path: up and out with "..".
  auto up = CheckAllowedPath(root_ + "/data/../../../etc", allowed);
  ASSERT_FALSE(up.ok());
  EXPECT_EQ(up.status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(up.status().message(),
            "Path '" + root_ + "/data/../../../etc' (/etc once '..' and " +
                "symlinks are resolved) is outside the paths this agent may " +
                "use: " + root_ + "/data, " + root_ +
                "/elsewhere (ferry agent --allowed-path)");

  // A sibling that merely starts with the same characters.
  auto sibling = CheckAllowedPath(root_ + "/data2", allowed);
  ASSERT_FALSE(sibling.ok());
  EXPECT_EQ(sibling.status().code(), StatusCode::kPermissionDenied);
  EXPECT_TRUE(Contains(sibling.status().message(),
                       "Path '" + root_ + "/data2' is outside"))
      << sibling.status().message();

  // A symlink inside the allowed directory that points outside it, as the
  // location's path or as a folder above it.
  fs::create_directory_symlink(root_ + "/outside", root_ + "/data/link");
  for (const std::string& p :
       {root_ + "/data/link", root_ + "/data/link/below"}) {
    auto linked = CheckAllowedPath(p, allowed);
    ASSERT_FALSE(linked.ok()) << p;
    EXPECT_TRUE(Contains(linked.status().message(), root_ + "/outside"))
        << linked.status().message();
  }
  // ... and one that points at another place inside is fine, resolved.
  fs::create_directory_symlink(root_ + "/data/sub", root_ + "/data/inner");
  EXPECT_EQ(*CheckAllowedPath(root_ + "/data/inner", allowed),
            root_ + "/data/sub");

  // An allowed directory reached through a symlink matches its target.
  fs::create_directory_symlink(root_ + "/data", root_ + "/data-link");
  EXPECT_EQ(*CheckAllowedPath(root_ + "/data/sub", {root_ + "/data-link"}),
            root_ + "/data/sub");

  // No allowed paths: everything, as given.
  EXPECT_EQ(*CheckAllowedPath("/../../etc", {}), "/../../etc");
}

TEST_F(AllowedPathsTest, LocalLocationsAreCheckedAndOpenedNormalized) {
  AgentStorageConfig config;
  config.allowed_paths = {root_ + "/data"};
  protocol::LocationSpecMessage location;
  location.arn = "arn:aws:datasync:r:0:location/loc-1";
  location.type = "LOCAL";
  location.parameters = {{"Path", root_ + "/data/sub/../sub"}};
  auto spec = LocationSpecFromMessage(location, false, config);
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->path, root_ + "/data/sub");

  location.parameters = {{"Path", root_ + "/data/../outside"}};
  spec = LocationSpecFromMessage(location, true, config);
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().code(), StatusCode::kPermissionDenied);

  // Object storage has no local path to check.
  location.type = "OBJECT_STORAGE";
  location.parameters = {{"ServerHostname", "s3.example"},
                         {"BucketName", "b"},
                         {"Subdirectory", "/x"}};
  EXPECT_TRUE(LocationSpecFromMessage(location, false, config).ok());
}

}  // namespace
}  // namespace ferry::agent
