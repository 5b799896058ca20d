// The conformance suite (backend_conformance.h) on the in-process backends:
// memory, posix (both path modes), and the object backend over the
// in-memory object store, at a bucket's root and beneath a key prefix (and
// listing objects with their metadata, as Azure's store does). A new
// backend is one more line in Factories().
#include "tests/conformance/backend_conformance.h"

#include <memory>
#include <vector>

#include "ferry/storage/memory/memory_backend.h"
#include "ferry/storage/object/memory_object_store.h"
#include "ferry/storage/object/object_backend.h"
#include "ferry/storage/posix/posix_backend.h"
#include "ferry/storage/testing.h"

namespace ferry::conformance {
namespace {

std::unique_ptr<Backend> OpenPosixInTempDir(std::shared_ptr<void>* keep,
                                            PosixBackendOptions options) {
  auto dir = std::make_shared<testing::TempDir>();
  *keep = dir;
  auto backend = OpenPosixBackend(dir->path(), options);
  EXPECT_TRUE(backend.ok()) << backend.status().ToString();
  return backend.ok() ? std::move(backend).value() : nullptr;
}

// Small limits, so that multipart writes and listing pages happen with
// files of a few MiB and folders of a few hundred entries.
std::unique_ptr<Backend> OpenObjects(std::shared_ptr<void>* keep,
                                     const std::string& prefix,
                                     bool list_metadata = false) {
  ObjectStoreLimits limits;
  limits.part_size_min = 64 * 1024;
  limits.max_list_keys = 100;
  limits.list_metadata = list_metadata;  // as Azure's listings can
  limits.max_list_keys_with_metadata = 30;
  auto store = std::make_shared<MemoryObjectStore>(limits);
  *keep = store;
  ObjectBackendOptions options;
  options.prefix = prefix;
  options.part_size_preferred = 0;
  auto backend = OpenObjectBackend(store, options);
  EXPECT_TRUE(backend.ok()) << backend.status().ToString();
  return backend.ok() ? std::move(backend).value() : nullptr;
}

std::vector<BackendFactory> Factories() {
  return {
      {"Memory",
       [](std::shared_ptr<void>*) {
         return OpenMemoryBackend(std::make_shared<MemoryStore>());
       }},
      {"Posix",
       [](std::shared_ptr<void>* keep) {
         return OpenPosixInTempDir(keep, PosixBackendOptions{});
       }},
      {"PosixComponentWalk",
       [](std::shared_ptr<void>* keep) {
         return OpenPosixInTempDir(keep,
                                   PosixBackendOptions{.component_walk = true});
       }},
      {"MemoryObjects",
       [](std::shared_ptr<void>* keep) { return OpenObjects(keep, ""); }},
      {"MemoryObjectsWithPrefix",
       [](std::shared_ptr<void>* keep) {
         return OpenObjects(keep, "some/prefix");
       }},
      {"MemoryObjectsListingMetadata",
       [](std::shared_ptr<void>* keep) {
         return OpenObjects(keep, "some/prefix", /*list_metadata=*/true);
       }},
  };
}

}  // namespace

INSTANTIATE_TEST_SUITE_P(Backends, BackendConformanceTest,
                         ::testing::ValuesIn(Factories()), FactoryName);

}  // namespace ferry::conformance
