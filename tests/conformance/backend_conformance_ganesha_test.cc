// The conformance suite against a real NFS server (NFS-Ganesha, started in
// a network namespace by the ctest fixture tests/support/nfs.sh, which this
// process enters): the "nfs" location type over NFSv3, a fresh folder of
// the export per test.
#include <string>
#include <vector>

#include "ferry/nfs/nfs_backend.h"
#include "ferry/nfs/testing.h"
#include "tests/conformance/backend_conformance.h"

namespace ferry::conformance {
namespace {

std::string GaneshaSkipReason() {
  std::string why;
  nfs_testing::ReadLiveNfs(&why);
  return why;
}

std::unique_ptr<Backend> OpenGanesha() {
  std::string why;
  auto live = nfs_testing::ReadLiveNfs(&why);
  if (!live) return nullptr;
  LocationSpec spec;
  spec.type = "nfs";
  spec.host = live->host;
  spec.path = live->export_path.substr(1) + "/" + FreshName();
  spec.destination = true;
  spec.create_root = true;
  auto backend = OpenNfsBackend(spec);
  if (!backend.ok()) {
    ADD_FAILURE() << backend.status().ToString();
    return nullptr;
  }
  return std::move(backend).value();
}

std::vector<BackendFactory> GaneshaFactories() {
  return {{"Nfs3", [](std::shared_ptr<void>*) { return OpenGanesha(); },
           GaneshaSkipReason}};
}

}  // namespace

INSTANTIATE_TEST_SUITE_P(Ganesha, BackendConformanceTest,
                         ::testing::ValuesIn(GaneshaFactories()), FactoryName);

}  // namespace ferry::conformance
