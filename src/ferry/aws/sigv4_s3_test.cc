// S3's SigV4 variant against the examples of AWS's S3 API documentation
// ("Examples: Signature Calculations in AWS Signature Version 4",
// sig-v4-header-based-auth): each step (canonical request, string to sign,
// signature) of the four header-based examples.
#include <gtest/gtest.h>

#include <string>

#include "ferry/aws/sigv4.h"
#include "ferry/aws/sigv4_canonical.h"

namespace ferry {
namespace {

const AwsCredentials kExample{"AKIAIOSFODNN7EXAMPLE",
                              "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""};
constexpr char kEmptyHash[] =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

std::chrono::system_clock::time_point ExampleTime() {
  return *sigv4::ParseAmzDate("20130524T000000Z");
}

struct S3Example {
  const char* name;
  const char* method;
  const char* path;
  const char* query;
  std::vector<std::pair<std::string, std::string>> headers;  // besides Host
  std::string payload_hash;
  const char* canonical_request;
  const char* string_to_sign_hash;  // last line of the string to sign
  const char* signed_headers;
  const char* signature;
};

const S3Example kExamples[] = {
    {"GET Object",
     "GET",
     "/test.txt",
     "",
     {{"Range", "bytes=0-9"}},
     kEmptyHash,
     "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\n"
     "range:bytes=0-9\nx-amz-content-sha256:"
     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
     "x-amz-date:20130524T000000Z\n\n"
     "host;range;x-amz-content-sha256;x-amz-date\n"
     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972",
     "host;range;x-amz-content-sha256;x-amz-date",
     "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"},
    {"PUT Object",
     "PUT",
     "/test%24file.text",
     "",
     {{"Date", "Fri, 24 May 2013 00:00:00 GMT"},
      {"x-amz-storage-class", "REDUCED_REDUNDANCY"}},
     Sha256Hex("Welcome to Amazon S3."),
     "PUT\n/test%24file.text\n\ndate:Fri, 24 May 2013 00:00:00 GMT\n"
     "host:examplebucket.s3.amazonaws.com\nx-amz-content-sha256:"
     "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072\n"
     "x-amz-date:20130524T000000Z\nx-amz-storage-class:REDUCED_REDUNDANCY\n\n"
     "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n"
     "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
     "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d",
     "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
     "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"},
    {"GET Bucket Lifecycle",
     "GET",
     "/",
     "lifecycle",
     {},
     kEmptyHash,
     "GET\n/\nlifecycle=\nhost:examplebucket.s3.amazonaws.com\n"
     "x-amz-content-sha256:"
     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
     "x-amz-date:20130524T000000Z\n\nhost;x-amz-content-sha256;x-amz-date\n"
     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     "9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca",
     "host;x-amz-content-sha256;x-amz-date",
     "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"},
    {"GET Bucket (List Objects)",
     "GET",
     "/",
     "max-keys=2&prefix=J",
     {},
     kEmptyHash,
     "GET\n/\nmax-keys=2&prefix=J\nhost:examplebucket.s3.amazonaws.com\n"
     "x-amz-content-sha256:"
     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
     "x-amz-date:20130524T000000Z\n\nhost;x-amz-content-sha256;x-amz-date\n"
     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     "df57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7",
     "host;x-amz-content-sha256;x-amz-date",
     "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"},
};

TEST(Sigv4S3Test, AwsDocumentationExamples) {
  for (const S3Example& e : kExamples) {
    SCOPED_TRACE(e.name);
    SignableRequest r;
    r.method = e.method;
    r.path = e.path;
    r.query = e.query;
    r.headers = {{"Host", "examplebucket.s3.amazonaws.com"}};
    for (const auto& h : e.headers) r.headers.push_back(h);
    SignS3Request(&r, kExample, "us-east-1", e.payload_hash, ExampleTime());
    EXPECT_EQ(r.Header("x-amz-content-sha256"), e.payload_hash);
    EXPECT_EQ(r.Header("x-amz-date"), "20130524T000000Z");
    EXPECT_EQ(
        r.Header("Authorization"),
        std::string("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/"
                    "20130524/us-east-1/s3/aws4_request, SignedHeaders=") +
            e.signed_headers + ", Signature=" + e.signature);

    // Step by step.
    std::vector<std::string> names;
    std::string text = e.signed_headers;
    for (size_t start = 0; start <= text.size();) {
      size_t end = text.find(';', start);
      if (end == std::string::npos) end = text.size();
      names.push_back(text.substr(start, end - start));
      start = end + 1;
    }
    std::string canonical =
        sigv4::S3CanonicalRequest(r, names, text, e.payload_hash);
    EXPECT_EQ(canonical, e.canonical_request);
    std::string to_sign = sigv4::StringToSign(
        "20130524T000000Z", "20130524/us-east-1/s3/aws4_request", canonical);
    EXPECT_EQ(to_sign.substr(to_sign.rfind('\n') + 1), e.string_to_sign_hash);
  }
}

TEST(Sigv4S3Test, PathIsSignedAsSentWithoutNormalizing) {
  SignableRequest r;
  r.method = "GET";
  r.path = "/bucket/a/./b/../c//d%20e%2Bf";
  r.headers = {{"Host", "127.0.0.1:9000"}};
  SignS3Request(&r, kExample, "us-east-1", kUnsignedPayload, ExampleTime());
  std::string canonical = sigv4::S3CanonicalRequest(
      r, {"host", "x-amz-content-sha256", "x-amz-date"},
      "host;x-amz-content-sha256;x-amz-date", kUnsignedPayload);
  EXPECT_EQ(canonical.substr(0, canonical.find('\n', 4)),
            "GET\n/bucket/a/./b/../c//d%20e%2Bf");
  EXPECT_TRUE(canonical.ends_with("\nUNSIGNED-PAYLOAD"));
  EXPECT_EQ(r.Header("X-Amz-Content-Sha256"), "UNSIGNED-PAYLOAD");
  // The other services' form normalizes and encodes again.
  EXPECT_EQ(sigv4::CanonicalUri(r.path), "/bucket/a/c/d%2520e%252Bf");
}

TEST(Sigv4S3Test, ResigningReplacesTheAuthenticationHeaders) {
  SignableRequest r;
  r.method = "PUT";
  r.path = "/b/k";
  r.headers = {{"Host", "h"}};
  AwsCredentials temporary = kExample;
  temporary.session_token = "tok";
  SignS3Request(&r, temporary, "eu-west-1", kUnsignedPayload, ExampleTime());
  SignS3Request(&r, temporary, "eu-west-1", kEmptyHash, ExampleTime());
  int count = 0;
  for (const auto& [name, value] : r.headers) {
    count += name == "Authorization" || name == "X-Amz-Content-Sha256" ||
             name == "X-Amz-Security-Token" || name == "X-Amz-Date";
  }
  EXPECT_EQ(count, 4);
  EXPECT_EQ(r.Header("x-amz-content-sha256"), kEmptyHash);
  EXPECT_NE(r.Header("Authorization")
                ->find("SignedHeaders=host;x-amz-content-sha256;x-amz-date;"
                       "x-amz-security-token,"),
            std::string::npos);
}

}  // namespace
}  // namespace ferry
