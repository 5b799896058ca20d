// The conformance suite against a real S3 server (Ceph radosgw, started by
// the ctest fixture tests/support/radosgw.sh): the "s3" location type, a
// fresh key prefix per test in one bucket, over HTTP. (HTTPS with the
// fixture's private CA is exercised by the S3 client's live tests and the
// end-to-end modules; running the whole suite twice would cost CI minutes
// without reaching other code.)
#include <mutex>
#include <string>
#include <vector>

#include "ferry/s3/s3_client.h"
#include "ferry/s3/s3_object_store.h"
#include "ferry/s3/testing.h"
#include "tests/conformance/backend_conformance.h"

namespace ferry::conformance {
namespace {

constexpr char kBucket[] = "ferry-conformance";

std::string RadosgwSkipReason() {
  std::string why;
  s3_testing::ReadLiveS3(&why);
  return why;
}

std::unique_ptr<Backend> OpenRadosgw(bool https) {
  std::string why;
  auto live = s3_testing::ReadLiveS3(&why);
  if (!live) return nullptr;
  LocationSpec spec;
  spec.type = "s3";
  spec.bucket = kBucket;
  spec.path = FreshName();
  spec.destination = true;
  spec.endpoint.url = https ? live->https_endpoint : live->endpoint;
  spec.endpoint.ca_file = https ? live->ca_file : "";
  spec.endpoint.region = live->region;
  spec.endpoint.access_key = live->access_key;
  spec.endpoint.secret_key = live->secret_key;
  spec.endpoint.addressing = "path";
  // The bucket, once per process (CreateBucket of our own bucket is OK).
  static std::once_flag once;
  std::call_once(once, [&] {
    S3ClientOptions options;
    options.endpoint_url = live->endpoint;
    options.region = live->region;
    options.credentials = {live->access_key, live->secret_key, ""};
    options.addressing = S3Addressing::kPath;
    auto client = S3Client::Create(options);
    if (!client.ok()) {
      ADD_FAILURE() << client.status().ToString();
      return;
    }
    Status st = (*client)->CreateBucket(kBucket);
    if (!st.ok() && st.code() != StatusCode::kAlreadyExists) {
      ADD_FAILURE() << "CreateBucket " << kBucket << ": " << st.ToString();
    }
  });
  auto backend = OpenS3Backend(spec);
  if (!backend.ok()) {
    ADD_FAILURE() << backend.status().ToString();
    return nullptr;
  }
  return std::move(backend).value();
}

std::vector<BackendFactory> RadosgwFactories() {
  return {
      {"Http", [](std::shared_ptr<void>*) { return OpenRadosgw(false); },
       RadosgwSkipReason},
  };
}

}  // namespace

INSTANTIATE_TEST_SUITE_P(Radosgw, BackendConformanceTest,
                         ::testing::ValuesIn(RadosgwFactories()), FactoryName);

}  // namespace ferry::conformance
