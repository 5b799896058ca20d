// The agent <-> server protocol, version 1 (docs/protocol.md).
//
// An agent talks to its server over HTTPS, always outbound. Before it is
// activated: POST /agent/v1/activation (a certificate request; the answer is
// an activation key) and GET /agent/v1/activation (is the certificate
// ready?). Afterwards, over mutual TLS with the certificate the server's
// authority signed: POST /agent/v1/sync about once a second, carrying a
// heartbeat and the state of the executions the agent runs, and answered with
// commands. Every message is a JSON object with "ProtocolVersion": 1; decoding
// checks every member's presence, type and bounds and fails with
// InvalidArgument naming the member, so a message from a peer is never
// trusted. Value types; thread-compatible.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/base/status.h"

namespace ferry::protocol {

inline constexpr int kProtocolVersion = 1;
// Bounds on what a peer may send.
inline constexpr size_t kMaxMessageBytes = 16 << 20;
inline constexpr size_t kMaxExecutionsPerSync = 64;
inline constexpr size_t kMaxCommandsPerSync = 64;
inline constexpr size_t kMaxPemBytes = 16 << 10;
inline constexpr size_t kMaxStringBytes = 64 << 10;
// "host:port" of a link listener: a DNS name of at most 253 characters.
inline constexpr size_t kMaxLinkAddressBytes = 262;
// Log records (ExecutionReport::logs): per report at most this many, with at
// most kMaxLogTextBytesPerReport bytes of Level, Event and Message text in
// all; each Message at most kMaxLogMessageBytes, Level 16, Event 64.
inline constexpr size_t kMaxLogRecordsPerReport = 1000;
inline constexpr size_t kMaxLogTextBytesPerReport = 1 << 20;
inline constexpr size_t kMaxLogMessageBytes = 4 << 10;
inline constexpr size_t kMaxLogLevelBytes = 16;
inline constexpr size_t kMaxLogEventBytes = 64;
inline constexpr int64_t kMaxLogSeq = int64_t{1} << 62;

struct ActivationRequest {
  std::string csr_pem;   // PKCS#10 certificate request of the agent's key
  std::string hostname;  // for DescribeAgent
  std::string version;   // ferry's version on the agent
};

struct ActivationGrant {
  std::string activation_key;  // [A-Z0-9]{5}(-[A-Z0-9]{5}){4}
  std::string poll_token;      // secret: proves the poller made the request
  int64_t expires_at = 0;      // Unix seconds
};

// GET /agent/v1/activation?key=...&token=...
struct ActivationStatus {
  enum class State { kPending, kActivated, kExpired };
  State state = State::kPending;
  std::string agent_arn;        // kActivated
  std::string certificate_pem;  // kActivated: the agent's certificate
};

// A location as an agent needs it to open a backend: its type and
// parameters, secrets included (the session is mutual TLS).
struct LocationSpecMessage {
  std::string arn;
  // "LOCAL", "NFS", "SMB", "OBJECT_STORAGE", "S3", "AZURE_BLOB", "HDFS"
  std::string type;
  nlohmann::json parameters = nlohmann::json::object();
};

// One record of an execution's log (LogLevel BASIC or TRANSFER), as the
// engine wrote it on the agent. Text is valid UTF-8 without NUL bytes.
struct LogRecord {
  int64_t seq = 0;      // 1, 2, ... per execution, in the order written
  int64_t time_ms = 0;  // Unix milliseconds, the agent's clock
  std::string level;    // INFO, NOTICE, WARN, ERROR
  std::string event;    // "Transferred", "Verified", "ExecutionEnded", ...
  std::string message;  // the human line (paths escaped by the engine)
};

// What the agent reports about one execution it runs.
struct ExecutionReport {
  std::string execution_arn;
  std::string status;  // PREPARING ... SUCCESS, ERROR (DataSync's names)
  // The DescribeTaskExecution response as the engine fills it: counters
  // while running, everything at the end.
  nlohmann::json describe = nlohmann::json::object();
  bool final = false;  // the execution has ended; `describe` is complete
  // Log records not yet stored by the server, oldest first (bounded as
  // above; a peer that sends none leaves these empty).
  std::vector<LogRecord> logs;
  // The highest Seq the agent has written so far for this execution (0:
  // none, or a peer without logs). In a final report: the last one there
  // will be.
  int64_t logs_seq = 0;
};

struct SyncRequest {
  std::string version;
  std::vector<ExecutionReport> executions;
  // Where other agents reach this one's link listener ("host:port",
  // docs/link.md; empty: it accepts no link connections).
  std::string link_address;
  // The executions this agent serves a link for, as a receiver (at most
  // kMaxExecutionsPerSync).
  std::vector<std::string> links_served;
};

// The agent-to-agent link of one execution (docs/link.md): the agent at the
// other end, where it listens (for the sender) and the execution's link
// secret (32 random bytes, base64 in messages).
struct LinkPeer {
  std::string agent_arn;
  std::string address;  // "host:port": the receiver's; empty for a receiver
  std::string secret;   // 32 bytes
};
inline constexpr size_t kLinkSecretBytes = 32;

struct Command {
  // kServeLink: serve the destination of an execution another agent runs,
  // over the link (Link names the sender); a kCancelExecution of it ends
  // the service.
  enum class Type {
    kRunExecution,
    kCancelExecution,
    kSetBandwidth,
    kServeLink
  };
  Type type = Type::kRunExecution;
  std::string execution_arn;
  // kRunExecution:
  std::string task_arn;
  nlohmann::json options = nlohmann::json::object();  // DataSync Options
  std::string includes;  // filter values ("" = none)
  std::string excludes;
  std::vector<std::string> manifest;  // relative paths (empty = no manifest)
  bool has_manifest = false;
  // TaskReportConfig: the agent writes a task report of this output type
  // (STANDARD, SUMMARY_ONLY) and level (ERRORS_ONLY, SUCCESSES_AND_ERRORS).
  bool has_report = false;
  std::string report_output_type;
  std::string report_level;
  // ManifestConfig.Source.S3: the manifest is an object, read by the agent.
  // Type "S3" with S3BucketArn, ManifestObjectPath and (optionally)
  // ManifestObjectVersionId. Empty type: none.
  LocationSpecMessage manifest_object;
  // TaskReportConfig.Destination.S3: where the agent delivers the report.
  // Type "S3" with S3BucketArn and Subdirectory. Empty type: none (the
  // report stays on the agent's machine).
  LocationSpecMessage report_destination;
  LocationSpecMessage source;
  LocationSpecMessage destination;
  // kRunExecution whose destination another agent serves (then
  // `destination` is that agent's to open), and kServeLink (with
  // `destination` and `options`): the other end of the link.
  bool has_link = false;
  LinkPeer link;
  // kSetBandwidth (and the initial limit of kRunExecution, -1 = none):
  int64_t bytes_per_second = -1;
};

struct SyncResponse {
  std::vector<Command> commands;
  // Final reports the server has stored: the agent may forget them.
  std::vector<std::string> acknowledged;
  // How often the agent reports progress while executions run, at most.
  int64_t poll_interval_ms = 1000;
  // An idle agent sends a heartbeat at a random moment between half this
  // and this after its last message (jitter spreads a fleet's heartbeats).
  int64_t heartbeat_interval_ms = 30000;
  // Execution ARN -> the highest log Seq the server has stored (or will
  // never want); the agent forgets the records up to it. At most
  // kMaxExecutionsPerSync entries. `has_logs_stored` is false when the
  // member was absent: a server that keeps no logs.
  std::map<std::string, int64_t> logs_stored;
  bool has_logs_stored = true;
};

nlohmann::json Encode(const ActivationRequest& m);
nlohmann::json Encode(const ActivationGrant& m);
nlohmann::json Encode(const ActivationStatus& m);
nlohmann::json Encode(const SyncRequest& m);
nlohmann::json Encode(const SyncResponse& m);

Result<ActivationRequest> DecodeActivationRequest(std::string_view body);
Result<ActivationGrant> DecodeActivationGrant(std::string_view body);
Result<ActivationStatus> DecodeActivationStatus(std::string_view body);
Result<SyncRequest> DecodeSyncRequest(std::string_view body);
Result<SyncResponse> DecodeSyncResponse(std::string_view body);

}  // namespace ferry::protocol
