// The conformance suite (backend_conformance.h) on link::RemoteBackend: the
// whole contract of the storage seam, through the link's operations, over
// socketpair() connections to a LinkSession serving (a) the memory backend
// and (b) a posix backend in a temporary directory. What the suite learns
// from capabilities() is the served backend's.
#include <memory>
#include <vector>

#include "ferry/link/link_testing.h"
#include "ferry/link/remote_backend.h"
#include "ferry/storage/memory/memory_backend.h"
#include "ferry/storage/posix/posix_backend.h"
#include "ferry/storage/testing.h"
#include "tests/conformance/backend_conformance.h"

namespace ferry::conformance {
namespace {

// What the remote backend needs kept alive: the served backend, its
// storage and the session serving it.
struct Served {
  std::shared_ptr<void> storage;
  std::unique_ptr<Backend> backend;
  std::unique_ptr<link::testing::LinkHarness> harness;
};

std::unique_ptr<Backend> OpenRemote(std::shared_ptr<void>* keep,
                                    std::shared_ptr<void> storage,
                                    std::unique_ptr<Backend> backend) {
  auto served = std::make_shared<Served>();
  served->storage = std::move(storage);
  served->backend = std::move(backend);
  if (served->backend == nullptr) return nullptr;
  served->harness =
      std::make_unique<link::testing::LinkHarness>(served->backend.get());
  *keep = served;
  // Three connections: requests and writers spread over them.
  auto remote = served->harness->Open(3);
  EXPECT_TRUE(remote.ok()) << remote.status().ToString();
  return remote.ok() ? std::unique_ptr<Backend>(std::move(remote).value())
                     : nullptr;
}

std::vector<BackendFactory> LinkFactories() {
  return {
      {"RemoteMemory",
       [](std::shared_ptr<void>* keep) {
         auto store = std::make_shared<MemoryStore>();
         return OpenRemote(keep, store, OpenMemoryBackend(store));
       }},
      {"RemotePosix",
       [](std::shared_ptr<void>* keep) -> std::unique_ptr<Backend> {
         auto dir = std::make_shared<testing::TempDir>();
         auto backend = OpenPosixBackend(dir->path());
         EXPECT_TRUE(backend.ok()) << backend.status().ToString();
         if (!backend.ok()) return nullptr;
         return OpenRemote(keep, dir, std::move(backend).value());
       }},
  };
}

}  // namespace

INSTANTIATE_TEST_SUITE_P(Link, BackendConformanceTest,
                         ::testing::ValuesIn(LinkFactories()), FactoryName);

}  // namespace ferry::conformance
