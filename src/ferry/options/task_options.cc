#include "ferry/options/task_options.h"

#include <cctype>
#include <charconv>

namespace ferry {
namespace {

// One enum-valued option: its name, its values in enum order, and where it
// lives in TaskOptions.
struct EnumOption {
  const char* name;
  std::vector<const char*> values;
  uint8_t* (*field)(TaskOptions&);
};

template <typename E>
uint8_t* AsByte(E& e) {
  static_assert(sizeof(E) == 1);
  return reinterpret_cast<uint8_t*>(&e);
}

const std::vector<EnumOption>& EnumOptions() {
  static const std::vector<EnumOption>* options = new std::vector<EnumOption>{
      {"VerifyMode",
       {"POINT_IN_TIME_CONSISTENT", "ONLY_FILES_TRANSFERRED", "NONE"},
       [](TaskOptions& o) { return AsByte(o.verify_mode); }},
      {"OverwriteMode",
       {"ALWAYS", "NEVER"},
       [](TaskOptions& o) { return AsByte(o.overwrite_mode); }},
      {"Atime",
       {"NONE", "BEST_EFFORT"},
       [](TaskOptions& o) { return AsByte(o.atime); }},
      {"Mtime",
       {"NONE", "PRESERVE"},
       [](TaskOptions& o) { return AsByte(o.mtime); }},
      {"Uid",
       {"NONE", "INT_VALUE", "NAME", "BOTH"},
       [](TaskOptions& o) { return AsByte(o.uid); }},
      {"Gid",
       {"NONE", "INT_VALUE", "NAME", "BOTH"},
       [](TaskOptions& o) { return AsByte(o.gid); }},
      {"PreserveDeletedFiles",
       {"PRESERVE", "REMOVE"},
       [](TaskOptions& o) { return AsByte(o.preserve_deleted_files); }},
      {"PreserveDevices",
       {"NONE", "PRESERVE"},
       [](TaskOptions& o) { return AsByte(o.preserve_devices); }},
      {"PosixPermissions",
       {"NONE", "PRESERVE"},
       [](TaskOptions& o) { return AsByte(o.posix_permissions); }},
      {"TaskQueueing",
       {"ENABLED", "DISABLED"},
       [](TaskOptions& o) { return AsByte(o.task_queueing); }},
      {"LogLevel",
       {"OFF", "BASIC", "TRANSFER"},
       [](TaskOptions& o) { return AsByte(o.log_level); }},
      {"TransferMode",
       {"CHANGED", "ALL"},
       [](TaskOptions& o) { return AsByte(o.transfer_mode); }},
      {"SecurityDescriptorCopyFlags",
       {"NONE", "OWNER_DACL", "OWNER_DACL_SACL"},
       [](TaskOptions& o) { return AsByte(o.security_descriptor_copy_flags); }},
      {"ObjectTags",
       {"PRESERVE", "NONE"},
       [](TaskOptions& o) { return AsByte(o.object_tags); }},
  };
  return *options;
}

std::string Join(const std::vector<const char*>& values) {
  std::string out;
  for (const char* v : values) {
    if (!out.empty()) out += ", ";
    out += v;
  }
  return out;
}

Status InvalidSyncOption(std::string_view names, std::string_view values) {
  return Status::InvalidArgument(
      "Invalid SyncOption value. Option: " + std::string(names) +
      ", Value: " + std::string(values) + ".");
}

}  // namespace

const std::vector<std::string>& TaskOptionNames() {
  static const std::vector<std::string>* names = [] {
    auto* v = new std::vector<std::string>{"VerifyMode",
                                           "OverwriteMode",
                                           "Atime",
                                           "Mtime",
                                           "Uid",
                                           "Gid",
                                           "PreserveDeletedFiles",
                                           "PreserveDevices",
                                           "PosixPermissions",
                                           "BytesPerSecond",
                                           "TaskQueueing",
                                           "LogLevel",
                                           "TransferMode",
                                           "SecurityDescriptorCopyFlags",
                                           "ObjectTags"};
    return v;
  }();
  return *names;
}

std::string KebabCase(std::string_view camel) {
  std::string out;
  for (size_t i = 0; i < camel.size(); ++i) {
    char c = camel[i];
    if (std::isupper(static_cast<unsigned char>(c))) {
      if (i > 0) out.push_back('-');
      out.push_back(
          static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    } else {
      out.push_back(c);
    }
  }
  return out;
}

Status TaskOptions::Set(std::string_view name, std::string_view value) {
  if (name == "BytesPerSecond") {
    int64_t v = 0;
    auto [ptr, ec] =
        std::from_chars(value.data(), value.data() + value.size(), v);
    if (ec != std::errc() || ptr != value.data() + value.size()) {
      return Status::InvalidArgument(
          "Invalid SyncOption value. Option: BytesPerSecond, Value: " +
          std::string(value) +
          ". Expected -1 or a positive number of bytes per second.");
    }
    bytes_per_second = v;
    return Status::Ok();
  }
  for (const EnumOption& opt : EnumOptions()) {
    if (name != opt.name) continue;
    for (size_t i = 0; i < opt.values.size(); ++i) {
      if (value == opt.values[i]) {
        *opt.field(*this) = static_cast<uint8_t>(i);
        return Status::Ok();
      }
    }
    std::string member = std::string(name);
    member[0] =
        static_cast<char>(std::tolower(static_cast<unsigned char>(member[0])));
    return Status::InvalidArgument("1 validation error detected: Value '" +
                                   std::string(value) + "' at 'options." +
                                   member +
                                   "' failed to satisfy constraint: Member "
                                   "must satisfy enum value set: [" +
                                   Join(opt.values) + "]");
  }
  std::string known;
  for (const std::string& n : TaskOptionNames()) {
    if (!known.empty()) known += ", ";
    known += n;
  }
  return Status::InvalidArgument("Unknown option '" + std::string(name) +
                                 "' (options are: " + known + ")");
}

Status TaskOptions::SetFromShorthand(std::string_view shorthand) {
  size_t pos = 0;
  while (pos < shorthand.size()) {
    size_t comma = shorthand.find(',', pos);
    if (comma == std::string_view::npos) comma = shorthand.size();
    std::string_view pair = shorthand.substr(pos, comma - pos);
    pos = comma + 1;
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      return Status::InvalidArgument(
          "Invalid --options entry '" + std::string(pair) +
          "': expected Name=VALUE, e.g. VerifyMode=NONE");
    }
    FERRY_RETURN_IF_ERROR(Set(pair.substr(0, eq), pair.substr(eq + 1)));
  }
  return Status::Ok();
}

Status TaskOptions::Validate() const {
  if (transfer_mode == TransferMode::kAll &&
      preserve_deleted_files == DeletedFilesMode::kRemove) {
    return InvalidSyncOption("TransferMode,PreserveDeletedFiles", "ALL,REMOVE");
  }
  if (atime == AtimeMode::kBestEffort && mtime == MtimeMode::kNone) {
    return InvalidSyncOption("Atime,Mtime", "BEST_EFFORT,NONE");
  }
  if (atime == AtimeMode::kNone && mtime == MtimeMode::kPreserve) {
    return InvalidSyncOption("Atime,Mtime", "NONE,PRESERVE");
  }
  if (bytes_per_second != -1 && bytes_per_second < 1) {
    return InvalidSyncOption("BytesPerSecond",
                             std::to_string(bytes_per_second));
  }
  return Status::Ok();
}

std::vector<std::pair<std::string, std::string>> TaskOptions::ToPairs() const {
  std::vector<std::pair<std::string, std::string>> out;
  TaskOptions copy = *this;
  for (const std::string& name : TaskOptionNames()) {
    if (name == "BytesPerSecond") {
      out.emplace_back(name, std::to_string(bytes_per_second));
      continue;
    }
    for (const EnumOption& opt : EnumOptions()) {
      if (name == opt.name)
        out.emplace_back(name, opt.values[*opt.field(copy)]);
    }
  }
  return out;
}

MetadataPolicy TaskOptions::Policy() const {
  MetadataPolicy p;
  p.mode = posix_permissions == PermissionsMode::kPreserve;
  p.uid = uid != OwnerMode::kNone;
  p.gid = gid != OwnerMode::kNone;
  p.mtime = mtime == MtimeMode::kPreserve;
  p.atime = atime == AtimeMode::kBestEffort;
  return p;
}

}  // namespace ferry
