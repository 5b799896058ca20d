#include "ferry/agent/report_delivery.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <span>
#include <vector>

namespace ferry::agent {
namespace {

namespace fs = std::filesystem;

std::string LastSegment(const std::string& arn) {
  size_t slash = arn.rfind('/');
  return slash == std::string::npos ? arn : arn.substr(slash + 1);
}

Result<RelPath> Join(const RelPath& dir, const std::string& name) {
  return RelPath::Parse(dir.IsRoot() ? name : dir.str() + "/" + name);
}

Status MakeParents(Backend* backend, const RelPath& path) {
  if (backend->capabilities().implied_directories) return Status::Ok();
  std::vector<RelPath> parents;
  for (RelPath p = path.Parent(); !p.IsRoot(); p = p.Parent()) {
    parents.push_back(p);
  }
  std::reverse(parents.begin(), parents.end());
  for (const RelPath& p : parents) {
    FERRY_RETURN_IF_ERROR(backend->MakeDirectory(p));
  }
  return Status::Ok();
}

}  // namespace

Result<std::string> ReadWholeFile(Backend* backend, const RelPath& path,
                                  size_t max_bytes) {
  FERRY_ASSIGN_OR_RETURN(std::unique_ptr<Reader> reader,
                         backend->OpenRead(path));
  const uint64_t size = reader->entry().size;
  if (size > max_bytes) {
    return Status::InvalidArgument(
        path.Display() + " in " + backend->Describe() + " is " +
        std::to_string(size) + " bytes, more than the " +
        std::to_string(max_bytes) + " ferry reads");
  }
  std::string out(size, '\0');
  size_t done = 0;
  while (done < size) {
    std::span<std::byte> buf(reinterpret_cast<std::byte*>(out.data()) + done,
                             size - done);
    FERRY_ASSIGN_OR_RETURN(size_t n, reader->ReadAt(done, buf));
    if (n == 0) {
      return Status(StatusCode::kSourceChanged,
                    path.Display() + " in " + backend->Describe() +
                        " shrank while it was read");
    }
    done += n;
  }
  return out;
}

Status CopyLocalFile(const std::string& local_path, Backend* backend,
                     const RelPath& path) {
  std::ifstream in(local_path, std::ios::binary);
  if (!in) return Status::IoError("cannot read " + local_path);
  std::error_code ec;
  const uint64_t size = fs::file_size(local_path, ec);
  if (ec) return Status::IoError("cannot size " + local_path);
  FERRY_RETURN_IF_ERROR(MakeParents(backend, path));
  WriteHints hints;
  hints.size = size;
  FERRY_ASSIGN_OR_RETURN(std::unique_ptr<StagedWriter> writer,
                         backend->OpenWrite(path, hints));
  // Whole parts in order from the start suit every backend.
  std::vector<char> buf(1 << 20);
  uint64_t offset = 0;
  while (offset < size) {
    const size_t want =
        static_cast<size_t>(std::min<uint64_t>(buf.size(), size - offset));
    in.read(buf.data(), static_cast<std::streamsize>(want));
    if (static_cast<size_t>(in.gcount()) != want) {
      writer->Abort();
      return Status::IoError(local_path + " shrank while it was read");
    }
    Status st = writer->WriteAt(
        offset, std::as_bytes(std::span<const char>(buf.data(), want)));
    if (!st.ok()) {
      writer->Abort();
      return st;
    }
    offset += want;
  }
  Entry meta;
  meta.path = path;
  meta.kind = EntryKind::kFile;
  meta.size = size;
  meta.mode = 0644;
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  meta.mtime.sec =
      std::chrono::duration_cast<std::chrono::seconds>(now).count();
  MetadataPolicy policy{.mode = false,
                        .uid = false,
                        .gid = false,
                        .mtime = true,
                        .atime = false,
                        .dos_attributes = false};
  return writer->Commit(meta, policy);
}

Result<size_t> DeliverReport(const std::string& report_folder,
                             const std::string& task_arn,
                             const std::string& execution_arn, Backend* backend,
                             const RelPath& prefix) {
  const std::string task_id = LastSegment(task_arn);
  const std::string exec_id = LastSegment(execution_arn);
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(report_folder, ec)) {
    if (e.is_regular_file()) files.push_back(e.path());
  }
  if (ec) {
    return Status::IoError("cannot list the report folder " + report_folder +
                           ": " + ec.message());
  }
  std::sort(files.begin(), files.end());
  size_t written = 0;
  for (const fs::path& file : files) {
    const std::string name = file.filename().string();
    const bool summary = name.find(".summary-") != std::string::npos;
    FERRY_ASSIGN_OR_RETURN(
        RelPath dest,
        Join(prefix,
             std::string(summary ? "Summary-Reports" : "Detailed-Reports") +
                 "/" + task_id + "/" + exec_id + "/" + name));
    FERRY_RETURN_IF_ERROR(CopyLocalFile(file.string(), backend, dest));
    ++written;
  }
  return written;
}

}  // namespace ferry::agent
