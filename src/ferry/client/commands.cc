#include "ferry/client/commands.h"

#include <algorithm>
#include <iostream>

#include "ferry/client/cli_params.h"

namespace ferry {
namespace {

using nlohmann::json;

// Words one list option takes (below CLI11's limit for unlimited vectors).
constexpr int kMaxListWords = 1 << 20;

std::string ShapeType(const ApiModel& model, const std::string& shape) {
  const json* s = model.Shape(shape);
  return s == nullptr ? "" : s->value("type", "");
}

std::string MemberShapeOf(const ApiModel& model, const std::string& parent,
                          const std::string& member) {
  const json* s = model.Shape(parent);
  if (s == nullptr || !s->contains("members")) return "";
  const json& members = (*s)["members"];
  if (!members.contains(member)) return "";
  return members[member].value("shape", "");
}

// The help text of a member's option: what it takes.
std::string Describe(const ApiModel& model, const std::string& shape) {
  const json* s = model.Shape(shape);
  if (s == nullptr) return "";
  std::string type = s->value("type", "");
  if (type == "string" && s->contains("enum")) {
    std::string values;
    for (const json& v : (*s)["enum"]) {
      values += (values.empty() ? "" : " | ") + v.get<std::string>();
    }
    return "one of " + values;
  }
  if (type == "list") {
    std::string member = s->contains("member")
                             ? (*s)["member"].value("shape", "")
                             : std::string();
    std::string member_type = ShapeType(model, member);
    if (member_type == "structure") {
      return "list of " + member +
             ": a JSON array, or one shorthand word per element "
             "(Key=k1,Value=v1 Key=k2,Value=v2)";
    }
    return "list of " + member_type + "s: several words or a JSON array";
  }
  if (type == "structure") {
    std::string keys;
    for (const std::string& m : model.MemberNames(shape)) {
      keys += (keys.empty() ? "" : ",") + m + "=...";
    }
    return shape + ": JSON or shorthand " + keys;
  }
  if (type == "blob") return "bytes: the text given, or fileb://PATH";
  if (type == "integer" || type == "long") {
    std::string range;
    if (s->contains("min")) range += " >= " + (*s)["min"].dump();
    if (s->contains("max")) range += " <= " + (*s)["max"].dump();
    return "integer" + range;
  }
  return type;
}

std::string TypeName(const std::string& type) {
  if (type == "structure" || type == "map") return "JSON|SHORTHAND";
  if (type == "list") return "VALUE...";
  if (type == "integer" || type == "long") return "INT";
  if (type == "float" || type == "double") return "NUMBER";
  if (type == "blob") return "BYTES";
  return "TEXT";
}

void AddOperation(CLI::App& app, const ApiModel& model,
                  const std::string& operation, ApiOperationCommand* command) {
  command->operation = operation;
  command->name = CliName(operation);
  command->input_shape = model.InputShape(operation);
  std::vector<std::string> required;
  if (const json* input = model.Shape(command->input_shape);
      input != nullptr && input->contains("required")) {
    for (const json& r : (*input)["required"]) {
      required.push_back(r.get<std::string>());
    }
  }
  std::string description = "DataSync API " + operation + ".";
  CLI::App* sub = app.add_subcommand(command->name, description);
  command->app = sub;
  sub->group("API commands (as aws datasync)");

  std::vector<std::string> names = model.MemberNames(command->input_shape);
  command->members.reserve(names.size());  // the options point into them
  for (const std::string& member : names) {
    ApiMemberOption& m = command->members.emplace_back();
    m.member = member;
    m.shape = MemberShapeOf(model, command->input_shape, member);
    m.type = ShapeType(model, m.shape);
    m.option = "--" + CliName(member);
    m.required =
        std::find(required.begin(), required.end(), member) != required.end();
    std::string help = Describe(model, m.shape);
    if (m.required) help += " (required)";
    if (m.type == "boolean") {
      // const: CLI11 binds a flag to a non-const string passed here.
      const std::string flag_help = help;
      const std::string negated_help = "Sets " + m.option + " to false";
      m.given = sub->add_flag(m.option, flag_help);
      m.negated = sub->add_flag("--no-" + CliName(member), negated_help);
      continue;
    }
    m.given = sub->add_option(m.option, m.words, help);
    m.given->type_name(TypeName(m.type));
    if (m.type == "list") {
      // Not CLI11's unlimited vectors: those read "[a,b]" as two values,
      // while the aws CLI reads a JSON array.
      m.given->expected(1, kMaxListWords);
      m.given->allow_extra_args(false);
      m.given->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    } else {
      m.given->expected(1);
      m.given->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    }
  }

  AddClientFlags(sub, command->flags);
  sub->add_option("--cli-input-json", command->cli_input_json,
                  "The request as JSON (or file://PATH); options given on the "
                  "command line take precedence")
      ->group("Global options (as aws)");
}

std::string ErrorParsing(std::string_view option, std::string_view message) {
  return "Error parsing parameter '" + std::string(option) +
         "': " + std::string(message);
}

}  // namespace

void AddClientFlags(CLI::App* sub, ClientFlags& flags) {
  const char* kGlobal = "Global options (as aws)";
  sub->add_option("--endpoint-url", flags.endpoint_url,
                  "The ferry server's URL (default: AWS_ENDPOINT_URL, the "
                  "profile's endpoint_url, or " +
                      std::string(kDefaultEndpointUrl) + ")")
      ->group(kGlobal);
  sub->add_option("--ca-bundle", flags.ca_bundle,
                  "PEM file of the certificate authority to trust (default: "
                  "AWS_CA_BUNDLE, the profile's ca_bundle)")
      ->group(kGlobal);
  sub->add_option("--profile", flags.profile,
                  "Profile of ~/.aws/credentials and ~/.aws/config")
      ->group(kGlobal);
  sub->add_option("--region", flags.region,
                  "Region to sign for (default: AWS_DEFAULT_REGION, "
                  "AWS_REGION, the profile's region, or ferry-local)")
      ->group(kGlobal);
  sub->add_flag("--no-verify-ssl", flags.no_verify_ssl,
                "Do not verify the server's certificate")
      ->group(kGlobal);
}

Result<std::unique_ptr<ApiClient>> ConnectApiClient(const ClientFlags& flags,
                                                    const GetEnv& env) {
  FERRY_ASSIGN_OR_RETURN(ClientConfig config, ResolveClientConfig(flags, env));
  ApiClientOptions options;
  options.endpoint_url = config.endpoint_url;
  options.ca_bundle = config.ca_bundle;
  options.verify_tls = config.verify_tls;
  options.credentials = config.credentials;
  options.region = config.region;
  return ApiClient::Create(std::move(options));
}

ApiOperationCommand* ApiCommandArgs::Find(std::string_view operation) const {
  for (const auto& command : commands) {
    if (command->operation == operation) return command.get();
  }
  return nullptr;
}

const ApiOperationCommand* ApiCommandArgs::Selected() const {
  for (const auto& command : commands) {
    if (command->app != nullptr && command->app->parsed()) {
      return command.get();
    }
  }
  return nullptr;
}

void AddApiCommands(CLI::App& app, const ApiModel& model,
                    ApiCommandArgs& args) {
  args.model = &model;
  for (const std::string& operation : model.OperationNames()) {
    auto command = std::make_unique<ApiOperationCommand>();
    AddOperation(app, model, operation, command.get());
    args.commands.push_back(std::move(command));
  }
}

Result<json> BuildApiRequest(const ApiModel& model,
                             const ApiOperationCommand& command) {
  json request = json::object();
  std::vector<std::string> missing;
  for (const ApiMemberOption& m : command.members) {
    bool positive = m.given != nullptr && m.given->count() > 0;
    bool negative = m.negated != nullptr && m.negated->count() > 0;
    if (m.type == "boolean") {
      if (positive && negative) {
        return Status::InvalidArgument(
            "ferry: error: argument --no-" + CliName(m.member) +
            ": not allowed with argument " + m.option);
      }
      if (positive || negative) request[m.member] = positive;
    } else if (positive) {
      FERRY_ASSIGN_OR_RETURN(
          request[m.member],
          ParseMemberValue(model, m.shape, m.option, m.words));
    }
  }
  if (!command.cli_input_json.empty()) {
    Result<std::string> text = ResolveParamFile(command.cli_input_json);
    if (!text.ok()) {
      return Status::InvalidArgument(
          ErrorParsing("cli-input-json", text.status().message()));
    }
    json input = json::parse(*text, nullptr, /*allow_exceptions=*/false);
    if (input.is_discarded() || !input.is_object()) {
      return Status::InvalidArgument(ErrorParsing(
          "cli-input-json",
          "Invalid JSON: not a JSON object\nJSON received: " + *text));
    }
    for (auto it = input.begin(); it != input.end(); ++it) {
      if (!request.contains(it.key())) request[it.key()] = *it;
    }
  } else {
    for (const ApiMemberOption& m : command.members) {
      if (m.required && !request.contains(m.member)) {
        missing.push_back(m.option);
      }
    }
    if (!missing.empty()) {
      std::string list;
      for (const std::string& option : missing) {
        list += (list.empty() ? "" : ", ") + option;
      }
      return Status::InvalidArgument(
          "ferry: error: the following arguments are required: " + list);
    }
  }
  if (!command.input_shape.empty()) {
    FERRY_RETURN_IF_ERROR(ValidateParams(model, command.input_shape, request));
    EncodeBlobs(model, command.input_shape, &request);
  }
  return request;
}

int RunApiCommand(const ApiCommandArgs& args, const ApiCommandHooks& hooks) {
  std::ostream& out = hooks.out != nullptr ? *hooks.out : std::cout;
  std::ostream& err = hooks.err != nullptr ? *hooks.err : std::cerr;
  const ApiOperationCommand* command = args.Selected();
  if (command == nullptr || args.model == nullptr) return 2;

  Result<json> request = BuildApiRequest(*args.model, *command);
  if (!request.ok()) {
    err << request.status().message() << "\n";
    return 2;
  }
  Result<std::unique_ptr<ApiClient>> client = ConnectApiClient(
      command->flags, hooks.env ? hooks.env : ProcessEnvironment());
  if (!client.ok()) {
    err << client.status().message() << "\n";
    return 1;
  }
  Result<std::string> raw = (*client)->CallRaw(
      command->operation,
      request->dump(-1, ' ', false, json::error_handler_t::replace));
  if (!raw.ok()) {
    ApiErrorParts error = ApiErrorOf(raw.status());
    if (error.type.empty()) {
      err << error.message << "\n";
    } else {
      err << "An error occurred (" << error.type << ") when calling the "
          << command->operation << " operation: " << error.message << "\n";
    }
    return 1;
  }
  nlohmann::ordered_json response = nlohmann::ordered_json::parse(
      raw->empty() ? std::string("{}") : *raw, nullptr,
      /*allow_exceptions=*/false);
  if (response.is_discarded()) {
    err << "The response to " << command->operation
        << " is not JSON: " << raw->substr(0, 200) << "\n";
    return 1;
  }
  if (auto hook = hooks.after_call.find(command->operation);
      hook != hooks.after_call.end() && hook->second) {
    std::optional<int> code = hook->second(*command, **client, *request,
                                           json::parse(response.dump()));
    if (code) return *code;
  }
  if (!(response.is_object() && response.empty())) {
    out << response.dump(4, ' ', false, json::error_handler_t::replace) << "\n";
  }
  return 0;
}

}  // namespace ferry
