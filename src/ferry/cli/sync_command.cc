#include "ferry/cli/sync_command.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>
#include <tuple>

#include "ferry/azure/azure_object_store.h"
#include "ferry/cli/format.h"
#include "ferry/cli/progress.h"
#include "ferry/cli/signal_thread.h"
#include "ferry/diff/manifest.h"
#include "ferry/execution/execution.h"
#include "ferry/nfs/nfs_backend.h"
#include "ferry/options/filter.h"
#include "ferry/s3/s3_object_store.h"
#include "ferry/smb/smb_backend.h"
#include "ferry/storage/memory/memory_backend.h"
#include "ferry/storage/registry.h"

namespace ferry {
namespace {

// The canonical form of a local path that may not exist yet: the real path of
// its nearest existing ancestor, plus the rest.
std::filesystem::path Canonical(const std::string& p) {
  std::error_code ec;
  std::filesystem::path abs = std::filesystem::absolute(p, ec);
  std::filesystem::path canon = std::filesystem::weakly_canonical(abs, ec);
  return ec ? abs.lexically_normal() : canon;
}

bool IsWithin(const std::filesystem::path& inner,
              const std::filesystem::path& outer) {
  auto o = outer.begin();
  auto i = inner.begin();
  for (; o != outer.end(); ++o, ++i) {
    if (o->empty()) continue;  // trailing separator
    if (i == inner.end() || *i != *o) return false;
  }
  return true;
}

std::string Summary(const ExecutionResult& r, const Execution& exec,
                    const std::string& src, const std::string& dst) {
  const CounterSnapshot& c = r.counters;
  std::string s;
  auto line = [&s](const std::string& label, const std::string& value) {
    std::string l = label + ":";
    l.resize(std::max<size_t>(l.size() + 1, 14), ' ');
    s += l + value + "\n";
  };
  line("Status", std::string(ExecutionStatusName(r.status)));
  if (!r.error_code.empty())
    line("Error", r.error_code + ": " + r.error_detail);
  line("Source", src);
  line("Destination", dst);
  line("Files",
       FormatCount(c.files_transferred) + " transferred (" +
           FormatBytes(c.bytes_written) + "), " + FormatCount(c.files_skipped) +
           " skipped, " + FormatCount(c.files_deleted) + " deleted, " +
           FormatCount(c.files_verified) + " verified, " +
           FormatCount(c.files_failed_prepare + c.files_failed_transfer +
                       c.files_failed_verify + c.files_failed_delete) +
           " failed");
  line("Folders",
       FormatCount(c.folders_transferred) + " transferred, " +
           FormatCount(c.folders_skipped) + " skipped, " +
           FormatCount(c.folders_deleted) + " deleted, " +
           FormatCount(c.folders_verified) + " verified, " +
           FormatCount(c.folders_failed_list + c.folders_failed_prepare +
                       c.folders_failed_transfer + c.folders_failed_verify +
                       c.folders_failed_delete) +
           " failed");
  line("Listed", FormatCount(c.files_listed_at_source) + " files and " +
                     FormatCount(c.folders_listed_at_source) +
                     " folders at the source");
  line("Estimated",
       FormatCount(c.estimated_files_to_transfer) + " files, " +
           FormatCount(c.estimated_folders_to_transfer) + " folders, " +
           FormatBytes(c.estimated_bytes_to_transfer) + " to transfer; " +
           FormatCount(c.estimated_files_to_delete +
                       c.estimated_folders_to_delete) +
           " items to delete");
  line("Durations", "prepare " + FormatMillis(r.prepare_ms) + ", transfer " +
                        FormatMillis(r.transfer_ms) + ", verify " +
                        FormatMillis(r.verify_ms) + ", total " +
                        FormatMillis(r.total_ms));
  if (r.transfer_ms > 0 && c.bytes_transferred > 0) {
    line("Throughput", FormatRate(static_cast<double>(c.bytes_transferred) *
                                  1000.0 / static_cast<double>(r.transfer_ms)));
  }
  line("Checksums",
       std::string(DigestAlgorithmName(exec.config().digest)) +
           " per 1 MiB block in flight; " +
           std::string(exec.config().options.verify_mode == VerifyMode::kNone
                           ? "no verification"
                       : exec.config().options.verify_mode ==
                               VerifyMode::kOnlyFilesTransferred
                           ? "transferred files verified"
                           : "point-in-time verification of everything"));
  if (r.changed_file_count > 0) {
    std::string list;
    for (const std::string& f : r.changed_files)
      list += "\n               " + f;
    if (r.changed_file_count > r.changed_files.size()) {
      list += "\n               ... and " +
              FormatCount(r.changed_file_count - r.changed_files.size()) +
              " more";
    }
    line("Changing",
         FormatCount(r.changed_file_count) +
             " file(s) changed while being read and were transferred as read; "
             "run again to get their final version:" +
             list);
  }
  if (r.retries > 0) {
    line("Retries", FormatCount(r.retries) +
                        " operation(s) retried after a transient failure "
                        "(see the log)");
  }
  if (!r.report_status.empty()) {
    line("Report", r.report_status == "SUCCESS"
                       ? r.report_folder
                       : "not written: " + r.report_error);
  }
  line("Execution", exec.execution_arn());
  return s;
}

}  // namespace

void AddSyncCommand(CLI::App& app, SyncArgs& args) {
  CLI::App* sync = app.add_subcommand(
      "sync",
      "Run one task execution in this process: copy the contents of SRC into "
      "DST "
      "(created if needed), then verify, as DataSync would.");
  sync->add_option(
          "SRC", args.source,
          "Source location: a directory, s3://BUCKET[/PREFIX] or memory:NAME")
      ->required();
  sync->add_option("DST", args.destination,
                   "Destination location: a directory, s3://BUCKET[/PREFIX] "
                   "or memory:NAME")
      ->required();
  for (const std::string& name : TaskOptionNames()) {
    args.option_flags.emplace_back(name, "");
  }
  for (auto& [name, value] : args.option_flags) {
    std::string help = "DataSync option " + name;
    args.given_options.push_back(
        sync->add_option("--" + KebabCase(name), value, help));
  }
  sync->add_option(
      "--options", args.shorthand,
      "Options in the aws CLI shorthand: VerifyMode=NONE,TransferMode=ALL");
  sync->add_option(
      "--includes", args.includes,
      "Include filter: patterns joined by '|' (DataSync SIMPLE_PATTERN)");
  sync->add_option(
      "--excludes", args.excludes,
      "Exclude filter: patterns joined by '|' (DataSync SIMPLE_PATTERN)");
  sync->add_flag("--json", args.json,
                 "Print the final DescribeTaskExecution JSON on stdout instead "
                 "of the summary");
  sync->add_option("--threads", args.threads,
                   "Transfer workers (default: the number of cores)");
  sync->add_option("--outage-limit", args.outage_limit,
                   "Seconds a location may stay unreachable, the transfer "
                   "waiting for it, before the run stops with an error "
                   "naming it (default 300)");
  sync->add_option(
      "--checksum-algorithm", args.checksum,
      "Content digest for verification: XXH3-128 (default) or SHA-256");
  sync->add_flag("--fsync", args.fsync,
                 "fsync every file before renaming it into place (default: one "
                 "sync of the "
                 "destination at the end)");
  sync->add_option("--log-file", args.log_file,
                   "Also write the log as JSON lines to this file");
  sync->add_option(
      "--max-delete", args.max_delete,
      "Refuse to delete more than N items, or N% of the destination (REMOVE)");
  sync->add_option("--task-report-dir", args.report_dir,
                   "Write a DataSync task report (summary and per-file lists) "
                   "into this folder");
  sync->add_option("--report-output-type", args.report_output_type,
                   "SUMMARY_ONLY or STANDARD (default)");
  sync->add_option("--report-level", args.report_level,
                   "ERRORS_ONLY or SUCCESSES_AND_ERRORS (default)");
  sync->add_option("--manifest", args.manifest,
                   "CSV of the files to transfer (paths relative to SRC); no "
                   "filters, no deletes");
  sync->add_flag(
      "--full-compare", args.full_compare,
      "Read the metadata of every object a listing gave without it (one "
      "HEAD each) instead of taking an object written after its source last "
      "changed, with the same size, as unchanged");
  sync->add_flag("--dry-run", args.dry_run,
                 "Print what would be copied, updated and deleted, and why; "
                 "write nothing");
  sync->add_option(
      "--xattrs", args.xattrs,
      "Extended attributes of files and folders: PRESERVE (default) or NONE");
  sync->add_option("--acls", args.acls,
                   "POSIX ACLs: PRESERVE (default) or NONE");
  sync->add_option(
      "--xattr-check", args.xattr_check,
      "How attribute-only changes are found: CTIME (default: source ctime "
      "newer "
      "than the destination's) or ALWAYS (read attributes in every scan)");
  CLI::Option_group* s3 = sync->add_option_group(
      "Object storage",
      "s3:// locations; access keys, region and CA bundle are otherwise read "
      "as the aws CLI reads them (AWS_ACCESS_KEY_ID, AWS_PROFILE, "
      "~/.aws/credentials, ~/.aws/config, AWS_CA_BUNDLE). Object tags are "
      "copied between object stores unless --object-tags NONE (DataSync's "
      "ObjectTags)");
  s3->add_option("--endpoint-url", args.endpoint_url,
                 "S3 endpoint of both sides, e.g. https://s3.example.net:8443 "
                 "(default: AWS S3 in the region)");
  s3->add_option("--source-endpoint-url", args.source_endpoint_url,
                 "S3 endpoint of the source only");
  s3->add_option("--destination-endpoint-url", args.destination_endpoint_url,
                 "S3 endpoint of the destination only");
  s3->add_option("--ca-bundle", args.ca_bundle,
                 "PEM file of the certificates to trust for HTTPS endpoints");
  s3->add_option("--profile", args.profile,
                 "Named profile of the shared credentials and config files");
  s3->add_option("--region", args.region, "Region to sign requests for");
  s3->add_option("--addressing-style", args.addressing_style,
                 "path or virtual (default: virtual-hosted where the bucket "
                 "name allows it and the endpoint is AWS, path otherwise)")
      ->check(CLI::IsMember({"path", "virtual", "auto"}));
  s3->add_option("--s3-storage-class", args.storage_class,
                 "Storage class of the objects written (DataSync's "
                 "S3StorageClass: STANDARD, STANDARD_IA, ...)");
  CLI::Option_group* smb = sync->add_option_group(
      "SMB",
      "smb://[DOMAIN;]USER@HOST[:PORT]/SHARE[/PATH] locations. The password "
      "is read from FERRY_SMB_PASSWORD, or from --smb-password-file; never "
      "from the command line");
  smb->add_option("--smb-password-file", args.smb_password_file,
                  "File whose first line is the SMB password");
  smb->add_option("--smb-version", args.smb_version,
                  "SMB protocol versions allowed (DataSync's "
                  "MountOptions.Version): AUTOMATIC (default), SMB1, SMB2_0, "
                  "SMB2, SMB3")
      ->check(CLI::IsMember({"AUTOMATIC", "SMB1", "SMB2_0", "SMB2", "SMB3"}));
  CLI::Option_group* azure = sync->add_option_group(
      "Azure Blob",
      "https://ACCOUNT.blob.core.windows.net/CONTAINER[/PATH] locations (or "
      "path-style http(s)://HOST:PORT/ACCOUNT/CONTAINER[/PATH], as Azurite "
      "serves them). A SAS token is read from FERRY_AZURE_SAS or "
      "--azure-sas-file, an account key (Shared Key) from FERRY_AZURE_KEY or "
      "--azure-key-file; never from the command line");
  azure->add_option("--azure-sas-file", args.azure_sas_file,
                    "File whose first line is the SAS token");
  azure->add_option("--azure-key-file", args.azure_key_file,
                    "File whose first line is the storage account key");
  azure
      ->add_option("--azure-access-tier", args.azure_access_tier,
                   "Access tier of the blobs written (DataSync's "
                   "AccessTier): HOT, COOL or ARCHIVE (default: the "
                   "account's)")
      ->check(CLI::IsMember({"HOT", "COOL", "ARCHIVE"}));
  sync->add_option_group(
      "NFS",
      "nfs://HOST[:PORT]/EXPORT[/PATH][?version=3|4] locations, through "
      "libnfs (no mount needed): NFSv3 (default) on either side, NFSv4 as a "
      "source only. The export is the longest leading part of the path the "
      "server mounts; the rest is a folder in it. The server sees this "
      "process's uid and gid. NFSv4 owners sent as names (user@domain) read "
      "as 65534: read such a server over NFSv3");
  sync->add_flag("--no-progress", args.no_progress,
                 "Never draw the progress line");
  for (CLI::Option* opt : sync->get_options())
    args.given_options.push_back(opt);
}

bool SyncArgs::Given(const std::string& flag) const {
  for (const CLI::Option* opt : given_options) {
    if (opt->get_name() == flag ||
        opt->check_lname(flag.substr(flag.find_first_not_of('-')))) {
      return opt->count() > 0;
    }
  }
  return false;
}

int RunSync(const SyncArgs& args) {
  // Everything is checked before anything is touched.
  ExecutionConfig config;
  auto usage_error = [](const std::string& msg) {
    std::fprintf(stderr, "ferry sync: %s\n", msg.c_str());
    return 2;
  };
  for (const char* flag :
       {"--options", "--includes", "--excludes", "--checksum-algorithm",
        "--max-delete", "--task-report-dir", "--manifest", "--log-file"}) {
    // An empty value given on purpose is a mistake, not "the default".
    std::string value =
        std::string(flag) == "--options"              ? args.shorthand
        : std::string(flag) == "--includes"           ? args.includes
        : std::string(flag) == "--excludes"           ? args.excludes
        : std::string(flag) == "--checksum-algorithm" ? args.checksum
        : std::string(flag) == "--max-delete"         ? args.max_delete
        : std::string(flag) == "--task-report-dir"    ? args.report_dir
        : std::string(flag) == "--manifest"           ? args.manifest
                                                      : args.log_file;
    if (value.empty() && args.Given(flag)) {
      return usage_error(std::string("an empty value was given for ") + flag);
    }
  }
  if (!args.shorthand.empty()) {
    Status st = config.options.SetFromShorthand(args.shorthand);
    if (!st.ok()) return usage_error(std::string(st.message()));
  }
  for (const auto& [name, value] : args.option_flags) {
    if (value.empty() && !args.Given("--" + KebabCase(name))) continue;
    Status st = config.options.Set(name, value);
    if (!st.ok()) return usage_error(std::string(st.message()));
  }
  Status valid = config.options.Validate();
  if (!valid.ok()) return usage_error(std::string(valid.message()));
  auto filter = Filter::Parse(args.includes, args.excludes);
  if (!filter.ok()) return usage_error(std::string(filter.status().message()));
  config.includes = args.includes;
  config.excludes = args.excludes;
  if (args.threads < 0 || args.threads > 1024)
    return usage_error("--threads must be 1..1024");
  config.threads = args.threads;
  if (args.outage_limit < 0 || args.outage_limit > 7 * 24 * 3600)
    return usage_error("--outage-limit must be 0..604800 seconds");
  config.outage_limit = std::chrono::seconds(args.outage_limit);
  if (!args.checksum.empty()) {
    auto algo = ParseDigestAlgorithm(args.checksum);
    if (!algo.ok()) return usage_error(std::string(algo.status().message()));
    config.digest = *algo;
  }
  config.fsync = args.fsync;
  auto preserve_flag = [](const std::string& name, const std::string& value,
                          bool* out) {
    if (value == "PRESERVE") {
      *out = true;
    } else if (value == "NONE") {
      *out = false;
    } else {
      return Status::InvalidArgument("Invalid value '" + value + "' for " +
                                     name + " (expected PRESERVE or NONE)");
    }
    return Status::Ok();
  };
  config.trust_write_times = !args.full_compare;
  if (args.xattr_check == "ALWAYS") {
    config.xattr_check_always = true;
  } else if (args.xattr_check != "CTIME") {
    return usage_error("Invalid value '" + args.xattr_check +
                       "' for --xattr-check (expected CTIME or ALWAYS)");
  }
  for (auto [name, value, out] :
       {std::tuple{"--xattrs", &args.xattrs, &config.xattrs},
        std::tuple{"--acls", &args.acls, &config.acls}}) {
    Status st = preserve_flag(name, *value, out);
    if (!st.ok()) return usage_error(std::string(st.message()));
  }

  if (!args.max_delete.empty()) {
    std::string v = args.max_delete;
    bool percent = v.back() == '%';
    if (percent) v.pop_back();
    char* end = nullptr;
    errno = 0;
    double n = std::strtod(v.c_str(), &end);
    bool integral =
        percent || (n == static_cast<double>(static_cast<int64_t>(n)));
    if (v.empty() || *end != '\0' || errno != 0 || n < 0 || !integral ||
        (percent && n > 100)) {
      return usage_error(
          "Invalid --max-delete '" + args.max_delete +
          "': expected a count (e.g. 1000) or a percentage (e.g. 10%)");
    }
    if (percent) {
      config.max_delete_percent = n;
    } else {
      config.max_delete = static_cast<int64_t>(n);
    }
  }
  if (!args.report_dir.empty()) {
    TaskReportConfig report;
    report.directory = args.report_dir;
    if (args.report_output_type == "STANDARD") {
      report.output_type = ReportOutputType::kStandard;
    } else if (args.report_output_type == "SUMMARY_ONLY") {
      report.output_type = ReportOutputType::kSummaryOnly;
    } else {
      return usage_error("Invalid --report-output-type '" +
                         args.report_output_type +
                         "' (expected SUMMARY_ONLY or STANDARD)");
    }
    if (args.report_level == "ERRORS_ONLY") {
      report.level = ReportLevel::kErrorsOnly;
    } else if (args.report_level == "SUCCESSES_AND_ERRORS") {
      report.level = ReportLevel::kSuccessesAndErrors;
    } else {
      return usage_error("Invalid --report-level '" + args.report_level +
                         "' (expected ERRORS_ONLY or SUCCESSES_AND_ERRORS)");
    }
    config.report = report;
  }
  if (!args.manifest.empty()) {
    if (!args.includes.empty() || !args.excludes.empty()) {
      return usage_error(
          "A manifest cannot be combined with include or exclude filters.");
    }
    if (config.options.preserve_deleted_files == DeletedFilesMode::kRemove) {
      return usage_error(
          "A manifest never deletes: PreserveDeletedFiles REMOVE cannot be "
          "used with a manifest.");
    }
    std::ifstream in(args.manifest, std::ios::binary);
    if (!in)
      return usage_error("cannot read the manifest '" + args.manifest + "'");
    std::string csv((std::istreambuf_iterator<char>(in)),
                    std::istreambuf_iterator<char>());
    auto paths = ParseManifest(csv);
    if (!paths.ok()) {
      return usage_error("invalid manifest '" + args.manifest +
                         "': " + std::string(paths.status().message()));
    }
    config.manifest =
        std::make_shared<const std::vector<RelPath>>(std::move(paths).value());
  }
  config.dry_run = args.dry_run;
  if (args.dry_run) {
    std::FILE* plan_out = args.json ? stderr : stdout;
    config.on_plan = [plan_out](const PlanItem& item) {
      const Entry& e =
          item.action == PlanAction::kDelete ? *item.dst : item.src;
      std::string verb;
      switch (item.action) {
        case PlanAction::kCreate:
          verb = "copy";
          break;
        case PlanAction::kReplace:
          verb = "replace";
          break;
        case PlanAction::kUpdateMetadata:
          verb = "update";
          break;
        case PlanAction::kLink:
          verb = "link";
          break;
        case PlanAction::kDelete:
          verb = "delete";
          break;
        case PlanAction::kSkipOverwrite:
        case PlanAction::kSkipDevice:
          verb = "skip";
          break;
        case PlanAction::kFailUnlisted:
        case PlanAction::kFailCompare:
        case PlanAction::kFailMissing:
          verb = "fail";
          break;
        case PlanAction::kUnchanged:
          return;
      }
      std::string why(item.reason);
      if (item.action == PlanAction::kLink && item.link_group) {
        why += " of " + item.link_group->first.Display();
      }
      if ((item.action == PlanAction::kCreate ||
           item.action == PlanAction::kReplace) &&
          e.is_file()) {
        why += ", " + FormatBytes(e.size);
      }
      verb.resize(8, ' ');
      std::fprintf(plan_out, "%s%s%s  (%s)\n", verb.c_str(),
                   e.path.Display().c_str(), e.is_dir() ? "/" : "",
                   why.c_str());
    };
  }

  auto src_spec = ParseLocationUri(args.source);
  if (!src_spec.ok())
    return usage_error("source: " + std::string(src_spec.status().message()));
  auto dst_spec = ParseLocationUri(args.destination);
  if (!dst_spec.ok()) {
    return usage_error("destination: " +
                       std::string(dst_spec.status().message()));
  }
  auto endpoint = [&](LocationSpec* spec, const std::string& own) {
    if (spec->type == "azure") {
      spec->endpoint.ca_file = args.ca_bundle;
      spec->storage_class = args.azure_access_tier;
      return;
    }
    spec->endpoint.url = own.empty() ? args.endpoint_url : own;
    spec->endpoint.ca_file = args.ca_bundle;
    spec->endpoint.profile = args.profile;
    spec->endpoint.region = args.region;
    spec->endpoint.addressing =
        args.addressing_style == "auto" ? "" : args.addressing_style;
    spec->storage_class = args.storage_class;
  };
  endpoint(&*src_spec, args.source_endpoint_url);
  endpoint(&*dst_spec, args.destination_endpoint_url);
  if (src_spec->type == "smb" || dst_spec->type == "smb") {
    std::string password;
    if (!args.smb_password_file.empty()) {
      std::ifstream in(args.smb_password_file);
      if (!in || !std::getline(in, password)) {
        return usage_error("--smb-password-file " + args.smb_password_file +
                           ": cannot read a line from it");
      }
      if (!password.empty() && password.back() == '\r') password.pop_back();
    } else if (const char* env = std::getenv("FERRY_SMB_PASSWORD")) {
      password = env;
    }
    for (LocationSpec* spec : {&*src_spec, &*dst_spec}) {
      if (spec->type != "smb") continue;
      spec->endpoint.password = password;
      spec->endpoint.version = args.smb_version;
    }
  }
  if (src_spec->type == "azure" || dst_spec->type == "azure") {
    // One line of a file, else the environment variable.
    auto secret = [&](const std::string& file, const char* env,
                      const char* flag,
                      std::string* out) -> std::optional<std::string> {
      if (!file.empty()) {
        std::ifstream in(file);
        if (!in || !std::getline(in, *out)) {
          return std::string(flag) + " " + file +
                 ": cannot read a line from it";
        }
        if (!out->empty() && out->back() == '\r') out->pop_back();
      } else if (const char* value = std::getenv(env)) {
        *out = value;
      }
      return std::nullopt;
    };
    std::string sas, key;
    if (auto bad = secret(args.azure_sas_file, "FERRY_AZURE_SAS",
                          "--azure-sas-file", &sas)) {
      return usage_error(*bad);
    }
    if (auto bad = secret(args.azure_key_file, "FERRY_AZURE_KEY",
                          "--azure-key-file", &key)) {
      return usage_error(*bad);
    }
    if (sas.empty() == key.empty()) {
      return usage_error(
          "an Azure location needs either a SAS token (FERRY_AZURE_SAS or "
          "--azure-sas-file) or an account key (FERRY_AZURE_KEY or "
          "--azure-key-file), not both");
    }
    for (LocationSpec* spec : {&*src_spec, &*dst_spec}) {
      if (spec->type != "azure") continue;
      spec->endpoint.sas_token = sas;
      spec->endpoint.secret_key = key;
    }
  }
  for (const auto& [flag, value, spec] :
       {std::tuple{"--source-endpoint-url", &args.source_endpoint_url,
                   &*src_spec},
        std::tuple{"--destination-endpoint-url", &args.destination_endpoint_url,
                   &*dst_spec}}) {
    if (!value->empty() && spec->type != "s3" &&
        spec->type != "memory-objects") {
      return usage_error(std::string(flag) +
                         " is for an object storage location, and " +
                         spec->Describe() + " is not one");
    }
  }
  if (!src_spec->bucket.empty() && src_spec->type == dst_spec->type &&
      src_spec->bucket == dst_spec->bucket &&
      src_spec->host == dst_spec->host &&
      src_spec->endpoint.url == dst_spec->endpoint.url) {
    const std::string s = src_spec->path + "/";
    const std::string d = dst_spec->path + "/";
    if (s == d || d.starts_with(s) || src_spec->path.empty() ||
        s.starts_with(d) || dst_spec->path.empty()) {
      return usage_error("the source " + src_spec->Describe() +
                         " and the destination " + dst_spec->Describe() +
                         " overlap; choose prefixes apart from each other");
    }
  }
  if (src_spec->type == "local" && dst_spec->type == "local") {
    auto s = Canonical(src_spec->path);
    auto d = Canonical(dst_spec->path);
    if (s == d)
      return usage_error("source and destination are the same directory");
    if (IsWithin(d, s)) {
      return usage_error("the destination " + d.string() +
                         " lies inside the source " + s.string() +
                         "; choose a destination outside it");
    }
  }

  ExecutionLog log(config.options.log_level);
  if (!args.log_file.empty()) {
    Status st = log.OpenJsonFile(args.log_file);
    if (!st.ok()) return usage_error(std::string(st.message()));
  }

  RegisterBuiltinBackends();
  RegisterS3Backend();
  RegisterSmbBackend();
  RegisterNfsBackend();
  RegisterAzureBackend();
  auto src = OpenBackend(*src_spec);
  if (!src.ok()) {
    std::fprintf(stderr, "ferry sync: source: %s\n",
                 std::string(src.status().message()).c_str());
    return 1;
  }
  dst_spec->create_root = !args.dry_run;
  dst_spec->destination = !args.dry_run;
  auto dst = OpenBackend(*dst_spec);
  if (!dst.ok() && args.dry_run && dst.status().IsNotFound()) {
    // Nothing there yet: plan against an empty destination, create nothing.
    dst = OpenMemoryBackend(std::make_shared<MemoryStore>(), args.destination);
  }
  if (!dst.ok()) {
    std::fprintf(stderr, "ferry sync: destination: %s\n",
                 std::string(dst.status().message()).c_str());
    return 1;
  }

  // The first SIGINT/SIGTERM cancels (files in flight are discarded); a
  // second one aborts at once, until ferry exits: also while a cancelled
  // run's result is printed and the execution is torn down, so the thread
  // is made before the execution and outlives it.
  std::atomic<Execution*> running{nullptr};
  SignalThread signals([&running](int, int count) {
    if (count == 1) {
      const char msg[] = "\nferry: cancelling (again to abort at once)\n";
      (void)!::write(2, msg, sizeof(msg) - 1);
      if (Execution* e = running.load()) e->Cancel();
    } else {
      _exit(130);
    }
  });
  Execution exec(std::move(src).value(), std::move(dst).value(), config, &log);
  running.store(&exec);
  struct Forget {
    std::atomic<Execution*>& running;
    ~Forget() { running.store(nullptr); }
  } forget{running};
  const bool tty = ::isatty(2) && !args.no_progress;
  Progress progress(&exec, tty);
  log.set_text_sink(
      [&progress](std::string_view line) { progress.PrintLine(line); });
  progress.Start();
  ExecutionResult result = exec.Run();
  progress.Stop();
  if (args.json) {
    nlohmann::json out = exec.Describe(result);
    out["Ferry"] = {
        {"ChecksumAlgorithm", std::string(DigestAlgorithmName(config.digest))},
        {"FilesChangedWhileRead", result.changed_files},
        {"FilesChangedWhileReadCount", result.changed_file_count},
        {"Retries", result.retries}};
    std::cout << out.dump(2, ' ', false,
                          nlohmann::json::error_handler_t::replace)
              << std::endl;
  } else {
    std::cout << Summary(result, exec, args.source, args.destination)
              << std::flush;
  }
  return result.status == ExecutionStatus::kSuccess ? 0 : 1;
}

}  // namespace ferry
