// Fuzzes ParseShorthand, the aws CLI shorthand syntax of the client
// commands' structure arguments (--options VerifyMode=NONE,...), which
// users paste from documentation and scripts. The whole input is the
// argument.
//
// `key@=file://PATH` and `key@=fileb://PATH` read files, so inputs holding
// "file://" or "fileb://" are skipped: the target reads no files (the
// parser's unescaping only ever removes a backslash before a ',', a quote
// or a backslash, so it cannot make either prefix out of other text).
//
// A parsed argument must be a non-empty object whose keys are key
// characters and whose leaves are strings (in objects and lists); a syntax
// error must be InvalidArgument worded as the aws CLI words it, with the
// input and a caret under the offending character.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string_view>

#include "ferry/client/shorthand.h"

namespace {

using nlohmann::json;

bool IsKey(std::string_view key) {
  for (char c : key) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
          c == '#' || c == '/' || c == ':')) {
      return false;
    }
  }
  return true;
}

void CheckValue(const json& v) {
  if (v.is_string()) return;
  if (v.is_array()) {
    for (const json& e : v) CheckValue(e);
    return;
  }
  if (v.is_object()) {
    for (const auto& [key, e] : v.items()) {
      if (!IsKey(key)) std::abort();
      CheckValue(e);
    }
    return;
  }
  std::abort();  // numbers, booleans and nulls are the model's business
}

// `location` is the input with a line holding a caret inserted after the
// line of the offending character (the caret at most one past its end).
bool IsLocation(std::string_view location, std::string_view input) {
  size_t common = 0;
  while (common < location.size() && common < input.size() &&
         location[common] == input[common]) {
    ++common;
  }
  size_t line_start = 0;
  for (size_t k = 0; k <= common; ++k) {
    if (k < input.size() && input[k] != '\n') continue;
    // input[0, k) is the text shown before the caret line.
    if (k < location.size() && location[k] == '\n') {
      size_t at = k + 1;
      size_t spaces = 0;
      while (at < location.size() && location[at] == ' ') ++at, ++spaces;
      if (at < location.size() && location[at] == '^' &&
          spaces <= k - line_start &&
          location.substr(at + 1) == input.substr(k)) {
        return true;
      }
    }
    line_start = k + 1;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (text.find("file://") != std::string_view::npos ||
      text.find("fileb://") != std::string_view::npos) {
    return 0;
  }
  auto parsed = ferry::ParseShorthand(text);
  if (parsed.ok()) {
    if (!parsed->is_object() || parsed->empty()) std::abort();
    CheckValue(*parsed);
    return 0;
  }
  if (parsed.status().code() != ferry::StatusCode::kInvalidArgument) {
    std::abort();
  }
  std::string_view m = parsed.status().message();
  constexpr std::string_view kFor = " for input:\n";
  constexpr std::string_view kHint =
      "\nThis is often because there is a preceding \",\" instead of a "
      "space.";
  size_t at = m.find(kFor);
  if (at == std::string_view::npos) std::abort();
  std::string_view location = m.substr(at + kFor.size());
  if (m.starts_with("Second instance of key \"")) {
    if (!location.ends_with(kHint)) std::abort();
    location.remove_suffix(kHint.size());
  } else if (!m.starts_with("Expected: '")) {
    std::abort();
  }
  if (!IsLocation(location, text)) std::abort();
  return 0;
}
