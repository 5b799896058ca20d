#include "ferry/storage/object/object_backend.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "ferry/storage/object/memory_object_store.h"
#include "ferry/storage/object/object_metadata.h"
#include "ferry/storage/registry.h"
#include "ferry/storage/testing.h"

namespace ferry {
namespace {

using testing::AsBytes;
using testing::ListDir;
using testing::ListNames;
using testing::P;
using testing::RandomBytes;
using testing::ReadFile;
using testing::WriteFile;

class ObjectBackendTest : public ::testing::Test {
 protected:
  void Open(const std::string& prefix = "", ObjectStoreLimits limits = {}) {
    limits.part_size_min = 64 * 1024;
    if (limits.max_list_keys == 1000) limits.max_list_keys = 7;
    store_ = std::make_shared<MemoryObjectStore>(limits);
    ObjectBackendOptions options;
    options.prefix = prefix;
    options.part_size_preferred = 0;
    auto b = OpenObjectBackend(store_, options);
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    backend_ = std::move(b).value();
  }
  void SetUp() override { Open(); }

  Backend* b() { return backend_.get(); }

  std::shared_ptr<MemoryObjectStore> store_;
  std::unique_ptr<Backend> backend_;
};

TEST_F(ObjectBackendTest, KeysLieBeneathThePrefix) {
  Open("some/prefix");
  ASSERT_OK(b()->MakeDirectory(P("d")));
  ASSERT_OK(WriteFile(b(), P("d/f"), "x"));
  Entry link;
  link.kind = EntryKind::kSymlink;
  link.link_target = "../t";
  ASSERT_OK(b()->CreateSymlink(P("l"), link, MetadataPolicy{}));
  EXPECT_EQ(store_->Keys(),
            (std::vector<std::string>{"some/prefix/d/", "some/prefix/d/f",
                                      "some/prefix/l"}));
  // Keys beside the prefix are not the location's.
  store_->PutRaw("some/prefixed", "no");
  store_->PutRaw("some/other", "no");
  EXPECT_EQ(ListNames(b(), RelPath()).value(),
            (std::vector<std::string>{"d", "l"}));
  EXPECT_NE(b()->Describe().find("some/prefix"), std::string::npos);
  EXPECT_FALSE(OpenObjectBackend(store_, {.prefix = "a/../b"}).ok());
  EXPECT_FALSE(OpenObjectBackend(store_, {.prefix = "/a"}).ok());
  EXPECT_FALSE(OpenObjectBackend(store_, {.prefix = "a//b"}).ok());
}

TEST_F(ObjectBackendTest, MetadataRoundTripsThroughUserMetadata) {
  Entry meta;
  meta.mode = 0640;
  meta.uid = 1001;
  meta.gid = 1002;
  meta.mtime = FileTime{1600000000, 123456789};
  meta.atime = FileTime{1500000000, 1};
  meta.digest = DigestOfBuffer(DigestAlgorithm::kXxh3_128, AsBytes("data"));
  ASSERT_OK(WriteFile(b(), P("f"), "data", meta, MetadataPolicy{}));
  ASSERT_OK_AND_ASSIGN(ObjectHead head, store_->HeadObject("f"));
  EXPECT_EQ(head.metadata.at("file-permissions"), "0100640");
  EXPECT_EQ(head.metadata.at("file-owner"), "1001");
  EXPECT_EQ(head.metadata.at("file-group"), "1002");
  EXPECT_EQ(head.metadata.at("file-mtime"), "1600000000123456789ns");
  EXPECT_EQ(head.metadata.at("file-atime"), "1500000000000000001ns");
  EXPECT_EQ(head.metadata.at("ferry-digest"), "XXH3-128:" + meta.digest.Hex());
  ASSERT_OK_AND_ASSIGN(auto st, b()->Stat(P("f")));
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->mode, 0640u);
  EXPECT_EQ(st->uid, 1001u);
  EXPECT_EQ(st->mtime, meta.mtime);
  EXPECT_EQ(st->digest, meta.digest);
  EXPECT_EQ(st->etag, head.etag);
}

TEST_F(ObjectBackendTest, ObjectsOfOtherToolsReadAsPlainFiles) {
  store_->SetTime(FileTime{1700000000, 0});
  store_->PutRaw("plain.txt", "hello", {{"content-type", "text/plain"}});
  store_->PutRaw("dir/inner", "x");
  store_->PutRaw("gateway", "y",
                 {{"file-permissions", "0100600"},
                  {"file-owner", "7"},
                  {"file-mtime", "1573154574000"}});  // milliseconds
  ASSERT_OK_AND_ASSIGN(std::vector<Entry> all, ListDir(b(), RelPath()));
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].path, P("dir"));
  EXPECT_TRUE(all[0].is_dir());
  // A listing tells no metadata (Entry::kPartial); Stat does.
  for (const Entry& e : all) EXPECT_TRUE(e.partial()) << e.path.Display();
  EXPECT_EQ(all[2].size, 5u);
  EXPECT_EQ(all[2].ctime, (FileTime{1700000000, 0}));
  ASSERT_OK_AND_ASSIGN(std::optional<Entry> gateway, b()->Stat(P("gateway")));
  ASSERT_TRUE(gateway.has_value());
  EXPECT_FALSE(gateway->partial());
  EXPECT_EQ(gateway->mode, 0600u);
  EXPECT_EQ(gateway->uid, 7u);
  EXPECT_EQ(gateway->mtime, (FileTime{1573154574, 0}));
  ASSERT_OK_AND_ASSIGN(std::optional<Entry> plain, b()->Stat(P("plain.txt")));
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ(plain->mode, 0644u);
  EXPECT_EQ(plain->uid, 0u);
  EXPECT_EQ(plain->mtime, (FileTime{1700000000, 0}));
  EXPECT_EQ(plain->size, 5u);
  // A reader has the metadata from its first read.
  ASSERT_OK_AND_ASSIGN(auto r, b()->OpenRead(P("gateway")));
  EXPECT_EQ(r->entry().mode, 0600u);
  EXPECT_EQ(r->entry().uid, 7u);
  EXPECT_TRUE(r->consistent());
}

TEST_F(ObjectBackendTest, HostileKeysFailTheListingClearly) {
  for (const char* key : {"d//x", "d/../x", "d/./x"}) {
    SCOPED_TRACE(key);
    Open();
    store_->PutRaw("d/ok", "fine");
    store_->PutRaw(key, "evil");
    auto listed = ListDir(b(), P("d"));
    ASSERT_FALSE(listed.ok());
    EXPECT_EQ(listed.status().code(), StatusCode::kDataLoss);
    EXPECT_NE(listed.status().message().find("key"), std::string::npos)
        << listed.status().ToString();
  }
  // The parent still lists: "d" is a folder.
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> top, ListNames(b(), RelPath()));
  EXPECT_EQ(top, std::vector<std::string>{"d"});
}

TEST_F(ObjectBackendTest, ANameThatIsBothObjectAndFolderFailsTheListing) {
  store_->PutRaw("a", "object");
  store_->PutRaw("a-b", "between");
  store_->PutRaw("a.c", "between");
  store_->PutRaw("a/inner", "folder");
  auto listed = ListDir(b(), RelPath());
  ASSERT_FALSE(listed.ok());
  EXPECT_NE(listed.status().message().find("both"), std::string::npos)
      << listed.status().ToString();
  // Names that merely share a beginning are fine, across pages too.
  Open();
  for (const char* key :
       {"a", "a!", "a-", "a-1/x", "a.", "a.txt", "a0/y", "b"}) {
    store_->PutRaw(key, "x");
  }
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> names,
                       ListNames(b(), RelPath()));
  EXPECT_EQ(names.size(), 8u);
}

TEST_F(ObjectBackendTest, ListingsSpanManyPages) {
  // 7 keys a page: 150 files, 40 folders (some with markers), and the
  // folder's own marker.
  ASSERT_OK(b()->MakeDirectory(P("big")));
  for (int i = 0; i < 150; ++i) {
    store_->PutRaw("big/f" + std::to_string(i), std::to_string(i));
  }
  for (int i = 0; i < 40; ++i) {
    store_->PutRaw("big/d" + std::to_string(i) + "/x", "");
    if (i % 3 == 0)
      ASSERT_OK(b()->MakeDirectory(P("big/d" + std::to_string(i))));
  }
  const int64_t lists = store_->lists();
  ASSERT_OK_AND_ASSIGN(auto lister, b()->List(P("big")));
  std::vector<Entry> all;
  int batches = 0;
  while (true) {
    ASSERT_OK_AND_ASSIGN(bool more, lister->NextBatch(&all));
    if (!more) break;
    ++batches;
  }
  EXPECT_EQ(all.size(), 190u);
  EXPECT_GT(batches, 20) << "the listing was not streamed page by page";
  EXPECT_GE(store_->lists() - lists, 27);
  std::set<std::string> names;
  for (const Entry& e : all) names.insert(e.path.str());
  EXPECT_EQ(names.size(), 190u);
}

TEST_F(ObjectBackendTest, LargeFilesGoInPartsAndCommitReplacesMetadata) {
  const std::string content = RandomBytes(3 * kBlockSize + 77, 1);
  WriteHints hints;
  hints.size = content.size();
  hints.mode = 0600;
  ASSERT_OK_AND_ASSIGN(auto w, b()->OpenWrite(P("big"), hints));
  ASSERT_OK(
      w->WriteAt(0, AsBytes(std::string_view(content).substr(0, kBlockSize))));
  // One part (1 MiB) is complete: the upload exists, nothing is visible.
  ASSERT_EQ(store_->Uploads().size(), 1u);
  EXPECT_TRUE(store_->Keys().empty());
  for (uint64_t off = kBlockSize; off < content.size(); off += kBlockSize) {
    ASSERT_OK(w->WriteAt(
        off, AsBytes(std::string_view(content).substr(off, kBlockSize))));
  }
  Entry meta;
  meta.size = content.size();
  meta.mode = 0600;
  meta.mtime = FileTime{1234567890, 5};
  meta.digest = DigestOfBuffer(DigestAlgorithm::kXxh3_128, AsBytes(content));
  ASSERT_OK(w->Commit(meta, MetadataPolicy{}));
  EXPECT_TRUE(store_->Uploads().empty());
  ASSERT_OK_AND_ASSIGN(auto st, b()->Stat(P("big")));
  EXPECT_EQ(st->mtime, meta.mtime);
  EXPECT_EQ(st->digest, meta.digest);
  EXPECT_TRUE(ReadFile(b(), P("big")).value() == content);
}

TEST_F(ObjectBackendTest, WritesOutOfPartOrderAreRefused) {
  WriteHints hints;
  hints.size = 3 * kBlockSize;
  ASSERT_OK_AND_ASSIGN(auto w, b()->OpenWrite(P("f"), hints));
  const std::string block = RandomBytes(kBlockSize / 2, 2);
  Status gap = w->WriteAt(kBlockSize + 10, AsBytes(block));
  EXPECT_EQ(gap.code(), StatusCode::kFailedPrecondition) << gap.ToString();
  EXPECT_FALSE(w->WriteAt(3 * kBlockSize - 1, AsBytes("xy")).ok())
      << "a write past the announced size";
  // A retried write of what is buffered is fine.
  ASSERT_OK(w->WriteAt(0, AsBytes(block)));
  ASSERT_OK(w->WriteAt(0, AsBytes(block)));
  ASSERT_OK(w->WriteAt(100, AsBytes(std::string_view(block).substr(100, 50))));
  w->Abort();
  EXPECT_TRUE(store_->Uploads().empty());
}

TEST_F(ObjectBackendTest, AbortAndDestructionRemoveTheUpload) {
  for (bool abort : {true, false}) {
    WriteHints hints;
    hints.size = 2 * kBlockSize + 1;
    ASSERT_OK_AND_ASSIGN(auto w, b()->OpenWrite(P("f"), hints));
    ASSERT_OK(w->WriteAt(0, AsBytes(RandomBytes(kBlockSize, 3))));
    ASSERT_EQ(store_->Uploads().size(), 1u);
    if (abort) {
      w->Abort();
      EXPECT_TRUE(store_->Uploads().empty());
      Entry meta;
      meta.size = hints.size;
      EXPECT_FALSE(w->Commit(meta, MetadataPolicy{}).ok());
    }
    w.reset();
    EXPECT_TRUE(store_->Uploads().empty());
    EXPECT_TRUE(store_->Keys().empty());
  }
}

TEST_F(ObjectBackendTest, CleanupStagingAbortsUploadsByAge) {
  Open("p");
  store_->SetTime(FileTime{1000000, 0});
  PutObjectRequest r;
  r.key = "p/old";
  ASSERT_OK_AND_ASSIGN(std::string old_id, store_->CreateMultipartUpload(r));
  r.key = "elsewhere/old";
  ASSERT_OK(store_->CreateMultipartUpload(r).status());
  store_->SetTime(FileTime{1000000 + 3600 * 30, 0});
  r.key = "p/young";
  ASSERT_OK(store_->CreateMultipartUpload(r).status());
  // Ours, and alive: never removed, however old.
  store_->SetTime(FileTime{1000000, 0});
  WriteHints hints;
  hints.size = 2 * kBlockSize + 1;
  ASSERT_OK_AND_ASSIGN(auto w, b()->OpenWrite(P("live"), hints));
  ASSERT_OK(w->WriteAt(0, AsBytes(RandomBytes(kBlockSize, 4))));
  ASSERT_EQ(store_->Uploads().size(), 4u);

  std::vector<std::string> removed;
  StagingCleanup cleanup;
  cleanup.now = std::chrono::system_clock::time_point(
      std::chrono::seconds(1000000 + 3600 * 30 + 60));
  cleanup.max_age = std::chrono::hours(24);
  cleanup.on_removed = [&](const RelPath& path, const std::string& what) {
    removed.push_back(path.str() + " " + what);
  };
  ASSERT_OK(b()->CleanupStaging(cleanup));
  ASSERT_EQ(removed.size(), 1u);
  EXPECT_EQ(removed[0].substr(0, 4), "old ");
  EXPECT_NE(removed[0].find("multipart upload"), std::string::npos);
  std::vector<std::string> left;
  for (const MultipartUpload& u : store_->Uploads()) left.push_back(u.key);
  std::sort(left.begin(), left.end());
  EXPECT_EQ(left,
            (std::vector<std::string>{"elsewhere/old", "p/live", "p/young"}));
  w->Abort();
}

TEST_F(ObjectBackendTest, SetMetadataCopiesFilesOntoThemselves) {
  Entry meta;
  meta.mode = 0644;
  meta.digest = DigestOfBuffer(DigestAlgorithm::kXxh3_128, AsBytes("x"));
  ASSERT_OK(WriteFile(b(), P("f"), "x", meta, MetadataPolicy{}));
  store_->PutRaw("f2", "y", {{"foreign", "kept"}});
  meta.mode = 0600;
  ASSERT_OK(b()->SetMetadata(P("f"), meta, MetadataPolicy{}));
  ASSERT_OK(b()->SetMetadata(P("f"), meta, MetadataPolicy{}));  // no change
  ASSERT_OK(b()->SetMetadata(P("f2"), meta, MetadataPolicy{}));
  ASSERT_OK_AND_ASSIGN(ObjectHead f, store_->HeadObject("f"));
  EXPECT_EQ(f.metadata.at("file-permissions"), "0100600");
  EXPECT_EQ(f.metadata.count("ferry-digest"), 1u);
  ASSERT_OK_AND_ASSIGN(ObjectHead f2, store_->HeadObject("f2"));
  EXPECT_EQ(f2.metadata.at("foreign"), "kept");
  EXPECT_EQ(ReadFile(b(), P("f2")).value(), "y");
  // Metadata that would not fit are refused, not truncated.
  ObjectMetadata huge = {{"big", std::string(2040, 'x')}};
  store_->PutRaw("f3", "z", huge);
  EXPECT_EQ(b()->SetMetadata(P("f3"), meta, MetadataPolicy{}).code(),
            StatusCode::kInvalidArgument);
}

TEST_F(ObjectBackendTest, ObjectsBeyondOneCopyAreCopiedInParts) {
  ObjectStoreLimits limits;
  limits.max_copy_size = kBlockSize;
  Open("", limits);
  const std::string content = RandomBytes(2 * kBlockSize + 3, 5);
  ASSERT_OK(WriteFile(b(), P("f"), content));
  Entry meta;
  meta.mtime = FileTime{1111111111, 0};
  ASSERT_OK(b()->SetMetadata(P("f"), meta,
                             MetadataPolicy{false, false, false, true, false}));
  EXPECT_EQ(b()->Stat(P("f")).value()->mtime, meta.mtime);
  EXPECT_TRUE(ReadFile(b(), P("f")).value() == content);
  EXPECT_TRUE(store_->Uploads().empty());
}

// A memory store that counts its streams, and can fail a stream's Nth Read
// as a dropped connection would.
class StreamCountingStore : public MemoryObjectStore {
 public:
  using MemoryObjectStore::MemoryObjectStore;

  Result<std::unique_ptr<ObjectStream>> OpenStream(
      const std::string& key, uint64_t offset, uint64_t length,
      const std::string& if_match) override {
    FERRY_ASSIGN_OR_RETURN(
        std::unique_ptr<ObjectStream> inner,
        MemoryObjectStore::OpenStream(key, offset, length, if_match));
    return std::unique_ptr<ObjectStream>(
        std::make_unique<Counted>(this, std::move(inner)));
  }

  std::atomic<int> reads{0};
  std::atomic<int> fail_read{-1};  // the read (from 0) that fails

 private:
  class Counted : public ObjectStream {
   public:
    Counted(StreamCountingStore* store, std::unique_ptr<ObjectStream> inner)
        : store_(store), inner_(std::move(inner)) {}
    Result<size_t> Read(std::span<std::byte> out) override {
      if (store_->reads++ == store_->fail_read) {
        return Status(StatusCode::kUnavailable, "connection reset", 0, true);
      }
      return inner_->Read(out);
    }

   private:
    StreamCountingStore* store_;
    std::unique_ptr<ObjectStream> inner_;
  };
};

class ObjectStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ObjectStoreLimits limits;
    limits.part_size_min = 64 * 1024;
    store_ = std::make_shared<StreamCountingStore>(limits);
    ObjectBackendOptions options;
    options.read_stream_size = 2 << 20;
    auto b = OpenObjectBackend(store_, options);
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    backend_ = std::move(b).value();
    EXPECT_EQ(backend_->capabilities().read_stream_size, 2u << 20);
    content_ = RandomBytes((5 << 20) + 77, 11);
    store_->PutRaw("f", content_);
  }

  std::unique_ptr<Reader> OpenF() {
    auto reader = backend_->OpenRead(P("f"));
    EXPECT_TRUE(reader.ok()) << reader.status().ToString();
    return reader.ok() ? std::move(reader).value() : nullptr;
  }

  // Reads [offset, offset + n) through `reader`, in one ReadAt.
  Result<std::string> Read(Reader& reader, uint64_t offset, size_t n) {
    std::string out(n, '\0');
    FERRY_ASSIGN_OR_RETURN(
        size_t got,
        reader.ReadAt(offset, std::as_writable_bytes(std::span(out))));
    out.resize(got);
    return out;
  }

  std::shared_ptr<StreamCountingStore> store_;
  std::unique_ptr<Backend> backend_;
  std::string content_;
};

TEST_F(ObjectStreamTest, AnAnnouncedRangeIsOneStreamWhateverTheReads) {
  std::unique_ptr<Reader> reader = OpenF();
  ASSERT_NE(reader, nullptr);
  Reader& r = *reader;
  // Two ranges read in turns, as two workers would; the first begins
  // inside the bytes that came with the object's metadata.
  const uint64_t split = (2 << 20) + 3;
  r.WillRead(0, split);
  r.WillRead(split, content_.size() - split);
  uint64_t a = 0, b = split;
  constexpr size_t kPiece = 300 * 1024;
  while (a < split || b < content_.size()) {
    if (a < split) {
      const size_t n = std::min<uint64_t>(kPiece, split - a);
      auto got = Read(r, a, n);
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      ASSERT_TRUE(*got == content_.substr(a, n)) << "at " << a;
      a += n;
    }
    if (b < content_.size()) {
      const size_t n = std::min<uint64_t>(kPiece, content_.size() - b);
      auto got = Read(r, b, n);
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      ASSERT_TRUE(*got == content_.substr(b, n)) << "at " << b;
      b += n;
    }
  }
  EXPECT_EQ(store_->streams(), 2);
  // Outside any announced range: a ranged GET, no stream.
  auto again = Read(r, 5, 1000);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(*again == content_.substr(5, 1000));
  auto tail = Read(r, content_.size() - 10, 100);
  ASSERT_TRUE(tail.ok());
  EXPECT_TRUE(*tail == content_.substr(content_.size() - 10));
  EXPECT_EQ(store_->streams(), 2);
}

TEST_F(ObjectStreamTest, AReadBackOverStreamedBytesIsARangedGetOfItsOwn) {
  std::unique_ptr<Reader> reader = OpenF();
  ASSERT_NE(reader, nullptr);
  Reader& r = *reader;
  r.WillRead(0, content_.size());
  const uint64_t mid = 3 << 20;
  auto first = Read(r, 1 << 20, mid - (1 << 20));
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  // Back 16 KiB, as the delta's literal reads go: no second stream.
  auto back = Read(r, mid - 16384, 16384);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(*back == content_.substr(mid - 16384, 16384));
  auto on = Read(r, mid, content_.size() - mid);
  ASSERT_TRUE(on.ok()) << on.status().ToString();
  EXPECT_TRUE(*on == content_.substr(mid));
  EXPECT_EQ(store_->streams(), 1);
}

TEST_F(ObjectStreamTest, AFailedStreamIsOpenedAgainWhereTheReaderIs) {
  std::unique_ptr<Reader> reader = OpenF();
  ASSERT_NE(reader, nullptr);
  Reader& r = *reader;
  r.WillRead(0, content_.size());
  store_->fail_read = 3;
  std::string got;
  int failures = 0;
  while (got.size() < content_.size()) {
    auto piece = Read(r, got.size(), 1 << 20);
    if (!piece.ok()) {
      EXPECT_TRUE(piece.status().retryable()) << piece.status().ToString();
      ++failures;
      continue;  // the caller tries again from where it is
    }
    ASSERT_FALSE(piece->empty());
    got += *piece;
  }
  EXPECT_EQ(failures, 1);
  EXPECT_TRUE(got == content_);
  EXPECT_EQ(store_->streams(), 2);
}

TEST_F(ObjectStreamTest, AnObjectReplacedWhileStreamedIsSourceChanged) {
  std::unique_ptr<Reader> reader = OpenF();
  ASSERT_NE(reader, nullptr);
  Reader& r = *reader;
  r.WillRead(0, content_.size());
  store_->PutRaw("f", RandomBytes(content_.size(), 12));
  auto piece = Read(r, 1 << 20, 1 << 20);
  ASSERT_FALSE(piece.ok());
  EXPECT_EQ(piece.status().code(), StatusCode::kSourceChanged)
      << piece.status().ToString();
}

TEST_F(ObjectBackendTest, RemoveTreeDeletesInBatches) {
  ObjectStoreLimits limits;
  limits.max_delete_keys = 5;
  Open("", limits);
  for (int i = 0; i < 23; ++i) {
    store_->PutRaw("t/" + std::to_string(i % 4) + "/k" + std::to_string(i), "");
  }
  store_->PutRaw("t", "a file of the same name");
  store_->PutRaw("t0", "kept");
  ASSERT_OK(b()->RemoveTree(P("t")));
  EXPECT_EQ(store_->Keys(), std::vector<std::string>{"t0"});
  EXPECT_FALSE(b()->RemoveTree(RelPath()).ok());
}

TEST_F(ObjectBackendTest, LinkObjectsAreBounded) {
  store_->PutRaw("l", std::string(5000, 'x'),
                 {{"file-permissions", "0120777"}});
  auto st = b()->Stat(P("l"));
  EXPECT_FALSE(st.ok());
  Entry link;
  link.kind = EntryKind::kSymlink;
  link.link_target = std::string(5000, 'y');
  EXPECT_FALSE(b()->CreateSymlink(P("m"), link, MetadataPolicy{}).ok());
}

TEST_F(ObjectBackendTest, MemoryObjectsLocations) {
  RegisterBuiltinBackends();
  ASSERT_OK_AND_ASSIGN(LocationSpec spec,
                       ParseLocationUri("memory-objects:bucket-x/some/prefix"));
  EXPECT_EQ(spec.type, "memory-objects");
  EXPECT_EQ(spec.bucket, "bucket-x");
  EXPECT_EQ(spec.path, "some/prefix");
  EXPECT_EQ(spec.Describe(), "memory-objects:bucket-x/some/prefix");
  ASSERT_OK_AND_ASSIGN(auto one, OpenBackend(spec));
  ASSERT_OK(WriteFile(one.get(), P("f"), "shared"));
  ASSERT_OK_AND_ASSIGN(auto two, OpenBackend(spec));
  EXPECT_EQ(ReadFile(two.get(), P("f")).value(), "shared");
  EXPECT_EQ(NamedMemoryObjectStore("bucket-x")->Keys(),
            std::vector<std::string>{"some/prefix/f"});
  EXPECT_FALSE(ParseLocationUri("memory-objects:").ok());
  EXPECT_FALSE(ParseLocationUri("memory-objects:b/../x").ok());
}

TEST(MemoryObjectStoreTest, FollowsS3Rules) {
  ObjectStoreLimits limits;
  limits.part_size_min = 10;
  limits.max_list_keys = 2;
  MemoryObjectStore store(limits);
  store.PutRaw("a/1", "x");
  store.PutRaw("a/2", "x");
  store.PutRaw("a.txt", "x");
  store.PutRaw("a0", "x");
  store.PutRaw("b", "x");
  // Delimited listing in byte order: "a.txt" < "a/" < "a0".
  std::vector<std::string> seen;
  ListObjectsRequest r;
  r.delimiter = "/";
  do {
    ASSERT_OK_AND_ASSIGN(ListObjectsPage page, store.ListObjects(r));
    EXPECT_LE(page.objects.size() + page.common_prefixes.size(), 2u);
    size_t i = 0, j = 0;
    while (i < page.objects.size() || j < page.common_prefixes.size()) {
      if (j == page.common_prefixes.size() ||
          (i < page.objects.size() &&
           page.objects[i].key < page.common_prefixes[j])) {
        seen.push_back(page.objects[i++].key);
      } else {
        seen.push_back(page.common_prefixes[j++]);
      }
    }
    r.continuation_token = page.next_continuation_token;
  } while (!r.continuation_token.empty());
  EXPECT_EQ(seen, (std::vector<std::string>{"a.txt", "a/", "a0", "b"}));
  // If-Match.
  ASSERT_OK_AND_ASSIGN(ObjectHead head, store.HeadObject("b"));
  std::byte buf[1];
  EXPECT_OK(store.GetObjectRange("b", 0, buf, head.etag));
  EXPECT_EQ(store.GetObjectRange("b", 0, buf, "other").status().code(),
            StatusCode::kSourceChanged);
  // A copy onto itself must change something.
  EXPECT_FALSE(store.ReplaceMetadata("b", {}, "", "").ok());
  EXPECT_OK(store.ReplaceMetadata("b", {{"k", "v"}}, "", head.etag));
  // Small parts but the last are refused at Complete.
  PutObjectRequest put;
  put.key = "m";
  ASSERT_OK_AND_ASSIGN(std::string id, store.CreateMultipartUpload(put));
  ASSERT_OK_AND_ASSIGN(std::string e1,
                       store.UploadPart("m", id, 1, AsBytes("short")));
  ASSERT_OK_AND_ASSIGN(std::string e2,
                       store.UploadPart("m", id, 2, AsBytes("last")));
  EXPECT_FALSE(store.CompleteMultipartUpload("m", id, {{1, e1}, {2, e2}}).ok());
  ASSERT_OK_AND_ASSIGN(e1,
                       store.UploadPart("m", id, 1, AsBytes("long enough")));
  ASSERT_OK_AND_ASSIGN(std::string etag, store.CompleteMultipartUpload(
                                             "m", id, {{1, e1}, {2, e2}}));
  EXPECT_NE(etag.find("-2"), std::string::npos);
  EXPECT_TRUE(store.Uploads().empty());
  EXPECT_FALSE(store.AbortMultipartUpload("m", id).ok());
  // Metadata beyond 2 KB are refused.
  put.metadata = {{"x", std::string(2048, 'v')}};
  EXPECT_FALSE(store.PutObject(put).ok());
}

}  // namespace
}  // namespace ferry
