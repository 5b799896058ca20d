#include "ferry/control/model/api_model.h"

#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <utility>

#include "ferry/base/base64.h"
#include "ferry/control/model/model_pattern.h"

namespace ferry {

using nlohmann::json;

struct ApiModel::Index {
  // Structure shape -> member names in the model's order.
  std::map<std::string, std::vector<std::string>, std::less<>> members;
  // Pattern text -> compiled pattern (shapes share patterns).
  std::map<std::string, ModelPattern, std::less<>> patterns;
};

json ApiError::ToJson() const {
  json out = json::object();
  out["__type"] = type;
  out["message"] = message;
  if (!error_code.empty()) out["errorCode"] = error_code;
  return out;
}

namespace {

constexpr const char* kDataSyncModelPieces[] = {
#include "ferry/control/model/datasync_model.inc"
};

const json* Find(const json& object, std::string_view key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

std::string ShapeRef(const json* member) {
  if (member == nullptr || !member->is_object()) return "";
  const json* shape = Find(*member, "shape");
  return shape != nullptr && shape->is_string() ? shape->get<std::string>()
                                                : "";
}

// Java's String.length(): UTF-16 code units.
size_t Utf16Length(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80) ++n;      // a lead byte or ASCII
    if (c >= 0xF0 && c <= 0xF4) ++n;  // a surrogate pair
  }
  return n;
}

std::string JsonKind(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::object:
      return "an object";
    case json::value_t::array:
      return "an array";
    case json::value_t::string:
      return "a string";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "an integer";
    case json::value_t::number_float:
      return "a number with a fraction";
    default:
      return "a binary value";
  }
}

std::string Dump(const json& v) {
  return v.dump(-1, ' ', false, json::error_handler_t::replace);
}

// Whether `v` holds arrays or objects nested more than `levels` deep (`v`
// itself being level 1); recurses at most `levels` deep.
bool NestedDeeperThan(const json& v, int levels) {
  if (!v.is_structured()) return false;
  if (levels == 0) return true;
  for (const json& element : v) {
    if (NestedDeeperThan(element, levels - 1)) return true;
  }
  return false;
}

// A value as the service's messages show it: strings bare, lists as
// "[a, b]", structures as JSON.
std::string Render(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_array()) {
    std::string out = "[";
    for (size_t i = 0; i < v.size(); ++i) {
      if (i > 0) out += ", ";
      out += Render(v[i]);
    }
    return out + "]";
  }
  return Dump(v);
}

using MemberOrder =
    std::map<std::string, std::vector<std::string>, std::less<>>;
using PatternMap = std::map<std::string, ModelPattern, std::less<>>;

// Walks a value along its shape. Input mode reports as the service does
// (lowerCamelCase paths, list elements as 'tags.1.member', the first wrong
// JSON type ends the walk as a serialization error, unknown members are
// ignored); output mode reports everything it finds, with the JSON's own
// names ('Tags[0].Key').
class Validator {
 public:
  Validator(const json& shapes, const MemberOrder& members,
            const PatternMap& patterns, bool output)
      : shapes_(shapes),
        members_(members),
        patterns_(patterns),
        output_(output) {}

  void Check(const std::string& shape_name, const json& value,
             const std::string& path, bool sensitive) {
    if (serialization_error_) return;
    const json* shape = Find(shapes_, shape_name);
    if (shape == nullptr) {
      violations_.push_back("the model has no shape " + shape_name);
      return;
    }
    sensitive = sensitive || shape->value("sensitive", false);
    std::string type = shape->value("type", "");
    if (type == "structure") {
      CheckStructure(shape_name, *shape, value, path);
    } else if (type == "list") {
      CheckList(*shape, value, path, sensitive);
    } else if (type == "map") {
      CheckMap(*shape, value, path, sensitive);
    } else if (type == "string") {
      CheckString(*shape, value, path, sensitive);
    } else if (type == "integer" || type == "long") {
      CheckInteger(*shape, type == "integer", value, path, sensitive);
    } else if (type == "boolean") {
      if (!value.is_boolean()) WrongType(path, "a boolean", value);
    } else if (type == "float" || type == "double") {
      if (!value.is_number()) WrongType(path, "a number", value);
    } else if (type == "timestamp") {
      // JSON 1.1 sends timestamps as epoch seconds.
      if (!value.is_number()) {
        WrongType(path, "a number (epoch seconds)", value);
      }
    } else if (type == "blob") {
      CheckBlob(*shape, value, path, sensitive);
    } else {
      violations_.push_back("shape " + shape_name + " has unknown type " +
                            type);
    }
  }

  const std::vector<std::string>& violations() const { return violations_; }
  const std::optional<std::string>& serialization_error() const {
    return serialization_error_;
  }

 private:
  std::string MemberPath(const std::string& path,
                         const std::string& name) const {
    std::string leaf = name;
    if (!output_ && !leaf.empty()) {
      leaf[0] =
          static_cast<char>(std::tolower(static_cast<unsigned char>(leaf[0])));
    }
    return path.empty() ? leaf : path + "." + leaf;
  }

  std::string ElementPath(const std::string& path, size_t i) const {
    if (output_) return path + "[" + std::to_string(i) + "]";
    return path + "." + std::to_string(i + 1) + ".member";
  }

  void Violation(const std::string& path, const json* value, bool sensitive,
                 const std::string& constraint) {
    std::string text = "Value ";
    if (value == nullptr) {
      text += "null ";
    } else if (!sensitive) {
      text += "'" + Render(*value) + "' ";
    }
    violations_.push_back(text + "at '" + path +
                          "' failed to satisfy constraint: " + constraint);
  }

  void WrongType(const std::string& path, const std::string& expected,
                 const json& value) {
    std::string where = !path.empty() ? "The value at '" + path + "'"
                        : output_     ? "The response body"
                                      : "The request body";
    std::string message =
        where + " must be " + expected + ", not " + JsonKind(value);
    if (output_) {
      violations_.push_back(std::move(message));
    } else {
      serialization_error_ = std::move(message);
    }
  }

  void CheckStructure(const std::string& shape_name, const json& shape,
                      const json& value, const std::string& path) {
    if (!value.is_object()) {
      WrongType(path, "an object", value);
      return;
    }
    const json* members = Find(shape, "members");
    std::set<std::string, std::less<>> required;
    if (const json* r = Find(shape, "required"); r && r->is_array()) {
      for (const json& name : *r) {
        if (name.is_string()) required.insert(name.get<std::string>());
      }
    }
    auto order = members_.find(shape_name);
    if (order != members_.end() && members != nullptr) {
      for (const std::string& name : order->second) {
        const json* member = Find(*members, name);
        std::string member_path = MemberPath(path, name);
        auto it = value.find(name);
        if (it == value.end() || it->is_null()) {
          if (required.count(name) > 0) {
            Violation(member_path, nullptr, false, "Member must not be null");
          }
          continue;
        }
        bool sensitive = member != nullptr && member->is_object() &&
                         member->value("sensitive", false);
        Check(ShapeRef(member), *it, member_path, sensitive);
        if (serialization_error_) return;
      }
    }
    if (output_) {
      for (auto it = value.begin(); it != value.end(); ++it) {
        if (members == nullptr || Find(*members, it.key()) == nullptr) {
          violations_.push_back("Unknown member at '" +
                                MemberPath(path, it.key()) + "'");
        }
      }
    }
  }

  void CheckLength(const json& shape, const json& value, size_t length,
                   const std::string& path, bool sensitive) {
    if (const json* min = Find(shape, "min"); min && min->is_number_integer() &&
                                              min->get<int64_t>() > 0 &&
                                              length < min->get<uint64_t>()) {
      Violation(path, &value, sensitive,
                "Member must have length greater than or equal to " +
                    std::to_string(min->get<int64_t>()));
    }
    if (const json* max = Find(shape, "max"); max && max->is_number_integer() &&
                                              max->get<int64_t>() >= 0 &&
                                              length > max->get<uint64_t>()) {
      Violation(path, &value, sensitive,
                "Member must have length less than or equal to " +
                    std::to_string(max->get<int64_t>()));
    }
  }

  void CheckList(const json& shape, const json& value, const std::string& path,
                 bool sensitive) {
    if (!value.is_array()) {
      WrongType(path, "an array", value);
      return;
    }
    CheckLength(shape, value, value.size(), path, sensitive);
    std::string member = ShapeRef(Find(shape, "member"));
    for (size_t i = 0; i < value.size(); ++i) {
      std::string element_path = ElementPath(path, i);
      if (value[i].is_null()) {
        Violation(element_path, nullptr, false, "Member must not be null");
        continue;
      }
      Check(member, value[i], element_path, sensitive);
      if (serialization_error_) return;
    }
  }

  void CheckMap(const json& shape, const json& value, const std::string& path,
                bool sensitive) {
    if (!value.is_object()) {
      WrongType(path, "an object", value);
      return;
    }
    CheckLength(shape, value, value.size(), path, sensitive);
    std::string key_shape = ShapeRef(Find(shape, "key"));
    std::string value_shape = ShapeRef(Find(shape, "value"));
    for (auto it = value.begin(); it != value.end(); ++it) {
      std::string entry_path = path + "." + it.key();
      Check(key_shape, json(it.key()), entry_path, sensitive);
      if (it->is_null()) {
        Violation(entry_path, nullptr, false, "Member must not be null");
      } else {
        Check(value_shape, *it, entry_path, sensitive);
      }
      if (serialization_error_) return;
    }
  }

  void CheckString(const json& shape, const json& value,
                   const std::string& path, bool sensitive) {
    if (!value.is_string()) {
      WrongType(path, "a string", value);
      return;
    }
    const std::string& s = value.get_ref<const std::string&>();
    if (const json* values = Find(shape, "enum");
        values && values->is_array()) {
      bool found = false;
      std::string set = "[";
      for (size_t i = 0; i < values->size(); ++i) {
        const json& e = (*values)[i];
        if (i > 0) set += ", ";
        if (e.is_string()) {
          set += e.get<std::string>();
          found = found || e.get_ref<const std::string&>() == s;
        }
      }
      if (!found) {
        Violation(path, &value, sensitive,
                  "Member must satisfy enum value set: " + set + "]");
      }
    }
    if (const json* p = Find(shape, "pattern"); p && p->is_string()) {
      auto it = patterns_.find(p->get_ref<const std::string&>());
      if (it != patterns_.end() && !it->second.FullMatch(s)) {
        Violation(path, &value, sensitive,
                  "Member must satisfy regular expression pattern: " +
                      p->get<std::string>());
      }
    }
    CheckLength(shape, value, Utf16Length(s), path, sensitive);
  }

  void CheckInteger(const json& shape, bool is_int32, const json& value,
                    const std::string& path, bool sensitive) {
    if (!value.is_number_integer()) {
      WrongType(path, "an integer", value);
      return;
    }
    int64_t low = is_int32 ? std::numeric_limits<int32_t>::min()
                           : std::numeric_limits<int64_t>::min();
    int64_t high = is_int32 ? std::numeric_limits<int32_t>::max()
                            : std::numeric_limits<int64_t>::max();
    bool fits =
        value.is_number_unsigned()
            ? value.get<uint64_t>() <= static_cast<uint64_t>(high)
            : value.get<int64_t>() >= low && value.get<int64_t>() <= high;
    if (!fits) {
      WrongType(path, is_int32 ? "a 32-bit integer" : "a 64-bit integer",
                value);
      return;
    }
    int64_t n = value.get<int64_t>();
    if (const json* min = Find(shape, "min");
        min && min->is_number_integer() && n < min->get<int64_t>()) {
      Violation(path, &value, sensitive,
                "Member must have value greater than or equal to " +
                    std::to_string(min->get<int64_t>()));
    }
    if (const json* max = Find(shape, "max");
        max && max->is_number_integer() && n > max->get<int64_t>()) {
      Violation(path, &value, sensitive,
                "Member must have value less than or equal to " +
                    std::to_string(max->get<int64_t>()));
    }
  }

  void CheckBlob(const json& shape, const json& value, const std::string& path,
                 bool sensitive) {
    if (!value.is_string()) {
      WrongType(path, "a base64 string", value);
      return;
    }
    std::optional<std::string> bytes =
        Base64Decode(value.get_ref<const std::string&>());
    if (!bytes) {
      std::string message = "The value at '" + path + "' is not valid base64";
      if (output_) {
        violations_.push_back(std::move(message));
      } else {
        serialization_error_ = std::move(message);
      }
      return;
    }
    CheckLength(shape, value, bytes->size(), path, sensitive);
  }

  const json& shapes_;
  const MemberOrder& members_;
  const PatternMap& patterns_;
  const bool output_;
  std::vector<std::string> violations_;
  std::optional<std::string> serialization_error_;
};

}  // namespace

const ApiModel& ApiModel::DataSync() {
  static const ApiModel* const model = [] {
    std::string text;
    for (const char* piece : kDataSyncModelPieces) text += piece;
    Result<ApiModel> parsed = FromText(text);
    if (!parsed.ok()) {
      std::fprintf(stderr, "ferry: the embedded API model is broken: %s\n",
                   parsed.status().ToString().c_str());
      std::abort();
    }
    return new ApiModel(std::move(parsed).value());
  }();
  return *model;
}

Result<ApiModel> ApiModel::FromJson(json model) {
  return Build(std::move(model), nullptr);
}

Result<ApiModel> ApiModel::FromText(std::string_view model_json) {
  nlohmann::ordered_json ordered =
      nlohmann::ordered_json::parse(model_json, nullptr, false);
  if (ordered.is_discarded()) {
    return Status::InvalidArgument("the API model is not valid JSON");
  }
  json model = json::parse(model_json);
  return Build(std::move(model), &ordered);
}

Result<ApiModel> ApiModel::Build(json model,
                                 const nlohmann::ordered_json* ordered) {
  const json* shapes = Find(model, "shapes");
  const json* operations = Find(model, "operations");
  if (shapes == nullptr || !shapes->is_object() || operations == nullptr ||
      !operations->is_object()) {
    return Status::InvalidArgument(
        "an API model needs 'operations' and 'shapes' objects");
  }
  auto index = std::make_shared<Index>();
  auto check_ref = [&](const json* ref, const std::string& where) -> Status {
    std::string name = ShapeRef(ref);
    if (name.empty() || Find(*shapes, name) == nullptr) {
      return Status::InvalidArgument(where + " names a missing shape '" + name +
                                     "'");
    }
    return Status::Ok();
  };
  for (auto op = operations->begin(); op != operations->end(); ++op) {
    for (const char* part : {"input", "output"}) {
      if (const json* ref = Find(*op, part)) {
        FERRY_RETURN_IF_ERROR(check_ref(ref, "operation " + op.key()));
      }
    }
  }
  for (auto it = shapes->begin(); it != shapes->end(); ++it) {
    const json& shape = *it;
    std::string type = shape.value("type", "");
    std::string where = "shape " + it.key();
    if (type == "structure") {
      std::vector<std::string>& names = index->members[it.key()];
      const nlohmann::ordered_json* ordered_members = nullptr;
      if (ordered != nullptr) {
        auto s = ordered->at("shapes").find(it.key());
        if (s != ordered->at("shapes").end() && s->contains("members")) {
          ordered_members = &s->at("members");
        }
      }
      if (const json* members = Find(shape, "members")) {
        if (!members->is_object()) {
          return Status::InvalidArgument(where + ": members is not an object");
        }
        for (auto m = members->begin(); m != members->end(); ++m) {
          FERRY_RETURN_IF_ERROR(check_ref(&*m, where + " member " + m.key()));
        }
        if (ordered_members != nullptr) {
          for (auto m = ordered_members->begin(); m != ordered_members->end();
               ++m) {
            names.push_back(m.key());
          }
        } else {
          for (auto m = members->begin(); m != members->end(); ++m) {
            names.push_back(m.key());
          }
        }
      }
    } else if (type == "list") {
      FERRY_RETURN_IF_ERROR(check_ref(Find(shape, "member"), where));
    } else if (type == "map") {
      FERRY_RETURN_IF_ERROR(check_ref(Find(shape, "key"), where));
      FERRY_RETURN_IF_ERROR(check_ref(Find(shape, "value"), where));
    }
    if (const json* pattern = Find(shape, "pattern")) {
      if (!pattern->is_string()) {
        return Status::InvalidArgument(where + ": pattern is not a string");
      }
      const std::string& text = pattern->get_ref<const std::string&>();
      if (index->patterns.find(text) == index->patterns.end()) {
        Result<ModelPattern> compiled = ModelPattern::Compile(text);
        if (!compiled.ok()) return compiled.status().WithContext(where);
        index->patterns.emplace(text, std::move(compiled).value());
      }
    }
  }
  return ApiModel(std::move(model), std::move(index));
}

bool ApiModel::HasOperation(std::string_view operation) const {
  return Find(model_["operations"], operation) != nullptr;
}

std::vector<std::string> ApiModel::OperationNames() const {
  std::vector<std::string> names;
  for (auto it = model_["operations"].begin(); it != model_["operations"].end();
       ++it) {
    names.push_back(it.key());
  }
  return names;
}

std::string ApiModel::InputShape(std::string_view operation) const {
  const json* op = Find(model_["operations"], operation);
  return op == nullptr ? "" : ShapeRef(Find(*op, "input"));
}

std::string ApiModel::OutputShape(std::string_view operation) const {
  const json* op = Find(model_["operations"], operation);
  return op == nullptr ? "" : ShapeRef(Find(*op, "output"));
}

const json* ApiModel::Shape(std::string_view name) const {
  return Find(model_["shapes"], name);
}

std::vector<std::string> ApiModel::MemberNames(std::string_view shape) const {
  auto it = index_->members.find(shape);
  return it == index_->members.end() ? std::vector<std::string>{} : it->second;
}

std::optional<ApiError> ApiModel::ValidateInput(std::string_view operation,
                                                const json& body) const {
  if (!HasOperation(operation)) {
    return ApiError{400, "UnknownOperationException",
                    "Unknown operation " + std::string(operation), ""};
  }
  if (NestedDeeperThan(body, kMaxInputDepth)) {
    return ApiError{400, "SerializationException",
                    "The request body must not nest arrays and objects more "
                    "than " +
                        std::to_string(kMaxInputDepth) + " levels deep",
                    ""};
  }
  std::string input = InputShape(operation);
  if (input.empty()) return std::nullopt;
  Validator validator(model_["shapes"], index_->members, index_->patterns,
                      /*output=*/false);
  validator.Check(input, body, "", false);
  if (validator.serialization_error()) {
    return ApiError{400, "SerializationException",
                    *validator.serialization_error(), ""};
  }
  const std::vector<std::string>& violations = validator.violations();
  if (violations.empty()) return std::nullopt;
  std::string message =
      std::to_string(violations.size()) +
      (violations.size() == 1 ? " validation error detected: "
                              : " validation errors detected: ");
  for (size_t i = 0; i < violations.size(); ++i) {
    if (i > 0) message += "; ";
    message += violations[i];
  }
  return ApiError{400, "InvalidRequestException", std::move(message), ""};
}

std::vector<std::string> ApiModel::ValidateOutput(std::string_view operation,
                                                  const json& body) const {
  if (!HasOperation(operation)) {
    return {"unknown operation " + std::string(operation)};
  }
  std::string output = OutputShape(operation);
  if (output.empty()) {
    if (body.is_object() && body.empty()) return {};
    return {"the operation has no output, but the body is " + Dump(body)};
  }
  Validator validator(model_["shapes"], index_->members, index_->patterns,
                      /*output=*/true);
  validator.Check(output, body, "", false);
  return validator.violations();
}

}  // namespace ferry
