// The API client commands: `ferry <operation>` for every operation of the
// API model, named and optioned as `aws datasync` names them, so that
//
//   aws datasync create-task --source-location-arn A
//       --destination-location-arn B --options VerifyMode=NONE
//       --endpoint-url https://ferry:8443
//
// works unchanged with `ferry` in place of `aws datasync`. Each operation is
// a subcommand (create-task, describe-task-execution, create-location-local,
// ...) with one option per member of its input (--source-location-arn,
// --options, --tags ...), values parsed by the member's shape (see
// cli_params.h), members the model requires enforced, --cli-input-json, and
// the aws CLI's global options (--endpoint-url, --ca-bundle, --profile,
// --region, --no-verify-ssl; credentials as in client_config.h). The
// response is printed as `aws --output json` prints it (four-space indents,
// the server's member order, timestamps as epoch seconds).
//
// Exit status: 0 on success; 1 when the request failed (an error response,
// no connection, no credentials); 2 when the command line was rejected
// before anything was sent.
//
// Registration fills an ApiCommandArgs that must outlive parsing; running
// is single-threaded.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <iosfwd>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/base/status.h"
#include "ferry/client/api_client.h"
#include "ferry/client/client_config.h"
#include "ferry/control/model/api_model.h"

namespace ferry {

// One input member's option.
struct ApiMemberOption {
  std::string member;  // "SourceLocationArn"
  std::string shape;   // its shape in the model
  std::string type;    // the shape's type: string, list, structure, ...
  std::string option;  // "--source-location-arn"
  bool required = false;
  std::vector<std::string> words;  // as given on the command line
  CLI::Option* given = nullptr;    // --x
  CLI::Option* negated = nullptr;  // --no-x (booleans only)
};

// One operation's subcommand and what its command line gave.
struct ApiOperationCommand {
  std::string operation;    // "CreateTask"
  std::string name;         // "create-task"
  std::string input_shape;  // "" if the operation takes no input
  CLI::App* app = nullptr;
  std::vector<ApiMemberOption> members;  // in the model's order
  ClientFlags flags;
  std::string cli_input_json;  // JSON, or file://PATH
};

struct ApiCommandArgs {
  const ApiModel* model = nullptr;
  std::vector<std::unique_ptr<ApiOperationCommand>> commands;

  // The command of an operation (by the model's name, "StartTaskExecution"),
  // e.g. to add options of its own to command->app; nullptr if none.
  ApiOperationCommand* Find(std::string_view operation) const;
  // The command the parsed command line chose, or nullptr.
  const ApiOperationCommand* Selected() const;
};

// Adds the aws CLI's global options (--endpoint-url, --ca-bundle,
// --profile, --region, --no-verify-ssl) to `app`, into `flags`.
void AddClientFlags(CLI::App* app, ClientFlags& flags);
// An ApiClient for the endpoint and credentials `flags` and the environment
// give (ResolveClientConfig's errors, or ApiClient::Create's).
Result<std::unique_ptr<ApiClient>> ConnectApiClient(const ClientFlags& flags,
                                                    const GetEnv& env);

// Adds one subcommand per operation of `model` to `app`. `model` and
// `args` must outlive parsing and running.
void AddApiCommands(CLI::App& app, const ApiModel& model, ApiCommandArgs& args);

// Extension points of RunApiCommand.
struct ApiCommandHooks {
  // Called after a successful call of an operation (keyed by the model's
  // name): the client (to make further calls), the request sent and the
  // response. Returns the exit status, having printed what it wants, or
  // nullopt to have the response printed as usual. This is where
  // `start-task-execution --wait` (an option added through
  // ApiCommandArgs::Find) polls DescribeTaskExecution and draws progress.
  using AfterCall = std::function<std::optional<int>(
      const ApiOperationCommand& command, ApiClient& client,
      const nlohmann::json& request, const nlohmann::json& response)>;
  std::map<std::string, AfterCall, std::less<>> after_call;

  // Where the response and the errors go (tests); default std::cout and
  // std::cerr.
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
  // The environment (tests); default the process's.
  GetEnv env;
};

// The request body the command line of `command` makes: its members'
// values, then --cli-input-json for the members not given, checked as the
// aws CLI checks it (required members, unknown members, JSON types), blobs
// base64-encoded. Errors carry the aws CLI's message.
Result<nlohmann::json> BuildApiRequest(const ApiModel& model,
                                       const ApiOperationCommand& command);

// Runs the selected command: builds the request, resolves the endpoint and
// credentials, calls, prints. Returns the exit status (2 if no API command
// was selected).
int RunApiCommand(const ApiCommandArgs& args,
                  const ApiCommandHooks& hooks = {});

}  // namespace ferry
