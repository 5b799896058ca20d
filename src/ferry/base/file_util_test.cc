#include "ferry/base/file_util.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace ferry {
namespace {

namespace fs = std::filesystem;

class FileUtilTest : public testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ferry-file-util-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::permissions(dir_, fs::perms::owner_all, ec);
    fs::remove_all(dir_, ec);
  }
  std::string Path(const char* name) const { return (dir_ / name).string(); }

  fs::path dir_;
};

unsigned Mode(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

TEST_F(FileUtilTest, WritesWithTheModeAskedForAndReadsItBack) {
  const std::string path = Path("key");
  const mode_t old_umask = ::umask(077);
  Status st = WriteFileAtomically(path, "secret\n", 0644);
  ::umask(old_umask);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(Mode(path), 0644u) << "the umask must not change the mode";
  auto text = ReadTextFile(path);
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  EXPECT_EQ(*text, "secret\n");
  EXPECT_FALSE(fs::exists(path + ".tmp"));

  // Replaced whole, the new mode applied, nothing left beside it.
  ASSERT_TRUE(WriteFileAtomically(path, "", 0600).ok());
  EXPECT_EQ(ReadTextFile(path).value(), "");
  EXPECT_EQ(Mode(path), 0600u);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), {}), 1);
}

TEST_F(FileUtilTest, AFailedWriteLeavesTheOldContent) {
  const std::string path = Path("config.json");
  ASSERT_TRUE(WriteFileAtomically(path, "old", 0600).ok());
  // A directory where the temporary file would go: the write cannot start.
  fs::create_directory(path + ".tmp");
  Status st = WriteFileAtomically(path, "new", 0600);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), StatusCode::kIoError);
  EXPECT_NE(st.message().find(path + ".tmp"), std::string::npos)
      << st.ToString();
  EXPECT_EQ(ReadTextFile(path).value(), "old");

  Status missing = WriteFileAtomically(Path("no/such/dir/f"), "x", 0600);
  EXPECT_EQ(missing.code(), StatusCode::kIoError) << missing.ToString();
  EXPECT_NE(missing.message().find("no/such/dir/f.tmp"), std::string::npos)
      << missing.ToString();
}

TEST_F(FileUtilTest, ReadErrorsNameThePath) {
  auto missing = ReadTextFile(Path("missing"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(), "cannot read " + Path("missing"));

  // A directory opens but cannot be read.
  auto dir = ReadTextFile(dir_.string());
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.status().code(), StatusCode::kIoError);
  EXPECT_NE(dir.status().message().find(dir_.string()), std::string::npos);
}

TEST_F(FileUtilTest, ReadStopsAtTheLimit) {
  const std::string path = Path("big");
  std::ofstream(path) << std::string(10000, 'x');
  auto exact = ReadTextFile(path, 10000);
  ASSERT_TRUE(exact.ok()) << exact.status().ToString();
  EXPECT_EQ(exact->size(), 10000u);
  auto over = ReadTextFile(path, 9999);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(over.status().message(), path + " is larger than 9999 bytes");
}

}  // namespace
}  // namespace ferry
