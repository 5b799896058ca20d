// The counters of one execution, named as DescribeTaskExecution names them.
// Files* count everything that is not a folder (files, links, special
// files); Folders* count folders, as DataSync's Enhanced mode does. Updated
// with relaxed atomics from every stage; read at any time for progress.
#pragma once

#include <atomic>
#include <cstdint>

namespace ferry {

// X(member, "JsonName"). Nested JSON members use "Parent.Child".
#define FERRY_EXECUTION_COUNTERS(X)                              \
  X(estimated_files_to_transfer, "EstimatedFilesToTransfer")     \
  X(estimated_bytes_to_transfer, "EstimatedBytesToTransfer")     \
  X(estimated_files_to_delete, "EstimatedFilesToDelete")         \
  X(estimated_folders_to_transfer, "EstimatedFoldersToTransfer") \
  X(estimated_folders_to_delete, "EstimatedFoldersToDelete")     \
  X(files_transferred, "FilesTransferred")                       \
  X(bytes_written, "BytesWritten")                               \
  X(bytes_transferred, "BytesTransferred")                       \
  X(bytes_compressed, "BytesCompressed")                         \
  X(files_deleted, "FilesDeleted")                               \
  X(files_skipped, "FilesSkipped")                               \
  X(files_verified, "FilesVerified")                             \
  X(files_prepared, "FilesPrepared")                             \
  X(files_listed_at_source, "FilesListed.AtSource")              \
  X(files_listed_at_destination_for_delete,                      \
    "FilesListed.AtDestinationForDelete")                        \
  X(files_failed_prepare, "FilesFailed.Prepare")                 \
  X(files_failed_transfer, "FilesFailed.Transfer")               \
  X(files_failed_verify, "FilesFailed.Verify")                   \
  X(files_failed_delete, "FilesFailed.Delete")                   \
  X(folders_skipped, "FoldersSkipped")                           \
  X(folders_prepared, "FoldersPrepared")                         \
  X(folders_transferred, "FoldersTransferred")                   \
  X(folders_verified, "FoldersVerified")                         \
  X(folders_deleted, "FoldersDeleted")                           \
  X(folders_listed_at_source, "FoldersListed.AtSource")          \
  X(folders_listed_at_destination_for_delete,                    \
    "FoldersListed.AtDestinationForDelete")                      \
  X(folders_failed_list, "FoldersFailed.List")                   \
  X(folders_failed_prepare, "FoldersFailed.Prepare")             \
  X(folders_failed_transfer, "FoldersFailed.Transfer")           \
  X(folders_failed_verify, "FoldersFailed.Verify")               \
  X(folders_failed_delete, "FoldersFailed.Delete")

struct CounterSnapshot {
#define FERRY_DECLARE_(name, json) uint64_t name = 0;
  FERRY_EXECUTION_COUNTERS(FERRY_DECLARE_)
#undef FERRY_DECLARE_

  uint64_t failures() const {
    return files_failed_prepare + files_failed_transfer + files_failed_verify +
           files_failed_delete + folders_failed_list + folders_failed_prepare +
           folders_failed_transfer + folders_failed_verify +
           folders_failed_delete;
  }
};

struct ExecutionCounters {
#define FERRY_DECLARE_(name, json) std::atomic<uint64_t> name{0};
  FERRY_EXECUTION_COUNTERS(FERRY_DECLARE_)
#undef FERRY_DECLARE_
  // What a link to another agent sent beyond (or, compressed, short of) the
  // bytes as read: BytesCompressed is bytes_compressed plus this, as
  // DataSync counts bytes on the network after compression. Signed, and
  // applied at Snapshot, since a chunk may be sent before it is counted.
  std::atomic<int64_t> bytes_on_wire_adjustment{0};

  CounterSnapshot Snapshot() const {
    CounterSnapshot s;
#define FERRY_COPY_(name, json) s.name = name.load(std::memory_order_relaxed);
    FERRY_EXECUTION_COUNTERS(FERRY_COPY_)
#undef FERRY_COPY_
    const int64_t adjust =
        bytes_on_wire_adjustment.load(std::memory_order_relaxed);
    if (adjust < 0 && static_cast<uint64_t>(-adjust) > s.bytes_compressed) {
      s.bytes_compressed = 0;
    } else {
      s.bytes_compressed += static_cast<uint64_t>(adjust);
    }
    return s;
  }
};

inline void Bump(std::atomic<uint64_t>& counter, uint64_t n = 1) {
  counter.fetch_add(n, std::memory_order_relaxed);
}

}  // namespace ferry
