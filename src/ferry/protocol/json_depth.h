// ParseJson: nlohmann's parser with a bound on nesting. Deeply nested input
// is cheap to send and costly to receive: nlohmann's copies, dumps and
// comparisons of a value recurse once per level, and a request nested
// 200,000 levels deep overflows the stack. A first pass over the text (the
// SAX interface, no values built) counts the depth and stops at the first
// level too deep; only then is the value built. Every JSON body a peer
// sends goes through it. Pure function; thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

#include "ferry/base/status.h"

namespace ferry::protocol {

// Arrays and objects nested more deeply than this (the outermost value being
// level 1) are refused in agent messages: theirs nest a few levels.
inline constexpr int kMaxJsonDepth = 64;

// `text` as JSON, or InvalidArgument: "not valid JSON", or "nested more than
// N levels deep".
Result<nlohmann::json> ParseJson(std::string_view text, int max_depth);

}  // namespace ferry::protocol
