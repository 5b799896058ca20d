#include "ferry/client/client_config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

namespace ferry {
namespace {

namespace fs = std::filesystem;

class ClientConfigTest : public testing::Test {
 protected:
  void SetUp() override {
    home_ = fs::temp_directory_path() /
            ("ferry-client-config-" + std::to_string(getpid()) + "-" +
             testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(home_ / ".aws");
    env_["HOME"] = home_.string();
  }
  void TearDown() override { fs::remove_all(home_); }

  void Write(const std::string& relative, const std::string& text) {
    std::ofstream(home_ / relative) << text;
  }

  GetEnv Env() const {
    return [env = env_](const std::string& name) -> std::optional<std::string> {
      auto it = env.find(name);
      if (it == env.end()) return std::nullopt;
      return it->second;
    };
  }

  Result<ClientConfig> Resolve(const ClientFlags& flags = {}) {
    return ResolveClientConfig(flags, Env());
  }

  fs::path home_;
  std::map<std::string, std::string> env_;
};

TEST_F(ClientConfigTest, NothingConfiguredIsTheAwsCliMessage) {
  Result<ClientConfig> c = Resolve();
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(),
            "Unable to locate credentials. You can configure credentials by "
            "running \"aws configure\".");
}

TEST_F(ClientConfigTest, EnvironmentKeysAndDefaults) {
  env_["AWS_ACCESS_KEY_ID"] = "AKIDENV";
  env_["AWS_SECRET_ACCESS_KEY"] = "envsecret";
  env_["AWS_SESSION_TOKEN"] = "envtoken";
  Result<ClientConfig> c = Resolve();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->credentials.access_key_id, "AKIDENV");
  EXPECT_EQ(c->credentials.secret_access_key, "envsecret");
  EXPECT_EQ(c->credentials.session_token, "envtoken");
  EXPECT_EQ(c->region, "ferry-local");
  EXPECT_EQ(c->endpoint_url, "https://127.0.0.1:8443");
  EXPECT_EQ(c->ca_bundle, "");
  EXPECT_TRUE(c->verify_tls);
  EXPECT_EQ(c->profile, "default");
}

TEST_F(ClientConfigTest, PartialEnvironmentKeys) {
  env_["AWS_ACCESS_KEY_ID"] = "AKIDENV";
  Result<ClientConfig> c = Resolve();
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(),
            "Partial credentials found in env, missing: AWS_SECRET_ACCESS_KEY");
}

TEST_F(ClientConfigTest, SharedCredentialsAndConfigFiles) {
  Write(".aws/credentials",
        "# comment\n[default]\naws_access_key_id = AKIDDEFAULT\n"
        "aws_secret_access_key=defaultsecret\n\n"
        "[ops]\nAWS_ACCESS_KEY_ID = AKIDOPS\naws_secret_access_key = "
        "opssecret\naws_session_token = opstoken\n");
  Write(".aws/config",
        "[default]\nregion = eu-west-1\n"
        "[profile ops]\nregion = ops-region\nendpoint_url = "
        "https://ferry.internal:8443\nca_bundle = ~/ca.pem\n"
        "s3 =\n  max_concurrent_requests = 4\n");
  Result<ClientConfig> c = Resolve();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->credentials.access_key_id, "AKIDDEFAULT");
  EXPECT_EQ(c->region, "eu-west-1");

  ClientFlags flags;
  flags.profile = "ops";
  c = Resolve(flags);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->credentials.access_key_id, "AKIDOPS");
  EXPECT_EQ(c->credentials.session_token, "opstoken");
  EXPECT_EQ(c->region, "ops-region");
  EXPECT_EQ(c->endpoint_url, "https://ferry.internal:8443");
  EXPECT_EQ(c->ca_bundle, (home_ / "ca.pem").string());

  // AWS_PROFILE chooses it too; the flags win over the profile's settings.
  env_["AWS_PROFILE"] = "ops";
  flags = {};
  flags.region = "flag-region";
  flags.endpoint_url = "http://127.0.0.1:9";
  flags.ca_bundle = "/etc/ca.pem";
  flags.no_verify_ssl = true;
  c = Resolve(flags);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->credentials.access_key_id, "AKIDOPS");
  EXPECT_EQ(c->region, "flag-region");
  EXPECT_EQ(c->endpoint_url, "http://127.0.0.1:9");
  EXPECT_EQ(c->ca_bundle, "/etc/ca.pem");
  EXPECT_FALSE(c->verify_tls);
}

TEST_F(ClientConfigTest, EnvironmentKeysBeatProfilesUnlessOneIsGiven) {
  Write(".aws/credentials",
        "[ops]\naws_access_key_id = AKIDOPS\naws_secret_access_key = x\n");
  env_["AWS_ACCESS_KEY_ID"] = "AKIDENV";
  env_["AWS_SECRET_ACCESS_KEY"] = "envsecret";
  env_["AWS_PROFILE"] = "ops";
  Result<ClientConfig> c = Resolve();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->credentials.access_key_id, "AKIDENV");
  ClientFlags flags;
  flags.profile = "ops";
  c = Resolve(flags);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->credentials.access_key_id, "AKIDOPS");
}

TEST_F(ClientConfigTest, CredentialsInTheConfigFile) {
  Write(".aws/config",
        "[profile cfg]\naws_access_key_id = AKIDCFG\naws_secret_access_key = "
        "cfgsecret\n");
  ClientFlags flags;
  flags.profile = "cfg";
  Result<ClientConfig> c = Resolve(flags);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->credentials.access_key_id, "AKIDCFG");
}

TEST_F(ClientConfigTest, FilesNamedByTheEnvironment) {
  Write("creds",
        "[default]\naws_access_key_id = AKIDFILE\n"
        "aws_secret_access_key = filesecret\n");
  Write("conf", "[default]\nregion = file-region\n");
  env_["AWS_SHARED_CREDENTIALS_FILE"] = (home_ / "creds").string();
  env_["AWS_CONFIG_FILE"] = (home_ / "conf").string();
  env_["AWS_ENDPOINT_URL"] = "http://generic:1";
  env_["AWS_ENDPOINT_URL_DATASYNC"] = "http://datasync:2";
  env_["AWS_CA_BUNDLE"] = "/env/ca.pem";
  Result<ClientConfig> c = Resolve();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->credentials.access_key_id, "AKIDFILE");
  EXPECT_EQ(c->region, "file-region");
  EXPECT_EQ(c->endpoint_url, "http://datasync:2");
  EXPECT_EQ(c->ca_bundle, "/env/ca.pem");
  env_["AWS_DEFAULT_REGION"] = "default-region";
  env_["AWS_REGION"] = "region";
  c = Resolve();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->region, "default-region");
  env_.erase("AWS_DEFAULT_REGION");
  c = Resolve();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->region, "region");
}

TEST_F(ClientConfigTest, UnknownProfile) {
  ClientFlags flags;
  flags.profile = "nope";
  Result<ClientConfig> c = Resolve(flags);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(),
            "The config profile (nope) could not be found");
}

TEST_F(ClientConfigTest, PartialProfile) {
  Write(".aws/credentials", "[default]\naws_access_key_id = AKID\n");
  Result<ClientConfig> c = Resolve();
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(),
            "Partial credentials found in shared-credentials-file, missing: "
            "aws_secret_access_key");
}

TEST(IniTest, Parse) {
  IniFile ini = ParseIni(
      "top = ignored\n[a]\nK = v \n; c\n# c\nx: y\n  nested = z\n[b c]\r\n"
      "k=v2\r\n");
  EXPECT_EQ(ini["a"]["k"], "v");
  EXPECT_EQ(ini["a"]["x"], "y");
  EXPECT_EQ(ini["a"].count("nested"), 0u);
  EXPECT_EQ(ini["b c"]["k"], "v2");
  EXPECT_EQ(ini.count("top"), 0u);
}

}  // namespace
}  // namespace ferry
