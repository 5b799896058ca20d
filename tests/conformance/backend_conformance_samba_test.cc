// The conformance suite against a real SMB server (Samba's smbd, started by
// the ctest fixture tests/support/samba.sh): the "smb" location type, a
// fresh folder of the share per test.
#include <string>
#include <vector>

#include "ferry/smb/smb_backend.h"
#include "ferry/smb/testing.h"
#include "tests/conformance/backend_conformance.h"

namespace ferry::conformance {
namespace {

std::string SambaSkipReason() {
  std::string why;
  smb_testing::ReadLiveSmb(&why);
  return why;
}

std::unique_ptr<Backend> OpenSamba() {
  std::string why;
  auto live = smb_testing::ReadLiveSmb(&why);
  if (!live) return nullptr;
  LocationSpec spec;
  spec.type = "smb";
  spec.host = live->host;
  spec.bucket = live->share;
  spec.path = FreshName();
  spec.endpoint.user = live->user;
  spec.endpoint.password = live->password;
  spec.destination = true;
  spec.create_root = true;
  auto backend = OpenSmbBackend(spec);
  if (!backend.ok()) {
    ADD_FAILURE() << backend.status().ToString();
    return nullptr;
  }
  return std::move(backend).value();
}

std::vector<BackendFactory> SambaFactories() {
  return {{"Smb3", [](std::shared_ptr<void>*) { return OpenSamba(); },
           SambaSkipReason}};
}

}  // namespace

INSTANTIATE_TEST_SUITE_P(Samba, BackendConformanceTest,
                         ::testing::ValuesIn(SambaFactories()), FactoryName);

}  // namespace ferry::conformance
