// The conformance suite every storage backend runs: the contract of
// storage/backend.h, checked through the interface only. What a backend can
// store is learned from capabilities(), never from which backend it is.
//
// The tests are defined once, in backend_conformance.cc (the CMake object
// library ferry_backend_conformance); a test file instantiates them for its
// backends, inside this namespace (the macro takes an unqualified name):
//
//   namespace ferry::conformance {
//   INSTANTIATE_TEST_SUITE_P(Radosgw, BackendConformanceTest,
//                            ::testing::ValuesIn(MyFactories()),
//                            FactoryName);
//   }
//
// backend_conformance_test.cc does so for the in-process backends.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "ferry/storage/backend.h"
#include "ferry/storage/testing.h"

namespace ferry::conformance {

// Opens a fresh, empty location. Whatever must outlive the backend (a
// temporary directory, a server, an object store) goes into `keep`.
struct BackendFactory {
  std::string name;
  std::function<std::unique_ptr<Backend>(std::shared_ptr<void>* keep)> open;
  // When set and it returns a reason, the test is skipped (a live server's
  // fixture not started: a test binary run by hand).
  std::function<std::string()> skip;
};

inline void PrintTo(const BackendFactory& f, std::ostream* os) {
  *os << f.name;
}

// The test name suffix: the factory's name.
inline std::string FactoryName(
    const ::testing::TestParamInfo<BackendFactory>& info) {
  return info.param.name;
}

// A name no other test of any process will pick ("t" and 16 random hex
// digits): the folder or key prefix of one test on a shared live server.
std::string FreshName();

class BackendConformanceTest : public ::testing::TestWithParam<BackendFactory> {
 protected:
  void SetUp() override;
  void TearDown() override;

  Backend* b() { return backend_.get(); }
  const Capabilities& caps() { return backend_->capabilities(); }

  // Every piece of metadata the backend can store.
  MetadataPolicy FullPolicy();
  // Metadata to give an entry: ids other than ours when we may chown.
  Entry Meta(EntryKind kind, uint32_t mode);
  bool SameTime(FileTime a, FileTime b);
  std::optional<Entry> StatOrDie(const RelPath& path);
  // A listed entry made whole: an Entry::kPartial one must agree with Stat
  // on what it tells (folder or not, size, ETag, ctime) and is replaced by
  // Stat's entry; a whole one is returned as it is.
  Entry Completed(const Entry& listed);
  // Nothing but ferry's temporary names in `dir`, besides `allowed`.
  void ExpectOnly(const RelPath& dir, std::set<std::string> allowed);
  // Exactly `want` in `dir`: no leftovers, temporary or not.
  void ExpectExactly(const RelPath& dir, std::vector<std::string> want);
  // The part size a file of `size` bytes is written in (0: any writes).
  uint64_t PartOf(uint64_t size);
  // Writes `content` in the order the transfer does: blocks of at most
  // `block` bytes, each part (or, without parts, the whole file) in order.
  Status WriteInParts(StagedWriter* w, std::string_view content, size_t block);

  std::shared_ptr<void> keep_;
  std::unique_ptr<Backend> backend_;
};

}  // namespace ferry::conformance
