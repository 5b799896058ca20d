#include "ferry/agent/agent.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

namespace ferry::agent {
namespace {

// --server is checked before anything else is looked at, so these need no
// data directory or CA bundle.
TEST(AgentOpenTest, TheServerUrlIsOneHttpsOriginAndBadOnesAreNamed) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"http://127.0.0.1:8443", "must be an https:// URL"},
      {"https://127.0.0.1:8443/api", "takes no path"},
      {"127.0.0.1:8443", "--server: bad URL '127.0.0.1:8443': expected"},
      {"https://127.0.0.1:0",
       "--server: bad URL 'https://127.0.0.1:0': the "
       "port 0 is not in 1..65535"},
      {"https://[::1:8443", "without a closing ']'"},
      {"https://::1:8443", "in brackets"},
      {"https://h:8443x", "'8443x' is not a decimal number"},
  };
  for (const auto& [url, why] : cases) {
    AgentConfig config;
    config.server_url = url;
    auto agent = Agent::Open(config);
    ASSERT_FALSE(agent.ok()) << url;
    EXPECT_EQ(agent.status().code(), StatusCode::kInvalidArgument) << url;
    const std::string message(agent.status().message());
    EXPECT_NE(message.find(why), std::string::npos) << url << ": " << message;
  }
  // A good URL gets past the check: what fails next is the data directory.
  for (const char* url : {"https://127.0.0.1:8443", "https://[::1]:8443/",
                          "https://ferry.example.com"}) {
    AgentConfig config;
    config.server_url = url;
    auto agent = Agent::Open(config);
    ASSERT_FALSE(agent.ok()) << url;
    EXPECT_EQ(agent.status().message(), "--data-dir is required") << url;
  }
}

TEST(AgentOpenTest, AllowedPathsMustBeAbsolute) {
  char tmpl[] = "/tmp/ferry-agent-open-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  std::ofstream(dir + "/ca.pem") << "-----BEGIN CERTIFICATE-----\n";
  AgentConfig config;
  config.server_url = "https://127.0.0.1:8443";
  config.data_dir = dir + "/agent";
  config.ca_bundle = dir + "/ca.pem";
  config.storage.allowed_paths = {"/srv/data", "data"};
  auto agent = Agent::Open(config);
  ASSERT_FALSE(agent.ok());
  EXPECT_EQ(agent.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(agent.status().message(),
            "--allowed-path data: 'data' is not an absolute path");
  config.storage.allowed_paths = {"/srv/data", "/srv/../backup"};
  EXPECT_TRUE(Agent::Open(config).ok());
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace ferry::agent
