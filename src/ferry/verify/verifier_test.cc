#include "ferry/verify/verifier.h"

#include <gtest/gtest.h>
#include <sys/sysmacros.h>

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "ferry/base/clock.h"
#include "ferry/base/outage_watch.h"
#include "ferry/storage/decorators/fault_injecting_backend.h"
#include "ferry/storage/testing.h"

namespace ferry {
namespace {

using testing::AsBytes;
using testing::MemoryTree;
using testing::P;

class Outcomes : public VerifyObserver {
 public:
  void OnVerified(const VerifyOutcome& o) override {
    std::lock_guard lock(mu_);
    by_path[o.path.str()] = o;
    ++count[o.path.str()];
  }
  void OnBytes(uint64_t n) override {
    std::lock_guard lock(mu_);
    bytes += n;
  }
  // "path: code" for every failure, sorted by path.
  std::vector<std::string> Failures() const {
    std::vector<std::string> out;
    for (const auto& [path, o] : by_path) {
      if (!o.ok())
        out.push_back(path + ": " + std::string(VerifyFailureCode(o.failure)));
    }
    return out;
  }

  std::map<std::string, VerifyOutcome> by_path;
  std::map<std::string, int> count;
  uint64_t bytes = 0;

 private:
  std::mutex mu_;
};

using Strings = std::vector<std::string>;

VerifyOptions VerifierOptions() {
  VerifyOptions o;
  o.threads = 3;
  o.compare.atime = false;
  return o;
}

// ------------------------------------------------- DescribeMetadataMismatch

TEST(DescribeMetadataMismatchTest, NamesTheFirstDifference) {
  Entry a;
  a.kind = EntryKind::kFile;
  a.mode = 0644;
  a.uid = 1;
  a.gid = 2;
  a.size = 10;
  a.mtime = FileTime{100, 5};
  MetadataPolicy all;
  EXPECT_EQ(DescribeMetadataMismatch(a, a, all, 1), "");

  Entry b = a;
  b.kind = EntryKind::kDirectory;
  EXPECT_EQ(DescribeMetadataMismatch(a, b, all, 1),
            "type differs (file vs directory)");
  b = a;
  b.size = 11;
  EXPECT_EQ(DescribeMetadataMismatch(a, b, all, 1), "size differs");
  b = a;
  b.mode = 0600;
  EXPECT_EQ(DescribeMetadataMismatch(a, b, all, 1), "mode differs");
  b = a;
  b.uid = 9;
  EXPECT_EQ(DescribeMetadataMismatch(a, b, all, 1), "uid differs");
  b = a;
  b.gid = 9;
  EXPECT_EQ(DescribeMetadataMismatch(a, b, all, 1), "gid differs");
  b = a;
  b.mtime = FileTime{100, 6};
  EXPECT_EQ(DescribeMetadataMismatch(a, b, all, 1),
            "mtime differs (source 1970-01-01T00:01:40.000000005Z, "
            "destination 1970-01-01T00:01:40.000000006Z)");
  EXPECT_EQ(DescribeMetadataMismatch(a, b, all, 1000), "");
  // A creation time (SMB) names both too: a server that derives it from
  // the access time moves it when the file is read.
  b = a;
  a.btime = FileTime{1796544821, 630965377};
  b.btime = FileTime{1796544824, 0};
  EXPECT_EQ(DescribeMetadataMismatch(a, b, all, 1),
            "creation time differs (source 2026-12-06T08:13:41.630965377Z, "
            "destination 2026-12-06T08:13:44.000000000Z)");
  b.btime = FileTime{1796544821, 0};
  EXPECT_EQ(DescribeMetadataMismatch(a, b, all, 1), "")
      << "a creation time is set and compared to the second";
  a.btime = FileTime{};
  b = a;
  b = a;
  b.atime = FileTime{1, 1};
  b.ino = 99;
  b.ctime = FileTime{2, 2};
  EXPECT_EQ(DescribeMetadataMismatch(a, b, all, 1), "")
      << "atime, ctime and inode are not compared";
}

TEST(DescribeMetadataMismatchTest, ThePolicySelectsWhatCounts) {
  Entry a;
  a.mode = 0644;
  a.uid = 1;
  a.gid = 2;
  a.mtime = FileTime{100, 0};
  Entry b = a;
  b.mode = 0600;
  b.uid = 3;
  b.gid = 4;
  b.mtime = FileTime{200, 0};
  MetadataPolicy none{false, false, false, false, false};
  EXPECT_EQ(DescribeMetadataMismatch(a, b, none, 1), "");
  MetadataPolicy only_gid = none;
  only_gid.gid = true;
  EXPECT_EQ(DescribeMetadataMismatch(a, b, only_gid, 1), "gid differs");
  // The size is content, not metadata: always compared.
  b = a;
  b.size = 1;
  EXPECT_EQ(DescribeMetadataMismatch(a, b, none, 1), "size differs");
}

TEST(DescribeMetadataMismatchTest, KindSpecificFields) {
  Entry link;
  link.kind = EntryKind::kSymlink;
  link.link_target = "a";
  link.mode = 0777;
  Entry other = link;
  other.link_target = "b";
  MetadataPolicy all;
  EXPECT_EQ(DescribeMetadataMismatch(link, other, all, 1),
            "link target differs");
  other = link;
  other.mode = 0755;  // links have no mode of their own
  EXPECT_EQ(DescribeMetadataMismatch(link, other, all, 1), "");

  Entry dev;
  dev.kind = EntryKind::kBlockDevice;
  dev.rdev = makedev(8, 0);
  Entry dev2 = dev;
  dev2.rdev = makedev(8, 1);
  EXPECT_EQ(DescribeMetadataMismatch(dev, dev2, all, 1),
            "device number differs");

  Entry dir;
  dir.kind = EntryKind::kDirectory;
  dir.size = 4096;
  Entry dir2 = dir;
  dir2.size = 8192;
  EXPECT_EQ(DescribeMetadataMismatch(dir, dir2, all, 1), "")
      << "a folder's size is not compared";
}

TEST(VerifyFailureCodeTest, DataSyncNames) {
  EXPECT_EQ(VerifyFailureCode(VerifyFailureKind::kNone), "");
  EXPECT_EQ(VerifyFailureCode(VerifyFailureKind::kChecksum), "ChecksumDiffers");
  EXPECT_EQ(VerifyFailureCode(VerifyFailureKind::kMetadata), "MetadataDiffers");
  EXPECT_EQ(VerifyFailureCode(VerifyFailureKind::kMissingAtDestination),
            "FileNotAtDestination");
  EXPECT_EQ(VerifyFailureCode(VerifyFailureKind::kNotAtSource),
            "FileNotAtSource");
  EXPECT_EQ(VerifyFailureCode(VerifyFailureKind::kError), "VerificationError");
}

// ---------------------------------------------------------------- DigestFile

TEST(DigestFileTest, MatchesTheDigestOfTheContent) {
  MemoryTree t;
  const std::string big = testing::RandomBytes(2 * kBlockSize + 500, 1);
  t.File("empty", "").File("small", "hello").File("big", big);
  for (DigestAlgorithm algo :
       {DigestAlgorithm::kXxh3_128, DigestAlgorithm::kSha256}) {
    for (const auto& [path, content] :
         std::vector<std::pair<std::string, std::string>>{
             {"empty", ""}, {"small", "hello"}, {"big", big}}) {
      SCOPED_TRACE(path);
      Outcomes observer;
      ASSERT_OK_AND_ASSIGN(
          auto got, DigestFile(t.backend(), P(path), algo, {}, &observer));
      EXPECT_EQ(got.first, DigestOfBuffer(algo, AsBytes(content)));
      EXPECT_EQ(got.second.size, content.size());
      EXPECT_EQ(got.second.path, P(path));
      EXPECT_EQ(observer.bytes, content.size());
    }
  }
  EXPECT_TRUE(DigestFile(t.backend(), P("missing"), DigestAlgorithm::kSha256,
                         {}, nullptr)
                  .status()
                  .IsNotFound());
}

TEST(DigestFileTest, StopsWhenCancelled) {
  MemoryTree t;
  t.File("big", testing::RandomBytes(3 * kBlockSize, 2));
  std::stop_source stop;
  stop.request_stop();
  auto got = DigestFile(t.backend(), P("big"), DigestAlgorithm::kSha256,
                        stop.get_token(), nullptr);
  EXPECT_TRUE(got.status().IsCancelled()) << got.status().ToString();
}

// --------------------------------------------------------- POINT_IN_TIME

// The same tree on both sides.
void BuildBoth(MemoryTree* src, MemoryTree* dst) {
  for (MemoryTree* t : {src, dst}) {
    t->Dir("d")
        .File("d/a", "alpha")
        .File("d/empty", "")
        .Dir("d/e")
        .File("d/e/big", testing::RandomBytes(kBlockSize + 3, 3))
        .Link("l", "d/a")
        .Special("fifo", EntryKind::kFifo)
        .File("top", "top");
  }
}

TEST(VerifyPointInTimeTest, IdenticalTreesVerify) {
  MemoryTree src, dst;
  BuildBoth(&src, &dst);
  Outcomes out;
  ASSERT_OK(
      VerifyPointInTime(src.backend(), dst.backend(), VerifierOptions(), &out));
  EXPECT_EQ(out.Failures(), Strings{});
  EXPECT_EQ(out.by_path.size(), 8u);
  for (const auto& [path, n] : out.count) EXPECT_EQ(n, 1) << path;
  const VerifyOutcome& big = out.by_path.at("d/e/big");
  EXPECT_FALSE(big.src_digest.empty());
  EXPECT_EQ(big.src_digest, big.dst_digest);
  EXPECT_EQ(out.by_path.at("d").kind, EntryKind::kDirectory);
  EXPECT_EQ(out.bytes, 2 * (5 + kBlockSize + 3 + 3)) << "both sides are read";
}

TEST(VerifyPointInTimeTest, ReportsEachKindOfDifference) {
  MemoryTree src, dst;
  BuildBoth(&src, &dst);
  // Same size and times, other bytes.
  src.File("content", "aaaa");
  dst.File("content", "bbbb");
  dst.Edit("d/a", [](Entry& e) { e.mode = 0600; });
  src.File("missing", "m");
  src.Dir("missing-dir").File("missing-dir/x", "x").File("missing-dir/y", "y");
  src.Dir("type").File("type/inner", "i");
  dst.File("type", "a file");
  dst.Edit("l", [](Entry& e) { e.link_target = "elsewhere"; });
  Outcomes out;
  ASSERT_OK(
      VerifyPointInTime(src.backend(), dst.backend(), VerifierOptions(), &out));
  EXPECT_EQ(
      out.Failures(),
      (Strings{"content: ChecksumDiffers", "d/a: MetadataDiffers",
               "l: MetadataDiffers", "missing: FileNotAtDestination",
               "missing-dir: FileNotAtDestination", "type: MetadataDiffers"}));
  const VerifyOutcome& content = out.by_path.at("content");
  EXPECT_FALSE(content.src_digest.empty());
  EXPECT_FALSE(content.dst_digest.empty());
  EXPECT_FALSE(content.src_digest == content.dst_digest);
  EXPECT_EQ(out.by_path.at("d/a").detail, "mode differs");
  EXPECT_EQ(out.by_path.at("l").detail, "link target differs");
  EXPECT_NE(out.by_path.at("type").detail.find("type differs"),
            std::string::npos);
  ASSERT_TRUE(out.by_path.at("d/a").src.has_value());
  ASSERT_TRUE(out.by_path.at("d/a").dst.has_value());
  EXPECT_EQ(out.by_path.at("d/a").dst->mode, 0600u);
  // What lies beneath a missing or retyped folder is not reported again.
  EXPECT_EQ(out.by_path.count("missing-dir/x"), 0u);
  EXPECT_EQ(out.by_path.count("type/inner"), 0u);
}

// Counts what verification asks of a backend: the batched calls, and the
// single ones made outside them.
class AskCounting : public FaultInjectingBackend {
 public:
  explicit AskCounting(std::unique_ptr<Backend> inner)
      : FaultInjectingBackend(std::move(inner), {}) {}

  std::vector<Result<XattrList>> GetXattrsMany(
      std::span<const RelPath> paths) override {
    ++xattr_batches;
    Inside inside;
    return Backend::GetXattrsMany(paths);
  }
  std::vector<Result<std::pair<Digest, Entry>>> ComputeDigestMany(
      std::span<const RelPath> paths, DigestAlgorithm algorithm,
      const std::stop_token& stop,
      const std::function<void(uint64_t)>& on_bytes) override {
    ++digest_batches;
    Inside inside;
    return Backend::ComputeDigestMany(paths, algorithm, stop, on_bytes);
  }
  Result<XattrList> GetXattrs(const RelPath& path) override {
    if (depth_ == 0) ++single_calls;
    return FaultInjectingBackend::GetXattrs(path);
  }
  Result<std::pair<Digest, Entry>> ComputeDigest(
      const RelPath& path, DigestAlgorithm algorithm,
      const std::stop_token& stop,
      const std::function<void(uint64_t)>& on_bytes) override {
    if (depth_ == 0) ++single_calls;
    return Backend::ComputeDigest(path, algorithm, stop, on_bytes);
  }

  std::atomic<int> xattr_batches{0}, digest_batches{0}, single_calls{0};

 private:
  struct Inside {
    Inside() { ++depth_; }
    ~Inside() { --depth_; }
  };
  static thread_local int depth_;
};
thread_local int AskCounting::depth_ = 0;

TEST(VerifyPointInTimeTest, AsksEachSideAboutManyFilesAtOnce) {
  MemoryTree src, dst;
  for (int i = 0; i < 100; ++i) {
    const std::string name = "f" + std::to_string(100 + i);
    src.File(name, name);
    dst.File(name, name);
  }
  AskCounting counted_src(src.Open()), counted_dst(dst.Open());
  VerifyOptions options = VerifierOptions();
  options.xattrs = true;
  Outcomes out;
  ASSERT_OK(VerifyPointInTime(&counted_src, &counted_dst, options, &out));
  EXPECT_EQ(out.Failures(), Strings{});
  EXPECT_EQ(out.by_path.size(), 100u);
  for (AskCounting* b : {&counted_src, &counted_dst}) {
    EXPECT_EQ(b->single_calls.load(), 0);
    // Batches of up to 32: at least 4 for 100 files, and far fewer than
    // one per file.
    EXPECT_GE(b->xattr_batches.load(), 4);
    EXPECT_LE(b->xattr_batches.load(), 10);
    EXPECT_GE(b->digest_batches.load(), 4);
    EXPECT_LE(b->digest_batches.load(), 10);
  }
  // A difference is still found in a batch, and only there: the same
  // size and times, other bytes.
  src.File("f150x", "aaaa");
  dst.File("f150x", "bbbb");
  Outcomes again;
  ASSERT_OK(VerifyPointInTime(&counted_src, &counted_dst, options, &again));
  EXPECT_EQ(again.Failures(), Strings{"f150x: ChecksumDiffers"});
  EXPECT_EQ(again.by_path.size(), 101u);
}

TEST(VerifyPointInTimeTest, ExtraItemsCountOnlyWhenDeletesWereAsked) {
  MemoryTree src, dst;
  BuildBoth(&src, &dst);
  dst.File("extra", "x").Dir("extra-dir").File("extra-dir/x", "x");
  Outcomes kept;
  ASSERT_OK(VerifyPointInTime(src.backend(), dst.backend(), VerifierOptions(),
                              &kept));
  EXPECT_EQ(kept.Failures(), Strings{});
  EXPECT_EQ(kept.by_path.count("extra"), 0u);

  VerifyOptions remove = VerifierOptions();
  remove.remove_deleted = true;
  Outcomes removed;
  ASSERT_OK(VerifyPointInTime(src.backend(), dst.backend(), remove, &removed));
  EXPECT_EQ(removed.Failures(),
            (Strings{"extra: FileNotAtSource", "extra-dir: FileNotAtSource"}));
}

TEST(VerifyPointInTimeTest, DevicesCountOnlyWhenPreserved) {
  MemoryTree src, dst;
  src.Special("dev", EntryKind::kCharDevice, makedev(1, 3));
  src.Special("both", EntryKind::kBlockDevice, makedev(8, 0));
  dst.Special("both", EntryKind::kBlockDevice, makedev(8, 1));
  Outcomes skipped;
  ASSERT_OK(VerifyPointInTime(src.backend(), dst.backend(), VerifierOptions(),
                              &skipped));
  EXPECT_TRUE(skipped.by_path.empty());
  VerifyOptions keep = VerifierOptions();
  keep.preserve_devices = true;
  Outcomes kept;
  ASSERT_OK(VerifyPointInTime(src.backend(), dst.backend(), keep, &kept));
  EXPECT_EQ(kept.Failures(),
            (Strings{"both: MetadataDiffers", "dev: FileNotAtDestination"}));
}

TEST(VerifyPointInTimeTest, FilteredOutItemsAreNotCompared) {
  MemoryTree src, dst;
  BuildBoth(&src, &dst);
  src.File("skip/a", "source only");
  dst.File("d/e/big", "changed");
  auto filter = Filter::Parse("", "/skip|*/big").value();
  VerifyOptions o = VerifierOptions();
  o.filter = &filter;
  Outcomes out;
  ASSERT_OK(VerifyPointInTime(src.backend(), dst.backend(), o, &out));
  EXPECT_EQ(out.Failures(), Strings{});
  EXPECT_EQ(out.by_path.count("d/e/big"), 0u);
}

TEST(VerifyPointInTimeTest, SourceEntriesAreMappedBeforeComparing) {
  MemoryTree src, dst;
  src.File("f", "x");
  dst.File("f", "x");
  dst.Edit("f", [](Entry& e) { e.uid = 65534; });
  Outcomes plain;
  ASSERT_OK(VerifyPointInTime(src.backend(), dst.backend(), VerifierOptions(),
                              &plain));
  EXPECT_EQ(plain.Failures(), Strings{"f: MetadataDiffers"});
  VerifyOptions mapped = VerifierOptions();
  mapped.map_source = [](Entry* e) { e->uid = 65534; };
  Outcomes out;
  ASSERT_OK(VerifyPointInTime(src.backend(), dst.backend(), mapped, &out));
  EXPECT_EQ(out.Failures(), Strings{});
}

TEST(VerifyPointInTimeTest, AnUnreadableFileIsAVerificationError) {
  MemoryTree src, dst;
  BuildBoth(&src, &dst);
  FaultInjectingBackend faulty(
      dst.Open(), {{FaultOp::kRead, "d/a", Status::IoError("bad sector")}});
  Outcomes out;
  ASSERT_OK(VerifyPointInTime(src.backend(), &faulty, VerifierOptions(), &out));
  EXPECT_EQ(out.Failures(), Strings{"d/a: VerificationError"});
  EXPECT_NE(out.by_path.at("d/a").detail.find("bad sector"), std::string::npos);
}

TEST(VerifyPointInTimeTest, AFolderThatCannotBeListedIsNotPassedAsVerified) {
  for (bool source_side : {true, false}) {
    SCOPED_TRACE(source_side ? "source" : "destination");
    MemoryTree src, dst;
    BuildBoth(&src, &dst);
    // Different content beneath the folder: had it been listed, this fails.
    dst.File("d/e/big", "changed");
    MemoryTree& failing = source_side ? src : dst;
    FaultInjectingBackend faulty(
        failing.Open(), {{FaultOp::kList, "d", Status::IoError("no access")}});
    Backend* s = source_side ? static_cast<Backend*>(&faulty) : src.backend();
    Backend* d = source_side ? dst.backend() : static_cast<Backend*>(&faulty);
    VerifyOptions o = VerifierOptions();
    o.remove_deleted = true;
    Outcomes out;
    ASSERT_OK(VerifyPointInTime(s, d, o, &out));
    EXPECT_TRUE(out.by_path.count("d") == 0 ||
                out.by_path.at("d").failure != VerifyFailureKind::kNone)
        << "d passed as verified, but its contents were never compared";
    // Nothing beneath it is reported missing or extra: it was not seen.
    for (const auto& [path, o2] : out.by_path) {
      EXPECT_FALSE(P("d").IsAncestorOf(P(path))) << path;
    }
    EXPECT_EQ(out.by_path.at("top").failure, VerifyFailureKind::kNone);
  }
}

TEST(VerifyPointInTimeTest, ItemsLeftOutAreNotVerified) {
  MemoryTree src, dst;
  BuildBoth(&src, &dst);
  src.File("failed-file", "never arrived");
  src.Dir("failed-dir").File("failed-dir/x", "x");
  dst.File("d/a", "differs");
  VerifyOptions o = VerifierOptions();
  o.not_verified = [](const RelPath& p) {
    return p.str() == "failed-file" || p.str() == "failed-dir" ||
           p.str() == "d/a";
  };
  Outcomes out;
  ASSERT_OK(VerifyPointInTime(src.backend(), dst.backend(), o, &out));
  EXPECT_EQ(out.Failures(), Strings{});
  EXPECT_EQ(out.by_path.count("failed-dir/x"), 0u);
  EXPECT_TRUE(out.by_path.at("top").ok());
}

TEST(VerifyPointInTimeTest, CancellationStopsIt) {
  MemoryTree src, dst;
  BuildBoth(&src, &dst);
  std::stop_source stop;
  stop.request_stop();
  VerifyOptions o = VerifierOptions();
  o.stop = stop.get_token();
  Outcomes out;
  Status st = VerifyPointInTime(src.backend(), dst.backend(), o, &out);
  EXPECT_TRUE(st.IsCancelled()) << st.ToString();
}

TEST(VerifyPointInTimeTest, AMissingLocationIsAnError) {
  MemoryTree src, dst;
  FaultInjectingBackend broken(
      dst.Open(), {{FaultOp::kStat, "", Status::IoError("unreachable")}});
  Outcomes out;
  EXPECT_FALSE(
      VerifyPointInTime(src.backend(), &broken, VerifierOptions(), &out).ok());
}

// ----------------------------------------------------- ONLY_FILES_TRANSFERRED

// A journal record for what is at `path` in `tree` now, as the transfer
// would have written it.
JournalRecord AsTransferred(MemoryTree* tree, const std::string& path,
                            DigestAlgorithm algo = DigestAlgorithm::kXxh3_128) {
  JournalRecord r;
  r.applied = tree->backend()->Stat(P(path)).value().value();
  if (r.applied.is_file()) {
    r.digest = DigestOfBuffer(algo, AsBytes(*tree->Content(path)));
  }
  return r;
}

TEST(VerifyTransferredTest, ChecksWhatTheJournalLists) {
  MemoryTree dst;
  dst.Dir("d")
      .File("d/ok", "fine")
      .File("corrupt", "what is there")
      .File("meta-only", "not compared")
      .File("mode", "m")
      .File("unlisted", "not in the journal, not checked");
  Journal journal;
  ASSERT_OK(journal.Append(AsTransferred(&dst, "d")));
  ASSERT_OK(journal.Append(AsTransferred(&dst, "d/ok")));
  JournalRecord corrupt = AsTransferred(&dst, "corrupt");
  corrupt.digest =
      DigestOfBuffer(DigestAlgorithm::kXxh3_128, AsBytes("what was sent"));
  ASSERT_OK(journal.Append(corrupt));
  JournalRecord meta_only = AsTransferred(&dst, "meta-only");
  meta_only.metadata_only = true;
  meta_only.digest = Digest();
  ASSERT_OK(journal.Append(meta_only));
  JournalRecord mode = AsTransferred(&dst, "mode");
  mode.applied.mode = 0600;
  ASSERT_OK(journal.Append(mode));
  JournalRecord gone = AsTransferred(&dst, "d/ok");
  gone.applied.path = P("gone");
  ASSERT_OK(journal.Append(gone));

  Outcomes out;
  ASSERT_OK(
      VerifyTransferred(dst.backend(), &journal, VerifierOptions(), &out));
  EXPECT_EQ(out.Failures(),
            (Strings{"corrupt: ChecksumDiffers", "gone: FileNotAtDestination",
                     "mode: MetadataDiffers"}));
  EXPECT_EQ(out.by_path.size(), 6u);
  EXPECT_EQ(out.by_path.count("unlisted"), 0u);
  const VerifyOutcome& ok = out.by_path.at("d/ok");
  EXPECT_TRUE(ok.ok());
  EXPECT_EQ(ok.dst_digest,
            DigestOfBuffer(DigestAlgorithm::kXxh3_128, AsBytes("fine")));
  EXPECT_EQ(out.by_path.at("mode").detail, "mode differs");
  EXPECT_TRUE(out.by_path.at("meta-only").dst_digest.empty())
      << "the content of a metadata-only item was read";
}

TEST(VerifyTransferredTest, UsesTheConfiguredDigest) {
  MemoryTree dst;
  dst.File("f", testing::RandomBytes(kBlockSize * 2 + 1, 4));
  Journal journal;
  ASSERT_OK(journal.Append(AsTransferred(&dst, "f", DigestAlgorithm::kSha256)));
  VerifyOptions sha = VerifierOptions();
  sha.digest = DigestAlgorithm::kSha256;
  Outcomes out;
  ASSERT_OK(VerifyTransferred(dst.backend(), &journal, sha, &out));
  EXPECT_EQ(out.Failures(), Strings{});
  Outcomes mismatch;  // XXH3 of the copy never equals a SHA-256
  ASSERT_OK(
      VerifyTransferred(dst.backend(), &journal, VerifierOptions(), &mismatch));
  EXPECT_EQ(mismatch.Failures(), Strings{"f: ChecksumDiffers"});
}

TEST(VerifyTransferredTest, UnreadableDestinationFilesAreErrors) {
  MemoryTree dst;
  dst.File("f", "x");
  Journal journal;
  ASSERT_OK(journal.Append(AsTransferred(&dst, "f")));
  FaultInjectingBackend faulty(
      dst.Open(), {{FaultOp::kOpenRead, "f", Status::IoError("gone bad")}});
  Outcomes out;
  ASSERT_OK(VerifyTransferred(&faulty, &journal, VerifierOptions(), &out));
  EXPECT_EQ(out.Failures(), Strings{"f: VerificationError"});
}

// A check that fails on a retryable fault while the destination is out is
// made again once the outage watch sees it back: not a verification error.
TEST(VerifyTransferredTest, AFileCheckedDuringAnOutageIsCheckedAgainAfterIt) {
  MemoryTree dst;
  dst.File("f", "x").File("g", "y");
  Journal journal;
  ASSERT_OK(journal.Append(AsTransferred(&dst, "f")));
  ASSERT_OK(journal.Append(AsTransferred(&dst, "g")));
  testing::ScriptedOutage outage(/*failing_probes=*/2);
  const Status reset(StatusCode::kUnavailable, "connection reset", 0,
                     /*retryable=*/true);
  FaultInjectingBackend faulty(
      dst.Open(), {{FaultOp::kStat, "*", reset, -1, nullptr, outage.active()}});
  VerifyOptions options = VerifierOptions();
  options.outage = outage.watch();
  Outcomes got;
  ASSERT_OK(VerifyTransferred(&faulty, &journal, options, &got));
  EXPECT_EQ(got.Failures(), Strings{});
  EXPECT_EQ(got.by_path.size(), 2u);
  EXPECT_TRUE(got.by_path.at("f").ok());
  EXPECT_EQ(outage.probes(), 3);
  // Without the watch the same fault is an error.
  outage.set_out(true);
  Outcomes alone;
  ASSERT_OK(VerifyTransferred(&faulty, &journal, VerifierOptions(), &alone));
  EXPECT_EQ(alone.Failures(),
            (Strings{"f: VerificationError", "g: VerificationError"}));
}

TEST(VerifyTransferredTest, AnEmptyJournalChecksNothing) {
  MemoryTree dst;
  dst.File("f", "x");
  Journal journal;
  Outcomes out;
  ASSERT_OK(
      VerifyTransferred(dst.backend(), &journal, VerifierOptions(), &out));
  EXPECT_TRUE(out.by_path.empty());
}

}  // namespace
}  // namespace ferry
