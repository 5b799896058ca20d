#include "ferry/s3/s3_address.h"

#include <gtest/gtest.h>

namespace ferry {
namespace {

S3Endpoint Endpoint(const std::string& url,
                    S3Addressing addressing = S3Addressing::kAuto) {
  auto e = ParseS3Endpoint(url, "us-east-1", addressing);
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  return *e;
}

TEST(S3AddressTest, PathStyleForLocalGateways) {
  S3Endpoint e = Endpoint("http://127.0.0.1:17480");
  EXPECT_FALSE(UsesVirtualHost(e, "bucket"));
  S3Target t = BuildS3Target(e, "bucket", "dir/a b+c%d?e#f&g=h~i",
                             {{"uploadId", "x/y+z"}, {"partNumber", "3"}});
  EXPECT_EQ(t.host_header, "127.0.0.1:17480");
  EXPECT_EQ(t.path, "/bucket/dir/a%20b%2Bc%25d%3Fe%23f%26g%3Dh~i");
  EXPECT_EQ(t.query, "uploadId=x%2Fy%2Bz&partNumber=3");
  EXPECT_EQ(t.url,
            "http://127.0.0.1:17480/bucket/dir/a%20b%2Bc%25d%3Fe%23f%26g%3Dh~i"
            "?uploadId=x%2Fy%2Bz&partNumber=3");
  // Unicode is encoded byte by byte; "." and ".." segments are kept.
  EXPECT_EQ(BuildS3Target(e, "bucket", "\xE2\x82\xAC/../.").path,
            "/bucket/%E2%82%AC/../.");
  EXPECT_EQ(BuildS3Target(e, "bucket", "").path, "/bucket/");
  EXPECT_EQ(BuildS3Target(e, "bucket", "", {{"uploads", ""}}).query,
            "uploads=");
  EXPECT_EQ(BuildS3Target(Endpoint("http://[::1]:9000"), "b", "k").url,
            "http://[::1]:9000/b/k");
  EXPECT_EQ(BuildS3Target(Endpoint("https://gw.example.com/s3"), "b", "k").url,
            "https://gw.example.com/s3/b/k");
}

TEST(S3AddressTest, VirtualHostedForAws) {
  S3Endpoint aws = Endpoint("");
  EXPECT_EQ(aws.url.address.host, "s3.us-east-1.amazonaws.com");
  S3Target t = BuildS3Target(aws, "my-bucket", "k");
  EXPECT_EQ(t.url, "https://my-bucket.s3.us-east-1.amazonaws.com/k");
  EXPECT_EQ(t.host_header, "my-bucket.s3.us-east-1.amazonaws.com");
  EXPECT_EQ(t.path, "/k");
  // Not DNS-compatible, or dotted over https: path-style.
  EXPECT_FALSE(UsesVirtualHost(aws, "My_Bucket"));
  EXPECT_FALSE(UsesVirtualHost(aws, "a.b.c"));
  EXPECT_TRUE(UsesVirtualHost(Endpoint("http://s3.amazonaws.com"), "a.b.c"));
  EXPECT_FALSE(UsesVirtualHost(
      Endpoint("https://s3.amazonaws.com", S3Addressing::kPath), "bucket"));
  S3Endpoint forced =
      Endpoint("http://minio.local:9000", S3Addressing::kVirtualHosted);
  EXPECT_EQ(BuildS3Target(forced, "b1", "k").url,
            "http://b1.minio.local:9000/k");
  EXPECT_FALSE(ParseS3Endpoint("http://127.0.0.1:9000", "us-east-1",
                               S3Addressing::kVirtualHosted)
                   .ok());
  EXPECT_FALSE(
      ParseS3Endpoint("ftp://x", "us-east-1", S3Addressing::kAuto).ok());
}

TEST(S3AddressTest, Validation) {
  EXPECT_TRUE(ValidateBucketName("abc").ok());
  EXPECT_TRUE(ValidateBucketName("Legacy_Bucket.1").ok());
  EXPECT_FALSE(ValidateBucketName("ab").ok());
  EXPECT_FALSE(ValidateBucketName(std::string(64, 'a')).ok());
  EXPECT_FALSE(ValidateBucketName("-abc").ok());
  EXPECT_FALSE(ValidateBucketName("a/b").ok());
  EXPECT_TRUE(ValidateObjectKey(std::string(1024, 'k')).ok());
  EXPECT_FALSE(ValidateObjectKey(std::string(1025, 'k')).ok());
  EXPECT_FALSE(ValidateObjectKey("").ok());
  EXPECT_EQ(S3Uri("b", "k/x"), "s3://b/k/x");
  EXPECT_EQ(S3Uri("b", ""), "s3://b");
}

}  // namespace
}  // namespace ferry
