#include "ferry/client/cli_params.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "ferry/base/base64.h"
#include "ferry/client/shorthand.h"

namespace ferry {
namespace {

using nlohmann::json;

bool IsUpper(char c) { return c >= 'A' && c <= 'Z'; }
bool IsLower(char c) { return c >= 'a' && c <= 'z'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

std::string ShapeType(const ApiModel& model, const std::string& shape) {
  const json* s = model.Shape(shape);
  return s == nullptr ? "" : s->value("type", "");
}

std::string MemberShape(const json& parent, std::string_view key) {
  if (!parent.contains(key)) return "";
  const json& ref = parent[std::string(key)];
  return ref.is_object() ? ref.value("shape", "") : "";
}

std::string LeftTrimmed(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return std::string(s.substr(i));
}

std::string ParamError(std::string_view option, std::string_view message) {
  return "Error parsing parameter '" + std::string(option) +
         "': " + std::string(message);
}

// Python's int(): optional whitespace and sign, decimal digits.
std::optional<int64_t> ParseInt(std::string_view text) {
  std::string s(text);
  size_t start = 0, end = s.size();
  while (start < end && std::isspace(static_cast<unsigned char>(s[start]))) {
    ++start;
  }
  while (end > start && std::isspace(static_cast<unsigned char>(s[end - 1]))) {
    --end;
  }
  s = s.substr(start, end - start);
  size_t digits = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
  if (s.size() == digits) return std::nullopt;
  for (size_t i = digits; i < s.size(); ++i) {
    if (!IsDigit(s[i])) return std::nullopt;
  }
  errno = 0;
  long long v = std::strtoll(s.c_str(), nullptr, 10);
  if (errno == ERANGE) return std::nullopt;
  return v;
}

std::optional<double> ParseDouble(std::string_view text) {
  std::string s(text);
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(s.c_str(), &end);
  if (s.empty() || end == s.c_str() || errno == ERANGE) return std::nullopt;
  while (*end != '\0' && std::isspace(static_cast<unsigned char>(*end))) ++end;
  if (*end != '\0') return std::nullopt;
  return v;
}

Result<json> ParseScalar(const std::string& type, const std::string& value) {
  if (type == "integer" || type == "long") {
    std::optional<int64_t> n = ParseInt(value);
    if (!n) {
      return Status::InvalidArgument(
          "invalid literal for int() with base 10: '" + value + "'");
    }
    return json(*n);
  }
  if (type == "float" || type == "double") {
    std::optional<double> d = ParseDouble(value);
    if (!d) {
      return Status::InvalidArgument("could not convert string to float: '" +
                                     value + "'");
    }
    return json(*d);
  }
  if (type == "boolean") {
    std::string lower = value;
    for (char& c : lower) c = static_cast<char>(std::tolower(c));
    return json(lower != "false" && !value.empty());
  }
  if (type == "timestamp") {
    if (std::optional<double> d = ParseDouble(value)) return json(*d);
    return json(value);
  }
  return json(value);  // string, blob
}

Result<json> ParseJson(std::string_view option, const std::string& text) {
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    // nlohmann's message names the byte where parsing stopped.
    return Status::InvalidArgument(ParamError(
        option,
        std::string("Invalid JSON: ") + e.what() + "\nJSON received: " + text));
  }
}

// A structure (or map) value: JSON, the single-Value special case, or
// shorthand.
Result<json> ParseStructure(const ApiModel& model, const std::string& shape,
                            std::string_view option, const std::string& text) {
  std::string trimmed = LeftTrimmed(text);
  if (!trimmed.empty() && trimmed.front() == '{') {
    return ParseJson(option, text);
  }
  const json* s = model.Shape(shape);
  // A structure of one string member named Value takes the bare value.
  if (s != nullptr && s->value("type", "") == "structure" &&
      s->contains("members") && (*s)["members"].size() == 1 &&
      (*s)["members"].contains("Value") &&
      ShapeType(model, MemberShape((*s)["members"], "Value")) == "string" &&
      text.find('=') == std::string::npos) {
    return json({{"Value", text}});
  }
  Result<json> parsed = ParseShorthand(text);
  if (!parsed.ok()) {
    return Status::InvalidArgument(
        ParamError(option, parsed.status().message()));
  }
  json value = std::move(parsed).value();
  Status typed = ApplyShapeTypes(model, shape, &value);
  if (!typed.ok()) {
    return Status::InvalidArgument(ParamError(option, typed.message()));
  }
  return value;
}

std::string PythonType(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "<class 'NoneType'>";
    case json::value_t::object:
      return "<class 'dict'>";
    case json::value_t::array:
      return "<class 'list'>";
    case json::value_t::string:
      return "<class 'str'>";
    case json::value_t::boolean:
      return "<class 'bool'>";
    case json::value_t::number_float:
      return "<class 'float'>";
    default:
      return "<class 'int'>";
  }
}

std::string Shown(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  return v.dump(-1, ' ', false, json::error_handler_t::replace);
}

class ParamValidator {
 public:
  explicit ParamValidator(const ApiModel& model) : model_(model) {}

  void Validate(const json& value, const std::string& shape,
                const std::string& name) {
    const json* s = model_.Shape(shape);
    if (s == nullptr) return;
    std::string type = s->value("type", "");
    if (type == "structure") {
      if (!value.is_object()) return InvalidType(name, value, "<class 'dict'>");
      if (s->contains("required")) {
        for (const json& r : (*s)["required"]) {
          if (!value.contains(r.get<std::string>())) {
            errors_.push_back("Missing required parameter in " + Name(name) +
                              ": \"" + r.get<std::string>() + "\"");
          }
        }
      }
      std::vector<std::string> members = model_.MemberNames(shape);
      for (auto it = value.begin(); it != value.end(); ++it) {
        if (std::find(members.begin(), members.end(), it.key()) ==
            members.end()) {
          std::string valid;
          for (const std::string& m : members) {
            valid += (valid.empty() ? "" : ", ") + m;
          }
          errors_.push_back("Unknown parameter in " + Name(name) + ": \"" +
                            it.key() + "\", must be one of: " + valid);
          continue;
        }
        Validate(*it, MemberShape((*s)["members"], it.key()),
                 name + "." + it.key());
      }
    } else if (type == "list") {
      if (!value.is_array()) {
        return InvalidType(name, value, "<class 'list'>, <class 'tuple'>");
      }
      MinLength(*s, value.size(), name);
      std::string member = MemberShape(*s, "member");
      for (size_t i = 0; i < value.size(); ++i) {
        Validate(value[i], member, name + "[" + std::to_string(i) + "]");
      }
    } else if (type == "map") {
      if (!value.is_object()) return InvalidType(name, value, "<class 'dict'>");
      std::string value_shape = MemberShape(*s, "value");
      for (auto it = value.begin(); it != value.end(); ++it) {
        Validate(*it, value_shape, name + "." + it.key());
      }
    } else if (type == "string") {
      if (!value.is_string()) return InvalidType(name, value, "<class 'str'>");
      MinLength(*s, value.get_ref<const std::string&>().size(), name);
    } else if (type == "integer" || type == "long") {
      if (!value.is_number_integer()) {
        return InvalidType(name, value, "<class 'int'>");
      }
      if (s->contains("min") &&
          value.get<int64_t>() < (*s)["min"].get<int64_t>()) {
        errors_.push_back("Invalid value for parameter " + Name(name) +
                          ", value: " + Shown(value) + ", valid min value: " +
                          std::to_string((*s)["min"].get<int64_t>()));
      }
    } else if (type == "float" || type == "double") {
      if (!value.is_number()) {
        return InvalidType(name, value,
                           "<class 'float'>, <class 'decimal.Decimal'>, "
                           "<class 'int'>");
      }
    } else if (type == "boolean") {
      if (!value.is_boolean())
        return InvalidType(name, value, "<class 'bool'>");
    } else if (type == "blob") {
      if (!value.is_string()) {
        return InvalidType(name, value,
                           "<class 'bytes'>, <class 'bytearray'>, file-like "
                           "object");
      }
    } else if (type == "timestamp") {
      if (!value.is_number() && !value.is_string()) {
        return InvalidType(name, value,
                           "<class 'datetime.datetime'>, timestamp-string");
      }
    }
  }

  const std::vector<std::string>& errors() const { return errors_; }

 private:
  static std::string Name(const std::string& name) {
    if (name.empty()) return "input";
    return name.front() == '.' ? name.substr(1) : name;
  }

  void InvalidType(const std::string& name, const json& value,
                   const std::string& valid) {
    errors_.push_back("Invalid type for parameter " + Name(name) + ", value: " +
                      Shown(value) + ", type: " + PythonType(value) +
                      ", valid types: " + valid);
  }

  void MinLength(const json& shape, size_t length, const std::string& name) {
    if (shape.contains("min") && shape["min"].is_number_integer() &&
        static_cast<int64_t>(length) < shape["min"].get<int64_t>()) {
      errors_.push_back(
          "Invalid length for parameter " + Name(name) +
          ", value: " + std::to_string(length) +
          ", valid min length: " + std::to_string(shape["min"].get<int64_t>()));
    }
  }

  const ApiModel& model_;
  std::vector<std::string> errors_;
};

}  // namespace

std::string CliName(std::string_view name) {
  std::string s(name);
  if (s.find('-') != std::string::npos) return s;
  // An acronym pluralized at the end: GatewayARNs -> Gateway-arns.
  size_t upper_run = 0;
  if (s.size() >= 3 && s.back() == 's') {
    size_t i = s.size() - 1;
    while (i > 0 && IsUpper(s[i - 1])) {
      --i;
      ++upper_run;
    }
    if (upper_run >= 2) {
      std::string tail = s.substr(s.size() - upper_run - 1);
      for (char& c : tail) c = static_cast<char>(std::tolower(c));
      s = s.substr(0, s.size() - upper_run - 1) + "-" + tail;
    }
  }
  // (.)([A-Z][a-z]+) -> \1-\2
  std::string s1;
  for (size_t i = 0; i < s.size();) {
    if (i + 2 < s.size() && IsUpper(s[i + 1]) && IsLower(s[i + 2])) {
      size_t end = i + 2;
      while (end < s.size() && IsLower(s[end])) ++end;
      s1 += s[i];
      s1 += '-';
      s1 += s.substr(i + 1, end - i - 1);
      i = end;
    } else {
      s1 += s[i];
      ++i;
    }
  }
  // ([a-z0-9])([A-Z]) -> \1-\2, then lower case.
  std::string out;
  for (size_t i = 0; i < s1.size();) {
    if (i + 1 < s1.size() && (IsLower(s1[i]) || IsDigit(s1[i])) &&
        IsUpper(s1[i + 1])) {
      out += s1[i];
      out += '-';
      out += s1[i + 1];
      i += 2;
    } else {
      out += s1[i];
      ++i;
    }
  }
  for (char& c : out) c = static_cast<char>(std::tolower(c));
  return out;
}

Result<std::string> ResolveParamFile(std::string_view value) {
  for (std::string_view prefix : {"file://", "fileb://"}) {
    if (value.rfind(prefix, 0) != 0) continue;
    std::string path(value.substr(prefix.size()));
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      return Status::InvalidArgument("Unable to load paramfile " +
                                     std::string(value) + ": " + path +
                                     " cannot be read");
    }
    std::ostringstream contents;
    contents << in.rdbuf();
    return contents.str();
  }
  return std::string(value);
}

Result<json> ParseMemberValue(const ApiModel& model, const std::string& shape,
                              std::string_view option,
                              const std::vector<std::string>& words) {
  std::string type = ShapeType(model, shape);
  if (words.empty()) {
    return Status::InvalidArgument(ParamError(option, "expected one argument"));
  }
  if (type != "list") {
    Result<std::string> text = ResolveParamFile(words.back());
    if (!text.ok()) {
      return Status::InvalidArgument(
          ParamError(option, text.status().message()));
    }
    if (type == "structure" || type == "map") {
      return ParseStructure(model, shape, option, *text);
    }
    Result<json> scalar = ParseScalar(type, *text);
    if (!scalar.ok()) {
      return Status::InvalidArgument(
          ParamError(option, scalar.status().message()));
    }
    return scalar;
  }
  // A list: one JSON array, or one word per element.
  if (words.size() == 1) {
    Result<std::string> text = ResolveParamFile(words[0]);
    if (!text.ok()) {
      return Status::InvalidArgument(
          ParamError(option, text.status().message()));
    }
    std::string trimmed = LeftTrimmed(*text);
    if (!trimmed.empty() && trimmed.front() == '[') {
      return ParseJson(option, *text);
    }
  }
  const json* s = model.Shape(shape);
  std::string member = s == nullptr ? "" : MemberShape(*s, "member");
  std::string member_type = ShapeType(model, member);
  json list = json::array();
  for (const std::string& word : words) {
    if (member_type == "structure" || member_type == "map") {
      FERRY_ASSIGN_OR_RETURN(json element,
                             ParseStructure(model, member, option, word));
      list.push_back(std::move(element));
    } else if (member_type == "list") {
      FERRY_ASSIGN_OR_RETURN(json element, ParseJson(option, word));
      list.push_back(std::move(element));
    } else {
      Result<json> scalar = ParseScalar(member_type, word);
      if (!scalar.ok()) {
        return Status::InvalidArgument(
            ParamError(option, scalar.status().message()));
      }
      list.push_back(std::move(scalar).value());
    }
  }
  return list;
}

Status ApplyShapeTypes(const ApiModel& model, const std::string& shape,
                       json* value) {
  const json* s = model.Shape(shape);
  if (s == nullptr || value->is_null()) return Status::Ok();
  std::string type = s->value("type", "");
  if (type == "structure") {
    if (!value->is_object() || !s->contains("members")) return Status::Ok();
    for (auto it = value->begin(); it != value->end(); ++it) {
      std::string member = MemberShape((*s)["members"], it.key());
      if (!member.empty()) {
        FERRY_RETURN_IF_ERROR(ApplyShapeTypes(model, member, &*it));
      }
    }
  } else if (type == "list") {
    if (!value->is_array()) *value = json::array({std::move(*value)});
    std::string member = MemberShape(*s, "member");
    for (json& element : *value) {
      FERRY_RETURN_IF_ERROR(ApplyShapeTypes(model, member, &element));
    }
  } else if (type == "map") {
    if (!value->is_object()) return Status::Ok();
    std::string value_shape = MemberShape(*s, "value");
    for (auto it = value->begin(); it != value->end(); ++it) {
      FERRY_RETURN_IF_ERROR(ApplyShapeTypes(model, value_shape, &*it));
    }
  } else if (value->is_string()) {
    const std::string text = value->get<std::string>();
    if (type == "integer" || type == "long") {
      std::optional<int64_t> n = ParseInt(text);
      if (!n) {
        return Status::InvalidArgument(
            "invalid literal for int() with base 10: '" + text + "'");
      }
      *value = *n;
    } else if (type == "float" || type == "double") {
      std::optional<double> d = ParseDouble(text);
      if (!d) {
        return Status::InvalidArgument("could not convert string to float: '" +
                                       text + "'");
      }
      *value = *d;
    } else if (type == "boolean") {
      std::string lower = text;
      for (char& c : lower) c = static_cast<char>(std::tolower(c));
      if (lower == "true") *value = true;
      if (lower == "false") *value = false;
    }
  }
  return Status::Ok();
}

Status ValidateParams(const ApiModel& model, const std::string& input_shape,
                      const json& params) {
  ParamValidator validator(model);
  validator.Validate(params, input_shape, "");
  if (validator.errors().empty()) return Status::Ok();
  std::string message = "Parameter validation failed:";
  for (const std::string& e : validator.errors()) message += "\n" + e;
  return Status::InvalidArgument(std::move(message));
}

void EncodeBlobs(const ApiModel& model, const std::string& shape,
                 json* params) {
  const json* s = model.Shape(shape);
  if (s == nullptr) return;
  std::string type = s->value("type", "");
  if (type == "blob" && params->is_string()) {
    *params = Base64Encode(params->get_ref<const std::string&>());
  } else if (type == "structure" && params->is_object() &&
             s->contains("members")) {
    for (auto it = params->begin(); it != params->end(); ++it) {
      std::string member = MemberShape((*s)["members"], it.key());
      if (!member.empty()) EncodeBlobs(model, member, &*it);
    }
  } else if (type == "list" && params->is_array()) {
    std::string member = MemberShape(*s, "member");
    for (json& element : *params) EncodeBlobs(model, member, &element);
  } else if (type == "map" && params->is_object()) {
    std::string value_shape = MemberShape(*s, "value");
    for (auto it = params->begin(); it != params->end(); ++it) {
      EncodeBlobs(model, value_shape, &*it);
    }
  }
}

}  // namespace ferry
