// From command-line words to a request body, by the API model, as the aws
// CLI does it (awscli/argprocess.py, awscli/shorthand.py's
// BackCompatVisitor, botocore/validate.py):
//   - scalars as given: strings, integers, floats; booleans true/false;
//     blobs as the bytes given (aws CLI v1), base64-encoded on the wire;
//   - lists of scalars as several words, or one JSON array;
//   - structures (and maps) as JSON when the value starts with '{', else as
//     shorthand (Key=Value,Key2=Value2);
//   - lists of structures as one JSON array, or one word per element, each
//     JSON or shorthand (Key=k1,Value=v1 Key=k2,Value=v2);
//   - any value may be file://PATH (the file's text) or fileb://PATH (its
//     bytes).
// Then botocore's client-side checks: required and unknown members, JSON
// types, minimum lengths and values. Messages are the aws CLI's. Pure
// functions; thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/base/status.h"
#include "ferry/control/model/api_model.h"

namespace ferry {

// An operation or member name as the aws CLI spells it: botocore's
// xform_name(name, '-'), e.g. CreateLocationFsxOpenZfs ->
// create-location-fsx-open-zfs, KerberosKrb5Conf -> kerberos-krb5-conf.
std::string CliName(std::string_view name);

// file://PATH and fileb://PATH as the file's contents; other values as they
// are.
Result<std::string> ResolveParamFile(std::string_view value);

// The value of a top-level member of shape `shape` from its words on the
// command line (one word unless the shape is a list); `option` ("--options")
// names it in errors ("Error parsing parameter '--options': ...").
Result<nlohmann::json> ParseMemberValue(const ApiModel& model,
                                        const std::string& shape,
                                        std::string_view option,
                                        const std::vector<std::string>& words);

// Types what the shorthand parser leaves as strings: "5" -> 5 where the
// shape is an integer, "true" -> true for booleans, "x" -> ["x"] where it
// is a list. Fails on a number that does not parse.
Status ApplyShapeTypes(const ApiModel& model, const std::string& shape,
                       nlohmann::json* value);

// botocore's parameter validation of a whole request: "Parameter validation
// failed:\nMissing required parameter in input: \"TaskArn\"\n..." as an
// InvalidArgument status.
Status ValidateParams(const ApiModel& model, const std::string& input_shape,
                      const nlohmann::json& params);

// Blob members (raw bytes in `params`) base64-encoded for the wire.
void EncodeBlobs(const ApiModel& model, const std::string& shape,
                 nlohmann::json* params);

}  // namespace ferry
