#include "ferry/control/auth/sigv4.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "ferry/aws/sigv4_canonical.h"

namespace ferry {
namespace {

using nlohmann::json;
using std::chrono::system_clock;

// AWS's SigV4 test suite (aws-sig-v4-test-suite, as botocore carries it in
// tests/unit/auth/aws4_testsuite) and the IAM example of the SigV4
// documentation all use these.
const AwsCredentials kExampleCredentials{
    "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};
const char kExampleDate[] = "20150830T123600Z";

system_clock::time_point ExampleTime() {
  return *sigv4::ParseAmzDate(kExampleDate);
}

SignableRequest Request(std::string method, std::string path, std::string query,
                        std::string host) {
  SignableRequest r;
  r.method = std::move(method);
  r.path = std::move(path);
  r.query = std::move(query);
  r.headers = {{"Host", std::move(host)}};
  return r;
}

std::function<std::optional<std::string>(std::string_view)> Secrets(
    std::map<std::string, std::string> secrets) {
  return [secrets](std::string_view key) -> std::optional<std::string> {
    auto it = secrets.find(std::string(key));
    if (it == secrets.end()) return std::nullopt;
    return it->second;
  };
}

const auto kExampleSecrets =
    Secrets({{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}});

ApiError ErrorOf(const std::variant<VerifiedCaller, ApiError>& result) {
  if (const ApiError* e = std::get_if<ApiError>(&result)) return *e;
  return ApiError{200, "OK", "verified", ""};
}

struct Vector {
  const char* name;
  const char* method;
  const char* query;
  const char* signature;
};

// Request "METHOD /?QUERY" with only "Host: example.amazonaws.com", region
// us-east-1, service "service".
const Vector kSuite[] = {
    {"get-vanilla", "GET", "",
     "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
    {"post-vanilla", "POST", "",
     "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
    {"get-vanilla-query-order-key-case", "GET", "Param2=value2&Param1=value1",
     "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
    {"get-vanilla-query-order-key", "GET", "Param1=value2&Param1=Value1",
     "eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1"},
};

TEST(SigV4Test, AwsTestSuiteVectors) {
  for (const Vector& v : kSuite) {
    SignableRequest r =
        Request(v.method, "/", v.query, "example.amazonaws.com");
    SignRequest(&r, kExampleCredentials, "us-east-1", "service", ExampleTime());
    EXPECT_EQ(r.Header("X-Amz-Date"), kExampleDate) << v.name;
    EXPECT_EQ(r.Header("authorization"),
              std::string("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/"
                          "us-east-1/service/aws4_request, "
                          "SignedHeaders=host;x-amz-date, Signature=") +
                  v.signature)
        << v.name;
    // And the verifier accepts what AWS's vector signs.
    auto result = VerifyRequest(r, "service", kExampleSecrets, ExampleTime());
    ASSERT_TRUE(std::holds_alternative<VerifiedCaller>(result))
        << v.name << ": " << ErrorOf(result).message;
    EXPECT_EQ(std::get<VerifiedCaller>(result).access_key_id, "AKIDEXAMPLE");
    EXPECT_EQ(std::get<VerifiedCaller>(result).region, "us-east-1");
  }
}

TEST(SigV4Test, IamDocumentationExample) {
  // GET https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08
  SignableRequest r = Request("GET", "/", "Action=ListUsers&Version=2010-05-08",
                              "iam.amazonaws.com");
  r.headers.emplace_back("Content-Type",
                         "application/x-www-form-urlencoded; charset=utf-8");
  r.headers.emplace_back("X-Amz-Date", kExampleDate);
  std::vector<std::string> names = {"content-type", "host", "x-amz-date"};
  std::string canonical =
      sigv4::CanonicalRequest(r, names, "content-type;host;x-amz-date");
  EXPECT_EQ(canonical,
            "GET\n/\nAction=ListUsers&Version=2010-05-08\n"
            "content-type:application/x-www-form-urlencoded; charset=utf-8\n"
            "host:iam.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
            "content-type;host;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex(canonical),
            "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59");
  std::string key = sigv4::SigningKey(kExampleCredentials.secret_access_key,
                                      "20150830", "us-east-1", "iam");
  static const char kHex[] = "0123456789abcdef";
  std::string key_hex;
  for (unsigned char c : key) {
    key_hex += kHex[c >> 4];
    key_hex += kHex[c & 0xF];
  }
  EXPECT_EQ(key_hex,
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9");
  SignRequest(&r, kExampleCredentials, "us-east-1", "iam", ExampleTime());
  EXPECT_EQ(r.Header("Authorization"),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/"
            "aws4_request, SignedHeaders=content-type;host;x-amz-date, "
            "Signature="
            "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7");
}

TEST(SigV4Test, Sha256OfNothing) {
  EXPECT_EQ(Sha256Hex(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(SigV4Test, CanonicalPieces) {
  EXPECT_EQ(sigv4::CanonicalUri(""), "/");
  EXPECT_EQ(sigv4::CanonicalUri("/"), "/");
  EXPECT_EQ(sigv4::CanonicalUri("/a/./b/../c//d/"), "/a/c/d/");
  EXPECT_EQ(sigv4::CanonicalUri("/../x"), "/x");
  // The path as sent is encoded once; it is signed encoded twice.
  EXPECT_EQ(sigv4::CanonicalUri("/foo%20bar/a~b"), "/foo%2520bar/a~b");
  EXPECT_EQ(sigv4::CanonicalQuery("b=2&a=1&a=0&c"), "a=0&a=1&b=2&c=");
  EXPECT_EQ(sigv4::CanonicalQuery("k=a%20b&s=x/y"), "k=a%20b&s=x%2Fy");
  EXPECT_EQ(sigv4::UriEncode("a b/~*", false), "a%20b%2F~%2A");
  SignableRequest r;
  r.headers = {
      {"X-Spaces", "  a   b\t c  "}, {"x-multi", "1"}, {"X-Multi", " 2 "}};
  EXPECT_EQ(sigv4::CanonicalHeaders(r, {"x-multi", "x-spaces"}),
            "x-multi:1,2\nx-spaces:a b c\n");
  EXPECT_EQ(sigv4::FormatAmzDate(ExampleTime()), kExampleDate);
  EXPECT_FALSE(sigv4::ParseAmzDate("2015-08-30T12:36:00Z"));
  EXPECT_FALSE(sigv4::ParseAmzDate("20150230T123600Z"));  // 30 February
  EXPECT_FALSE(sigv4::ParseAmzDate("20150830T123600"));
  // Past what a nanosecond time point holds (found by fuzz_sigv4): refused,
  // not overflowed.
  EXPECT_FALSE(sigv4::ParseAmzDate("40480202T000000Z"));
  EXPECT_FALSE(sigv4::ParseAmzDate("99991231T235959Z"));
  EXPECT_TRUE(sigv4::ParseAmzDate("22001231T235959Z"));
}

SignableRequest DataSyncRequest() {
  SignableRequest r;
  r.headers = {{"Host", "127.0.0.1:8080"},
               {"Content-Type", "application/x-amz-json-1.1"},
               {"X-Amz-Target", "FmrsService.ListTasks"}};
  r.body = "{}";
  return r;
}

const AwsCredentials kFerry{"AKIDFERRY", "secret", ""};
const auto kFerrySecrets = Secrets({{"AKIDFERRY", "secret"}});

TEST(SigV4Test, SignsEveryHeaderAndTheSessionToken) {
  SignableRequest r = DataSyncRequest();
  r.headers.emplace_back("Authorization", "stale");
  AwsCredentials temporary = kFerry;
  temporary.session_token = "token123";
  SignRequest(&r, temporary, "ferry-local", "datasync", ExampleTime());
  EXPECT_EQ(r.Header("X-Amz-Security-Token"), "token123");
  std::string auth = r.Header("Authorization").value_or("");
  EXPECT_NE(auth.find("Credential=AKIDFERRY/20150830/ferry-local/datasync/"
                      "aws4_request, SignedHeaders=content-type;host;"
                      "x-amz-date;x-amz-security-token;x-amz-target, "
                      "Signature="),
            std::string::npos)
      << auth;
  int count = 0;
  for (const auto& [name, value] : r.headers) count += name == "Authorization";
  EXPECT_EQ(count, 1);
  auto result = VerifyRequest(r, "datasync", kFerrySecrets, ExampleTime());
  EXPECT_TRUE(std::holds_alternative<VerifiedCaller>(result))
      << ErrorOf(result).message;
}

std::variant<VerifiedCaller, ApiError> SignedThenVerified(
    const std::function<void(SignableRequest*)>& tamper,
    system_clock::time_point verify_at = ExampleTime()) {
  SignableRequest r = DataSyncRequest();
  SignRequest(&r, kFerry, "ferry-local", "datasync", ExampleTime());
  tamper(&r);
  return VerifyRequest(r, "datasync", kFerrySecrets, verify_at);
}

void SetHeader(SignableRequest* r, std::string_view name, std::string value) {
  for (auto& [header, v] : r->headers) {
    if (header == name) {
      v = std::move(value);
      return;
    }
  }
  r->headers.emplace_back(std::string(name), std::move(value));
}

void ReplaceInAuthorization(SignableRequest* r, std::string_view from,
                            std::string_view to) {
  std::string auth = *r->Header("Authorization");
  size_t at = auth.find(from);
  ASSERT_NE(at, std::string::npos) << auth;
  auth.replace(at, from.size(), to);
  SetHeader(r, "Authorization", auth);
}

TEST(SigV4Test, TamperingBreaksTheSignature) {
  for (auto tamper : std::vector<std::function<void(SignableRequest*)>>{
           [](SignableRequest* r) { r->body = "{\"MaxResults\":1}"; },
           [](SignableRequest* r) {
             SetHeader(r, "X-Amz-Target", "FmrsService.DeleteTask");
           },
           [](SignableRequest* r) { r->path = "/other"; },
           [](SignableRequest* r) { r->query = "a=b"; },
           [](SignableRequest* r) { r->method = "PUT"; },
           [](SignableRequest* r) { SetHeader(r, "Host", "evil:8080"); },
       }) {
    ApiError e = ErrorOf(SignedThenVerified(tamper));
    EXPECT_EQ(e.http_status, 403);
    EXPECT_EQ(e.type, "InvalidSignatureException");
    EXPECT_EQ(e.message.rfind(
                  "The request signature we calculated does not match the "
                  "signature you provided. Check your AWS Secret Access Key "
                  "and signing method. Consult the service documentation for "
                  "details.\n\nThe Canonical String for this request should "
                  "have been\n'",
                  0),
              0u)
        << e.message;
    EXPECT_NE(e.message.find("\n\nThe String-to-Sign should have been\n"
                             "'AWS4-HMAC-SHA256\n20150830T123600Z\n"
                             "20150830/ferry-local/datasync/aws4_request\n"),
              std::string::npos)
        << e.message;
  }
  // An unsigned header may change.
  auto ok = SignedThenVerified([](SignableRequest* r) {
    r->headers.emplace_back("User-Agent", "aws-cli/2");
  });
  EXPECT_TRUE(std::holds_alternative<VerifiedCaller>(ok));
  // A signature of the right length that differs in the last digit.
  ApiError e = ErrorOf(SignedThenVerified([](SignableRequest* r) {
    std::string auth = *r->Header("Authorization");
    auth.back() = auth.back() == '0' ? '1' : '0';
    SetHeader(r, "Authorization", auth);
  }));
  EXPECT_EQ(e.type, "InvalidSignatureException");
}

// A request signed without X-Amz-Target (or Content-Type, or any other
// x-amz-* header) could be replayed with the header added or changed: a
// captured ListTasks served as ListAgents. Every one the request carries
// must be signed, as AWS requires.
TEST(SigV4Test, XAmzHeadersAndContentTypeMustBeSigned) {
  for (const char* name : {"X-Amz-Target", "x-amz-target", "Content-Type",
                           "X-Amz-Security-Token", "X-Amz-Anything"}) {
    SignableRequest r = DataSyncRequest();
    std::erase_if(r.headers, [](const auto& h) {
      return h.first == "X-Amz-Target" || h.first == "Content-Type";
    });
    SignRequest(&r, kFerry, "ferry-local", "datasync", ExampleTime());
    ASSERT_NE(r.Header("Authorization")->find("SignedHeaders=host;x-amz-date,"),
              std::string::npos)
        << *r.Header("Authorization");
    r.headers.emplace_back(name, "FmrsService.ListAgents");
    ApiError e =
        ErrorOf(VerifyRequest(r, "datasync", kFerrySecrets, ExampleTime()));
    EXPECT_EQ(e.http_status, 403) << name;
    EXPECT_EQ(e.type, "InvalidSignatureException") << name;
    EXPECT_EQ(e.message,
              "There were headers present in the request which were not "
              "signed: '" +
                  std::string(name) +
                  "'. Every 'X-Amz-*' header and 'Content-Type' must be a "
                  "'SignedHeader' in the AWS Authorization.")
        << name;
  }
  // Other headers need not be signed (user agents, botocore's
  // amz-sdk-request, X-Amzn-Trace-Id).
  for (const char* name :
       {"User-Agent", "amz-sdk-request", "X-Amzn-Trace-Id", "Content-Length"}) {
    auto ok = SignedThenVerified(
        [&](SignableRequest* r) { r->headers.emplace_back(name, "1"); });
    EXPECT_TRUE(std::holds_alternative<VerifiedCaller>(ok))
        << name << ": " << ErrorOf(ok).message;
  }
}

TEST(SigV4Test, MissingOrMalformedAuthorization) {
  SignableRequest unsigned_request = DataSyncRequest();
  ApiError e = ErrorOf(VerifyRequest(unsigned_request, "datasync",
                                     kFerrySecrets, ExampleTime()));
  EXPECT_EQ(e.type, "MissingAuthenticationTokenException");
  EXPECT_EQ(e.message, "Missing Authentication Token");
  EXPECT_EQ(e.http_status, 400);

  unsigned_request.headers.emplace_back("Authorization", "Bearer abc");
  e = ErrorOf(VerifyRequest(unsigned_request, "datasync", kFerrySecrets,
                            ExampleTime()));
  EXPECT_EQ(e.type, "IncompleteSignatureException");
  EXPECT_EQ(e.http_status, 400);
  EXPECT_EQ(e.message,
            "Authorization header requires 'Credential' parameter. "
            "Authorization header requires 'Signature' parameter. "
            "Authorization header requires 'SignedHeaders' parameter. "
            "Authorization header requires existence of either a 'X-Amz-Date' "
            "or a 'Date' header. Authorization=Bearer abc");

  e = ErrorOf(SignedThenVerified([](SignableRequest* r) {
    SetHeader(r, "Authorization",
              "AWS4-HMAC-SHA256 Credential=AKIDFERRY/20150830/ferry-local/"
              "datasync/aws4_request");
  }));
  EXPECT_EQ(e.message,
            "Authorization header requires 'Signature' parameter. "
            "Authorization header requires 'SignedHeaders' parameter. "
            "Authorization=AWS4-HMAC-SHA256 Credential=AKIDFERRY/20150830/"
            "ferry-local/datasync/aws4_request");

  e = ErrorOf(SignedThenVerified([](SignableRequest* r) {
    ReplaceInAuthorization(r, "Credential=AKIDFERRY/", "Credential= AKID /");
  }));
  EXPECT_EQ(e.type, "IncompleteSignatureException");
  EXPECT_NE(e.message.find("'AKID' not a valid key=value pair (missing "
                           "equal-sign) in Authorization header: "
                           "'AWS4-HMAC-SHA256 Credential= AKID /"),
            std::string::npos)
      << e.message;

  e = ErrorOf(SignedThenVerified([](SignableRequest* r) {
    ReplaceInAuthorization(r, "AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512");
  }));
  EXPECT_EQ(e.type, "IncompleteSignatureException");
  EXPECT_EQ(e.message, "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512'");

  e = ErrorOf(SignedThenVerified([](SignableRequest* r) {
    ReplaceInAuthorization(r, "/ferry-local/", "/");
  }));
  EXPECT_EQ(e.message,
            "Credential must have exactly 5 slash-delimited elements, e.g. "
            "keyid/date/region/service/term, got "
            "'AKIDFERRY/20150830/datasync/aws4_request'");

  e = ErrorOf(SignedThenVerified([](SignableRequest* r) {
    SetHeader(r, "X-Amz-Date", "2015-08-30T12:36:00Z");
  }));
  EXPECT_EQ(e.type, "IncompleteSignatureException");
  EXPECT_EQ(e.message,
            "Date must be in ISO-8601 'basic format'. Got "
            "'2015-08-30T12:36:00Z'. See http://en.wikipedia.org/wiki/"
            "ISO_8601");

  e = ErrorOf(SignedThenVerified([](SignableRequest* r) {
    std::erase_if(r->headers,
                  [](const auto& h) { return h.first == "X-Amz-Date"; });
  }));
  EXPECT_EQ(e.type, "IncompleteSignatureException");
  EXPECT_NE(e.message.find("requires existence of either a 'X-Amz-Date'"),
            std::string::npos);
}

TEST(SigV4Test, CredentialScopeErrors) {
  ApiError e = ErrorOf(SignedThenVerified([](SignableRequest* r) {
    ReplaceInAuthorization(r, "/datasync/", "/s3/");
  }));
  EXPECT_EQ(e.http_status, 403);
  EXPECT_EQ(e.type, "InvalidSignatureException");
  EXPECT_EQ(e.message,
            "Credential should be scoped to correct service: 'datasync'. ");

  e = ErrorOf(SignedThenVerified([](SignableRequest* r) {
    ReplaceInAuthorization(r, "/aws4_request", "/aws5_request");
  }));
  EXPECT_EQ(e.message,
            "Credential should be scoped with a valid terminator: "
            "'aws4_request', not 'aws5_request'. ");

  e = ErrorOf(SignedThenVerified([](SignableRequest* r) {
    ReplaceInAuthorization(r, "/ferry-local/", "/bad_region/");
  }));
  EXPECT_EQ(e.message,
            "Credential should be scoped to a valid region, not "
            "'bad_region'. ");

  e = ErrorOf(SignedThenVerified([](SignableRequest* r) {
    ReplaceInAuthorization(r, "/20150830/", "/20150831/");
  }));
  EXPECT_EQ(e.message,
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 "
            "version of date from HTTP: '20150831' != '20150830', from "
            "'20150830T123600Z'.");

  e = ErrorOf(SignedThenVerified([](SignableRequest* r) {
    ReplaceInAuthorization(r, "content-type;host;x-amz-date",
                           "content-type;x-amz-date");
  }));
  EXPECT_EQ(e.type, "IncompleteSignatureException");
  EXPECT_EQ(e.message,
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS "
            "Authorization.");
  e = ErrorOf(SignedThenVerified([](SignableRequest* r) {
    ReplaceInAuthorization(r, "host;x-amz-date;", "host;");
  }));
  EXPECT_EQ(e.message,
            "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.");
}

TEST(SigV4Test, UnknownAccessKey) {
  SignableRequest r = DataSyncRequest();
  SignRequest(&r, {"AKIDOTHER", "x", ""}, "ferry-local", "datasync",
              ExampleTime());
  ApiError e =
      ErrorOf(VerifyRequest(r, "datasync", kFerrySecrets, ExampleTime()));
  EXPECT_EQ(e.http_status, 403);
  EXPECT_EQ(e.type, "UnrecognizedClientException");
  EXPECT_EQ(e.message,
            "The security token included in the request is invalid.");
  // A known key with the wrong secret is a bad signature.
  SignRequest(&r, {"AKIDFERRY", "wrong", ""}, "ferry-local", "datasync",
              ExampleTime());
  e = ErrorOf(VerifyRequest(r, "datasync", kFerrySecrets, ExampleTime()));
  EXPECT_EQ(e.type, "InvalidSignatureException");
}

TEST(SigV4Test, RequestTimeMustBeWithinTheSkew) {
  using std::chrono::minutes;
  using std::chrono::seconds;
  EXPECT_TRUE(std::holds_alternative<VerifiedCaller>(SignedThenVerified(
      [](SignableRequest*) {}, ExampleTime() + minutes(15))));
  EXPECT_TRUE(std::holds_alternative<VerifiedCaller>(SignedThenVerified(
      [](SignableRequest*) {}, ExampleTime() - minutes(15))));
  ApiError e = ErrorOf(
      SignedThenVerified([](SignableRequest*) {}, ExampleTime() + minutes(20)));
  EXPECT_EQ(e.http_status, 403);
  EXPECT_EQ(e.type, "InvalidSignatureException");
  EXPECT_EQ(e.message,
            "Signature expired: 20150830T123600Z is now earlier than "
            "20150830T124100Z (20150830T125600Z - 15 min.)");
  e = ErrorOf(SignedThenVerified([](SignableRequest*) {},
                                 ExampleTime() - minutes(15) - seconds(1)));
  EXPECT_EQ(e.message,
            "Signature not yet current: 20150830T123600Z is still later than "
            "20150830T123559Z (20150830T122059Z + 15 min.)");
  SignableRequest r = DataSyncRequest();
  SignRequest(&r, kFerry, "ferry-local", "datasync", ExampleTime());
  e = ErrorOf(VerifyRequest(r, "datasync", kFerrySecrets,
                            ExampleTime() + minutes(6), minutes(5)));
  EXPECT_NE(e.message.find("- 5 min.)"), std::string::npos) << e.message;
}

SignableRequest FromBotocore(const json& entry) {
  SignableRequest r;
  r.method = entry["method"];
  r.path = entry["path"];
  r.query = entry["query"];
  for (const json& h : entry["headers"]) r.headers.emplace_back(h[0], h[1]);
  r.body = entry["body"];
  return r;
}

std::string TestData(const std::string& name) {
  return std::string(FERRY_AUTH_TESTDATA_DIR) + "/" + name;
}

// Requests botocore's own datasync client made and signed, checked in
// (testdata/botocore_requests.py --fixture).
TEST(SigV4Test, VerifiesRequestsBotocoreSigned) {
  std::ifstream in(TestData("botocore_requests.json"));
  ASSERT_TRUE(in) << TestData("botocore_requests.json");
  json entries = json::parse(in);
  ASSERT_GE(entries.size(), 4u);
  for (const json& entry : entries) {
    const json& c = entry["case"];
    SignableRequest r = FromBotocore(entry);
    auto secrets = Secrets({{c["access_key"], c["secret_key"]}});
    system_clock::time_point signed_at =
        *sigv4::ParseAmzDate(*r.Header("X-Amz-Date"));
    auto result = VerifyRequest(r, "datasync", secrets, signed_at);
    ASSERT_TRUE(std::holds_alternative<VerifiedCaller>(result))
        << c["operation"] << ": " << ErrorOf(result).message;
    EXPECT_EQ(std::get<VerifiedCaller>(result).access_key_id, c["access_key"]);
    EXPECT_EQ(std::get<VerifiedCaller>(result).region, c["region"]);

    // ferry's signer makes the same signature from the same headers.
    SignableRequest ours = r;
    std::erase_if(ours.headers, [](const auto& h) {
      std::string name = h.first;
      for (char& ch : name) ch = static_cast<char>(std::tolower(ch));
      return name != "host" && name != "content-type" && name != "x-amz-target";
    });
    AwsCredentials credentials{c["access_key"], c["secret_key"],
                               c["token"].is_string() ? c["token"] : ""};
    SignRequest(&ours, credentials, c["region"].get<std::string>(), "datasync",
                signed_at);
    EXPECT_EQ(ours.Header("Authorization"), r.Header("Authorization"))
        << c["operation"];

    r.body += " ";
    EXPECT_EQ(ErrorOf(VerifyRequest(r, "datasync", secrets, signed_at)).type,
              "InvalidSignatureException");
  }
}

// The same, live: botocore signs requests now (the test suite installs
// boto3: scripts/setup.sh test).
TEST(SigV4Test, VerifiesRequestsBotocoreSignsNow) {
  ASSERT_EQ(std::system("python3 -c 'import botocore' >/dev/null 2>&1"), 0)
      << "python3 with botocore is not installed (scripts/setup.sh test "
         "installs python3-boto3)";
  json cases = json::array();
  const char* kOperations[][2] = {
      {"ListAgents", R"({"MaxResults": 5})"},
      {"StartTaskExecution",
       R"({"TaskArn": "arn:aws:datasync:ferry-local:000000000000:task/task-0123456789abcdef0",
           "OverrideOptions": {"VerifyMode": "NONE"},
           "Includes": [{"FilterType": "SIMPLE_PATTERN", "Value": "/docs|/src"}]})"},
      {"CreateLocationLocal", ""},  // ferry's own: botocore does not know it
  };
  for (const auto& [op, params] : kOperations) {
    if (std::string(params).empty()) continue;
    cases.push_back({{"operation", op},
                     {"params", json::parse(params)},
                     {"access_key", "AKIDLIVE"},
                     {"secret_key", "live/secret+key"},
                     {"token", nullptr},
                     {"region", "ferry-local"},
                     {"endpoint", "http://127.0.0.1:18080"}});
  }
  cases.push_back(cases[0]);
  cases.back()["token"] = "session-token";
  cases.back()["endpoint"] = "https://[::1]:8443";

  std::filesystem::path dir = std::filesystem::temp_directory_path() /
                              ("ferry-sigv4-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "in.json") << cases.dump();
  std::string command = "python3 " + TestData("botocore_requests.py") + " < " +
                        (dir / "in.json").string() + " > " +
                        (dir / "out.json").string();
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  std::ifstream out(dir / "out.json");
  json entries = json::parse(out);
  std::filesystem::remove_all(dir);
  ASSERT_EQ(entries.size(), cases.size());
  for (const json& entry : entries) {
    SignableRequest r = FromBotocore(entry);
    auto result =
        VerifyRequest(r, "datasync", Secrets({{"AKIDLIVE", "live/secret+key"}}),
                      system_clock::now());
    EXPECT_TRUE(std::holds_alternative<VerifiedCaller>(result))
        << entry["case"]["operation"] << ": " << ErrorOf(result).message;
  }
}

}  // namespace
}  // namespace ferry
