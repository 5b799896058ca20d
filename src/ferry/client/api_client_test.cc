#include "ferry/client/api_client.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "ferry/client/test_api_server.h"
#include "ferry/pki/pki.h"

namespace ferry {
namespace {

using nlohmann::json;

const AwsCredentials kCredentials{"AKIDCLIENT", "client/secret", ""};

std::unique_ptr<ApiClient> MakeClient(const std::string& url,
                                      AwsCredentials credentials = kCredentials,
                                      std::string ca_bundle = "") {
  ApiClientOptions options;
  options.endpoint_url = url;
  options.credentials = std::move(credentials);
  options.ca_bundle = std::move(ca_bundle);
  options.connect_timeout = std::chrono::seconds(5);
  options.read_timeout = std::chrono::seconds(5);
  Result<std::unique_ptr<ApiClient>> client = ApiClient::Create(options);
  EXPECT_TRUE(client.ok()) << client.status().ToString();
  return client.ok() ? std::move(client).value() : nullptr;
}

TEST(ApiClientTest, SignedRequestReachesTheServerAndTheResponseComesBack) {
  TestApiServer server(KeySecrets{{"AKIDCLIENT", "client/secret"}});
  auto client = MakeClient(server.url());
  json request = {{"MaxResults", 5}, {"Name", "d\xC3\xA9j\xC3\xA0 vu"}};
  Result<json> response = client->Call("ListTasks", request);
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(*response, request);  // the server echoes the body
  RecordedRequest r = server.last();
  EXPECT_EQ(r.target, "FmrsService.ListTasks");
  EXPECT_EQ(r.content_type, "application/x-amz-json-1.1");
  EXPECT_NE(r.authorization.find("Credential=AKIDCLIENT/"), std::string::npos);
  EXPECT_NE(r.authorization.find("/ferry-local/datasync/aws4_request, "
                                 "SignedHeaders=content-type;host;"
                                 "x-amz-date;x-amz-target, Signature="),
            std::string::npos)
      << r.authorization;
  // One connection serves several calls.
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(client->Call("DescribeTask", json::object()).ok());
  }
  EXPECT_EQ(server.requests().size(), 4u);
}

TEST(ApiClientTest, SessionTokenAndRegionAreSigned) {
  TestApiServer server(KeySecrets{{"ASIATEMP", "temp"}});
  ApiClientOptions options;
  options.endpoint_url = server.url();
  options.credentials = {"ASIATEMP", "temp", "the-token"};
  options.region = "eu-west-3";
  auto client = std::move(ApiClient::Create(options)).value();
  ASSERT_TRUE(client->Call("ListAgents", json::object()).ok());
  EXPECT_NE(server.last().authorization.find(
                "/eu-west-3/datasync/aws4_request, SignedHeaders=content-type;"
                "host;x-amz-date;x-amz-security-token;x-amz-target"),
            std::string::npos)
      << server.last().authorization;
}

TEST(ApiClientTest, ErrorResponsesBecomeStatusesWithTheirType) {
  TestApiServer server(KeySecrets{{"AKIDCLIENT", "client/secret"}});
  auto client = MakeClient(server.url());

  server.set_responder([](const RecordedRequest&) {
    return TestResponse{400, R"({"__type":"InvalidRequestException",)"
                             R"("message":"Task not found","errorCode":"x"})"};
  });
  Result<json> r = client->Call("DescribeTask", json::object());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "InvalidRequestException: Task not found");
  ApiErrorParts parts = ApiErrorOf(r.status());
  EXPECT_EQ(parts.type, "InvalidRequestException");
  EXPECT_EQ(parts.message, "Task not found");

  server.set_responder([](const RecordedRequest&) {
    return TestResponse{
        500, R"({"__type":"com.amazon.coral.service#InternalException",)"
             R"("Message":"boom"})"};
  });
  r = client->Call("DescribeTask", json::object());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(r.status().retryable());
  EXPECT_EQ(r.status().message(), "InternalException: boom");

  server.set_responder([](const RecordedRequest&) {
    return TestResponse{400, R"({"__type":"ThrottlingException"})"};
  });
  r = client->Call("DescribeTask", json::object());
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
  EXPECT_TRUE(r.status().retryable());

  server.set_responder([](const RecordedRequest&) {
    return TestResponse{502, "Bad Gateway", "text/plain"};
  });
  r = client->Call("DescribeTask", json::object());
  EXPECT_EQ(r.status().message(), "HTTP502: Bad Gateway");

  server.set_responder([](const RecordedRequest&) {
    return TestResponse{200, "not json"};
  });
  r = client->Call("DescribeTask", json::object());
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);

  server.set_responder([](const RecordedRequest&) {
    return TestResponse{200, ""};
  });
  r = client->Call("DeleteTask", json::object());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, json::object());
}

TEST(ApiClientTest, AuthenticationFailuresFromTheVerifier) {
  TestApiServer server(KeySecrets{{"AKIDCLIENT", "client/secret"}});
  auto unknown = MakeClient(server.url(), {"AKIDOTHER", "x", ""});
  Result<json> r = unknown->Call("ListTasks", json::object());
  EXPECT_EQ(r.status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(ApiErrorOf(r.status()).type, "UnrecognizedClientException");
  auto wrong = MakeClient(server.url(), {"AKIDCLIENT", "wrong", ""});
  r = wrong->Call("ListTasks", json::object());
  EXPECT_EQ(ApiErrorOf(r.status()).type, "InvalidSignatureException");
}

TEST(ApiClientTest, NoServer) {
  int port;
  {
    TestApiServer server(KeySecrets{});
    port = server.port();
  }
  std::string url = "http://127.0.0.1:" + std::to_string(port);
  auto client = MakeClient(url);
  Result<json> r = client->Call("ListTasks", json::object());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(r.status().message(),
            "Could not connect to the endpoint URL: \"" + url + "\"");
  EXPECT_EQ(ApiErrorOf(r.status()).type, "");
}

TEST(ApiClientTest, BadEndpoints) {
  // The URL parser's own cases are in base/net_address_test.cc; here, that
  // the client refuses through it and says which URL and why.
  const std::pair<const char*, const char*> cases[] = {
      {"ftp://x", "neither http nor https"},
      {"127.0.0.1:8443", "expected http://"},
      {"http://", "no host"},
      {"http://h:0", "the port 0 is not in 1..65535"},
      {"http://h:99999", "not in 1..65535"},
      {"http://user@h", "user information"},
      {"http://[::1", "without a closing ']'"},
  };
  for (const auto& [url, why] : cases) {
    ApiClientOptions options;
    options.endpoint_url = url;
    Result<std::unique_ptr<ApiClient>> c = ApiClient::Create(options);
    ASSERT_FALSE(c.ok()) << url;
    const std::string message(c.status().message());
    EXPECT_EQ(message.rfind(
                  std::string("Invalid endpoint: bad URL '") + url + "': ", 0),
              0u)
        << message;
    EXPECT_NE(message.find(why), std::string::npos) << message;
  }
  ApiClientOptions options;
  options.endpoint_url = "https://h";
  options.ca_bundle = "/nonexistent/ca.pem";
  EXPECT_FALSE(ApiClient::Create(options).ok());
  options.ca_bundle = "";
  options.endpoint_url = "HTTPS://Host.Example:443/base/";
  Result<std::unique_ptr<ApiClient>> ok = ApiClient::Create(options);
  EXPECT_TRUE(ok.ok()) << ok.status().ToString();
}

class TlsTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("ferry-client-tls-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
    auto ca = pki::CreateAuthority("ferry test CA", 1);
    ASSERT_TRUE(ca.ok()) << ca.status().ToString();
    auto server = pki::CreateServerCertificate(*ca, {"127.0.0.1"}, 1);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    auto other = pki::CreateAuthority("another CA", 1);
    ASSERT_TRUE(other.ok());
    std::ofstream(dir_ / "ca.pem") << ca->certificate_pem;
    std::ofstream(dir_ / "other.pem") << other->certificate_pem;
    std::ofstream(dir_ / "cert.pem") << server->certificate_pem;
    std::ofstream(dir_ / "key.pem") << server->key_pem;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Path(const char* name) { return (dir_ / name).string(); }

  std::filesystem::path dir_;
};

TEST_F(TlsTest, HttpsWithTheCaBundle) {
  TestApiServer server(KeySecrets{{"AKIDCLIENT", "client/secret"}},
                       Path("cert.pem"), Path("key.pem"));
  ASSERT_EQ(server.url().rfind("https://", 0), 0u);
  auto client = MakeClient(server.url(), kCredentials, Path("ca.pem"));
  Result<json> r = client->Call("ListTasks", {{"MaxResults", 1}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)["MaxResults"], 1);

  // A CA that did not issue the server's certificate.
  auto untrusting = MakeClient(server.url(), kCredentials, Path("other.pem"));
  r = untrusting->Call("ListTasks", json::object());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "SSL validation failed for " + server.url() +
                                      " certificate verify failed");

  // --no-verify-ssl
  ApiClientOptions options;
  options.endpoint_url = server.url();
  options.credentials = kCredentials;
  options.verify_tls = false;
  auto insecure = std::move(ApiClient::Create(options)).value();
  EXPECT_TRUE(insecure->Call("ListTasks", json::object()).ok());
}

}  // namespace
}  // namespace ferry
