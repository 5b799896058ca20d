// Fuzzes ApiModel::ValidateInput, the server's check of every API request
// body against the DataSync model. The first line of the input picks the
// operation: an operation's name, or one byte indexing the model's operation
// list (so that every operation is reached without spelling its name), or
// anything else, an unknown operation. The rest is the request body as JSON;
// inputs whose rest is not JSON are skipped (the server answers them before
// validating), an empty rest is "{}" as on the server.
//
// An error must be worded as the service words it: "Unknown operation X";
// a SerializationException "The value at '...' must be ..." or "The request
// body must ..."; an InvalidRequestException "N validation error(s)
// detected: Value ... at '...' failed to satisfy constraint: ...", with N
// right. The values of sensitive members (SMB passwords, secret keys, SAS
// tokens) must never be echoed.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/control/model/api_model.h"

namespace {

using nlohmann::json;

size_t Count(std::string_view haystack, std::string_view needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string_view::npos;
       at = haystack.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

// Collects the strings the model marks sensitive, walking `value` along the
// shape `shape_name` as the validator does.
void SensitiveStrings(const ferry::ApiModel& model,
                      const std::string& shape_name, const json& value,
                      bool sensitive, int depth,
                      std::vector<std::string>* out) {
  const json* shape = model.Shape(shape_name);
  if (shape == nullptr || depth > 32) return;
  sensitive = sensitive || shape->value("sensitive", false);
  const std::string type = shape->value("type", "");
  auto ref = [](const json& member) -> std::string {
    return member.is_object() ? member.value("shape", "") : "";
  };
  if (type == "structure" && value.is_object() && shape->contains("members")) {
    for (const auto& [name, member] : (*shape)["members"].items()) {
      auto it = value.find(name);
      if (it == value.end()) continue;
      SensitiveStrings(
          model, ref(member), *it,
          sensitive || (member.is_object() && member.value("sensitive", false)),
          depth + 1, out);
    }
  } else if (type == "list" && value.is_array() && shape->contains("member")) {
    for (const json& element : value) {
      SensitiveStrings(model, ref((*shape)["member"]), element, sensitive,
                       depth + 1, out);
    }
  } else if (type == "map" && value.is_object() && shape->contains("value")) {
    for (const json& element : value) {
      SensitiveStrings(model, ref((*shape)["value"]), element, sensitive,
                       depth + 1, out);
    }
  } else if (type == "string" && value.is_string() && sensitive) {
    out->push_back(value.get<std::string>());
  }
}

bool IsAlnum(std::string_view s) {
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9'))) {
      return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const ferry::ApiModel& model = ferry::ApiModel::DataSync();
  static const std::vector<std::string> operations = model.OperationNames();
  if (operations.empty()) std::abort();

  std::string_view text(reinterpret_cast<const char*>(data), size);
  size_t nl = text.find('\n');
  std::string operation(text.substr(0, nl));
  std::string_view rest =
      nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
  const bool known = model.HasOperation(operation);
  if (!known && operation.size() == 1) {
    operation = operations[static_cast<unsigned char>(operation[0]) %
                           operations.size()];
  }
  json body = rest.empty() ? json::object()
                           : json::parse(rest, nullptr,
                                         /*allow_exceptions=*/false);
  if (body.is_discarded()) return 0;

  std::optional<ferry::ApiError> error = model.ValidateInput(operation, body);
  if (!model.HasOperation(operation)) {
    if (!error || error->type != "UnknownOperationException" ||
        error->http_status != 400 ||
        error->message != "Unknown operation " + operation) {
      std::abort();
    }
    return 0;
  }
  if (!error) {
    if (!body.is_object()) std::abort();
    return 0;
  }
  const std::string& m = error->message;
  if (error->http_status != 400 || m.empty()) std::abort();
  if (error->type == "SerializationException") {
    if (!m.starts_with("The value at '") &&
        !m.starts_with("The request body must ")) {
      std::abort();
    }
    if (!body.is_object() && !m.starts_with("The request body must ")) {
      std::abort();
    }
  } else if (error->type == "InvalidRequestException") {
    if (!body.is_object()) std::abort();
    // "N validation error(s) detected: Value ...".
    size_t digits = 0;
    while (digits < m.size() && m[digits] >= '0' && m[digits] <= '9') ++digits;
    if (digits == 0 || m[0] == '0' || digits > 9) std::abort();
    const size_t n = std::stoul(m.substr(0, digits));
    const std::string_view after = std::string_view(m).substr(digits);
    const std::string_view lead = n == 1
                                      ? " validation error detected: Value "
                                      : " validation errors detected: Value ";
    if (!after.starts_with(lead)) std::abort();
    if (Count(m, " failed to satisfy constraint: ") < n) std::abort();
    if (Count(m, "; Value ") < n - 1) std::abort();
  } else {
    std::abort();
  }

  // Sensitive values stay out of messages.
  std::vector<std::string> secrets;
  SensitiveStrings(model, model.InputShape(operation), body, false, 0,
                   &secrets);
  if (!secrets.empty()) {
    const std::string dumped = body.dump();
    for (const std::string& s : secrets) {
      if (s.size() < 6 || !IsAlnum(s)) continue;
      // Only where the body holds it once: elsewhere it may be echoed.
      if (Count(dumped, s) != 1) continue;
      if (m.find("'" + s + "'") != std::string::npos ||
          m.find("\"" + s + "\"") != std::string::npos) {
        std::abort();
      }
    }
  }
  return 0;
}
