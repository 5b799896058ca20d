// MemoryBackend: a location held in memory, for engine tests that must run in
// milliseconds and for trying ferry without touching a disk ("memory:NAME").
//
// A MemoryStore is the tree itself; several backends may share one store.
// It keeps POSIX-like metadata (mode, owner, times, symlinks, FIFOs, devices)
// but no holes and no hard links. Thread-safe: one mutex guards the tree;
// file contents are immutable once committed, so readers hold a snapshot.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/storage/backend.h"

namespace ferry {

class MemoryStore {
 public:
  struct Node {
    Entry meta;  // meta.path is the key
    std::shared_ptr<const std::vector<std::byte>> data;
  };
  struct Tree {
    std::map<std::string, Node, PathLess> nodes;
    uint64_t last_ino = 1;
  };

  MemoryStore();

  // Runs `fn(Tree&)` under the store's lock and returns what it returns.
  template <typename Fn>
  auto Locked(Fn&& fn) {
    std::lock_guard lock(mu_);
    return fn(tree_);
  }

  // Test helpers: write a file or make a directory directly (parents are
  // created as needed), read a file's bytes.
  void PutFile(const std::string& path, std::string_view content,
               uint32_t mode = 0644);
  void PutDirectory(const std::string& path, uint32_t mode = 0755);
  std::optional<std::string> GetFile(const std::string& path);

 private:
  std::mutex mu_;
  Tree tree_;  // GUARDED_BY(mu_)
};

std::unique_ptr<Backend> OpenMemoryBackend(std::shared_ptr<MemoryStore> store,
                                           std::string name = "memory");

// A process-wide store per name, so that "memory:NAME" locations given to
// the command line refer to the same tree within one process.
std::shared_ptr<MemoryStore> NamedMemoryStore(const std::string& name);

}  // namespace ferry
