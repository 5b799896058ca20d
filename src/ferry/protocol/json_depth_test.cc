#include "ferry/protocol/json_depth.h"

#include <gtest/gtest.h>

#include <string>

#include "ferry/protocol/agent_protocol.h"

namespace ferry::protocol {
namespace {

std::string Nested(int levels, const std::string& open = "[",
                   const std::string& close = "]") {
  std::string s;
  for (int i = 0; i < levels; ++i) s += open;
  s += "1";
  for (int i = 0; i < levels; ++i) s += close;
  return s;
}

TEST(JsonDepthTest, AcceptsUpToTheLimit) {
  auto j = ParseJson(Nested(5), 5);
  ASSERT_TRUE(j.ok()) << j.status().ToString();
  EXPECT_EQ(j->dump(), "[[[[[1]]]]]");
  EXPECT_TRUE(ParseJson(R"({"a":{"b":[1,{"c":2}]}})", 4).ok());
  EXPECT_TRUE(ParseJson("17", 0).ok());  // a scalar has no depth
}

TEST(JsonDepthTest, RefusesOneLevelMore) {
  auto j = ParseJson(Nested(6), 5);
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(j.status().message(), "nested more than 5 levels deep");
  EXPECT_FALSE(ParseJson(R"({"a":{"b":[1,{"c":2}]}})", 3).ok());
}

TEST(JsonDepthTest, DeepInputIsRefusedNotWalked) {
  // 200,000 levels: what crashed the server (its copy recursed per level).
  for (const auto& [open, close] :
       {std::pair<std::string, std::string>{"[", "]"}, {"{\"a\":", "}"}}) {
    auto j = ParseJson(Nested(200000, open, close), kMaxJsonDepth);
    ASSERT_FALSE(j.ok());
    EXPECT_EQ(j.status().message(), "nested more than 64 levels deep");
  }
  // Unterminated too: the depth is refused before the end is looked for.
  EXPECT_FALSE(ParseJson(std::string(200000, '['), kMaxJsonDepth).ok());
}

TEST(JsonDepthTest, SyntaxErrorsAreCleanErrors) {
  for (const char* bad : {"", "{", "[1,", "{\"a\" 1}", "nul", "[1]]"}) {
    auto j = ParseJson(bad, 10);
    ASSERT_FALSE(j.ok()) << bad;
    EXPECT_EQ(j.status().message(), "not valid JSON") << bad;
  }
}

// The agent protocol's decoders parse through it: a sync request whose
// Describe nests 200,000 levels is a clean error.
TEST(JsonDepthTest, AgentMessagesAreBounded) {
  std::string body =
      R"({"ProtocolVersion":1,"Executions":[{"ExecutionArn":"e","Status":"S","Describe":)" +
      Nested(200000, "{\"a\":", "}") + "}]}";
  auto m = DecodeSyncRequest(body);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().message(),
            "sync request is nested more than 64 levels deep");
}

}  // namespace
}  // namespace ferry::protocol
