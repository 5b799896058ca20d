#include "ferry/execution/task_report.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "ferry/storage/testing.h"

namespace ferry {
namespace {

namespace fs = std::filesystem;

const char kArn[] =
    "arn:aws:datasync:local:000000000000:task/task-0123456789abcdef0/execution/"
    "exec-0123456789abcdef0";

nlohmann::json ReadJson(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return nlohmann::json::parse(s.str());
}

std::vector<fs::path> Parts(const std::string& folder,
                            const std::string& kind) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(folder)) {
    if (e.path().filename().string().find(kind) != std::string::npos)
      out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(TaskReportTest, StandardListsEveryRecordAndTheSummary) {
  testing::TempDir tmp;
  TaskReportConfig config;
  config.directory = tmp.path() + "/reports";
  auto report = TaskReport::Open(config, kArn);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  (*report)->Transferred({{"RelativePath", "/a"}}, false);
  (*report)->Transferred({{"RelativePath", "/b"}}, true);
  (*report)->Verified({{"RelativePath", "/a"}}, false);
  (*report)->Deleted({{"RelativePath", "/old"}}, false);
  auto folder = (*report)->Finish({{"Status", "SUCCESS"}});
  ASSERT_TRUE(folder.ok());
  EXPECT_EQ(*folder, config.directory + "/exec-0123456789abcdef0");
  auto transferred = Parts(*folder, "files-transferred");
  ASSERT_EQ(transferred.size(), 1u);
  nlohmann::json t = ReadJson(transferred[0]);
  EXPECT_EQ(t["TaskExecutionArn"], kArn);
  ASSERT_EQ(t["Transferred"].size(), 2u);
  EXPECT_EQ(t["Transferred"][1]["RelativePath"], "/b");
  EXPECT_EQ(Parts(*folder, "files-verified").size(), 1u);
  EXPECT_EQ(Parts(*folder, "files-deleted").size(), 1u);
  EXPECT_TRUE(Parts(*folder, "files-skipped").empty());  // nothing was skipped
  nlohmann::json summary =
      ReadJson(*folder + "/exec-0123456789abcdef0.summary-v1.json");
  EXPECT_EQ(summary["Status"], "SUCCESS");
}

TEST(TaskReportTest, ErrorsOnlyKeepsFailures) {
  testing::TempDir tmp;
  TaskReportConfig config;
  config.directory = tmp.path();
  config.level = ReportLevel::kErrorsOnly;
  auto report = TaskReport::Open(config, kArn);
  ASSERT_TRUE(report.ok());
  (*report)->Transferred({{"RelativePath", "/ok"}}, false);
  (*report)->Transferred({{"RelativePath", "/bad"}}, true);
  auto folder = (*report)->Finish({});
  ASSERT_TRUE(folder.ok());
  nlohmann::json t = ReadJson(Parts(*folder, "files-transferred").at(0));
  ASSERT_EQ(t["Transferred"].size(), 1u);
  EXPECT_EQ(t["Transferred"][0]["RelativePath"], "/bad");
}

TEST(TaskReportTest, SummaryOnlyWritesOnlyTheSummary) {
  testing::TempDir tmp;
  TaskReportConfig config;
  config.directory = tmp.path();
  config.output_type = ReportOutputType::kSummaryOnly;
  auto report = TaskReport::Open(config, kArn);
  ASSERT_TRUE(report.ok());
  (*report)->Transferred({{"RelativePath", "/bad"}}, true);
  auto folder = (*report)->Finish({{"Status", "ERROR"}});
  ASSERT_TRUE(folder.ok());
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(*folder))
    names.push_back(e.path().filename());
  EXPECT_EQ(
      names,
      (std::vector<std::string>{"exec-0123456789abcdef0.summary-v1.json"}));
}

// With a bound of 200 kB in place of DataSync's 5 MB, so that the test
// writes a few files of records rather than 60,000 records.
TEST(TaskReportTest, LargeListsAreSplitIntoFilesOfAtMostTheBound) {
  testing::TempDir tmp;
  TaskReportConfig config;
  config.directory = tmp.path();
  config.max_file_bytes = 200'000;
  auto report = TaskReport::Open(config, kArn);
  ASSERT_TRUE(report.ok());
  const int kRecords = 6000;
  const std::string pad(80, 'x');
  for (int i = 0; i < kRecords; ++i) {
    (*report)->Verified(
        {{"RelativePath", "/f" + std::to_string(i)}, {"Pad", pad}}, false);
  }
  auto folder = (*report)->Finish({});
  ASSERT_TRUE(folder.ok());
  auto parts = Parts(*folder, "files-verified");
  ASSERT_GE(parts.size(), 2u);
  std::set<std::string> seen;
  for (const fs::path& p : parts) {
    EXPECT_LE(fs::file_size(p), config.max_file_bytes) << p;
    const nlohmann::json part = ReadJson(p);
    for (const auto& r : part["Verified"]) {
      EXPECT_TRUE(seen.insert(r["RelativePath"].get<std::string>()).second);
    }
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kRecords));
}

TEST(TaskReportTest, AFolderThatCannotBeMadeIsAnError) {
  testing::TempDir tmp;
  std::ofstream(tmp.path() + "/file") << "x";
  TaskReportConfig config;
  config.directory = tmp.path() + "/file";
  auto report = TaskReport::Open(config, kArn);
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.status().message().find("not a directory"),
            std::string_view::npos);
}

}  // namespace
}  // namespace ferry
