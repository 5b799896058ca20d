#include "ferry/scan/scanner.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "ferry/storage/decorators/fault_injecting_backend.h"
#include "ferry/storage/memory/memory_backend.h"
#include "ferry/storage/posix/posix_backend.h"
#include "ferry/storage/testing.h"

namespace ferry {
namespace {

using std::chrono_literals::operator""ms;
using testing::P;

// A listing handed out in small batches.
class VectorLister : public Lister {
 public:
  explicit VectorLister(std::vector<Entry> entries)
      : entries_(std::move(entries)) {}
  Result<bool> NextBatch(std::vector<Entry>* out) override {
    if (next_ >= entries_.size()) return false;
    for (int i = 0; i < 3 && next_ < entries_.size(); ++i) {
      out->push_back(entries_[next_++]);
    }
    return true;
  }

 private:
  std::vector<Entry> entries_;
  size_t next_ = 0;
};

// Wraps a backend to count and record listings; can shuffle them (and then
// claims unsorted listings) and can misreport the root.
class ProbeBackend : public testing::ForwardingBackend {
 public:
  explicit ProbeBackend(Backend* inner)
      : ForwardingBackend(inner), caps_(inner->capabilities()) {}

  void ShuffleListings() {
    shuffle_ = true;
    caps_.sorted_listing = false;
  }
  void set_root(std::optional<Entry> root) { root_ = std::move(root); }

  int lists() const { return lists_.load(); }
  std::vector<std::string> listed() const {
    std::lock_guard lock(mu_);
    return listed_;
  }

  const Capabilities& capabilities() const override { return caps_; }
  std::string Describe() const override { return "probe"; }
  Result<std::optional<Entry>> Stat(const RelPath& path) override {
    if (path.IsRoot() && root_) return *root_;
    return inner()->Stat(path);
  }
  Result<std::unique_ptr<Lister>> List(const RelPath& dir) override {
    {
      std::lock_guard lock(mu_);
      listed_.push_back(dir.str());
    }
    ++lists_;
    if (!shuffle_) return inner()->List(dir);
    FERRY_ASSIGN_OR_RETURN(std::unique_ptr<Lister> inner, inner()->List(dir));
    std::vector<Entry> all;
    while (true) {
      FERRY_ASSIGN_OR_RETURN(bool more, inner->NextBatch(&all));
      if (!more) break;
    }
    std::mt19937 rng(static_cast<uint32_t>(all.size()));
    std::shuffle(all.begin(), all.end(), rng);
    return std::unique_ptr<Lister>(new VectorLister(std::move(all)));
  }

 private:
  Capabilities caps_;
  bool shuffle_ = false;
  std::optional<std::optional<Entry>> root_;
  std::atomic<int> lists_{0};
  mutable std::mutex mu_;
  std::vector<std::string> listed_;
};

struct Scanned {
  std::vector<Entry> entries;
  std::vector<std::string> paths;
  Status status;
};

Scanned ScanAll(Backend* backend, ScanOptions options) {
  Scanned out;
  Scanner scanner(backend, std::move(options));
  out.status = scanner.Start();
  if (!out.status.ok()) return out;
  while (true) {
    Entry e;
    auto more = scanner.Next(&e);
    if (!more.ok()) {
      out.status = more.status();
      break;
    }
    if (!*more) break;
    out.paths.push_back(e.path.str());
    out.entries.push_back(std::move(e));
  }
  return out;
}

// Names that sort differently by byte, by component and by locale.
const std::vector<std::string> kNames = {"a",   "a-b", "a.b",   "a0", "A",
                                         "a b", "b",   "\x80x", "z~"};

// A tree `depth` folders deep; every folder holds the first `dirs` names as
// folders and all names (suffixed) as files. Returns the paths in
// ComparePaths order.
std::vector<std::string> BuildTree(MemoryStore* store, int depth, int dirs) {
  std::vector<std::string> all;
  std::function<void(const std::string&, int)> fill = [&](const std::string& at,
                                                          int level) {
    for (size_t i = 0; i < kNames.size(); ++i) {
      std::string file = (at.empty() ? "" : at + "/") + kNames[i] + ".f";
      store->PutFile(file, std::string(i + 1, 'x'));
      all.push_back(file);
    }
    if (level == depth) return;
    for (int i = 0; i < dirs; ++i) {
      std::string dir = (at.empty() ? "" : at + "/") + kNames[i];
      store->PutDirectory(dir);
      all.push_back(dir);
      fill(dir, level + 1);
    }
  };
  fill("", 0);
  std::sort(all.begin(), all.end(), PathLess());
  return all;
}

TEST(ScannerTest, EmptyRootYieldsNothing) {
  auto store = std::make_shared<MemoryStore>();
  auto backend = OpenMemoryBackend(store);
  Scanned s = ScanAll(backend.get(), {});
  ASSERT_OK(s.status);
  EXPECT_TRUE(s.paths.empty());
}

TEST(ScannerTest, RootIsReportedAfterStart) {
  auto store = std::make_shared<MemoryStore>();
  store->PutDirectory("", 0711);
  auto backend = OpenMemoryBackend(store);
  Scanner scanner(backend.get(), {});
  ASSERT_OK(scanner.Start());
  EXPECT_TRUE(scanner.root().is_dir());
  EXPECT_TRUE(scanner.root().path.IsRoot());
}

TEST(ScannerTest, YieldsEveryEntryOnceInComparePathsOrder) {
  auto store = std::make_shared<MemoryStore>();
  const std::vector<std::string> want = BuildTree(store.get(), 3, 4);
  ASSERT_GT(want.size(), 500u);
  auto memory = OpenMemoryBackend(store);
  struct Config {
    int threads;
    size_t prefetch_dirs;
    bool shuffle;
  };
  for (Config c :
       {Config{0, 64, false}, Config{1, 1, false}, Config{4, 3, false},
        Config{4, 64, true}, Config{2, 2, true}, Config{0, 1, true}}) {
    SCOPED_TRACE(::testing::Message()
                 << "threads=" << c.threads << " prefetch=" << c.prefetch_dirs
                 << " shuffled=" << c.shuffle);
    ProbeBackend probe(memory.get());
    if (c.shuffle) probe.ShuffleListings();
    ScanOptions options;
    options.threads = c.threads;
    options.prefetch_dirs = c.prefetch_dirs;
    Scanned s = ScanAll(&probe, options);
    ASSERT_OK(s.status);
    EXPECT_EQ(s.paths, want);
    // Every folder (and the root) is listed exactly once.
    std::vector<std::string> listed = probe.listed();
    std::set<std::string> unique(listed.begin(), listed.end());
    EXPECT_EQ(unique.size(), listed.size());
    EXPECT_EQ(listed.size(), 1u + 4 + 16 + 64);
  }
}

TEST(ScannerTest, UnsortedPosixListingsComeOutSorted) {
  testing::TempDir tmp;
  std::vector<std::string> want;
  for (const std::string& name : kNames) {
    std::filesystem::create_directory(tmp.Sub(name));
    std::ofstream(tmp.Sub(name + "/inner")) << "x";
    std::ofstream(tmp.Sub(name + ".f")) << "x";
    want.push_back(name);
    want.push_back(name + "/inner");
    want.push_back(name + ".f");
  }
  std::sort(want.begin(), want.end(), PathLess());
  ASSERT_OK_AND_ASSIGN(auto backend, OpenPosixBackend(tmp.path()));
  ASSERT_FALSE(backend->capabilities().sorted_listing);
  ScanOptions options;
  options.threads = 2;
  Scanned s = ScanAll(backend.get(), options);
  ASSERT_OK(s.status);
  EXPECT_EQ(s.paths, want);
}

TEST(ScannerTest, CountsWhatItSaw) {
  auto store = std::make_shared<MemoryStore>();
  store->PutFile("a", "12345");
  store->PutFile("d/b", "123");
  store->PutDirectory("d/e");
  auto backend = OpenMemoryBackend(store);
  Scanner scanner(backend.get(), {});
  ASSERT_OK(scanner.Start());
  Entry e;
  while (scanner.Next(&e).value()) {
  }
  EXPECT_EQ(scanner.counts().files.load(), 2u);
  EXPECT_EQ(scanner.counts().dirs.load(), 2u);
  EXPECT_EQ(scanner.counts().bytes.load(), 8u);
}

// Waits up to a few seconds for `pred`.
template <typename Pred>
bool Eventually(Pred pred) {
  for (int i = 0; i < 500; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

TEST(ScannerTest, ReadsAheadAtMostPrefetchDirsListings) {
  auto store = std::make_shared<MemoryStore>();
  for (int i = 0; i < 100; ++i) {
    char name[16];
    std::snprintf(name, sizeof(name), "d%03d/f", i);
    store->PutFile(name, "x");
  }
  auto memory = OpenMemoryBackend(store);
  ProbeBackend probe(memory.get());
  ScanOptions options;
  options.threads = 3;
  options.prefetch_dirs = 4;
  Scanner scanner(&probe, options);
  ASSERT_OK(scanner.Start());
  Entry e;
  ASSERT_TRUE(scanner.Next(&e).value());
  ASSERT_EQ(e.path.str(), "d000");
  // The root and d000 (the consumer's), and a full window of 4 ahead.
  EXPECT_TRUE(Eventually([&] { return probe.lists() >= 6; }))
      << probe.lists() << " listings: no read-ahead";
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(probe.lists(), 6) << "the window of 4 was exceeded";
  // Consuming folders moves the window along, one listing per folder.
  for (int consumed = 1; consumed < 10;) {
    ASSERT_TRUE(scanner.Next(&e).value());
    if (e.is_dir()) {
      ++consumed;
      EXPECT_LE(probe.lists(), 1 + consumed + 4) << e.path.Display();
    }
  }
  while (scanner.Next(&e).value()) {
  }
  EXPECT_EQ(probe.lists(), 101);
}

TEST(ScannerTest, ReadsAheadAtMostPrefetchEntries) {
  auto store = std::make_shared<MemoryStore>();
  for (int d = 0; d < 20; ++d) {
    for (int f = 0; f < 50; ++f) {
      store->PutFile("d" + std::to_string(100 + d) + "/f" + std::to_string(f),
                     "");
    }
  }
  auto memory = OpenMemoryBackend(store);
  ProbeBackend probe(memory.get());
  ScanOptions options;
  options.threads = 2;
  options.prefetch_dirs = 64;
  options.prefetch_entries = 60;
  Scanner scanner(&probe, options);
  ASSERT_OK(scanner.Start());
  Entry e;
  ASSERT_TRUE(scanner.Next(&e).value());
  EXPECT_TRUE(Eventually([&] { return probe.lists() >= 4; }));
  std::this_thread::sleep_for(50ms);
  // Listings start only while fewer than 60 entries wait: at most two
  // finished ones (100 entries) and one still running, besides the root and
  // the consumer's folder.
  EXPECT_LE(probe.lists(), 5);
  size_t n = 1;
  while (scanner.Next(&e).value()) ++n;
  EXPECT_EQ(n, 20u * 51);
}

TEST(ScannerTest, ExcludedFoldersAreNeverListed) {
  auto store = std::make_shared<MemoryStore>();
  store->PutFile("keep/a", "x");
  store->PutFile("skip/b", "x");
  store->PutFile("skip/c/d", "x");
  store->PutFile("keep/skip/e", "x");
  std::vector<FaultRule> rules = {
      {FaultOp::kList, "skip", Status::IoError("listed an excluded folder"), 1},
  };
  FaultInjectingBackend faulty(OpenMemoryBackend(store), rules);
  ProbeBackend probe(&faulty);
  auto filter = Filter::Parse("", "/skip").value();
  ScanOptions options;
  options.threads = 2;
  options.filter = &filter;
  int list_errors = 0;
  options.on_list_error = [&](const Entry&, const Status&) { ++list_errors; };
  Scanned s = ScanAll(&probe, options);
  ASSERT_OK(s.status);
  EXPECT_EQ(s.paths, (std::vector<std::string>{"keep", "keep/a", "keep/skip",
                                               "keep/skip/e"}));
  EXPECT_EQ(list_errors, 0);
  // The one-shot fault is still armed: List("skip") was never called.
  EXPECT_FALSE(faulty.Check(FaultOp::kList, P("skip")).ok());
  for (const std::string& dir : probe.listed()) {
    EXPECT_NE(dir.rfind("skip", 0), 0u) << "listed " << dir;
  }
}

// A folder whose listing fails while the location is out is listed again
// once the OutageWatch sees it back; the scan never reports it failed.
TEST(ScannerTest, AListingThatFailsWhileTheLocationIsOutIsDoneAgain) {
  auto store = std::make_shared<MemoryStore>();
  store->PutFile("a/x", "x");
  store->PutFile("b/y", "y");
  testing::ScriptedOutage outage(/*failing_probes=*/2);
  std::vector<FaultRule> rules = {
      {FaultOp::kList, "b",
       Status(StatusCode::kUnavailable, "connection reset", 0,
              /*retryable=*/true),
       -1, nullptr, outage.active()},
  };
  FaultInjectingBackend faulty(OpenMemoryBackend(store), rules);
  ScanOptions options;
  options.threads = 2;
  options.outage = outage.watch();
  int list_errors = 0;
  options.on_list_error = [&](const Entry&, const Status&) { ++list_errors; };
  Scanned s = ScanAll(&faulty, options);
  ASSERT_OK(s.status);
  EXPECT_EQ(s.paths, (std::vector<std::string>{"a", "a/x", "b", "b/y"}));
  EXPECT_EQ(list_errors, 0);
  EXPECT_EQ(outage.probes(), 3);
}

TEST(ScannerTest, FoldersOutsideTheIncludesAreNeverListed) {
  auto store = std::make_shared<MemoryStore>();
  store->PutFile("a/b/wanted", "x");
  store->PutFile("a/b/also/deeper", "x");
  store->PutFile("a/other/no", "x");
  store->PutFile("z/no", "x");
  store->PutFile("top", "x");
  auto memory = OpenMemoryBackend(store);
  ProbeBackend probe(memory.get());
  auto filter = Filter::Parse("/a/b", "").value();
  ScanOptions options;
  options.filter = &filter;
  Scanned s = ScanAll(&probe, options);
  ASSERT_OK(s.status);
  EXPECT_EQ(s.paths,
            (std::vector<std::string>{"a", "a/b", "a/b/also", "a/b/also/deeper",
                                      "a/b/wanted"}));
  std::vector<std::string> listed = probe.listed();
  std::sort(listed.begin(), listed.end());
  EXPECT_EQ(listed, (std::vector<std::string>{"", "a", "a/b", "a/b/also"}));
}

TEST(ScannerTest, AFolderThatCannotBeListedIsFlaggedAndReported) {
  auto store = std::make_shared<MemoryStore>();
  store->PutFile("a/x", "x");
  store->PutFile("bad/y", "x");
  store->PutFile("bad/sub/z", "x");
  store->PutFile("c/w", "x");
  FaultInjectingBackend faulty(
      OpenMemoryBackend(store),
      {{FaultOp::kList, "bad", Status::IoError("disk on fire")}});
  std::vector<std::pair<std::string, Status>> errors;
  ScanOptions options;
  options.threads = 2;
  options.on_list_error = [&](const Entry& dir, const Status& st) {
    errors.emplace_back(dir.path.str(), st);
  };
  Scanned s = ScanAll(&faulty, options);
  ASSERT_OK(s.status);
  EXPECT_EQ(s.paths, (std::vector<std::string>{"a", "a/x", "bad", "c", "c/w"}));
  for (const Entry& e : s.entries) {
    EXPECT_EQ(e.listing_failed(), e.path.str() == "bad") << e.path.Display();
  }
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].first, "bad");
  EXPECT_EQ(errors[0].second.code(), StatusCode::kIoError);
  EXPECT_NE(errors[0].second.message().find("disk on fire"),
            std::string_view::npos);
}

TEST(ScannerTest, ARootThatCannotBeListedIsAnError) {
  auto store = std::make_shared<MemoryStore>();
  store->PutFile("a", "x");
  FaultInjectingBackend faulty(
      OpenMemoryBackend(store),
      {{FaultOp::kList, "", Status::IoError("no listing")}});
  Scanned s = ScanAll(&faulty, {});
  EXPECT_EQ(s.status.code(), StatusCode::kIoError) << s.status.ToString();
  EXPECT_TRUE(s.paths.empty());
}

TEST(ScannerTest, StartChecksTheRoot) {
  auto store = std::make_shared<MemoryStore>();
  auto memory = OpenMemoryBackend(store);
  ProbeBackend missing(memory.get());
  missing.set_root(std::nullopt);
  EXPECT_EQ(Scanner(&missing, {}).Start().code(), StatusCode::kNotFound);

  ProbeBackend file(memory.get());
  Entry not_dir;
  not_dir.kind = EntryKind::kFile;
  file.set_root(not_dir);
  EXPECT_EQ(Scanner(&file, {}).Start().code(), StatusCode::kFailedPrecondition);

  FaultInjectingBackend faulty(
      OpenMemoryBackend(store),
      {{FaultOp::kStat, "", Status::IoError("stat failed")}});
  EXPECT_EQ(Scanner(&faulty, {}).Start().code(), StatusCode::kIoError);
}

TEST(ScannerTest, StagingIsHiddenAndReported) {
  testing::TempDir tmp;
  const std::string temp = std::string(kTempPrefix) + "123-4";
  std::filesystem::create_directory(tmp.Sub("d"));
  std::ofstream(tmp.Sub(temp)) << "partial";
  std::ofstream(tmp.Sub("d/" + temp)) << "partial";
  std::ofstream(tmp.Sub("d/real")) << "x";
  std::ofstream(tmp.Sub("not" + temp)) << "x";
  std::ofstream(tmp.Sub(std::string(kTempPrefix) + "notes")) << "x";
  // A destination's listings flag ferry's temporary files as staging: the
  // scan hides them and hands them on...
  PosixBackendOptions dst_options;
  dst_options.flag_staging = true;
  ASSERT_OK_AND_ASSIGN(auto dst, OpenPosixBackend(tmp.path(), dst_options));
  std::mutex mu;
  std::vector<std::string> staged;
  ScanOptions options;
  options.on_staging = [&](const Entry& e) {
    std::lock_guard lock(mu);
    staged.push_back(e.path.str());
  };
  Scanned s = ScanAll(dst.get(), options);
  ASSERT_OK(s.status);
  EXPECT_EQ(s.paths,
            (std::vector<std::string>{std::string(kTempPrefix) + "notes", "d",
                                      "d/real", "not" + temp}));
  std::sort(staged.begin(), staged.end());
  EXPECT_EQ(staged, (std::vector<std::string>{temp, "d/" + temp}));
  // ...a source's scan sees everything as data.
  ASSERT_OK_AND_ASSIGN(auto src, OpenPosixBackend(tmp.path()));
  Scanned all = ScanAll(src.get(), {});
  ASSERT_OK(all.status);
  EXPECT_EQ(all.paths.size(), 6u);
}

TEST(ScannerTest, SkipChildrenPassesOverAFolder) {
  auto store = std::make_shared<MemoryStore>();
  store->PutFile("a/x", "x");
  store->PutFile("a/y/z", "x");
  store->PutFile("b/w", "x");
  auto backend = OpenMemoryBackend(store);
  ScanOptions options;
  options.threads = 2;
  Scanner scanner(backend.get(), options);
  ASSERT_OK(scanner.Start());
  std::vector<std::string> got;
  Entry e;
  while (scanner.Next(&e).value()) {
    got.push_back(e.path.str());
    if (e.path.str() == "a") scanner.SkipChildren();
  }
  EXPECT_EQ(got, (std::vector<std::string>{"a", "b", "b/w"}));
}

TEST(ScannerTest, StopRequestCancelsTheScan) {
  auto store = std::make_shared<MemoryStore>();
  BuildTree(store.get(), 3, 4);
  auto backend = OpenMemoryBackend(store);
  std::stop_source stop;
  ScanOptions options;
  options.threads = 2;
  options.stop = stop.get_token();
  Scanner scanner(backend.get(), options);
  ASSERT_OK(scanner.Start());
  Entry e;
  ASSERT_TRUE(scanner.Next(&e).value());
  stop.request_stop();
  auto more = scanner.Next(&e);
  ASSERT_FALSE(more.ok());
  EXPECT_TRUE(more.status().IsCancelled()) << more.status().ToString();
}

TEST(ScannerTest, DestroyingAScannerMidWayStopsItsWorkers) {
  auto store = std::make_shared<MemoryStore>();
  BuildTree(store.get(), 3, 4);
  auto backend = OpenMemoryBackend(store);
  for (int i = 0; i < 20; ++i) {
    ScanOptions options;
    options.threads = 4;
    options.prefetch_dirs = 2;
    Scanner scanner(backend.get(), options);
    ASSERT_OK(scanner.Start());
    Entry e;
    for (int n = 0; n < i * 5; ++n) ASSERT_TRUE(scanner.Next(&e).value());
  }
}

}  // namespace
}  // namespace ferry
