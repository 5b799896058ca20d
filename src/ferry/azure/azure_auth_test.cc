#include "ferry/azure/azure_auth.h"

#include <gtest/gtest.h>

#include <chrono>

namespace ferry {
namespace {

// The well-known key of Azure's emulators (devstoreaccount1).
constexpr char kKey[] =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/"
    "K1SZFPTOtr/KBHBeksoGMGw==";

TEST(AzureAuthTest, StringToSignFollowsTheBlobServiceRules) {
  AzureSignable r;
  r.method = "PUT";
  r.path = "/devstoreaccount1/c/dir/a%20b.txt";
  r.query = {{"comp", "block"}, {"blockid", "QUJD"}, {"Timeout", "30"}};
  r.headers = {{"x-ms-version", "2021-08-06"},
               {"X-MS-Date", "Sat, 05 Dec 2026 17:00:00 GMT"},
               {"x-ms-meta-b", "  two  "},
               {"Content-Length", "0"},
               {"Content-Type", "application/octet-stream"},
               {"If-Match", "\"0x1\""}};
  EXPECT_EQ(SharedKeyStringToSign("devstoreaccount1", r),
            "PUT\n\n\n\n\napplication/octet-stream\n\n\n\"0x1\"\n\n\n\n"
            "x-ms-date:Sat, 05 Dec 2026 17:00:00 GMT\n"
            "x-ms-meta-b:two\n"
            "x-ms-version:2021-08-06\n"
            "/devstoreaccount1/devstoreaccount1/c/dir/a%20b.txt\n"
            "blockid:QUJD\ncomp:block\ntimeout:30");
  r.headers.emplace_back("Content-Length", "12");
  EXPECT_NE(SharedKeyStringToSign("devstoreaccount1", r).find("\n12\n"),
            std::string::npos);
}

TEST(AzureAuthTest, SharedKeyIsAnHmacOfTheStringToSign) {
  AzureSignable r;
  r.method = "GET";
  r.path = "/devstoreaccount1/c";
  r.query = {{"restype", "container"}, {"comp", "list"}};
  r.headers = {{"x-ms-date", "Sat, 05 Dec 2026 17:00:00 GMT"},
               {"x-ms-version", "2021-08-06"}};
  auto a = SharedKeyAuthorization("devstoreaccount1", kKey, r);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_TRUE(a->starts_with("SharedKey devstoreaccount1:"));
  EXPECT_EQ(a->size(), std::string("SharedKey devstoreaccount1:").size() + 44);
  // Deterministic, and any change to the request changes it.
  EXPECT_EQ(*SharedKeyAuthorization("devstoreaccount1", kKey, r), *a);
  r.query[1].second = "lists";
  EXPECT_NE(*SharedKeyAuthorization("devstoreaccount1", kKey, r), *a);
  EXPECT_FALSE(SharedKeyAuthorization("a", "not base64!", r).ok());
  EXPECT_FALSE(SharedKeyAuthorization("a", "", r).ok());
}

TEST(AzureAuthTest, SasTokensAreCheckedNeverRepeated) {
  EXPECT_EQ(*NormalizeSasToken("?sv=2021-08-06&sp=rl&sig=ab%2Bc%3D"),
            "sv=2021-08-06&sp=rl&sig=ab%2Bc%3D");
  for (const char* bad : {"", "?", "sv=1&sp=rl", "sig=secret&bad param",
                          "sig=secret&&x=1", "sig=secret\n"}) {
    auto st = NormalizeSasToken(bad);
    ASSERT_FALSE(st.ok()) << bad;
    EXPECT_EQ(st.status().message().find("secret"), std::string::npos);
  }
  EXPECT_FALSE(NormalizeSasToken(std::string(9000, 'a') + "&sig=x").ok());
  EXPECT_EQ(SasPermissions("?sv=1&sp=racwdl&sig=x"), "racwdl");
  EXPECT_EQ(SasPermissions("sv=1&sig=x"), "");
  EXPECT_EQ(SasExpiry("sv=1&se=2026-12-05T17%3A00%3A00Z&sig=x"), 1796490000);
  EXPECT_EQ(SasExpiry("se=2026-12-05&sig=x"), 1796428800);
  EXPECT_EQ(SasExpiry("sig=x"), std::nullopt);
  EXPECT_EQ(SasExpiry("se=yesterday&sig=x"), std::nullopt);
}

TEST(AzureAuthTest, EncodingAndDates) {
  EXPECT_EQ(AzureEncodePath("dir/a b+c%.txt"), "dir/a%20b%2Bc%25.txt");
  EXPECT_EQ(AzureEncodeQuery("a/b c"), "a%2Fb%20c");
  EXPECT_EQ(AzureDate(std::chrono::system_clock::time_point(
                std::chrono::seconds(1796490000))),
            "Sat, 05 Dec 2026 17:00:00 GMT");
}

}  // namespace
}  // namespace ferry
