// AzureClient against a live Azurite (the ctest azurite fixture): every
// request ferry makes, with Shared Key and with SAS tokens, and the errors
// a user meets: a wrong key, a read-only token used to write, a missing
// container, a blob changed since it was listed.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "ferry/azure/azure_client.h"
#include "ferry/azure/testing.h"

namespace ferry {
namespace {

std::span<const std::byte> BlobBytes(std::string_view s) {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

class AzuriteClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    live_ = azure_testing::ReadLiveAzure(&why);
    if (!live_) {
      if (!why.empty()) GTEST_SKIP() << why;
      return;
    }
    client_ = Open(live_->key, "");
    ASSERT_NE(client_, nullptr);
    prefix_ =
        "client-" +
        std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
        "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name() +
        "/";
  }

  std::unique_ptr<AzureClient> Open(const std::string& key,
                                    const std::string& sas) {
    AzureClientOptions o;
    o.endpoint = live_->endpoint;
    o.account = live_->account;
    o.key = key;
    o.sas = sas;
    o.retry.max_attempts = 2;
    auto c = AzureClient::Create(std::move(o));
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(c).value() : nullptr;
  }

  std::string Get(const std::string& name) {
    std::string out(1 << 20, '\0');
    auto n = client_->GetBlob(live_->container, name, 0,
                              std::as_writable_bytes(std::span(out)), "");
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    out.resize(n.ok() ? *n : 0);
    return out;
  }

  std::optional<azure_testing::LiveAzure> live_;
  std::unique_ptr<AzureClient> client_;
  std::string prefix_;
};

TEST_F(AzuriteClientTest, PutGetRangeListMetadataTierDelete) {
  if (!client_) return;
  const std::string c = live_->container;
  const std::string name = prefix_ + "dir/a b%+é.txt";
  auto etag = client_->PutBlob(c, name, BlobBytes("hello, azure"),
                               {{"file_mtime", "123ns"}}, "Cool");
  ASSERT_TRUE(etag.ok()) << etag.status().ToString();
  EXPECT_FALSE(etag->empty());
  EXPECT_EQ(Get(name), "hello, azure");

  char part[5] = {};
  AzureBlobProperties p;
  auto n = client_->GetBlob(c, name, 7, std::as_writable_bytes(std::span(part)),
                            *etag, &p);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(std::string(part, *n), "azure");
  EXPECT_EQ(p.size, 12u);
  EXPECT_EQ(p.etag, *etag);
  EXPECT_EQ(p.metadata.at("file_mtime"), "123ns");
  // Past the end: nothing.
  auto past = client_->GetBlob(c, name, 12,
                               std::as_writable_bytes(std::span(part)), "");
  ASSERT_TRUE(past.ok()) << past.status().ToString();
  EXPECT_EQ(*past, 0u);

  auto props = client_->GetBlobProperties(c, name);
  ASSERT_TRUE(props.ok()) << props.status().ToString();
  EXPECT_EQ(props->size, 12u);
  EXPECT_EQ(props->access_tier, "Cool");
  EXPECT_GT(props->last_modified_ns, 0);

  auto page = client_->ListBlobs(c, {.prefix = prefix_, .delimiter = "/"});
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->prefixes, std::vector<std::string>{prefix_ + "dir/"});
  page = client_->ListBlobs(c, {.prefix = prefix_ + "dir/"});
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->blobs.size(), 1u);
  EXPECT_EQ(page->blobs[0].name, name);
  EXPECT_EQ(page->blobs[0].size, 12u);

  auto changed = client_->SetBlobMetadata(c, name, {{"k", "v"}}, *etag);
  ASSERT_TRUE(changed.ok()) << changed.status().ToString();
  EXPECT_NE(*changed, *etag);
  // The old ETag no longer matches: the blob changed since.
  auto stale = client_->GetBlob(c, name, 0,
                                std::as_writable_bytes(std::span(part)), *etag);
  EXPECT_EQ(stale.status().code(), StatusCode::kSourceChanged)
      << stale.status().ToString();
  EXPECT_EQ(client_->SetBlobMetadata(c, name, {}, *etag).status().code(),
            StatusCode::kSourceChanged);
  EXPECT_TRUE(client_->SetBlobTier(c, name, "Hot").ok());
  EXPECT_EQ(client_->GetBlobProperties(c, name)->metadata,
            (std::map<std::string, std::string>{{"k", "v"}}));

  ASSERT_TRUE(client_->DeleteBlob(c, name).ok());
  EXPECT_TRUE(client_->DeleteBlob(c, name).ok()) << "gone already: OK";
  EXPECT_TRUE(client_->GetBlobProperties(c, name).status().IsNotFound());
  EXPECT_FALSE(
      client_->PutBlob(c, name, BlobBytes("x"), {{"not-an-id", "v"}}, "").ok());
}

TEST_F(AzuriteClientTest, BlocksAreInvisibleUntilTheListIsPut) {
  if (!client_) return;
  const std::string c = live_->container;
  const std::string name = prefix_ + "big.bin";
  const std::string a(3 << 20, 'a'), b = "tail";
  ASSERT_TRUE(client_->PutBlock(c, name, "YmxvY2stMDAx", BlobBytes(a)).ok());
  ASSERT_TRUE(client_->PutBlock(c, name, "YmxvY2stMDAy", BlobBytes(b)).ok());
  EXPECT_TRUE(client_->GetBlobProperties(c, name).status().IsNotFound());
  auto etag = client_->PutBlockList(c, name, {"YmxvY2stMDAx", "YmxvY2stMDAy"},
                                    {{"n", "1"}}, "");
  ASSERT_TRUE(etag.ok()) << etag.status().ToString();
  std::string got(a.size() + b.size() + 10, '\0');
  auto n =
      client_->GetBlob(c, name, 0, std::as_writable_bytes(std::span(got)), "");
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  got.resize(*n);
  EXPECT_TRUE(got == a + b);
  EXPECT_TRUE(client_->DeleteBlob(c, name).ok());
}

TEST_F(AzuriteClientTest, ABlobRangeIsStreamedInOneGet) {
  if (!client_) return;
  const std::string c = live_->container;
  const std::string name = prefix_ + "streamed.bin";
  std::string content(3 << 20, '\0');
  for (size_t i = 0; i < content.size(); ++i) {
    content[i] = static_cast<char>((i * 13 + i / 1000) & 0xff);
  }
  auto etag = client_->PutBlob(c, name, BlobBytes(content), {}, "");
  ASSERT_TRUE(etag.ok()) << etag.status().ToString();

  // [100, size - 5), in pieces that divide nothing.
  const uint64_t from = 100, length = content.size() - 105;
  auto stream = client_->GetBlobStream(c, name, from, length, *etag);
  ASSERT_TRUE(stream.ok()) << stream.status().ToString();
  ASSERT_NE(*stream, nullptr);
  std::string got;
  std::vector<std::byte> piece(77777);
  for (;;) {
    auto n = (*stream)->Read(piece);
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    if (*n == 0) break;
    got.append(reinterpret_cast<const char*>(piece.data()), *n);
  }
  EXPECT_EQ(got.size(), length);
  EXPECT_TRUE(got == content.substr(from, length));

  // Beyond the end: nothing; from the end on: no stream, or an empty one
  // (Azurite answers 206 "bytes SIZE-(SIZE-1)/SIZE", Azure 416).
  auto tail = client_->GetBlobStream(c, name, content.size() - 3, 100, "");
  ASSERT_TRUE(tail.ok()) << tail.status().ToString();
  ASSERT_NE(*tail, nullptr);
  std::vector<std::byte> rest(100);
  auto n = (*tail)->Read(rest);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 3u);
  auto past = client_->GetBlobStream(c, name, content.size(), 10, "");
  ASSERT_TRUE(past.ok()) << past.status().ToString();
  if (*past != nullptr) {
    n = (*past)->Read(rest);
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    EXPECT_EQ(*n, 0u);
  }

  // A blob changed since its ETag was read.
  ASSERT_TRUE(client_->SetBlobMetadata(c, name, {{"k", "v"}}, *etag).ok());
  auto stale = client_->GetBlobStream(c, name, 0, 10, *etag);
  EXPECT_EQ(stale.status().code(), StatusCode::kSourceChanged)
      << stale.status().ToString();
  EXPECT_TRUE(client_->DeleteBlob(c, name).ok());
  EXPECT_TRUE(client_->GetBlobStream(c, name, 0, 10, "").status().IsNotFound());
}

TEST_F(AzuriteClientTest, RefusalsSayWhy) {
  if (!client_) return;
  const std::string c = live_->container;
  // A wrong key (the right one, changed).
  std::string wrong = live_->key;
  wrong[0] = wrong[0] == 'A' ? 'B' : 'A';
  auto bad = Open(wrong, "");
  ASSERT_NE(bad, nullptr);
  auto st = bad->ListBlobs(c, {}).status();
  EXPECT_EQ(st.code(), StatusCode::kPermissionDenied) << st.ToString();
  EXPECT_NE(st.message().find("403"), std::string_view::npos);
  EXPECT_FALSE(st.retryable());

  // A read-only SAS reads and lists but cannot write.
  ASSERT_TRUE(
      client_->PutBlob(c, prefix_ + "r.txt", BlobBytes("r"), {}, "").ok());
  auto ro = Open("", live_->sas_read_only);
  ASSERT_NE(ro, nullptr);
  EXPECT_TRUE(ro->ListBlobs(c, {.prefix = prefix_}).ok());
  st = ro->PutBlob(c, prefix_ + "w.txt", BlobBytes("w"), {}, "").status();
  EXPECT_EQ(st.code(), StatusCode::kPermissionDenied) << st.ToString();
  EXPECT_EQ(st.message().find(live_->sas_read_only), std::string_view::npos);
  auto rw = Open("", live_->sas);
  ASSERT_NE(rw, nullptr);
  EXPECT_TRUE(rw->PutBlob(c, prefix_ + "w.txt", BlobBytes("w"), {}, "").ok());
  EXPECT_TRUE(rw->DeleteBlob(c, prefix_ + "w.txt").ok());
  EXPECT_TRUE(client_->DeleteBlob(c, prefix_ + "r.txt").ok());

  // A container that does not exist: the location is wrong.
  st = client_->ListBlobs("no-such-container", {}).status();
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition) << st.ToString();
  EXPECT_NE(st.message().find("container does not exist"),
            std::string_view::npos);

  EXPECT_FALSE(AzureClient::Create(
                   {.endpoint = "ftp://x", .account = "a", .key = live_->key})
                   .ok());
  EXPECT_FALSE(AzureClient::Create({.endpoint = live_->endpoint,
                                    .account = "a",
                                    .key = live_->key,
                                    .sas = live_->sas})
                   .ok());
}

}  // namespace
}  // namespace ferry
