#include "ferry/execution/task_report.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "ferry/base/clock.h"

namespace ferry {
namespace {

std::string TypeName(EntryKind kind) {
  switch (kind) {
    case EntryKind::kFile:
      return "Regular";
    case EntryKind::kDirectory:
      return "Directory";
    case EntryKind::kSymlink:
      return "SymbolicLink";
    case EntryKind::kBlockDevice:
      return "BlockDevice";
    case EntryKind::kCharDevice:
      return "CharacterDevice";
    case EntryKind::kFifo:
      return "Fifo";
    case EntryKind::kSocket:
      return "Socket";
  }
  return "Unknown";
}

Status MakeDir(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) == 0 || errno == EEXIST) {
    struct stat st;
    if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
      return Status::Ok();
    return Status::InvalidArgument("task report folder '" + path +
                                   "' is not a directory");
  }
  return Status(StatusCode::kInvalidArgument,
                "cannot create task report folder '" + path +
                    "': " + std::strerror(errno),
                errno);
}

}  // namespace

nlohmann::json ReportMetadata(const Entry& e) {
  char mode[16];
  std::snprintf(mode, sizeof(mode), "%04o", e.mode);
  nlohmann::json m = {{"Type", TypeName(e.kind)},
                      {"ContentSize", e.size},
                      {"Mtime", FormatIso8601(e.mtime.Nanos())},
                      {"Atime", FormatIso8601(e.atime.Nanos())},
                      {"Uid", e.uid},
                      {"Gid", e.gid},
                      {"Mode", mode}};
  if (e.kind == EntryKind::kSymlink)
    m["LinkTarget"] = EscapeForDisplay(e.link_target);
  return m;
}

// One category's records, streamed into numbered files of bounded size.
class TaskReport::List {
 public:
  List(std::string prefix, std::string key, std::string arn,
       size_t max_file_bytes)
      : prefix_(std::move(prefix)),
        key_(std::move(key)),
        arn_(std::move(arn)),
        max_file_bytes_(max_file_bytes) {}
  ~List() { (void)Close(); }

  Status Add(const nlohmann::json& record) {
    std::string text =
        record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    std::lock_guard lock(mu_);
    if (file_ && written_ + text.size() + 4 > max_file_bytes_) {
      FERRY_RETURN_IF_ERROR(CloseLocked());
    }
    if (!file_) FERRY_RETURN_IF_ERROR(OpenLocked());
    if (count_in_file_ > 0) {
      std::fputs(",\n", file_);
      written_ += 2;
    }
    std::fwrite(text.data(), 1, text.size(), file_);
    written_ += text.size();
    ++count_in_file_;
    return Status::Ok();
  }

  Status Close() {
    std::lock_guard lock(mu_);
    return CloseLocked();
  }

 private:
  Status OpenLocked() {
    char suffix[32];
    std::snprintf(suffix, sizeof(suffix), "-%05d.json", ++index_);
    std::string path = prefix_ + suffix;
    file_ = std::fopen(path.c_str(), "w");
    if (!file_) {
      return Status(
          StatusCode::kIoError,
          "cannot write task report '" + path + "': " + std::strerror(errno),
          errno);
    }
    std::string head = "{\"TaskExecutionArn\": " + nlohmann::json(arn_).dump() +
                       ", \"" + key_ + "\": [\n";
    std::fputs(head.c_str(), file_);
    written_ = head.size();
    count_in_file_ = 0;
    return Status::Ok();
  }

  Status CloseLocked() {
    if (!file_) return Status::Ok();
    std::fputs("\n]}\n", file_);
    bool failed = std::ferror(file_) != 0;
    failed |= std::fclose(file_) != 0;
    file_ = nullptr;
    if (failed) return Status::IoError("cannot write task report " + prefix_);
    return Status::Ok();
  }

  const std::string prefix_;
  const std::string key_;
  const std::string arn_;
  const size_t max_file_bytes_;
  std::mutex mu_;
  std::FILE* file_ = nullptr;  // GUARDED_BY(mu_)
  int index_ = 0;
  size_t written_ = 0;
  size_t count_in_file_ = 0;
};

TaskReport::TaskReport(TaskReportConfig config, std::string arn,
                       std::string folder, std::string id)
    : config_(std::move(config)),
      arn_(std::move(arn)),
      folder_(std::move(folder)),
      id_(std::move(id)) {
  std::string base = folder_ + "/" + id_;
  const size_t max = config_.max_file_bytes;
  transferred_ = std::make_unique<List>(base + ".files-transferred-v1",
                                        "Transferred", arn_, max);
  verified_ = std::make_unique<List>(base + ".files-verified-v1", "Verified",
                                     arn_, max);
  skipped_ =
      std::make_unique<List>(base + ".files-skipped-v1", "Skipped", arn_, max);
  deleted_ =
      std::make_unique<List>(base + ".files-deleted-v1", "Deleted", arn_, max);
}

TaskReport::~TaskReport() = default;

Result<std::unique_ptr<TaskReport>> TaskReport::Open(
    const TaskReportConfig& config, const std::string& execution_arn) {
  std::string dir = config.directory;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  if (dir.empty()) return Status::InvalidArgument("empty task report folder");
  FERRY_RETURN_IF_ERROR(MakeDir(dir));
  std::string id = execution_arn.substr(execution_arn.rfind('/') + 1);
  std::string folder = dir + "/" + id;
  FERRY_RETURN_IF_ERROR(MakeDir(folder));
  return std::unique_ptr<TaskReport>(
      new TaskReport(config, execution_arn, folder, id));
}

void TaskReport::Add(List* list, nlohmann::json record, bool failed) {
  if (config_.output_type == ReportOutputType::kSummaryOnly) return;
  if (!failed && config_.level == ReportLevel::kErrorsOnly) return;
  (void)list->Add(record);
}

void TaskReport::Transferred(nlohmann::json record, bool failed) {
  Add(transferred_.get(), std::move(record), failed);
}
void TaskReport::Verified(nlohmann::json record, bool failed) {
  Add(verified_.get(), std::move(record), failed);
}
void TaskReport::Skipped(nlohmann::json record, bool failed) {
  Add(skipped_.get(), std::move(record), failed);
}
void TaskReport::Deleted(nlohmann::json record, bool failed) {
  Add(deleted_.get(), std::move(record), failed);
}

Result<std::string> TaskReport::Finish(nlohmann::json summary) {
  for (List* l :
       {transferred_.get(), verified_.get(), skipped_.get(), deleted_.get()}) {
    FERRY_RETURN_IF_ERROR(l->Close());
  }
  std::string path = folder_ + "/" + id_ + ".summary-v1.json";
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (!f) {
    return Status(
        StatusCode::kIoError,
        "cannot write task report '" + path + "': " + std::strerror(errno),
        errno);
  }
  std::string text =
      summary.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
  std::fwrite(text.data(), 1, text.size(), f);
  std::fputc('\n', f);
  bool failed = std::ferror(f) != 0;
  failed |= std::fclose(f) != 0;
  if (failed) return Status::IoError("cannot write task report '" + path + "'");
  return folder_;
}

}  // namespace ferry
