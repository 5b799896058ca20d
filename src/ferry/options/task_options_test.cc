#include "ferry/options/task_options.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "ferry/storage/testing.h"

namespace ferry {
namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;

std::string Get(const TaskOptions& o, const std::string& name) {
  for (const auto& [n, v] : o.ToPairs()) {
    if (n == name) return v;
  }
  ADD_FAILURE() << "no option " << name;
  return "";
}

// DataSync's options, in the API model's order, with their values.
const std::vector<std::pair<std::string, std::vector<std::string>>>&
EnumOptions() {
  static const auto* options =
      new std::vector<std::pair<std::string, std::vector<std::string>>>{
          {"VerifyMode",
           {"POINT_IN_TIME_CONSISTENT", "ONLY_FILES_TRANSFERRED", "NONE"}},
          {"OverwriteMode", {"ALWAYS", "NEVER"}},
          {"Atime", {"NONE", "BEST_EFFORT"}},
          {"Mtime", {"NONE", "PRESERVE"}},
          {"Uid", {"NONE", "INT_VALUE", "NAME", "BOTH"}},
          {"Gid", {"NONE", "INT_VALUE", "NAME", "BOTH"}},
          {"PreserveDeletedFiles", {"PRESERVE", "REMOVE"}},
          {"PreserveDevices", {"NONE", "PRESERVE"}},
          {"PosixPermissions", {"NONE", "PRESERVE"}},
          {"TaskQueueing", {"ENABLED", "DISABLED"}},
          {"LogLevel", {"OFF", "BASIC", "TRANSFER"}},
          {"TransferMode", {"CHANGED", "ALL"}},
          {"SecurityDescriptorCopyFlags",
           {"NONE", "OWNER_DACL", "OWNER_DACL_SACL"}},
          {"ObjectTags", {"PRESERVE", "NONE"}},
      };
  return *options;
}

TEST(TaskOptionsTest, DefaultsAreDataSyncs) {
  TaskOptions o;
  EXPECT_EQ(o.ToPairs(), (Pairs{
                             {"VerifyMode", "POINT_IN_TIME_CONSISTENT"},
                             {"OverwriteMode", "ALWAYS"},
                             {"Atime", "BEST_EFFORT"},
                             {"Mtime", "PRESERVE"},
                             {"Uid", "INT_VALUE"},
                             {"Gid", "INT_VALUE"},
                             {"PreserveDeletedFiles", "PRESERVE"},
                             {"PreserveDevices", "NONE"},
                             {"PosixPermissions", "PRESERVE"},
                             {"BytesPerSecond", "-1"},
                             {"TaskQueueing", "ENABLED"},
                             {"LogLevel", "BASIC"},
                             {"TransferMode", "CHANGED"},
                             {"SecurityDescriptorCopyFlags", "OWNER_DACL"},
                             {"ObjectTags", "PRESERVE"},
                         }));
  EXPECT_OK(o.Validate());
}

TEST(TaskOptionsTest, NamesFollowTheApiModel) {
  std::vector<std::string> names;
  for (const auto& [name, value] : TaskOptions().ToPairs()) {
    names.push_back(name);
  }
  EXPECT_EQ(TaskOptionNames(), names);
}

TEST(TaskOptionsTest, EveryValueOfEveryOptionCanBeSet) {
  for (const auto& [name, values] : EnumOptions()) {
    for (const std::string& value : values) {
      TaskOptions o;
      ASSERT_OK(o.Set(name, value)) << name << "=" << value;
      EXPECT_EQ(Get(o, name), value);
    }
  }
}

TEST(TaskOptionsTest, SetReachesTheRightField) {
  TaskOptions o;
  ASSERT_OK(o.Set("VerifyMode", "NONE"));
  ASSERT_OK(o.Set("OverwriteMode", "NEVER"));
  ASSERT_OK(o.Set("Uid", "BOTH"));
  ASSERT_OK(o.Set("Gid", "NAME"));
  ASSERT_OK(o.Set("PreserveDeletedFiles", "REMOVE"));
  ASSERT_OK(o.Set("TransferMode", "ALL"));
  ASSERT_OK(o.Set("LogLevel", "TRANSFER"));
  EXPECT_EQ(o.verify_mode, VerifyMode::kNone);
  EXPECT_EQ(o.overwrite_mode, OverwriteMode::kNever);
  EXPECT_EQ(o.uid, OwnerMode::kBoth);
  EXPECT_EQ(o.gid, OwnerMode::kName);
  EXPECT_EQ(o.preserve_deleted_files, DeletedFilesMode::kRemove);
  EXPECT_EQ(o.transfer_mode, TransferMode::kAll);
  EXPECT_EQ(o.log_level, LogLevel::kTransfer);
  EXPECT_EQ(o.atime, AtimeMode::kBestEffort);  // untouched
}

TEST(TaskOptionsTest, AnUnknownValueNamesWhatIsAllowed) {
  TaskOptions o;
  Status st = o.Set("VerifyMode", "BOGUS");
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(),
            "1 validation error detected: Value 'BOGUS' at "
            "'options.verifyMode' failed to satisfy constraint: Member must "
            "satisfy enum value set: [POINT_IN_TIME_CONSISTENT, "
            "ONLY_FILES_TRANSFERRED, NONE]");
  EXPECT_EQ(o.verify_mode, VerifyMode::kPointInTimeConsistent);
  Status lower = o.Set("PreserveDeletedFiles", "remove");
  EXPECT_FALSE(lower.ok()) << "values are case sensitive";
  EXPECT_NE(lower.message().find("'options.preserveDeletedFiles'"),
            std::string_view::npos)
      << lower.message();
  EXPECT_FALSE(o.Set("Uid", "").ok());
}

TEST(TaskOptionsTest, AnUnknownOptionListsTheOptions) {
  TaskOptions o;
  Status st = o.Set("VerifyModes", "NONE");
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("VerifyModes"), std::string_view::npos);
  for (const std::string& name : TaskOptionNames()) {
    EXPECT_NE(st.message().find(name), std::string_view::npos) << name;
  }
  EXPECT_FALSE(o.Set("verifyMode", "NONE").ok()) << "names are case sensitive";
}

TEST(TaskOptionsTest, BytesPerSecondTakesAnInteger) {
  TaskOptions o;
  ASSERT_OK(o.Set("BytesPerSecond", "1048576"));
  EXPECT_EQ(o.bytes_per_second, 1048576);
  EXPECT_EQ(Get(o, "BytesPerSecond"), "1048576");
  ASSERT_OK(o.Set("BytesPerSecond", "-1"));
  EXPECT_EQ(o.bytes_per_second, -1);
  for (const char* bad :
       {"", "abc", "12abc", "1.5", " 5", "0x10", "99999999999999999999"}) {
    Status st = o.Set("BytesPerSecond", bad);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << "'" << bad << "'";
    EXPECT_NE(st.message().find("BytesPerSecond"), std::string_view::npos);
  }
  EXPECT_EQ(o.bytes_per_second, -1);
}

TEST(TaskOptionsTest, ShorthandSetsSeveralOptions) {
  TaskOptions o;
  ASSERT_OK(o.SetFromShorthand(
      "VerifyMode=NONE,TransferMode=ALL,BytesPerSecond=500"));
  EXPECT_EQ(o.verify_mode, VerifyMode::kNone);
  EXPECT_EQ(o.transfer_mode, TransferMode::kAll);
  EXPECT_EQ(o.bytes_per_second, 500);
  ASSERT_OK(o.SetFromShorthand(""));
  ASSERT_OK(o.SetFromShorthand("Mtime=NONE,,Atime=NONE,"));
  EXPECT_EQ(o.mtime, MtimeMode::kNone);
  EXPECT_EQ(o.atime, AtimeMode::kNone);
}

TEST(TaskOptionsTest, ShorthandErrors) {
  TaskOptions o;
  Status no_value = o.SetFromShorthand("VerifyMode");
  EXPECT_EQ(no_value.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(no_value.message().find("Name=VALUE"), std::string_view::npos)
      << no_value.message();
  EXPECT_FALSE(o.SetFromShorthand("=NONE").ok());
  Status bad_value = o.SetFromShorthand("TransferMode=ALL,VerifyMode=BOGUS");
  EXPECT_NE(bad_value.message().find("'BOGUS'"), std::string_view::npos);
  EXPECT_FALSE(o.SetFromShorthand("Bogus=1").ok());
}

TEST(TaskOptionsTest, ValidateUsesDataSyncsMessages) {
  TaskOptions all_remove;
  all_remove.transfer_mode = TransferMode::kAll;
  all_remove.preserve_deleted_files = DeletedFilesMode::kRemove;
  EXPECT_EQ(all_remove.Validate().message(),
            "Invalid SyncOption value. Option: "
            "TransferMode,PreserveDeletedFiles, Value: ALL,REMOVE.");
  EXPECT_EQ(all_remove.Validate().code(), StatusCode::kInvalidArgument);

  TaskOptions atime_without_mtime;
  atime_without_mtime.mtime = MtimeMode::kNone;
  EXPECT_EQ(atime_without_mtime.Validate().message(),
            "Invalid SyncOption value. Option: Atime,Mtime, Value: "
            "BEST_EFFORT,NONE.");

  TaskOptions mtime_without_atime;
  mtime_without_atime.atime = AtimeMode::kNone;
  EXPECT_EQ(mtime_without_atime.Validate().message(),
            "Invalid SyncOption value. Option: Atime,Mtime, Value: "
            "NONE,PRESERVE.");

  for (int64_t bad : {int64_t{0}, int64_t{-2}}) {
    TaskOptions o;
    o.bytes_per_second = bad;
    EXPECT_EQ(o.Validate().message(),
              "Invalid SyncOption value. Option: BytesPerSecond, Value: " +
                  std::to_string(bad) + ".");
  }
}

TEST(TaskOptionsTest, ValidCombinations) {
  TaskOptions neither_time;
  neither_time.atime = AtimeMode::kNone;
  neither_time.mtime = MtimeMode::kNone;
  EXPECT_OK(neither_time.Validate());
  TaskOptions changed_remove;
  changed_remove.preserve_deleted_files = DeletedFilesMode::kRemove;
  EXPECT_OK(changed_remove.Validate());
  TaskOptions all_preserve;
  all_preserve.transfer_mode = TransferMode::kAll;
  EXPECT_OK(all_preserve.Validate());
  TaskOptions one_byte;
  one_byte.bytes_per_second = 1;
  EXPECT_OK(one_byte.Validate());
}

TEST(TaskOptionsTest, PolicyFollowsTheOptions) {
  MetadataPolicy p = TaskOptions().Policy();
  EXPECT_TRUE(p.mode && p.uid && p.gid && p.mtime && p.atime);

  TaskOptions o;
  ASSERT_OK(o.SetFromShorthand(
      "PosixPermissions=NONE,Uid=NONE,Atime=NONE,Mtime=NONE"));
  p = o.Policy();
  EXPECT_FALSE(p.mode);
  EXPECT_FALSE(p.uid);
  EXPECT_TRUE(p.gid);
  EXPECT_FALSE(p.mtime);
  EXPECT_FALSE(p.atime);

  TaskOptions names;
  ASSERT_OK(names.SetFromShorthand("Uid=NAME,Gid=BOTH"));
  EXPECT_TRUE(names.Policy().uid);
  EXPECT_TRUE(names.Policy().gid);
}

TEST(TaskOptionsTest, KebabCase) {
  EXPECT_EQ(KebabCase("VerifyMode"), "verify-mode");
  EXPECT_EQ(KebabCase("PreserveDeletedFiles"), "preserve-deleted-files");
  EXPECT_EQ(KebabCase("Uid"), "uid");
  EXPECT_EQ(KebabCase("BytesPerSecond"), "bytes-per-second");
  EXPECT_EQ(KebabCase(""), "");
}

}  // namespace
}  // namespace ferry
