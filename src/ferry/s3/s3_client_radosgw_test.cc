// S3Client against a real Ceph radosgw (real SigV4 checking, real
// multipart), started by the fixture tests/support/radosgw.sh (see
// testing.h). Each test works in a bucket of its own.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <random>
#include <sstream>

#include "ferry/s3/s3_client.h"
#include "ferry/s3/testing.h"

namespace ferry {
namespace {

std::span<const std::byte> Bytes(const std::string& s) {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

std::string Text(std::span<const std::byte> b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

std::string Md5Hex(const std::string& s) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(s.data(), s.size(), digest, &size, EVP_md5(), nullptr);
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < size; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0xF];
  }
  return out;
}

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

class S3ClientRadosgwTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string skip;
    live_ = s3_testing::ReadLiveS3(&skip);
    if (!live_) {
      if (!skip.empty()) GTEST_SKIP() << skip;
      return;  // the helper has failed the test
    }
    client_ = Client({});
    // A bucket per test (names: lower case, at most 63).
    static std::atomic<int> counter{0};
    bucket_ =
        "ferry-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
    ASSERT_TRUE(client_->CreateBucket(bucket_).ok());
  }

  std::unique_ptr<S3Client> Client(S3ClientOptions o) {
    if (o.endpoint_url.empty()) o.endpoint_url = live_->endpoint;
    o.region = live_->region;
    if (o.credentials.access_key_id.empty()) {
      o.credentials = {live_->access_key, live_->secret_key, ""};
    }
    o.on_retry = [this](const S3RetryEvent&) { ++retries_; };
    o.retry.max_attempts = 3;
    auto client = S3Client::Create(std::move(o));
    EXPECT_TRUE(client.ok()) << client.status().ToString();
    return client.ok() ? std::move(*client) : nullptr;
  }

  std::optional<s3_testing::LiveS3> live_;
  std::unique_ptr<S3Client> client_;
  std::string bucket_;
  std::atomic<int> retries_{0};
};

TEST_F(S3ClientRadosgwTest, PutHeadGetRangeAndIfMatch) {
  const std::string key = "dir/sp ace+plus%pct?q\xE2\x82\xAC.txt";
  const std::string body = "0123456789abcdefghij";
  auto put = client_->PutObject(
      bucket_, key, Bytes(body),
      {.content_type = "text/plain",
       .metadata = {{"mtime", "1700000000.5"}, {"mode", "0644"}},
       .tags = {{"project", "ferry & co"}, {"a b", "c+d"}}});
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  // A single PUT's ETag is the body's MD5.
  EXPECT_EQ(put->etag, "\"" + Md5Hex(body) + "\"");
  auto head = client_->HeadObject(bucket_, key);
  ASSERT_TRUE(head.ok()) << head.status().ToString();
  EXPECT_EQ(head->size, body.size());
  EXPECT_EQ(head->etag, put->etag);
  EXPECT_EQ(head->content_type, "text/plain");
  EXPECT_EQ(head->metadata["mtime"], "1700000000.5");
  EXPECT_EQ(head->metadata["mode"], "0644");
  EXPECT_GT(head->last_modified_ns, 0);
  auto tags = client_->GetObjectTagging(bucket_, key);
  ASSERT_TRUE(tags.ok()) << tags.status().ToString();
  std::sort(tags->begin(), tags->end());
  EXPECT_EQ(*tags, (std::vector<std::pair<std::string, std::string>>{
                       {"a b", "c+d"}, {"project", "ferry & co"}}));

  std::vector<std::byte> buffer(8);
  auto got = client_->GetObject(bucket_, key, 5, buffer, head->etag);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, 8u);
  EXPECT_EQ(Text(std::span(buffer).first(8)), "56789abc");
  // The tail: fewer bytes than asked; past the end: none.
  got = client_->GetObject(bucket_, key, 15, buffer);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(Text(std::span(buffer).first(*got)), "fghij");
  got = client_->GetObject(bucket_, key, 20, buffer);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, 0u);
  // The object changed since it was listed.
  got = client_->GetObject(bucket_, key, 0, buffer, "\"0000\"");
  EXPECT_EQ(got.status().code(), StatusCode::kSourceChanged)
      << got.status().ToString();
  EXPECT_NE(got.status().message().find("412"), std::string::npos);

  auto missing = client_->HeadObject(bucket_, "nope");
  EXPECT_TRUE(missing.status().IsNotFound()) << missing.status().ToString();
  EXPECT_TRUE(client_->DeleteObject(bucket_, key).ok());
  EXPECT_TRUE(client_->HeadObject(bucket_, key).status().IsNotFound());
  EXPECT_TRUE(client_->DeleteObject(bucket_, key).ok());  // idempotent
  EXPECT_EQ(retries_, 0);
}

TEST_F(S3ClientRadosgwTest, MultipartRoundTripAndAbort) {
  const std::string key = "big/object.bin";
  const size_t part = kS3MinPartSize;
  const std::string data = RandomBytes(2 * part + 12345, 7);
  auto id =
      client_->CreateMultipartUpload(bucket_, key,
                                     {.content_type = "application/x-ferry",
                                      .metadata = {{"origin", "multipart"}}});
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  std::vector<S3CompletedPart> parts;
  for (int n = 1; n <= 3; ++n) {
    size_t start = static_cast<size_t>(n - 1) * part;
    size_t size = std::min(part, data.size() - start);
    auto etag = client_->UploadPart(bucket_, key, *id, n,
                                    Bytes(data).subspan(start, size));
    ASSERT_TRUE(etag.ok()) << etag.status().ToString();
    parts.push_back({n, *etag});
  }
  auto uploads = client_->ListMultipartUploads(bucket_, {.prefix = "big/"});
  ASSERT_TRUE(uploads.ok()) << uploads.status().ToString();
  ASSERT_EQ(uploads->uploads.size(), 1u);
  EXPECT_EQ(uploads->uploads[0].key, key);
  EXPECT_EQ(uploads->uploads[0].upload_id, *id);
  EXPECT_GT(uploads->uploads[0].initiated_ns, 0);

  auto done = client_->CompleteMultipartUpload(bucket_, key, *id, parts);
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_TRUE(done->etag.ends_with("-3\"")) << done->etag;
  auto head = client_->HeadObject(bucket_, key);
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->size, data.size());
  EXPECT_EQ(head->etag, done->etag);
  EXPECT_EQ(head->metadata["origin"], "multipart");
  EXPECT_EQ(head->content_type, "application/x-ferry");
  std::vector<std::byte> back(data.size());
  auto got = client_->GetObject(bucket_, key, 0, back, head->etag);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, data.size());
  EXPECT_TRUE(Text(back) == data);

  // An aborted upload leaves nothing behind.
  auto other = client_->CreateMultipartUpload(bucket_, "big/aborted");
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE(
      client_->UploadPart(bucket_, "big/aborted", *other, 1, Bytes("tail"))
          .ok());
  ASSERT_TRUE(
      client_->AbortMultipartUpload(bucket_, "big/aborted", *other).ok());
  uploads = client_->ListMultipartUploads(bucket_, {});
  ASSERT_TRUE(uploads.ok());
  EXPECT_TRUE(uploads->uploads.empty());
  EXPECT_TRUE(
      client_->HeadObject(bucket_, "big/aborted").status().IsNotFound());
  EXPECT_TRUE(client_->AbortMultipartUpload(bucket_, "big/aborted", *other)
                  .IsNotFound());
  // A part under the minimum size, not the last: refused at completion.
  auto small = client_->CreateMultipartUpload(bucket_, "big/small");
  ASSERT_TRUE(small.ok());
  auto e1 = client_->UploadPart(bucket_, "big/small", *small, 1, Bytes("a"));
  auto e2 = client_->UploadPart(bucket_, "big/small", *small, 2, Bytes("b"));
  ASSERT_TRUE(e1.ok() && e2.ok());
  Status st = client_
                  ->CompleteMultipartUpload(bucket_, "big/small", *small,
                                            {{1, *e1}, {2, *e2}})
                  .status();
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
  EXPECT_NE(st.message().find("EntityTooSmall"), std::string::npos);
  EXPECT_TRUE(client_->AbortMultipartUpload(bucket_, "big/small", *small).ok());
}

TEST_F(S3ClientRadosgwTest, ListWithContinuationAndDelimiter) {
  const std::vector<std::string> keys = {"a/1", "a/2", "b c/3", "d+e", "f"};
  for (const std::string& key : keys) {
    ASSERT_TRUE(client_->PutObject(bucket_, key, Bytes(key)).ok());
  }
  std::vector<std::string> seen;
  S3ListObjectsRequest request{.max_keys = 2};
  int pages = 0;
  while (true) {
    auto page = client_->ListObjectsV2(bucket_, request);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    ++pages;
    EXPECT_LE(page->objects.size(), 2u);
    for (const auto& o : page->objects) {
      seen.push_back(o.key);
      EXPECT_EQ(o.size, o.key.size());
      EXPECT_EQ(o.etag.front(), '"');
      EXPECT_GT(o.last_modified_ns, 0);
    }
    if (!page->is_truncated) break;
    request.continuation_token = page->next_continuation_token;
    ASSERT_LT(pages, 10);
  }
  EXPECT_EQ(seen, keys);
  EXPECT_EQ(pages, 3);

  auto page = client_->ListObjectsV2(bucket_, {.delimiter = "/"});
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->common_prefixes, (std::vector<std::string>{"a/", "b c/"}));
  ASSERT_EQ(page->objects.size(), 2u);
  EXPECT_EQ(page->objects[0].key, "d+e");
  page = client_->ListObjectsV2(bucket_, {.prefix = "b c/"});
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->objects.size(), 1u);
  EXPECT_EQ(page->objects[0].key, "b c/3");
  page = client_->ListObjectsV2(bucket_, {.start_after = "d+e"});
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->objects.size(), 1u);
  EXPECT_EQ(page->objects[0].key, "f");
}

TEST_F(S3ClientRadosgwTest, CopyOntoItselfReplacesMetadataAndDeleteBatch) {
  ASSERT_TRUE(
      client_
          ->PutObject(bucket_, "k", Bytes("payload"),
                      {.metadata = {{"mtime", "1"}}, .tags = {{"t", "1"}}})
          .ok());
  auto copy = client_->CopyObject(bucket_, "k", "k",
                                  {.content_type = "text/x-new",
                                   .metadata = {{"mtime", "2"}, {"uid", "7"}}});
  ASSERT_TRUE(copy.ok()) << copy.status().ToString();
  auto head = client_->HeadObject(bucket_, "k");
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->metadata,
            (std::map<std::string, std::string>{{"mtime", "2"}, {"uid", "7"}}));
  EXPECT_EQ(head->content_type, "text/x-new");
  EXPECT_EQ(head->size, 7u);
  // Onto another key, tags replaced. (radosgw 16 drops a copy's tags
  // whatever the directive: they are put again.)
  ASSERT_TRUE(client_
                  ->CopyObject(bucket_, "k", "k copy",
                               {.metadata = {{"a", "b"}},
                                .tags = {{"n", "2"}, {"m", "3"}}},
                               /*replace_tags=*/true)
                  .ok());
  head = client_->HeadObject(bucket_, "k copy");
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->metadata, (std::map<std::string, std::string>{{"a", "b"}}));
  ASSERT_TRUE(
      client_->PutObjectTagging(bucket_, "k copy", {{"n", "2"}, {"m", "3"}})
          .ok());
  auto tags = client_->GetObjectTagging(bucket_, "k copy");
  ASSERT_TRUE(tags.ok()) << tags.status().ToString();
  EXPECT_EQ(tags->size(), 2u);
  ASSERT_TRUE(client_->PutObjectTagging(bucket_, "k copy", {}).ok());
  tags = client_->GetObjectTagging(bucket_, "k copy");
  ASSERT_TRUE(tags.ok()) << tags.status().ToString();
  EXPECT_TRUE(tags->empty());

  std::vector<std::string> keys = {"k", "k copy"};
  for (int i = 0; i < 20; ++i) {
    keys.push_back("batch/" + std::to_string(i));
    ASSERT_TRUE(client_->PutObject(bucket_, keys.back(), Bytes("x")).ok());
  }
  keys.push_back("never-existed");
  auto errors = client_->DeleteObjects(bucket_, keys);
  ASSERT_TRUE(errors.ok()) << errors.status().ToString();
  EXPECT_TRUE(errors->empty());
  auto page = client_->ListObjectsV2(bucket_, {});
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page->objects.empty());
}

TEST_F(S3ClientRadosgwTest, WrongSecretAndMissingBucket) {
  auto wrong = Client({.credentials = {live_->access_key, "wrong", ""}});
  Status st = wrong->PutObject(bucket_, "k", Bytes("x")).status();
  EXPECT_EQ(st.code(), StatusCode::kPermissionDenied);
  EXPECT_FALSE(st.retryable());
  EXPECT_NE(st.message().find("PUT s3://" + bucket_ + "/k at " +
                              live_->endpoint + ": 403 SignatureDoesNotMatch"),
            std::string::npos)
      << st.ToString();
  EXPECT_EQ(retries_, 0);

  st = client_->HeadObject("ferry-no-such-bucket", "k").status();
  // HEAD has no body: radosgw's 404 cannot say which is missing.
  EXPECT_TRUE(st.IsNotFound()) << st.ToString();
  st = client_->ListObjectsV2("ferry-no-such-bucket", {}).status();
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition) << st.ToString();
  EXPECT_NE(st.message().find("404 NoSuchBucket"), std::string::npos);
  EXPECT_NE(st.message().find("the bucket does not exist"), std::string::npos);
  st = client_->HeadBucket("ferry-no-such-bucket");
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition) << st.ToString();
  EXPECT_NE(st.message().find("404 NotFound (the bucket does not exist)"),
            std::string::npos)
      << st.ToString();
  EXPECT_TRUE(client_->HeadBucket(bucket_).ok());
  // us-east-1: creating a bucket one already owns is OK (as on AWS).
  EXPECT_TRUE(client_->CreateBucket(bucket_).ok());
}

TEST_F(S3ClientRadosgwTest, HttpsWithThePrivateCa) {
  ASSERT_FALSE(live_->https_endpoint.empty());
  ASSERT_FALSE(live_->ca_file.empty());
  auto by_file = Client(
      {.endpoint_url = live_->https_endpoint, .ca_file = live_->ca_file});
  ASSERT_TRUE(by_file->PutObject(bucket_, "tls", Bytes("secure")).ok());
  std::ifstream in(live_->ca_file);
  std::stringstream pem;
  pem << in.rdbuf();
  auto by_pem =
      Client({.endpoint_url = live_->https_endpoint, .ca_pem = pem.str()});
  std::vector<std::byte> buffer(6);
  auto got = by_pem->GetObject(bucket_, "tls", 0, buffer);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(Text(buffer), "secure");

  auto untrusted = Client({.endpoint_url = live_->https_endpoint});
  Status st = untrusted->HeadObject(bucket_, "tls").status();
  EXPECT_EQ(st.code(), StatusCode::kPermissionDenied) << st.ToString();
  EXPECT_NE(st.message().find("certificate did not verify"), std::string::npos);
  EXPECT_EQ(retries_, 0);
}

}  // namespace
}  // namespace ferry
