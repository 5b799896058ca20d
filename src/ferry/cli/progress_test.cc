#include "ferry/cli/progress.h"

#include <gtest/gtest.h>

namespace ferry {
namespace {

TEST(ProgressTest, ShowsPhaseItemsBytesRateAndEta) {
  CounterSnapshot c;
  c.files_transferred = 1500;
  c.folders_transferred = 10;
  c.estimated_files_to_transfer = 4000;
  c.estimated_folders_to_transfer = 20;
  c.bytes_transferred = 512 * 1024 * 1024ull;
  c.estimated_bytes_to_transfer = 1024 * 1024 * 1024ull;
  std::string line = Progress::Render("TRANSFERRING", c, 256.0 * 1024 * 1024);
  EXPECT_NE(line.find("TRANSFERRING"), std::string::npos) << line;
  EXPECT_NE(line.find("1,510/4,020 items"), std::string::npos) << line;
  EXPECT_NE(line.find("512.0 MiB/1.0 GiB"), std::string::npos) << line;
  EXPECT_NE(line.find("256.0 MiB/s"), std::string::npos) << line;
  EXPECT_NE(line.find("ETA 2.000 s"), std::string::npos) << line;
  EXPECT_EQ(line.find("failed"), std::string::npos) << line;
}

TEST(ProgressTest, NoEtaWithoutARateOrWhenDone) {
  CounterSnapshot c;
  c.estimated_bytes_to_transfer = 100;
  EXPECT_EQ(Progress::Render("PREPARING", c, 0).find("ETA"), std::string::npos);
  c.bytes_transferred = 100;
  EXPECT_EQ(Progress::Render("TRANSFERRING", c, 50).find("ETA"),
            std::string::npos);
}

TEST(ProgressTest, ShowsFailuresAndVerification) {
  CounterSnapshot c;
  c.files_failed_transfer = 2;
  c.folders_failed_list = 1;
  c.files_verified = 7;
  std::string line = Progress::Render("VERIFYING", c, 0);
  EXPECT_NE(line.find("failed 3"), std::string::npos) << line;
  EXPECT_NE(line.find("verified 7"), std::string::npos) << line;
}

}  // namespace
}  // namespace ferry
