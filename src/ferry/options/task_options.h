// TaskOptions: DataSync's task `Options`, with DataSync's names, values and
// defaults, and the rules about which combinations are allowed.
//
// The CLI (--verify-mode NONE, --options VerifyMode=NONE,...) and the API
// (an Options JSON object) both parse into this struct through Set(); the
// engine reads it and nothing else. A plain value type.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/base/status.h"
#include "ferry/storage/entry.h"

namespace ferry {

enum class VerifyMode : uint8_t {
  kPointInTimeConsistent,
  kOnlyFilesTransferred,
  kNone
};
enum class OverwriteMode : uint8_t { kAlways, kNever };
enum class AtimeMode : uint8_t { kNone, kBestEffort };
enum class MtimeMode : uint8_t { kNone, kPreserve };
enum class OwnerMode : uint8_t { kNone, kIntValue, kName, kBoth };
enum class DeletedFilesMode : uint8_t { kPreserve, kRemove };
enum class DevicesMode : uint8_t { kNone, kPreserve };
enum class PermissionsMode : uint8_t { kNone, kPreserve };
enum class QueueingMode : uint8_t { kEnabled, kDisabled };
enum class LogLevel : uint8_t { kOff, kBasic, kTransfer };
enum class TransferMode : uint8_t { kChanged, kAll };
enum class SecurityDescriptorCopyFlags : uint8_t {
  kNone,
  kOwnerDacl,
  kOwnerDaclSacl
};
enum class ObjectTagsMode : uint8_t { kPreserve, kNone };

struct TaskOptions {
  VerifyMode verify_mode = VerifyMode::kPointInTimeConsistent;
  OverwriteMode overwrite_mode = OverwriteMode::kAlways;
  AtimeMode atime = AtimeMode::kBestEffort;
  MtimeMode mtime = MtimeMode::kPreserve;
  OwnerMode uid = OwnerMode::kIntValue;
  OwnerMode gid = OwnerMode::kIntValue;
  DeletedFilesMode preserve_deleted_files = DeletedFilesMode::kPreserve;
  DevicesMode preserve_devices = DevicesMode::kNone;
  PermissionsMode posix_permissions = PermissionsMode::kPreserve;
  int64_t bytes_per_second = -1;  // -1: unlimited
  QueueingMode task_queueing = QueueingMode::kEnabled;
  LogLevel log_level = LogLevel::kBasic;
  TransferMode transfer_mode = TransferMode::kChanged;
  SecurityDescriptorCopyFlags security_descriptor_copy_flags =
      SecurityDescriptorCopyFlags::kOwnerDacl;
  ObjectTagsMode object_tags = ObjectTagsMode::kPreserve;

  // Sets one option by DataSync's member name ("VerifyMode") and value
  // ("NONE"). Unknown names and values are InvalidArgument errors whose
  // message lists what is allowed.
  Status Set(std::string_view name, std::string_view value);

  // Parses the aws CLI shorthand "VerifyMode=NONE,TransferMode=ALL".
  Status SetFromShorthand(std::string_view shorthand);

  // Checks the combination rules; the message is DataSync's.
  Status Validate() const;

  // (name, value) pairs of every option, in the API model's order.
  std::vector<std::pair<std::string, std::string>> ToPairs() const;

  // Which metadata to apply and compare, as these options ask.
  MetadataPolicy Policy() const;
};

// The names of all options, in the API model's order.
const std::vector<std::string>& TaskOptionNames();

// "VerifyMode" -> "verify-mode".
std::string KebabCase(std::string_view camel);

}  // namespace ferry
