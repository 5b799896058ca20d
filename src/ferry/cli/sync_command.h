// `ferry sync SRC DST [options]`: the embedded default. Parses the command
// line into an ExecutionConfig (rejecting bad values before touching
// anything), runs one Execution in this process with a progress line on a
// terminal, and prints the summary or the DescribeTaskExecution JSON.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <utility>
#include <vector>

namespace ferry {

struct SyncArgs {
  std::string source;
  std::string destination;
  // (DataSync option name, value given on the command line).
  std::vector<std::pair<std::string, std::string>> option_flags;
  // Which options were given at all (an explicitly empty value is an error,
  // not "use the default"): filled by AddSyncCommand.
  std::vector<CLI::Option*> given_options;
  bool Given(const std::string& flag) const;
  std::string shorthand;
  std::string includes;
  std::string excludes;
  bool json = false;
  int threads = 0;
  int outage_limit = 300;  // seconds a location may stay unreachable
  std::string checksum;
  bool fsync = false;
  std::string log_file;
  std::string max_delete;
  std::string report_dir;
  std::string report_output_type = "STANDARD";
  std::string report_level = "SUCCESSES_AND_ERRORS";
  std::string manifest;
  bool dry_run = false;
  bool full_compare = false;
  std::string xattrs = "PRESERVE";
  std::string acls = "PRESERVE";
  std::string xattr_check = "CTIME";
  bool no_progress = false;
  // Object storage (s3://BUCKET[/PREFIX] on either side): the endpoint
  // (both sides, or one), a CA bundle, and a profile and region; keys come
  // from the environment and the shared files as the aws CLI reads them.
  // (Whether tags are copied is the task option ObjectTags, --object-tags.)
  std::string endpoint_url;
  std::string source_endpoint_url;
  std::string destination_endpoint_url;
  std::string ca_bundle;
  std::string profile;
  std::string region;
  std::string addressing_style;
  std::string storage_class;
  // smb:// locations: the password comes from FERRY_SMB_PASSWORD or this
  // file (never the command line); the protocol versions allowed.
  std::string smb_password_file;
  std::string azure_sas_file;
  std::string azure_key_file;
  std::string azure_access_tier;
  std::string smb_version = "AUTOMATIC";
};

// Registers the subcommand; `args` must outlive parsing.
void AddSyncCommand(CLI::App& app, SyncArgs& args);

// Returns the process exit status: 0 for SUCCESS, 1 for ERROR, 2 for a
// command line that was rejected before anything ran.
int RunSync(const SyncArgs& args);

}  // namespace ferry
