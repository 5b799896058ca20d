// The conformance suite against Azurite (the ctest azurite fixture): the
// "azure" location type, a fresh prefix per test in the fixture's
// container, with Shared Key.
#include <string>
#include <vector>

#include "ferry/azure/azure_object_store.h"
#include "ferry/azure/testing.h"
#include "tests/conformance/backend_conformance.h"

namespace ferry::conformance {
namespace {

std::string AzuriteSkipReason() {
  std::string why;
  azure_testing::ReadLiveAzure(&why);
  return why;
}

std::unique_ptr<Backend> OpenAzurite() {
  std::string why;
  auto live = azure_testing::ReadLiveAzure(&why);
  if (!live) return nullptr;
  LocationSpec spec;
  spec.type = "azure";
  spec.bucket = live->container;
  spec.path = FreshName();
  spec.destination = true;
  spec.endpoint.url = live->endpoint;
  spec.endpoint.user = live->account;
  spec.endpoint.secret_key = live->key;
  auto backend = OpenAzureBackend(spec);
  if (!backend.ok()) {
    ADD_FAILURE() << backend.status().ToString();
    return nullptr;
  }
  return std::move(backend).value();
}

std::vector<BackendFactory> AzuriteFactories() {
  return {{"SharedKey", [](std::shared_ptr<void>*) { return OpenAzurite(); },
           AzuriteSkipReason}};
}

}  // namespace

INSTANTIATE_TEST_SUITE_P(Azurite, BackendConformanceTest,
                         ::testing::ValuesIn(AzuriteFactories()), FactoryName);

}  // namespace ferry::conformance
