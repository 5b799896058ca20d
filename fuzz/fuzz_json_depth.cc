// Fuzzes the depth-bounded JSON parser every peer's body goes through: it
// must never crash, must accept exactly what nlohmann accepts when the
// nesting is within the bound, and must never return a value nested more
// deeply than the bound.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string_view>

#include "ferry/protocol/json_depth.h"

namespace {

constexpr int kDepth = 8;

// The depth of `v`, walking at most `limit + 1` levels.
int Depth(const nlohmann::json& v, int limit) {
  if (!v.is_structured()) return 0;
  if (limit < 0) return 1;
  int deepest = 0;
  for (const auto& element : v) {
    deepest = std::max(deepest, Depth(element, limit - 1));
  }
  return deepest + 1;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = ferry::protocol::ParseJson(text, kDepth);
  if (parsed.ok()) {
    if (!nlohmann::json::accept(text)) std::abort();
    if (Depth(*parsed, kDepth) > kDepth) std::abort();
  } else if (parsed.status().message() == "not valid JSON") {
    if (nlohmann::json::accept(text)) std::abort();
  }
  return 0;
}
