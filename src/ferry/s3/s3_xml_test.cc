#include "ferry/s3/s3_xml.h"

#include <gtest/gtest.h>

#include <string>

#include "ferry/s3/s3_error.h"

namespace ferry {
namespace {

std::string List(const std::string& body, const std::string& top = "") {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult "
         "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>b</Name>" +
         top + body + "</ListBucketResult>";
}

std::string Contents(const std::string& key, const std::string& size = "5") {
  return "<Contents><Key>" + key +
         "</Key><LastModified>2009-10-12T17:50:30.000Z</LastModified>"
         "<ETag>&quot;abc&quot;</ETag><Size>" +
         size + "</Size><StorageClass>STANDARD</StorageClass></Contents>";
}

TEST(S3XmlTest, ListObjectsV2) {
  auto page = ParseListObjectsV2(
      List(Contents("a+b%2Bc%25d%E2%82%AC") + Contents("plain", "15728640") +
               "<CommonPrefixes><Prefix>dir%2F</Prefix></CommonPrefixes>",
           "<EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>"
           "<NextContinuationToken>tok/+=</NextContinuationToken>"
           "<MaxKeys>1000</MaxKeys>"));
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->objects.size(), 2u);
  EXPECT_EQ(page->objects[0].key, "a b+c%d\xE2\x82\xAC");
  EXPECT_EQ(page->objects[0].etag, "\"abc\"");
  EXPECT_EQ(page->objects[0].size, 5u);
  EXPECT_EQ(page->objects[0].last_modified_ns, 1255369830000000000);
  EXPECT_EQ(page->objects[0].storage_class, "STANDARD");
  EXPECT_EQ(page->objects[1].size, 15728640u);
  EXPECT_EQ(page->common_prefixes, std::vector<std::string>{"dir/"});
  EXPECT_TRUE(page->is_truncated);
  EXPECT_EQ(page->next_continuation_token, "tok/+=");

  // Without EncodingType, keys are taken as they are.
  page = ParseListObjectsV2(List(Contents("a+b%2B")));
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->objects[0].key, "a+b%2B");
  EXPECT_FALSE(page->is_truncated);
}

TEST(S3XmlTest, ListObjectsV2RefusesHostileDocuments) {
  auto error = [](const std::string& xml) {
    auto page = ParseListObjectsV2(xml);
    return page.ok() ? std::string("ok") : page.status().ToString();
  };
  EXPECT_NE(error("not xml").find("malformed ListObjectsV2 response: not XML"),
            std::string::npos);
  EXPECT_NE(error("<Error/>").find("root element is <Error>"),
            std::string::npos);
  EXPECT_NE(error(List(Contents(std::string(1025, 'k')))).find("key longer"),
            std::string::npos);
  // A url-encoded key is measured once decoded.
  std::string encoded;
  for (int i = 0; i < 1024; ++i) encoded += "%41";
  EXPECT_EQ(error(List(Contents(encoded), "<EncodingType>url</EncodingType>")),
            "ok");
  EXPECT_NE(error(List(Contents("%4"), "<EncodingType>url</EncodingType>"))
                .find("bad %-escape"),
            std::string::npos);
  EXPECT_NE(error(List(Contents(""))).find("empty <Key>"), std::string::npos);
  EXPECT_NE(error(List(Contents("k", "-1"))).find("<Size> is not a number"),
            std::string::npos);
  EXPECT_NE(error(List(Contents("k", "99999999999999999999999"))).find("Size"),
            std::string::npos);
  EXPECT_NE(error(List(Contents("k", "18446744073709551615"))).find("exceeds"),
            std::string::npos);
  EXPECT_NE(
      error(List("", "<MaxKeys>99999999999999</MaxKeys>")).find("MaxKeys"),
      std::string::npos);
  EXPECT_NE(error(List("", "<IsTruncated>true</IsTruncated>"))
                .find("without a NextContinuationToken"),
            std::string::npos);
  EXPECT_NE(error(List("", "<IsTruncated>maybe</IsTruncated>")).find("neither"),
            std::string::npos);
  std::string many;
  for (int i = 0; i <= 1000; ++i) many += Contents("k" + std::to_string(i));
  EXPECT_NE(error(List(many)).find("more than 1000 entries"),
            std::string::npos);
  std::string bad_time = List(Contents("k"));
  bad_time.replace(bad_time.find("2009-10-12"), 10, "2009-02-30");
  EXPECT_NE(error(bad_time).find("<LastModified> is not a timestamp"),
            std::string::npos);
  // Entities beyond XML's own are not expanded.
  auto page = ParseListObjectsV2("<!DOCTYPE x [<!ENTITY a \"aaaa\">]>" +
                                 List(Contents("&a;")));
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->objects[0].key, "&a;");
}

TEST(S3XmlTest, MultipartDocuments) {
  auto uploads = ParseListMultipartUploads(
      "<ListMultipartUploadsResult><EncodingType>url</EncodingType>"
      "<IsTruncated>true</IsTruncated><NextKeyMarker>my+movie</NextKeyMarker>"
      "<NextUploadIdMarker>id2</NextUploadIdMarker>"
      "<Upload><Key>a%2Fb</Key><UploadId>id1</UploadId>"
      "<Initiated>2010-11-10T20:48:33.000Z</Initiated></Upload>"
      "<Upload><Key>my+movie</Key><UploadId>id2</UploadId>"
      "<Initiated>2010-11-10T20:48:33.5Z</Initiated></Upload>"
      "</ListMultipartUploadsResult>");
  ASSERT_TRUE(uploads.ok()) << uploads.status().ToString();
  ASSERT_EQ(uploads->uploads.size(), 2u);
  EXPECT_EQ(uploads->uploads[0].key, "a/b");
  EXPECT_EQ(uploads->uploads[1].key, "my movie");
  EXPECT_EQ(uploads->uploads[1].upload_id, "id2");
  EXPECT_EQ(uploads->uploads[1].initiated_ns, 1289422113500000000);
  EXPECT_EQ(uploads->next_key_marker, "my movie");
  EXPECT_FALSE(ParseListMultipartUploads(
                   "<ListMultipartUploadsResult><Upload><Key>k</Key>"
                   "<UploadId></UploadId><Initiated>2010-11-10T20:48:33Z"
                   "</Initiated></Upload></ListMultipartUploadsResult>")
                   .ok());

  EXPECT_EQ(*ParseInitiateMultipartUpload(
                "<InitiateMultipartUploadResult><UploadId>2~x</UploadId>"
                "</InitiateMultipartUploadResult>"),
            "2~x");
  EXPECT_FALSE(
      ParseInitiateMultipartUpload("<InitiateMultipartUploadResult/>").ok());
  EXPECT_EQ(*ParseWriteResultEtag(
                "<CompleteMultipartUploadResult><ETag>\"e-3\"</ETag>"
                "</CompleteMultipartUploadResult>",
                "CompleteMultipartUploadResult"),
            "\"e-3\"");
  EXPECT_EQ(*ParseWriteResultEtag("<CompleteMultipartUploadResult><ETag></ETag>"
                                  "</CompleteMultipartUploadResult>",
                                  "CompleteMultipartUploadResult"),
            "");
  EXPECT_FALSE(ParseWriteResultEtag("<Error><Code>InternalError</Code></Error>",
                                    "CompleteMultipartUploadResult")
                   .ok());

  std::string xml = CompleteMultipartUploadXml({{1, "\"a\""}, {2, "\"b\""}});
  EXPECT_EQ(xml,
            "<CompleteMultipartUpload "
            "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Part>"
            "<PartNumber>1</PartNumber><ETag>\"a\"</ETag></Part><Part>"
            "<PartNumber>2</PartNumber><ETag>\"b\"</ETag></Part>"
            "</CompleteMultipartUpload>");
}

TEST(S3XmlTest, DeleteTaggingAndErrors) {
  auto errors = ParseDeleteResult(
      "<DeleteResult><Deleted><Key>a</Key></Deleted><Error><Key>b&amp;c</Key>"
      "<Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
      "</DeleteResult>");
  ASSERT_TRUE(errors.ok());
  ASSERT_EQ(errors->size(), 1u);
  EXPECT_EQ((*errors)[0].key, "b&c");
  EXPECT_EQ((*errors)[0].code, "AccessDenied");
  EXPECT_EQ(DeleteObjectsXml({"a<b", "c"}),
            "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>"
            "true</Quiet><Object><Key>a&lt;b</Key></Object><Object><Key>c"
            "</Key></Object></Delete>");

  std::vector<std::pair<std::string, std::string>> tags = {{"a&b", "1"},
                                                           {"c", ""}};
  auto parsed = ParseTagging(TaggingXml(tags));
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed, tags);
  EXPECT_FALSE(ParseTagging("<Tagging><TagSet><Tag><Value>v</Value></Tag>"
                            "</TagSet></Tagging>")
                   .ok());

  auto e = ParseS3Error(
      "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>The "
      "specified key does not exist.</Message><RequestId>tx1</RequestId>"
      "</Error>");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, "NoSuchKey");
  EXPECT_EQ(e->request_id, "tx1");
  EXPECT_FALSE(ParseS3Error("<ListBucketResult/>"));
  EXPECT_FALSE(ParseS3Error(""));
  auto long_message =
      ParseS3Error("<Error><Code>X</Code><Message>" + std::string(100000, 'm') +
                   "</Message></Error>");
  ASSERT_TRUE(long_message);
  EXPECT_EQ(long_message->message.size(), 2048u + 3);

  EXPECT_EQ(CreateBucketXml("us-east-1"), "");
  EXPECT_NE(CreateBucketXml("eu-west-1")
                .find("<LocationConstraint>eu-west-1</LocationConstraint>"),
            std::string::npos);
}

TEST(S3XmlTest, TaggingIsBoundedAsS3BoundsTags) {
  auto tagging = [](const std::string& tags) {
    return "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Tagging xmlns=\"http:"
           "//s3.amazonaws.com/doc/2006-03-01/\"><TagSet>" +
           tags + "</TagSet></Tagging>";
  };
  auto tag = [](const std::string& key, const std::string& value) {
    return "<Tag><Key>" + key + "</Key><Value>" + value + "</Value></Tag>";
  };
  auto error = [](Result<std::vector<std::pair<std::string, std::string>>> r) {
    return r.ok() ? std::string("OK") : std::string(r.status().message());
  };
  // radosgw's empty set, and the longest keys and values S3 allows
  // (counted in characters: "\xc3\xa9" is one).
  EXPECT_TRUE(ParseTagging(tagging(""))->empty());
  std::string ten;
  for (int i = 0; i < 10; ++i) ten += tag("k" + std::to_string(i), "v");
  auto parsed = ParseTagging(tagging(ten));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->size(), 10u);
  std::string long_key, long_value;
  for (int i = 0; i < 128; ++i) long_key += "\xc3\xa9";
  for (int i = 0; i < 256; ++i) long_value += "\xe2\x82\xac";
  parsed = ParseTagging(tagging(tag(long_key, long_value)));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ((*parsed)[0], std::make_pair(long_key, long_value));

  EXPECT_NE(error(ParseTagging(tagging(ten + tag("k10", "v"))))
                .find("more than 10 tags"),
            std::string::npos);
  EXPECT_NE(error(ParseTagging(tagging(tag(long_key + "x", "v"))))
                .find("tag key longer than 128 characters"),
            std::string::npos);
  EXPECT_NE(error(ParseTagging(tagging(tag("k", long_value + "x"))))
                .find("tag value longer than 256 characters"),
            std::string::npos);
  EXPECT_NE(error(ParseTagging(tagging(tag("k", "1") + tag("k", "2"))))
                .find("one tag key twice"),
            std::string::npos);
  EXPECT_NE(error(ParseTagging(tagging(tag("", "v")))).find("without a <Key>"),
            std::string::npos);
  EXPECT_NE(error(ParseTagging("")).find("empty body"), std::string::npos);
  EXPECT_NE(error(ParseTagging("<Error><Code>NoSuchKey</Code></Error>"))
                .find("not <Tagging>"),
            std::string::npos);
  // Every truncation of a valid answer is a clean error.
  const std::string whole = tagging(tag("a&amp;b", "1") + tag("c", ""));
  ASSERT_TRUE(ParseTagging(whole).ok());
  for (size_t n = 0; n < whole.size(); ++n) {
    EXPECT_FALSE(ParseTagging(whole.substr(0, n)).ok()) << n;
  }
}

TEST(S3XmlTest, Times) {
  EXPECT_EQ(ParseS3Time("1970-01-01T00:00:01Z"), 1000000000);
  EXPECT_EQ(ParseS3Time("1970-01-01T00:00:00.123456789Z"), 123456789);
  EXPECT_FALSE(ParseS3Time("1970-01-01T00:00:00.1234567891Z"));
  EXPECT_FALSE(ParseS3Time("1970-01-01T00:00:00.Z"));
  EXPECT_FALSE(ParseS3Time("9999-01-01T00:00:00Z"));
  EXPECT_FALSE(ParseS3Time("1970-01-01 00:00:00Z"));
  EXPECT_EQ(ParseHttpDate("Thu, 01 Jan 1970 00:01:00 GMT"), 60000000000);
  EXPECT_EQ(ParseHttpDate("Wed, 12 Oct 2009 17:50:30 GMT"),
            1255369830000000000);
  EXPECT_FALSE(ParseHttpDate("Wed, 12 Foo 2009 17:50:30 GMT"));
  EXPECT_FALSE(ParseHttpDate("Wed, 12 Oct 2009 17:50:30 UTC"));
}

TEST(S3ErrorTest, Classification) {
  S3ErrorDocument doc{"SignatureDoesNotMatch", "The request signature...",
                      "tx9", ""};
  Status s = S3ErrorStatus("PUT s3://b/k at http://127.0.0.1:1", 403, doc);
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied);
  EXPECT_FALSE(s.retryable());
  EXPECT_EQ(s.message(),
            "PUT s3://b/k at http://127.0.0.1:1: 403 SignatureDoesNotMatch: "
            "The request signature... (request id tx9)");

  struct Case {
    int status;
    const char* code;
    StatusCode expected;
    bool retryable;
  };
  for (const Case& c : std::vector<Case>{
           {503, "SlowDown", StatusCode::kUnavailable, true},
           {500, "InternalError", StatusCode::kUnavailable, true},
           {429, "", StatusCode::kUnavailable, true},
           {400, "RequestTimeout", StatusCode::kUnavailable, true},
           {200, "InternalError", StatusCode::kUnavailable, true},
           {404, "NoSuchKey", StatusCode::kNotFound, false},
           {404, "", StatusCode::kNotFound, false},
           {404, "NoSuchUpload", StatusCode::kNotFound, false},
           {404, "NoSuchBucket", StatusCode::kFailedPrecondition, false},
           {412, "PreconditionFailed", StatusCode::kSourceChanged, false},
           {409, "BucketAlreadyOwnedByYou", StatusCode::kAlreadyExists, false},
           {400, "InvalidArgument", StatusCode::kInvalidArgument, false},
           {403, "", StatusCode::kPermissionDenied, false},
           {301, "PermanentRedirect", StatusCode::kFailedPrecondition, false},
       }) {
    std::optional<S3ErrorDocument> d;
    if (*c.code) d = S3ErrorDocument{c.code, "m", "", ""};
    Status st = S3ErrorStatus("X", c.status, d);
    EXPECT_EQ(st.code(), c.expected) << c.status << " " << c.code;
    EXPECT_EQ(st.retryable(), c.retryable) << c.status << " " << c.code;
  }
  EXPECT_NE(
      S3ErrorStatus("X", 404, S3ErrorDocument{"NoSuchBucket", "m", "", ""})
          .message()
          .find("the bucket does not exist"),
      std::string::npos);
  EXPECT_NE(S3ErrorStatus("X", 412, std::nullopt)
                .message()
                .find("changed since it was listed"),
            std::string::npos);
  EXPECT_NE(S3ErrorStatus("X", 301,
                          S3ErrorDocument{"PermanentRedirect", "m", "",
                                          "b.s3.eu-west-1.amazonaws.com"})
                .message()
                .find("served at b.s3.eu-west-1.amazonaws.com"),
            std::string::npos);
}

}  // namespace
}  // namespace ferry
