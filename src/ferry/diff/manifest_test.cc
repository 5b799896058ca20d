#include "ferry/diff/manifest.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ferry/storage/decorators/fault_injecting_backend.h"
#include "ferry/storage/testing.h"

namespace ferry {
namespace {

using testing::MemoryTree;
using testing::P;
using Strings = std::vector<std::string>;

Strings Parse(std::string_view csv) {
  auto r = ParseManifest(csv);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  Strings out;
  if (r.ok()) {
    for (const RelPath& p : *r) out.push_back(p.str());
  }
  return out;
}

std::string ParseError(std::string_view csv) {
  auto r = ParseManifest(csv);
  EXPECT_FALSE(r.ok()) << "accepted: " << EscapeForDisplay(csv);
  if (!r.ok()) {
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  }
  return r.ok() ? "" : std::string(r.status().message());
}

TEST(ParseManifestTest, OnePathPerLine) {
  EXPECT_EQ(Parse("a\nb/c\n"), (Strings{"a", "b/c"}));
  EXPECT_EQ(Parse("a\r\nb/c"), (Strings{"a", "b/c"}));
  EXPECT_EQ(Parse(""), Strings{});
  EXPECT_EQ(Parse("\n\n"), Strings{});
  EXPECT_EQ(Parse("\xEF\xBB\xBF"
                  "first\n"),
            Strings{"first"});
  EXPECT_EQ(Parse("a\n\n\nb\n"), (Strings{"a", "b"}));
  EXPECT_EQ(Parse("/lead/slash\n"), Strings{"lead/slash"});
}

TEST(ParseManifestTest, SortedAndWithoutDuplicates) {
  EXPECT_EQ(Parse("b\na-b\na/b\na\nb\na/b\n"),
            (Strings{"a", "a/b", "a-b", "b"}));
}

TEST(ParseManifestTest, ASecondFieldIsAVersionAndIgnored) {
  EXPECT_EQ(Parse("a,v1\nb,\n"), (Strings{"a", "b"}));
  EXPECT_NE(ParseError("a\nb,v1,extra\n").find("line 2"), std::string::npos);
}

TEST(ParseManifestTest, QuotedFields) {
  EXPECT_EQ(Parse("\"with,comma\"\n"), Strings{"with,comma"});
  EXPECT_EQ(Parse("\"say \"\"hi\"\"\",v\n"), Strings{"say \"hi\""});
  EXPECT_EQ(Parse("\"new\nline\"\n"), Strings{"new\nline"});
  EXPECT_EQ(Parse("plain,\"quoted version\"\n"), Strings{"plain"});
}

TEST(ParseManifestTest, BadQuotingIsAnError) {
  EXPECT_NE(ParseError("ok\n\"never closed\n").find("line 2"),
            std::string::npos);
  EXPECT_NE(ParseError("\"closed\"garbage\n").find("line 1"),
            std::string::npos);
  EXPECT_NE(ParseError("a\"b\n").find("line 1"), std::string::npos);
}

TEST(ParseManifestTest, ErrorsCountLinesInsideQuotedFields) {
  // The quoted field spans lines 1-2, so the bad record is on line 3.
  EXPECT_NE(ParseError("\"two\nlines\"\na,b,c\n").find("line 3"),
            std::string::npos);
}

TEST(ParseManifestTest, EveryPathIsChecked) {
  EXPECT_NE(ParseError("ok\n../escape\n").find("line 2"), std::string::npos);
  EXPECT_NE(ParseError("a/./b\n").find("line 1"), std::string::npos);
  EXPECT_NE(ParseError("/\n").find("root"), std::string::npos);
  EXPECT_NE(ParseError("\"\"\n").find("empty path"), std::string::npos);
  EXPECT_NE(ParseError(",version\n").find("empty path"), std::string::npos);
  using std::string_literals::operator""s;
  EXPECT_FALSE(ParseManifest("nul\0byte\n"s).ok());
}

TEST(ParseManifestTest, EveryTruncationEndsCleanly) {
  const std::string csv =
      "\xEF\xBB\xBF"
      "dir/a,v1\r\n\"q,uoted\"\"x\",\"v\"\n\"multi\nline\"\nlast";
  for (size_t n = 0; n <= csv.size(); ++n) {
    auto r = ParseManifest(std::string_view(csv).substr(0, n));
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << n;
      EXPECT_NE(r.status().message().find("manifest line"),
                std::string_view::npos)
          << n << ": " << r.status().message();
    }
  }
  EXPECT_EQ(Parse(csv),
            (Strings{"dir/a", "last", "multi\nline", "q,uoted\"x"}));
}

// ------------------------------------------------------------ The planner

struct Step {
  std::string text;  // "action path"
  PlanItem item;
};

std::vector<Step> PlanManifest(Backend* src, Backend* dst, std::string_view csv,
                               bool transfer_all = false,
                               uint64_t* found = nullptr) {
  auto paths = ParseManifest(csv);
  EXPECT_TRUE(paths.ok()) << paths.status().ToString();
  DiffOptions options;
  options.compare.atime = false;
  ManifestPlanner planner(
      src, dst,
      std::make_shared<const std::vector<RelPath>>(std::move(paths).value()),
      options, transfer_all);
  std::vector<Step> steps;
  while (true) {
    PlanItem item;
    auto more = planner.Next(&item);
    EXPECT_TRUE(more.ok()) << more.status().ToString();
    if (!more.ok() || !*more) break;
    std::string text =
        std::string(PlanActionName(item.action)) + " " + item.src.path.str();
    steps.push_back(Step{std::move(text), std::move(item)});
  }
  if (found) *found = planner.found();
  return steps;
}

Strings Texts(const std::vector<Step>& steps) {
  Strings out;
  for (const Step& s : steps) out.push_back(s.text);
  return out;
}

TEST(ManifestPlannerTest, PlansTheListedFilesAndTheFoldersOnTheWay) {
  MemoryTree src, dst;
  src.File("d/e/f", "f").File("d/e/g", "g").File("d/h", "h").File("top", "t");
  src.File("not-listed", "n");
  dst.Dir("d").File("d/h", "h");
  uint64_t found = 0;
  auto steps = PlanManifest(src.backend(), dst.backend(),
                            "top\nd/e/g\nd/e/f\nd/h\nmissing\n", false, &found);
  EXPECT_EQ(Texts(steps),
            (Strings{"unchanged d", "create d/e", "create d/e/f",
                     "create d/e/g", "fail missing", "create top"}));
  EXPECT_EQ(found, 4u);
  for (const Step& s : steps) {
    if (s.text == "fail missing") {
      EXPECT_EQ(s.item.action, PlanAction::kFailMissing);
      EXPECT_EQ(s.item.reason.rfind(kManifestFileDoesNotExist, 0), 0u)
          << s.item.reason;
    }
  }
}

TEST(ManifestPlannerTest, ChangedFilesAreReplaced) {
  MemoryTree src, dst;
  src.File("a", "new content");
  dst.File("a", "old");
  auto steps = PlanManifest(src.backend(), dst.backend(), "a\n");
  EXPECT_EQ(Texts(steps), Strings{"replace a"});
  EXPECT_EQ(steps[0].item.reason, "size differs");
}

TEST(ManifestPlannerTest, AListedFolderFails) {
  MemoryTree src, dst;
  src.Dir("folder").File("folder/x", "x");
  auto steps = PlanManifest(src.backend(), dst.backend(), "folder\n");
  ASSERT_EQ(Texts(steps), Strings{"fail folder"});
  EXPECT_EQ(steps[0].item.action, PlanAction::kFailMissing);
  EXPECT_NE(steps[0].item.reason.find("folder"), std::string::npos);
}

TEST(ManifestPlannerTest, TransferModeAllDoesNotLookAtTheDestination) {
  MemoryTree src, dst;
  src.File("d/a", "a");
  dst.File("d/a", "a");
  FaultInjectingBackend untouchable(
      dst.Open(), {{FaultOp::kStat, "d", Status::IoError("looked")},
                   {FaultOp::kStat, "d/a", Status::IoError("looked")}});
  auto steps = PlanManifest(src.backend(), &untouchable, "d/a\n", true);
  EXPECT_EQ(Texts(steps), (Strings{"create d", "create d/a"}));
  for (const Step& s : steps) EXPECT_FALSE(s.item.dst_known);
}

TEST(ManifestPlannerTest, AnUnreadableDestinationFailsTheFile) {
  MemoryTree src, dst;
  src.File("a", "a");
  FaultInjectingBackend faulty(
      dst.Open(), {{FaultOp::kStat, "a", Status::IoError("stale handle")}});
  auto steps = PlanManifest(src.backend(), &faulty, "a\n");
  ASSERT_EQ(Texts(steps), Strings{"fail a"});
  EXPECT_EQ(steps[0].item.action, PlanAction::kFailUnlisted);
  EXPECT_NE(steps[0].item.reason.find("stale handle"), std::string::npos);
}

}  // namespace
}  // namespace ferry
