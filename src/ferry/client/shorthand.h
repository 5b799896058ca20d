// The aws CLI's shorthand syntax for structure arguments, parsed as the aws
// CLI parses it (awscli/shorthand.py), purely syntactically:
//
//   VerifyMode=NONE,TransferMode=ALL       {"VerifyMode": "NONE", ...}
//   Key=a,Values=x,y,z                     {"Key": "a", "Values": [x, y, z]}
//   Options={Mtime=NONE,Atime=NONE}        nested structure
//   Values=[a,b],Name='quoted, value'      explicit list, quoted values
//
// Every leaf is a string; the model decides later what is a number, a
// boolean or a one-element list (ApplyShapeTypes in cli_params.h). Errors
// are worded as the aws CLI words them and point at the offending
// character. Pure functions; thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

#include "ferry/base/status.h"

namespace ferry {

// Returns an object; InvalidArgument with the aws CLI's message on a syntax
// error or a repeated key. `key@=file://path` reads the value from a file.
Result<nlohmann::json> ParseShorthand(std::string_view text);

}  // namespace ferry
