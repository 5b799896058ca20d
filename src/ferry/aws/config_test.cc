#include "ferry/aws/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

namespace ferry {
namespace {

namespace fs = std::filesystem;

class AwsConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("ferry-aws-config-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_ / ".aws");
    vars_["HOME"] = dir_.string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name, std::ios::binary) << text;
  }
  AwsEnv Env() {
    return [this](const std::string& n) -> std::optional<std::string> {
      auto it = vars_.find(n);
      if (it == vars_.end()) return std::nullopt;
      return it->second;
    };
  }
  Result<AwsConfig> Resolve(AwsConfigOverrides o = {}) {
    return ResolveAwsConfig(o, Env());
  }

  fs::path dir_;
  std::map<std::string, std::string> vars_;
};

TEST_F(AwsConfigTest, ExplicitBeatsEnvironmentBeatsProfile) {
  Write(".aws/credentials",
        "[default]\naws_access_key_id = FILEKEY\n"
        "aws_secret_access_key = filesecret\n");
  auto c = Resolve();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->credentials.access_key_id, "FILEKEY");
  EXPECT_EQ(c->credentials_source,
            (dir_ / ".aws/credentials").string() + " [default]");
  EXPECT_EQ(c->region, "us-east-1");

  vars_["AWS_ACCESS_KEY_ID"] = "ENVKEY";
  vars_["AWS_SECRET_ACCESS_KEY"] = "envsecret";
  vars_["AWS_SESSION_TOKEN"] = "envtoken";
  c = Resolve();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->credentials.access_key_id, "ENVKEY");
  EXPECT_EQ(c->credentials.session_token, "envtoken");
  EXPECT_EQ(c->credentials_source, "environment");

  AwsConfigOverrides o;
  o.credentials = AwsCredentials{"EXPKEY", "expsecret", ""};
  c = Resolve(o);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->credentials.access_key_id, "EXPKEY");
  EXPECT_EQ(c->credentials_source, "explicit");
}

TEST_F(AwsConfigTest, NamedProfileFromBothFiles) {
  Write(".aws/credentials",
        "# comment\n[work]\naws_access_key_id=WORKKEY\n"
        "aws_secret_access_key=worksecret\naws_session_token=wt\n");
  Write(".aws/config",
        "[default]\nregion = eu-west-1\n"
        "[profile work]\nregion = ap-south-1\nca_bundle = ~/ca.pem\n"
        "s3 =\n  addressing_style = path\n  endpoint_url = http://h:1\n"
        "[profile other]\naws_access_key_id: OTHERKEY\n"
        "aws_secret_access_key: othersecret\nendpoint_url = https://e\n");
  vars_["AWS_ACCESS_KEY_ID"] = "ENVKEY";  // ignored: a profile is named
  vars_["AWS_SECRET_ACCESS_KEY"] = "envsecret";
  auto c = Resolve({.profile = "work"});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->credentials.access_key_id, "WORKKEY");
  EXPECT_EQ(c->credentials.session_token, "wt");
  EXPECT_EQ(c->region, "ap-south-1");
  EXPECT_EQ(c->ca_bundle, dir_.string() + "/ca.pem");
  EXPECT_EQ(c->addressing_style, "path");
  EXPECT_EQ(c->endpoint_url, "http://h:1");

  vars_.erase("AWS_ACCESS_KEY_ID");
  vars_.erase("AWS_SECRET_ACCESS_KEY");
  vars_["AWS_PROFILE"] = "other";
  c = Resolve();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->credentials.access_key_id, "OTHERKEY");
  EXPECT_EQ(c->credentials_source,
            (dir_ / ".aws/config").string() + " [profile other]");
  EXPECT_EQ(c->endpoint_url, "https://e");
  EXPECT_EQ(c->region, "us-east-1");
}

TEST_F(AwsConfigTest, RegionAndCaFromTheEnvironment) {
  vars_["AWS_ACCESS_KEY_ID"] = "K";
  vars_["AWS_SECRET_ACCESS_KEY"] = "S";
  Write(".aws/config", "[default]\nregion = eu-west-1\n");
  EXPECT_EQ(Resolve()->region, "eu-west-1");
  vars_["AWS_DEFAULT_REGION"] = "eu-west-2";
  EXPECT_EQ(Resolve()->region, "eu-west-2");
  vars_["AWS_REGION"] = "eu-west-3";
  EXPECT_EQ(Resolve()->region, "eu-west-3");
  EXPECT_EQ(Resolve({.region = "sa-east-1"})->region, "sa-east-1");
  vars_["AWS_CA_BUNDLE"] = "/etc/ca.pem";
  EXPECT_EQ(Resolve()->ca_bundle, "/etc/ca.pem");
  vars_["AWS_ENDPOINT_URL"] = "http://generic";
  EXPECT_EQ(Resolve()->endpoint_url, "http://generic");
  vars_["AWS_ENDPOINT_URL_S3"] = "http://s3only";
  EXPECT_EQ(Resolve()->endpoint_url, "http://s3only");
  // Other files, named by the environment.
  Write("creds", "[default]\naws_access_key_id=A\naws_secret_access_key=B\n");
  vars_.erase("AWS_ACCESS_KEY_ID");
  vars_.erase("AWS_SECRET_ACCESS_KEY");
  vars_["AWS_SHARED_CREDENTIALS_FILE"] = (dir_ / "creds").string();
  EXPECT_EQ(Resolve()->credentials.access_key_id, "A");
}

TEST_F(AwsConfigTest, NoCredentialsSaysWhereItLooked) {
  auto c = Resolve();
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kNotFound);
  const std::string message(c.status().message());
  EXPECT_NE(message.find("AWS_ACCESS_KEY_ID"), std::string::npos) << message;
  EXPECT_NE(message.find((dir_ / ".aws/credentials").string()),
            std::string::npos);
  EXPECT_NE(message.find((dir_ / ".aws/config").string()), std::string::npos);
  EXPECT_NE(message.find("profile 'default'"), std::string::npos);

  c = Resolve({.profile = "nope"});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("AWS profile 'nope' is in neither"),
            std::string::npos);

  vars_["AWS_ACCESS_KEY_ID"] = "K";
  c = Resolve();
  EXPECT_EQ(c.status().message(),
            "partial credentials in the environment: AWS_SECRET_ACCESS_KEY "
            "is not set");
  vars_.erase("AWS_ACCESS_KEY_ID");
  Write(".aws/credentials", "[default]\naws_access_key_id = K\n");
  c = Resolve();
  EXPECT_NE(c.status().message().find("aws_secret_access_key is missing"),
            std::string::npos);
}

TEST_F(AwsConfigTest, MalformedFilesNameFileAndLine) {
  Write(".aws/credentials", "[default]\naws_access_key_id = K\njunk line\n");
  auto c = Resolve();
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(c.status().message(),
            (dir_ / ".aws/credentials").string() +
                ":3: expected \"key = value\", a [section] or a comment");
}

TEST(AwsIniTest, Parses) {
  auto ini = ParseAwsIni(
      "; top comment\r\n[a]\r\nKey = v w \r\n[ b ]\nx: 1\n  continued\n"
      "s3 =\n  max_concurrent_requests = 20\ny=\n",
      "f");
  ASSERT_TRUE(ini.ok()) << ini.status().ToString();
  EXPECT_EQ((*ini)["a"]["key"].value, "v w");
  EXPECT_EQ((*ini)["a"]["key"].line, 3);
  EXPECT_EQ((*ini)["b"]["x"].value, "1");
  EXPECT_EQ((*ini)["b"]["s3.max_concurrent_requests"].value, "20");
  EXPECT_EQ((*ini)["b"]["y"].value, "");
  EXPECT_EQ((*ini)["b"].size(), 4u);
}

TEST(AwsIniTest, Errors) {
  auto message = [](std::string_view text) {
    auto ini = ParseAwsIni(text, "F");
    return ini.ok() ? std::string("ok") : std::string(ini.status().message());
  };
  EXPECT_EQ(message("k = v\n"), "F:1: setting before the first [section]");
  EXPECT_EQ(message("[a]\n[b\n"), "F:2: section header without a closing ']'");
  EXPECT_EQ(message("[]\n"), "F:1: empty section name");
  EXPECT_EQ(message("[a]\n= v\n"),
            "F:2: expected \"key = value\", a [section] or a comment");
  EXPECT_EQ(message("[a]\n" + std::string(kMaxAwsIniLine + 1, 'x')),
            "F:2: line longer than 4096 bytes");
  std::string many;
  for (size_t i = 0; i <= kMaxAwsIniSections; ++i) {
    many += "[s" + std::to_string(i) + "]\n";
  }
  EXPECT_EQ(message(many), "F:1025: more than 1024 sections");
  std::string keys = "[a]\n";
  for (size_t i = 0; i <= kMaxAwsIniKeysPerSection; ++i) {
    keys += "k" + std::to_string(i) + "=v\n";
  }
  EXPECT_EQ(message(keys), "F:258: more than 256 settings in one section");
  EXPECT_EQ(message(std::string(kMaxAwsIniBytes + 1, '#')),
            "F is larger than 1048576 bytes");
}

}  // namespace
}  // namespace ferry
