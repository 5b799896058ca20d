#include "ferry/control/server/agent_service.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <map>
#include <set>

#include "ferry/base/hex.h"
#include "ferry/base/rel_path.h"
#include "ferry/control/schedule/schedule.h"
#include "ferry/control/server/api_helpers.h"
#include "ferry/control/server/execution_control.h"
#include "ferry/control/server/execution_logs.h"

namespace ferry::control {
namespace {

using nlohmann::json;

constexpr int64_t kActivationTtlMs = 30 * 60 * 1000;

// One line of the server's log. Many carry what peers sent (agents'
// hostnames, versions, error text and ARNs; schedule expressions and
// messages from API requests): the whole line is escaped (EscapeForDisplay),
// so that nothing in it can end it or forge another.
void Log(const std::string& line) {
  std::string l = "ferry server: " + EscapeForDisplay(line) + "\n";
  std::fwrite(l.data(), 1, l.size(), stderr);
}

std::string Sha256Hex(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(text.data(), text.size(), digest, &n, EVP_sha256(), nullptr);
  return LowerHex(digest, n);
}

// `n` characters drawn uniformly from `alphabet` (at most 256 of them).
Result<std::string> RandomString(size_t n, std::string_view alphabet) {
  const unsigned limit = 256 - 256 % static_cast<unsigned>(alphabet.size());
  std::string out;
  while (out.size() < n) {
    unsigned char bytes[64];
    if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
      return Status::Internal("the random number generator failed");
    }
    for (unsigned char b : bytes) {
      if (b >= limit) continue;  // no modulo bias
      out.push_back(alphabet[b % alphabet.size()]);
      if (out.size() == n) break;
    }
  }
  return out;
}

// DataSync's format: [A-Z0-9]{5}(-[A-Z0-9]{5}){4}.
Result<std::string> NewActivationKey() {
  FERRY_ASSIGN_OR_RETURN(
      std::string chars,
      RandomString(25, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"));
  std::string key;
  for (size_t i = 0; i < 25; ++i) {
    if (i > 0 && i % 5 == 0) key.push_back('-');
    key.push_back(chars[i]);
  }
  return key;
}

std::string IsoTime(int64_t ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

int64_t OfflineAfterMs(const ServerContext& ctx) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             ctx.config.agent_offline_after)
      .count();
}

const std::vector<std::string>& RunningStatuses() {
  static const std::vector<std::string>* s = new std::vector<std::string>{
      "LAUNCHING", "PREPARING", "TRANSFERRING", "VERIFYING", "CANCELLING"};
  return *s;
}

// Statuses an agent may report for an execution that has not ended.
bool IsLiveStatus(const std::string& s) {
  return s == "LAUNCHING" || s == "PREPARING" || s == "TRANSFERRING" ||
         s == "VERIFYING" || s == "CANCELLING";
}

// The BytesPerSecond the agent last reported running with (nullopt: it has
// not said).
std::optional<int64_t> ReportedBandwidth(const json& describe) {
  if (!describe.is_object()) return std::nullopt;
  auto options = describe.find("Options");
  if (options == describe.end() || !options->is_object()) return std::nullopt;
  auto bps = options->find("BytesPerSecond");
  if (bps == options->end() || !bps->is_number_integer()) return std::nullopt;
  return bps->get<int64_t>();
}

std::string Clip(const std::string& s, size_t n) {
  return s.size() <= n ? s : s.substr(0, n) + "...";
}

// What ends an execution on the server's side, and what follows from it.
class Ender {
 public:
  Ender(ServerContext* ctx, SqlSession& s) : ctx_(ctx), s_(s) {}

  // Ends `e` ERROR with `code` and `detail`. The counters, durations and
  // phase statuses stay as the agent last reported them, except that the
  // phases it was in and had not ended fail: PREPARING the listing,
  // TRANSFERRING the transfer and the listing it overlaps, VERIFYING the
  // verification, CANCELLING the first not ended. A phase reported
  // SUCCESS stays SUCCESS; when every phase the status names had ended,
  // the next one not ended fails (it was about to start or running).
  Status Fail(ExecutionRecord& e, const std::string& code,
              const std::string& detail) {
    const std::string was = e.status;
    e.status = "ERROR";
    e.end_ms = ctx_->now_ms();
    if (!e.describe.is_object()) e.describe = json::object();
    json& result = e.describe["Result"];
    if (!result.is_object()) result = json::object();
    static const char* const kPhases[] = {"PrepareStatus", "TransferStatus",
                                          "VerifyStatus"};
    bool ended[3];
    for (int i = 0; i < 3; ++i) {
      auto p = result.find(kPhases[i]);
      ended[i] = p != result.end() && (*p == "SUCCESS" || *p == "ERROR");
      if (!ended[i]) result[kPhases[i]] = "PENDING";
    }
    bool running[3] = {was != "VERIFYING" && was != "CANCELLING",
                       was == "TRANSFERRING", was == "VERIFYING"};
    if (was == "CANCELLING") {
      for (int i = 0; i < 3; ++i) {
        if (!ended[i]) {
          running[i] = true;
          break;
        }
      }
    }
    int last_running = -1;
    bool failed = false;
    for (int i = 0; i < 3; ++i) {
      if (!running[i]) continue;
      last_running = i;
      if (ended[i]) continue;
      result[kPhases[i]] = "ERROR";
      failed = true;
    }
    for (int i = last_running + 1; !failed && i < 3; ++i) {
      if (ended[i]) continue;
      result[kPhases[i]] = "ERROR";
      failed = true;
    }
    result["ErrorCode"] = code;
    result["ErrorDetail"] = detail;
    Log(e.arn + " ended ERROR " + code + ": " + detail);
    FERRY_RETURN_IF_ERROR(ctx_->store.UpdateExecution(s_, e));
    return Ended(e);
  }

  // Bookkeeping once `e` (already stored) has ended: the schedule of its
  // task counts consecutive failures of scheduled runs.
  Status Ended(const ExecutionRecord& e) {
    if (!e.scheduled) return Status::Ok();
    FERRY_ASSIGN_OR_RETURN(auto task, ctx_->store.GetTask(s_, e.task_arn));
    if (!task) return Status::Ok();
    if (e.status == "SUCCESS") {
      if (task->scheduled_failures == 0) return Status::Ok();
      task->scheduled_failures = 0;
      return ctx_->store.UpdateTask(s_, *task);
    }
    ++task->scheduled_failures;
    const int limit = ctx_->config.schedule_failure_limit;
    if (limit > 0 && task->scheduled_failures >= limit &&
        task->schedule_status == "ENABLED") {
      std::string code, detail;
      if (e.describe.is_object() && e.describe.contains("Result") &&
          e.describe["Result"].is_object()) {
        code = e.describe["Result"].value("ErrorCode", "");
        detail = e.describe["Result"].value("ErrorDetail", "");
      }
      task->schedule_status = "DISABLED";
      task->schedule_disabled_by = "SERVICE";
      task->schedule_disabled_reason =
          "The schedule was disabled after " +
          std::to_string(task->scheduled_failures) +
          " scheduled executions in a row failed; the last one, " + e.arn +
          ", ended with " + (code.empty() ? "an error" : code) +
          (detail.empty() ? "" : ": " + Clip(detail, 500)) +
          ". Enable the schedule again with UpdateTask once the cause is "
          "fixed.";
      task->schedule_updated_ms = ctx_->now_ms();
      task->next_run_ms = 0;
      Log("task " + task->arn + ": " + task->schedule_disabled_reason);
    }
    return ctx_->store.UpdateTask(s_, *task);
  }

 private:
  ServerContext* const ctx_;
  SqlSession& s_;
};

}  // namespace

AgentService::AgentService(ServerContext* ctx)
    : ctx_(ctx),
      started_ms_(ctx->now_ms()),
      activation_limiter_(ctx->config.activation,
                          [ctx] { return ctx->now_ms(); }) {}

AgentService::~AgentService() { Stop(); }

// --- Activation ---

Result<protocol::ActivationGrant> AgentService::Activate(
    const protocol::ActivationRequest& request,
    const std::string& client_address) {
  const ActivationLimits& limits = ctx_->config.activation;
  const std::string from = Clip(client_address, 64);
  ActivationLimiter::Decision admission =
      activation_limiter_.Admit(client_address);
  if (!admission.admitted) {
    const std::string rate =
        std::to_string(limits.burst) + " at once, then one every " +
        std::to_string(std::max<int64_t>(
            1, std::chrono::duration_cast<std::chrono::seconds>(
                   limits.refill_interval)
                   .count())) +
        " s";
    if (admission.log) {
      Log("refusing activation requests from " + from +
          (admission.bucket == client_address ? ""
                                              : " (" + admission.bucket + ")") +
          ", which may ask for " + rate + ": " +
          std::to_string(admission.refused_since_log) +
          " refused since the last such line (the next one comes " +
          std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                             limits.log_window)
                             .count()) +
          " s later at the earliest)");
    }
    return Status(StatusCode::kResourceExhausted,
                  "too many activation requests from " + from +
                      "; try again in " +
                      std::to_string(admission.retry_after_s) +
                      " s (an address may ask for " + rate + ")");
  }
  if (request.csr_pem.size() > limits.max_csr_bytes) {
    return Status::InvalidArgument("the certificate request is " +
                                   std::to_string(request.csr_pem.size()) +
                                   " bytes; this server takes at most " +
                                   std::to_string(limits.max_csr_bytes) +
                                   " (a ferry agent's is under 1 KiB)");
  }
  // A request that CreateAgent could not sign is refused now, not later.
  auto signed_once = pki::SignClientRequest(ctx_->authority, request.csr_pem,
                                            "agent-activation-check", 1);
  if (!signed_once.ok()) {
    return Status::InvalidArgument("the certificate request is not valid: " +
                                   std::string(signed_once.status().message()));
  }
  FERRY_ASSIGN_OR_RETURN(
      std::string token,
      RandomString(48,
                   "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                   "0123456789"));
  ActivationRecord record;
  record.poll_token_hash = Sha256Hex(token);
  record.csr_pem = request.csr_pem;
  record.hostname = request.hostname;
  record.version = request.version;
  int64_t dropped = 0;
  Status st = ctx_->db->Transaction([&](SqlSession& s) -> Status {
    const int64_t now = ctx_->now_ms();
    FERRY_RETURN_IF_ERROR(ctx_->store.DeleteExpiredActivations(s, now));
    // Room for this one among at most max_pending.
    FERRY_ASSIGN_OR_RETURN(int64_t pending,
                           ctx_->store.CountPendingActivations(s));
    const int64_t max_pending = std::max(1, limits.max_pending);
    FERRY_ASSIGN_OR_RETURN(dropped, ctx_->store.DeleteOldestPendingActivations(
                                        s, pending - max_pending + 1));
    // 36^25 keys: a collision is all but impossible, but cheap to rule out.
    for (int attempt = 0;; ++attempt) {
      FERRY_ASSIGN_OR_RETURN(record.activation_key, NewActivationKey());
      FERRY_ASSIGN_OR_RETURN(
          auto existing, ctx_->store.GetActivation(s, record.activation_key));
      if (!existing) break;
      if (attempt == 10) return Status::Internal("no free activation key");
    }
    record.created_ms = now;
    record.expires_ms = now + kActivationTtlMs;
    return ctx_->store.PutActivation(s, record);
  });
  FERRY_RETURN_IF_ERROR(st);
  Log("activation requested by " + Clip(request.hostname, 64) + " (ferry " +
      Clip(request.version, 32) + ") from " + from + ": key " +
      record.activation_key);
  if (dropped > 0) {
    std::lock_guard lock(drop_log_mu_);
    drops_since_log_ += dropped;
    const int64_t now = ctx_->now_ms();
    if (now >= drops_quiet_until_ms_) {
      Log(std::to_string(drops_since_log_) +
          " pending activation key(s) dropped, oldest first: more than " +
          std::to_string(limits.max_pending) +
          " waited for CreateAgent (their agents ask for new ones)");
      drops_since_log_ = 0;
      drops_quiet_until_ms_ = now + limits.log_window.count();
    }
  }
  protocol::ActivationGrant grant;
  grant.activation_key = record.activation_key;
  grant.poll_token = token;
  grant.expires_at = record.expires_ms / 1000;
  return grant;
}

Result<protocol::ActivationStatus> AgentService::ActivationState(
    const std::string& key, const std::string& poll_token) {
  if (key.size() != 29 || poll_token.empty() || poll_token.size() > 128) {
    return Status::InvalidArgument(
        "an activation key and poll token are "
        "required");
  }
  std::optional<ActivationRecord> record;
  FERRY_RETURN_IF_ERROR(ctx_->db->Transaction([&](SqlSession& s) -> Status {
    FERRY_ASSIGN_OR_RETURN(record, ctx_->store.GetActivation(s, key));
    return Status::Ok();
  }));
  if (!record) {
    return Status::NotFound("activation key " + key + " is not known");
  }
  const std::string hash = Sha256Hex(poll_token);
  if (hash.size() != record->poll_token_hash.size() ||
      CRYPTO_memcmp(hash.data(), record->poll_token_hash.data(), hash.size()) !=
          0) {
    return Status(StatusCode::kPermissionDenied,
                  "the poll token does not match activation key " + key);
  }
  protocol::ActivationStatus status;
  if (!record->agent_arn.empty() && !record->certificate_pem.empty()) {
    status.state = protocol::ActivationStatus::State::kActivated;
    status.agent_arn = record->agent_arn;
    status.certificate_pem = record->certificate_pem;
  } else if (ctx_->now_ms() > record->expires_ms) {
    status.state = protocol::ActivationStatus::State::kExpired;
  } else {
    status.state = protocol::ActivationStatus::State::kPending;
  }
  return status;
}

// --- Sync ---

namespace {

// RunExecution for `e`, or the reason it cannot run (its locations went).
// The link secret of an execution run by two agents, sealed for its row.
SealedPlace LinkSecretPlace(const std::string& execution_arn) {
  return {"executions", "Link", execution_arn};
}

// The execution's link (docs/link.md) when two agents run it: the receiver
// and the secret, unsealed; nullopt when one agent runs it.
Result<std::optional<protocol::LinkPeer>> ExecutionLink(
    ServerContext* ctx, const ExecutionRecord& e) {
  auto link = e.body.find("Link");
  if (link == e.body.end() || !link->is_object()) {
    return std::optional<protocol::LinkPeer>();
  }
  protocol::LinkPeer peer;
  peer.agent_arn = link->value("ReceiverAgentArn", "");
  FERRY_ASSIGN_OR_RETURN(
      peer.secret,
      ctx->sealer->Open(link->value("Secret", ""), LinkSecretPlace(e.arn)));
  return std::optional<protocol::LinkPeer>(std::move(peer));
}

// The ServerContext-level view of a location as an agent opens it.
Status FillLocation(ServerContext* ctx, SqlSession& s, const std::string& arn,
                    protocol::LocationSpecMessage* out, bool* found) {
  FERRY_ASSIGN_OR_RETURN(auto location, ctx->store.GetLocation(s, arn));
  *found = location.has_value();
  if (!location) return Status::Ok();
  out->arn = location->arn;
  out->type = location->type;
  FERRY_ASSIGN_OR_RETURN(out->parameters,
                         LocationParametersWithSecrets(*ctx, *location));
  return Status::Ok();
}

Result<std::optional<protocol::Command>> RunCommand(
    ServerContext* ctx, SqlSession& s, const ExecutionRecord& e,
    const std::function<std::string(const std::string&)>& link_address) {
  FERRY_ASSIGN_OR_RETURN(auto task, ctx->store.GetTask(s, e.task_arn));
  if (!task) return std::optional<protocol::Command>();
  protocol::Command c;
  c.type = protocol::Command::Type::kRunExecution;
  c.execution_arn = e.arn;
  c.task_arn = e.task_arn;
  c.options = e.body.value("Options", json::object());
  c.options["BytesPerSecond"] = e.bytes_per_second;
  c.bytes_per_second = e.bytes_per_second;
  c.includes = FilterValue(e.body.value("Includes", json::array()));
  c.excludes = FilterValue(e.body.value("Excludes", json::array()));
  // ManifestConfig and TaskReportConfig name S3 objects; the agent reaches
  // them as it reaches an S3 location (its endpoint and credentials).
  // Their shapes were checked against the model when the request came in.
  auto manifest = e.body.find("ManifestConfig");
  if (manifest != e.body.end() && manifest->is_object()) {
    const json s3 =
        manifest->value("Source", json::object()).value("S3", json::object());
    c.manifest_object.arn = s3.value("S3BucketArn", "");
    c.manifest_object.type = "S3";
    for (const char* member :
         {"S3BucketArn", "ManifestObjectPath", "ManifestObjectVersionId"}) {
      if (s3.contains(member))
        c.manifest_object.parameters[member] = s3[member];
    }
  }
  auto report = e.body.find("TaskReportConfig");
  if (report != e.body.end() && report->is_object()) {
    c.has_report = true;
    c.report_output_type = report->value("OutputType", "STANDARD");
    c.report_level = report->value("ReportLevel", "SUCCESSES_AND_ERRORS");
    const json s3 = report->value("Destination", json::object())
                        .value("S3", json::object());
    if (s3.contains("S3BucketArn")) {
      c.report_destination.arn = s3.value("S3BucketArn", "");
      c.report_destination.type = "S3";
      for (const char* member : {"S3BucketArn", "Subdirectory"}) {
        if (s3.contains(member)) {
          c.report_destination.parameters[member] = s3[member];
        }
      }
    }
  }
  for (auto [arn, out] : {std::pair{task->source_arn, &c.source},
                          std::pair{task->destination_arn, &c.destination}}) {
    bool found = false;
    FERRY_RETURN_IF_ERROR(FillLocation(ctx, s, arn, out, &found));
    if (!found) return std::optional<protocol::Command>();
  }
  FERRY_ASSIGN_OR_RETURN(auto link, ExecutionLink(ctx, e));
  if (link) {
    // The receiver's address as it last said (empty: not heard since this
    // server started; the sender's link then fails, naming the agent).
    link->address = link_address(link->agent_arn);
    c.has_link = true;
    c.link = std::move(*link);
  }
  return std::optional<protocol::Command>(std::move(c));
}

protocol::Command Simple(protocol::Command::Type type, const std::string& arn,
                         int64_t bytes_per_second = -1) {
  protocol::Command c;
  c.type = type;
  c.execution_arn = arn;
  c.bytes_per_second = bytes_per_second;
  return c;
}

}  // namespace

Status AgentService::Authenticate(const PeerCertificate& peer) {
  const std::string& agent_id = peer.common_name;
  if (agent_id.rfind("agent-", 0) != 0 || agent_id.size() > 64) {
    return Status(StatusCode::kPermissionDenied,
                  "'" + Clip(agent_id, 64) + "' does not name an agent");
  }
  const std::string agent_arn = ctx_->Arn("agent/" + agent_id);
  return ctx_->db->Transaction([&](SqlSession& s) -> Status {
    FERRY_ASSIGN_OR_RETURN(auto agent, ctx_->store.GetAgent(s, agent_arn));
    if (!agent) {
      return Status(StatusCode::kPermissionDenied,
                    "agent " + agent_arn +
                        " is not registered with this server (was it "
                        "deleted?)");
    }
    // The agent is its certificate, not its name: any other certificate
    // the authority signed with that name is refused.
    auto issued = pki::Sha256Fingerprint(agent->certificate_pem);
    if (!issued.ok() || issued->size() != peer.sha256_fingerprint.size() ||
        CRYPTO_memcmp(issued->data(), peer.sha256_fingerprint.data(),
                      issued->size()) != 0) {
      return Status(StatusCode::kPermissionDenied,
                    "the client certificate is not the one issued to agent " +
                        agent_arn + " at its activation");
    }
    return Status::Ok();
  });
}

Result<protocol::SyncResponse> AgentService::Sync(
    const std::string& agent_id, const protocol::SyncRequest& request) {
  return SyncOrPush(agent_id, request, /*push=*/false);
}

// A sync (push false) records the agent's heartbeat and reports, then
// answers with commands; a push (the server's own message on the channel,
// `request` empty) only works out the commands, and takes nothing the agent
// did not say as a sign that it lost an execution.
Result<protocol::SyncResponse> AgentService::SyncOrPush(
    const std::string& agent_id, const protocol::SyncRequest& request,
    bool push) {
  if (agent_id.rfind("agent-", 0) != 0 || agent_id.size() > 64) {
    return Status(StatusCode::kPermissionDenied,
                  "'" + Clip(agent_id, 64) + "' does not name an agent");
  }
  const std::string agent_arn = ctx_->Arn("agent/" + agent_id);
  if (!push) RecordLinkAddress(agent_arn, request.link_address);
  protocol::SyncResponse response;
  std::vector<std::string> ignored;
  int64_t seen_in_db = 0;
  Status st = ctx_->db->Transaction([&](SqlSession& s) -> Status {
    response = protocol::SyncResponse();
    // Three heartbeats fit in the silence that makes an agent OFFLINE.
    response.heartbeat_interval_ms =
        std::clamp<int64_t>(OfflineAfterMs(*ctx_) / 3, 1000, 30000);
    ignored.clear();
    const int64_t now = ctx_->now_ms();
    Ender ender(ctx_, s);
    FERRY_ASSIGN_OR_RETURN(auto agent, ctx_->store.GetAgent(s, agent_arn));
    if (!agent) {
      return Status(StatusCode::kPermissionDenied,
                    "agent " + agent_arn +
                        " is not registered with this server (was it "
                        "deleted?)");
    }
    if (!push && !AgentOnline(*ctx_, *agent)) {
      // Back (or here for the first time): ONLINE from this message on.
      agent->last_seen_ms = now;
      if (!request.version.empty()) agent->version = request.version;
      FERRY_RETURN_IF_ERROR(ctx_->store.UpdateAgent(s, *agent));
    }
    seen_in_db = agent->last_seen_ms;
    if (!push && agent->last_seen_ms != now) {
      // Written with others by FlushHeartbeatsOnce, not a write per sync.
      std::lock_guard lock(heartbeats_mu_);
      Heartbeat& h = heartbeats_[agent_arn];
      h.ms = std::max(h.ms, now);
      if (!request.version.empty()) h.version = request.version;
    }

    std::set<std::string> reported;
    for (const protocol::ExecutionReport& r : request.executions) {
      reported.insert(r.execution_arn);
      FERRY_ASSIGN_OR_RETURN(auto e,
                             ctx_->store.GetExecution(s, r.execution_arn));
      if (!e) {
        // Its task was deleted: forget a result, stop a run.
        ignored.push_back(r.execution_arn + " (unknown)");
        if (r.final) {
          response.acknowledged.push_back(r.execution_arn);
        } else {
          response.commands.push_back(Simple(
              protocol::Command::Type::kCancelExecution, r.execution_arn));
        }
        continue;
      }
      if (e->agent_arn != agent_arn) {
        ignored.push_back(r.execution_arn + " (assigned to " +
                          (e->agent_arn.empty() ? "no agent" : e->agent_arn) +
                          ")");
        continue;
      }
      if (IsFinalStatus(e->status)) {
        // A repeated final report, or an execution the server ended (e.g.
        // AgentOffline) that the agent still runs.
        if (r.final) {
          response.acknowledged.push_back(r.execution_arn);
        } else {
          response.commands.push_back(Simple(
              protocol::Command::Type::kCancelExecution, r.execution_arn));
        }
        continue;
      }
      e->describe = r.describe;
      e->updated_ms = now;
      if (e->launch_ms == 0) e->launch_ms = now;
      if (r.final) {
        e->status = r.status == "SUCCESS" ? "SUCCESS" : "ERROR";
        e->end_ms = now;
        FERRY_RETURN_IF_ERROR(ctx_->store.UpdateExecution(s, *e));
        FERRY_RETURN_IF_ERROR(ender.Ended(*e));
        response.acknowledged.push_back(r.execution_arn);
        continue;
      }
      if (e->cancel_requested) {
        e->status = "CANCELLING";
      } else if (IsLiveStatus(r.status)) {
        e->status = r.status;
      }
      FERRY_RETURN_IF_ERROR(ctx_->store.UpdateExecution(s, *e));
    }

    // Commands for what the server knows this agent should be doing.
    FERRY_ASSIGN_OR_RETURN(auto mine,
                           ctx_->store.ExecutionsOfAgent(s, agent_arn));
    const bool complete =
        !push && request.executions.size() < protocol::kMaxExecutionsPerSync;
    for (ExecutionRecord& e : mine) {
      if (response.commands.size() >= protocol::kMaxCommandsPerSync) break;
      if (IsFinalStatus(e.status) || e.status == "QUEUED") continue;
      const bool now_reported = reported.count(e.arn) > 0;
      const bool ever_reported = now_reported || e.updated_ms > 0;
      if (!ever_reported) {
        if (e.cancel_requested) {
          FERRY_RETURN_IF_ERROR(
              ender.Fail(e, "OperationCanceled",
                         "The task execution was cancelled before agent " +
                             agent_arn + " started it."));
          continue;
        }
        FERRY_ASSIGN_OR_RETURN(
            auto run, RunCommand(ctx_, s, e, [this](const std::string& a) {
              return LinkAddressOf(a);
            }));
        if (!run) {
          FERRY_RETURN_IF_ERROR(ender.Fail(
              e, "LocationNotFound",
              "A location of the task was deleted before the execution "
              "started."));
          continue;
        }
        if (run->has_link && run->link.address.empty()) {
          FERRY_RETURN_IF_ERROR(ender.Fail(
              e, "AgentsDiffer",
              "Agent " + run->link.agent_arn +
                  ", which serves the destination, has not said where it "
                  "accepts link connections since this server started."));
          continue;
        }
        response.commands.push_back(std::move(*run));
        continue;
      }
      if (!now_reported && complete) {
        // The agent ran it and no longer does: it restarted and lost it.
        FERRY_RETURN_IF_ERROR(
            ender.Fail(e, "AgentRestarted",
                       "Agent " + agent_arn +
                           " no longer runs this execution (it restarted "
                           "while the execution ran). Files in flight may "
                           "be incomplete; the next execution of the task "
                           "makes the destination consistent."));
        continue;
      }
      if (e.cancel_requested) {
        response.commands.push_back(
            Simple(protocol::Command::Type::kCancelExecution, e.arn));
        continue;
      }
      std::optional<int64_t> running_at = ReportedBandwidth(e.describe);
      if (running_at && *running_at != e.bytes_per_second) {
        response.commands.push_back(Simple(
            protocol::Command::Type::kSetBandwidth, e.arn, e.bytes_per_second));
      }
    }
    FERRY_RETURN_IF_ERROR(LinkCommands(s, agent_arn, request, &response));
    return StoreExecutionLogs(*ctx_, s, agent_arn, request, &response);
  });
  if (!st.ok()) return st;
  {
    std::lock_guard lock(heartbeats_mu_);
    int64_t& known = in_db_[agent_arn];
    known = std::max(known, seen_in_db);
  }
  for (const std::string& what : ignored) {
    Log("agent " + agent_id +
        " reported an execution that is not its own: " + what);
  }
  return response;
}

// --- Links between agents (docs/link.md) ---

void AgentService::RecordLinkAddress(const std::string& agent_arn,
                                     const std::string& address) {
  std::lock_guard lock(heartbeats_mu_);
  if (address.empty()) {
    link_addresses_.erase(agent_arn);
  } else {
    link_addresses_[agent_arn] = address;
  }
}

std::string AgentService::LinkAddressOf(const std::string& agent_arn) {
  std::lock_guard lock(heartbeats_mu_);
  auto it = link_addresses_.find(agent_arn);
  return it == link_addresses_.end() ? std::string() : it->second;
}

// The receiver's commands: ServeLink for each live execution whose
// destination it serves and that it did not say it serves (a push repeats
// them; the agent ignores one it has), CancelExecution for a link it serves
// of an execution that has ended or is unknown.
Status AgentService::LinkCommands(SqlSession& s, const std::string& agent_arn,
                                  const protocol::SyncRequest& request,
                                  protocol::SyncResponse* response) {
  const std::set<std::string> served(request.links_served.begin(),
                                     request.links_served.end());
  if (served.empty() && LinkAddressOf(agent_arn).empty()) return Status::Ok();
  FERRY_ASSIGN_OR_RETURN(auto running,
                         ctx_->store.ExecutionsInStatus(s, RunningStatuses()));
  std::set<std::string> live;
  for (const ExecutionRecord& e : running) {
    if (response->commands.size() >= protocol::kMaxCommandsPerSync) break;
    auto link = e.body.find("Link");
    if (link == e.body.end() || !link->is_object() ||
        link->value("ReceiverAgentArn", "") != agent_arn) {
      continue;
    }
    live.insert(e.arn);
    if (served.count(e.arn) || e.cancel_requested) continue;
    FERRY_ASSIGN_OR_RETURN(auto task, ctx_->store.GetTask(s, e.task_arn));
    if (!task) continue;
    protocol::Command c;
    c.type = protocol::Command::Type::kServeLink;
    c.execution_arn = e.arn;
    c.options = e.body.value("Options", json::object());
    bool found = false;
    FERRY_RETURN_IF_ERROR(
        FillLocation(ctx_, s, task->destination_arn, &c.destination, &found));
    if (!found) continue;
    FERRY_ASSIGN_OR_RETURN(auto peer, ExecutionLink(ctx_, e));
    if (!peer) continue;
    c.has_link = true;
    c.link.agent_arn = e.agent_arn;  // the sender
    c.link.secret = std::move(peer->secret);
    response->commands.push_back(std::move(c));
  }
  for (const std::string& arn : served) {
    if (response->commands.size() >= protocol::kMaxCommandsPerSync) break;
    if (!live.count(arn)) {
      response->commands.push_back(
          Simple(protocol::Command::Type::kCancelExecution, arn));
    }
  }
  return Status::Ok();
}

// --- Dispatch ---

Status AgentService::DispatchOnce() {
  FERRY_RETURN_IF_ERROR(FlushHeartbeatsOnce());
  Status st = ctx_->db->Transaction([&](SqlSession& s) -> Status {
    dispatched_.clear();
    const int64_t now = ctx_->now_ms();
    Ender ender(ctx_, s);
    const bool lock = ctx_->db->dialect() == Database::Dialect::kPostgres;
    FERRY_ASSIGN_OR_RETURN(auto queued,
                           ctx_->store.ExecutionsInStatus(s, {"QUEUED"}, lock));
    if (queued.empty()) return Status::Ok();
    // Tasks with an execution running (or ahead in the queue), and how
    // busy each agent is.
    std::set<std::string> busy_tasks;
    std::map<std::string, int> load;
    FERRY_ASSIGN_OR_RETURN(
        auto running, ctx_->store.ExecutionsInStatus(s, RunningStatuses()));
    for (const ExecutionRecord& r : running) {
      busy_tasks.insert(r.task_arn);
      ++load[r.agent_arn];
    }
    std::map<std::string, bool> online;  // agent ARN -> ONLINE
    auto is_online = [&](const std::string& arn) -> Result<bool> {
      auto it = online.find(arn);
      if (it != online.end()) return it->second;
      FERRY_ASSIGN_OR_RETURN(auto agent, ctx_->store.GetAgent(s, arn));
      bool on = agent && AgentOnline(*ctx_, *agent);
      online[arn] = on;
      return on;
    };

    for (ExecutionRecord& e : queued) {
      if (e.cancel_requested || busy_tasks.count(e.task_arn)) continue;
      FERRY_ASSIGN_OR_RETURN(auto task, ctx_->store.GetTask(s, e.task_arn));
      if (!task) continue;
      FERRY_ASSIGN_OR_RETURN(auto src,
                             ctx_->store.GetLocation(s, task->source_arn));
      FERRY_ASSIGN_OR_RETURN(auto dst,
                             ctx_->store.GetLocation(s, task->destination_arn));
      if (!src || !dst) {
        FERRY_RETURN_IF_ERROR(ender.Fail(
            e, "LocationNotFound",
            "Location " + (!src ? task->source_arn : task->destination_arn) +
                " of the task no longer exists."));
        continue;
      }
      bool unsupported = false;
      for (const LocationRecord* loc : {&*src, &*dst}) {
        if (loc->type == "LOCAL" || loc->type == "OBJECT_STORAGE" ||
            loc->type == "S3" || loc->type == "SMB" || loc->type == "NFS" ||
            loc->type == "AZURE_BLOB") {
          continue;
        }
        FERRY_RETURN_IF_ERROR(ender.Fail(
            e, "UnsupportedLocationType",
            "Location " + loc->arn + " is of type " + loc->type +
                ": ferry agents cannot serve " + loc->type +
                " locations yet (LOCAL, OBJECT_STORAGE, S3, SMB, NFS and "
                "AZURE_BLOB locations can be transferred)."));
        unsupported = true;
        break;
      }
      if (unsupported) continue;
      // An S3 location without agents of its own is served by the other
      // location's agents.
      const std::vector<std::string>& src_agents =
          src->agent_arns.empty() ? dst->agent_arns : src->agent_arns;
      const std::vector<std::string>& dst_agents =
          dst->agent_arns.empty() ? src->agent_arns : dst->agent_arns;
      std::vector<std::string> both;
      for (const std::string& a : src_agents) {
        if (std::find(dst_agents.begin(), dst_agents.end(), a) !=
            dst_agents.end()) {
          both.push_back(a);
        }
      }
      if (both.empty()) {
        // Two agents: the one near the source runs the execution and sends
        // over the link to the one near the destination (docs/link.md).
        std::string sender, receiver;
        bool receiver_online = false;
        for (const std::string& a : src_agents) {
          FERRY_ASSIGN_OR_RETURN(bool on, is_online(a));
          if (on && (sender.empty() || load[a] < load[sender])) sender = a;
        }
        for (const std::string& a : dst_agents) {
          FERRY_ASSIGN_OR_RETURN(bool on, is_online(a));
          if (!on) continue;
          receiver_online = true;
          if (LinkAddressOf(a).empty()) continue;
          if (receiver.empty() || load[a] < load[receiver]) receiver = a;
        }
        if (receiver_online && receiver.empty()) {
          std::string names;
          for (const std::string& a : dst_agents) {
            names += (names.empty() ? "" : ", ") + a;
          }
          FERRY_RETURN_IF_ERROR(
              ender.Fail(e, "AgentsDiffer",
                         "The source location " + src->arn +
                             " and the destination "
                             "location " +
                             dst->arn +
                             " are served by different agents, "
                             "and no agent of the destination (" +
                             names +
                             ") accepts "
                             "link connections: start one with `ferry agent "
                             "--link-listen ADDRESS:PORT`."));
          continue;
        }
        busy_tasks.insert(e.task_arn);
        if (sender.empty() || receiver.empty()) continue;  // it waits
        unsigned char secret[protocol::kLinkSecretBytes];
        if (RAND_bytes(secret, sizeof(secret)) != 1) {
          return Status::Internal("no random bytes for a link secret");
        }
        FERRY_ASSIGN_OR_RETURN(
            std::string sealed,
            ctx_->sealer->Seal(
                std::string_view(reinterpret_cast<const char*>(secret),
                                 sizeof(secret)),
                LinkSecretPlace(e.arn)));
        e.body["Link"] = {{"ReceiverAgentArn", receiver}, {"Secret", sealed}};
        e.agent_arn = sender;
        dispatched_.push_back(sender);
        dispatched_.push_back(receiver);
        e.status = "LAUNCHING";
        e.launch_ms = now;
        e.updated_ms = 0;
        ++load[sender];
        ++load[receiver];
        FERRY_RETURN_IF_ERROR(ctx_->store.UpdateExecution(s, e));
        continue;
      }
      std::string pick;
      for (const std::string& a : both) {
        FERRY_ASSIGN_OR_RETURN(bool on, is_online(a));
        if (on && (pick.empty() || load[a] < load[pick])) pick = a;
      }
      // Later executions of the task wait behind this one (FIFO).
      busy_tasks.insert(e.task_arn);
      if (pick.empty()) continue;  // no agent online: it waits
      e.agent_arn = pick;
      dispatched_.push_back(pick);
      e.status = "LAUNCHING";
      e.launch_ms = now;
      e.updated_ms = 0;
      ++load[pick];
      FERRY_RETURN_IF_ERROR(ctx_->store.UpdateExecution(s, e));
    }
    return Status::Ok();
  });
  // Committed: the agents hear of it now.
  if (st.ok()) {
    for (const std::string& agent_arn : dispatched_) NotifyAgent(agent_arn);
  }
  dispatched_.clear();
  return st;
}

// --- Offline agents ---

Status AgentService::MonitorAgentsOnce() {
  FERRY_RETURN_IF_ERROR(FlushHeartbeatsOnce());
  return ctx_->db->Transaction([&](SqlSession& s) -> Status {
    const int64_t now = ctx_->now_ms();
    const int64_t window = OfflineAfterMs(*ctx_);
    Ender ender(ctx_, s);
    FERRY_ASSIGN_OR_RETURN(
        auto running, ctx_->store.ExecutionsInStatus(s, RunningStatuses()));
    for (ExecutionRecord& e : running) {
      FERRY_ASSIGN_OR_RETURN(auto agent, ctx_->store.GetAgent(s, e.agent_arn));
      if (!agent) {
        FERRY_RETURN_IF_ERROR(
            ender.Fail(e, "AgentOffline",
                       "Agent " + e.agent_arn +
                           " was deleted while it ran the execution."));
        continue;
      }
      // An agent that has not had the window since this server came up to
      // reconnect is not offline yet.
      const int64_t heard = std::max(agent->last_seen_ms, started_ms_);
      if (now - heard > window) {
        FERRY_RETURN_IF_ERROR(ender.Fail(
            e, "AgentOffline",
            "Agent " + agent->arn + " has not been heard from since " +
                (agent->last_seen_ms > 0 ? IsoTime(agent->last_seen_ms)
                                         : std::string("its activation")) +
                " (it is OFFLINE after " + std::to_string(window / 1000) +
                " s of silence), so the execution was ended at " +
                IsoTime(now) +
                ". Files in flight may be incomplete; the next execution of "
                "the task makes the destination consistent."));
        continue;
      }
      if (e.updated_ms == 0 && e.launch_ms > 0 &&
          now - std::max(e.launch_ms, started_ms_) > window) {
        FERRY_RETURN_IF_ERROR(ender.Fail(
            e, "LaunchTimeout",
            "Agent " + agent->arn + " did not start the execution within " +
                std::to_string(window / 1000) + " s of " +
                IsoTime(e.launch_ms) + "."));
      }
    }
    return Status::Ok();
  });
}

// --- Schedules ---

Status AgentService::RunSchedulesOnce() {
  using TimePoint = std::chrono::system_clock::time_point;
  std::vector<std::string> due;
  Status st = ctx_->db->Transaction([&](SqlSession& s) -> Status {
    due.clear();
    const int64_t now = ctx_->now_ms();
    FERRY_ASSIGN_OR_RETURN(auto tasks, ctx_->store.DueTasks(s, now));
    for (TaskRecord& t : tasks) {
      // Claim the run by moving next_run on, so that no other server (and no
      // later pass) starts it again.
      std::string expression;
      if (t.body.contains("Schedule") && t.body["Schedule"].is_object()) {
        expression = t.body["Schedule"].value("ScheduleExpression", "");
      }
      auto schedule = Schedule::Parse(expression);
      t.next_run_ms = 0;
      if (schedule.ok()) {
        auto next = schedule->NextAfter(
            TimePoint(std::chrono::milliseconds(now)),
            TimePoint(std::chrono::milliseconds(t.schedule_anchor_ms)));
        if (next) {
          t.next_run_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              next->time_since_epoch())
                              .count();
        }
      } else {
        Log("task " + t.arn + ": schedule '" + expression +
            "' cannot be read: " + std::string(schedule.status().message()));
      }
      FERRY_RETURN_IF_ERROR(ctx_->store.UpdateTask(s, t));
      due.push_back(t.arn);
    }
    return Status::Ok();
  });
  FERRY_RETURN_IF_ERROR(st);
  for (const std::string& task_arn : due) {
    auto started = StartExecution(*ctx_, task_arn, json::object(), true);
    if (auto* e = std::get_if<ApiError>(&started)) {
      Log("task " + task_arn +
          ": the scheduled execution was not started: " + e->message);
    } else {
      Log("task " + task_arn + ": scheduled execution " +
          std::get<std::string>(started) + " queued");
    }
  }
  return Status::Ok();
}

// --- Heartbeats and channels ---

std::optional<protocol::SyncResponse> AgentService::QuickHeartbeat(
    const std::string& agent_arn, const std::string& version) {
  const int64_t now = ctx_->now_ms();
  std::lock_guard lock(heartbeats_mu_);
  auto known = in_db_.find(agent_arn);
  if (known == in_db_.end() ||
      now - known->second > OfflineAfterMs(*ctx_) / 2) {
    return std::nullopt;
  }
  Heartbeat& h = heartbeats_[agent_arn];
  h.ms = std::max(h.ms, now);
  if (!version.empty()) h.version = version;
  protocol::SyncResponse response;
  response.heartbeat_interval_ms =
      std::clamp<int64_t>(OfflineAfterMs(*ctx_) / 3, 1000, 30000);
  return response;
}

Status AgentService::FlushHeartbeatsOnce() {
  std::map<std::string, Heartbeat> batch;
  {
    std::lock_guard lock(heartbeats_mu_);
    batch.swap(heartbeats_);
  }
  if (batch.empty()) return Status::Ok();
  std::map<std::string, int64_t> written;
  std::vector<std::string> deleted;
  Status st = ctx_->db->Transaction([&](SqlSession& s) -> Status {
    written.clear();
    deleted.clear();
    for (const auto& [arn, beat] : batch) {
      FERRY_ASSIGN_OR_RETURN(auto agent, ctx_->store.GetAgent(s, arn));
      if (!agent) {
        deleted.push_back(arn);  // through another server, say
        continue;
      }
      written[arn] = std::max(agent->last_seen_ms, beat.ms);
      if (beat.ms <= agent->last_seen_ms &&
          (beat.version.empty() || beat.version == agent->version)) {
        continue;
      }
      agent->last_seen_ms = std::max(agent->last_seen_ms, beat.ms);
      if (!beat.version.empty()) agent->version = beat.version;
      FERRY_RETURN_IF_ERROR(ctx_->store.UpdateAgent(s, *agent));
    }
    return Status::Ok();
  });
  if (st.ok()) {
    {
      std::lock_guard lock(heartbeats_mu_);
      for (const auto& [arn, ms] : written) {
        int64_t& known = in_db_[arn];
        known = std::max(known, ms);
      }
      for (const std::string& arn : deleted) in_db_.erase(arn);
    }
    // A deleted agent's channel goes, as DeleteAgent on this server does.
    for (const std::string& arn : deleted) {
      const std::string agent_id = arn.substr(arn.rfind('/') + 1);
      std::shared_ptr<WebSocketChannel> channel;
      {
        std::lock_guard lock(mu_);
        auto it = channels_.find(agent_id);
        if (it != channels_.end()) channel = it->second;
      }
      if (channel) {
        channel->Close(1008, "agent " + arn +
                                 " is not registered with this server (was "
                                 "it deleted?)");
      }
    }
  }
  if (!st.ok()) {
    // Kept for the next flush (a newer heartbeat wins).
    std::lock_guard lock(heartbeats_mu_);
    for (auto& [arn, beat] : batch) {
      Heartbeat& h = heartbeats_[arn];
      if (beat.ms > h.ms) h.ms = beat.ms;
      if (h.version.empty()) h.version = std::move(beat.version);
    }
  }
  return st;
}

WebSocketHandlers AgentService::OpenChannel(
    const std::string& agent_id, std::shared_ptr<WebSocketChannel> channel) {
  std::shared_ptr<WebSocketChannel> older;
  {
    std::lock_guard lock(mu_);
    auto& slot = channels_[agent_id];
    older = std::move(slot);
    slot = channel;
  }
  if (older) {
    older->Close(4000, "a newer channel of this agent replaced this one");
  }
  std::weak_ptr<WebSocketChannel> weak = channel;
  WebSocketHandlers handlers;
  // The first message of a channel always takes the full path: it tells
  // what the agent runs (a restarted agent runs nothing it ran before).
  auto first = std::make_shared<std::atomic<bool>>(true);
  handlers.on_message = [this, agent_id, weak, first](std::string text) {
    auto channel = weak.lock();
    if (!channel) return;
    auto request = protocol::DecodeSyncRequest(text);
    if (!request.ok()) {
      Log("channel of " + agent_id + ": " + request.status().ToString());
      channel->Close(1008, std::string(request.status().message()));
      return;
    }
    // A heartbeat of an idle agent costs no transaction: it is written
    // with the others at the next flush, and commands go by push.
    if (!first->exchange(false) && request->executions.empty() &&
        request->links_served.empty()) {
      RecordLinkAddress(ctx_->Arn("agent/" + agent_id), request->link_address);
      if (auto quick = QuickHeartbeat(ctx_->Arn("agent/" + agent_id),
                                      request->version)) {
        channel->Send(protocol::Encode(*quick).dump(
            -1, ' ', false, nlohmann::json::error_handler_t::replace));
        return;
      }
    }
    auto answer = Sync(agent_id, *request);
    if (!answer.ok()) {
      Log("channel of " + agent_id + ": " + answer.status().ToString());
      const bool refused =
          answer.status().code() == StatusCode::kPermissionDenied;
      channel->Close(refused ? 1008 : 1011,
                     refused ? std::string(answer.status().message())
                             : "internal error; the server's log has the "
                               "details");
      return;
    }
    channel->Send(protocol::Encode(*answer).dump(
        -1, ' ', false, nlohmann::json::error_handler_t::replace));
  };
  handlers.on_close = [this, agent_id, weak] {
    std::lock_guard lock(mu_);
    auto it = channels_.find(agent_id);
    if (it != channels_.end() && it->second == weak.lock()) {
      channels_.erase(it);
    }
  };
  // Whatever waits for the agent goes out at once.
  {
    std::lock_guard lock(mu_);
    push_to_.insert(agent_id);
  }
  cv_.notify_all();
  return handlers;
}

void AgentService::NotifyAgent(const std::string& agent_arn) {
  const std::string agent_id = agent_arn.substr(agent_arn.rfind('/') + 1);
  {
    std::lock_guard lock(mu_);
    if (!channels_.count(agent_id)) return;
    push_to_.insert(agent_id);
  }
  cv_.notify_all();
}

void AgentService::NotifyQueued() {
  {
    std::lock_guard lock(mu_);
    dispatch_now_ = true;
  }
  cv_.notify_all();
}

size_t AgentService::channel_count() const {
  std::lock_guard lock(mu_);
  return channels_.size();
}

void AgentService::Push(const std::string& agent_id) {
  std::shared_ptr<WebSocketChannel> channel;
  {
    std::lock_guard lock(mu_);
    auto it = channels_.find(agent_id);
    if (it == channels_.end()) return;
    channel = it->second;
  }
  auto commands = SyncOrPush(agent_id, protocol::SyncRequest(), /*push=*/true);
  if (!commands.ok()) {
    Log("commands for " + agent_id + ": " + commands.status().ToString());
    if (commands.status().code() == StatusCode::kPermissionDenied) {
      // Deleted: its channel goes now.
      channel->Close(1008, std::string(commands.status().message()));
    }
    return;
  }
  if (commands->commands.empty()) return;
  channel->Send(protocol::Encode(*commands).dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace));
}

Status AgentService::PushPendingOnce() {
  std::set<std::string> agents;
  FERRY_RETURN_IF_ERROR(ctx_->db->Transaction([&](SqlSession& s) -> Status {
    agents.clear();
    FERRY_ASSIGN_OR_RETURN(
        auto running, ctx_->store.ExecutionsInStatus(s, RunningStatuses()));
    for (const ExecutionRecord& e : running) {
      if (e.agent_arn.empty()) continue;
      const std::optional<int64_t> at = ReportedBandwidth(e.describe);
      if (e.updated_ms == 0 || e.cancel_requested ||
          (at && *at != e.bytes_per_second)) {
        agents.insert(e.agent_arn);
      }
      // The receiver of a link, until the sender has started.
      auto link = e.body.find("Link");
      if (e.updated_ms == 0 && link != e.body.end() && link->is_object() &&
          !link->value("ReceiverAgentArn", "").empty()) {
        agents.insert(link->value("ReceiverAgentArn", ""));
      }
    }
    return Status::Ok();
  }));
  for (const std::string& arn : agents) NotifyAgent(arn);
  return Status::Ok();
}

void AgentService::PusherMain() {
  for (;;) {
    std::set<std::string> batch;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stop_.load() || !push_to_.empty(); });
      if (stop_.load()) return;
      batch.swap(push_to_);
    }
    for (const std::string& agent_id : batch) Push(agent_id);
  }
}

void AgentService::LoopMain() {
  auto next_full_pass = std::chrono::steady_clock::now();
  while (!stop_.load()) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= next_full_pass) {
      for (auto [name, pass] :
           {std::pair{"heartbeats", &AgentService::FlushHeartbeatsOnce},
            std::pair{"schedules", &AgentService::RunSchedulesOnce},
            std::pair{"offline agents", &AgentService::MonitorAgentsOnce},
            std::pair{"dispatch", &AgentService::DispatchOnce},
            std::pair{"pending commands", &AgentService::PushPendingOnce},
            std::pair{"execution logs", &AgentService::PruneLogsOnce}}) {
        Status st = (this->*pass)();
        if (!st.ok()) Log(std::string(name) + " pass failed: " + st.ToString());
      }
      next_full_pass = now + ctx_->config.tick;
    }
    bool dispatch = false;
    {
      std::unique_lock lock(mu_);
      cv_.wait_until(lock, next_full_pass,
                     [this] { return stop_.load() || dispatch_now_; });
      dispatch = dispatch_now_;
      dispatch_now_ = false;
    }
    if (dispatch && !stop_.load()) {
      Status st = DispatchOnce();
      if (!st.ok()) Log("dispatch pass failed: " + st.ToString());
    }
  }
}

// --- Execution logs ---

Status AgentService::PruneLogsOnce() {
  const int64_t now = ctx_->now_ms();
  const int64_t every = std::chrono::duration_cast<std::chrono::milliseconds>(
                            ctx_->config.logs.prune_interval)
                            .count();
  if (logs_pruned_ms_ != 0 && now - logs_pruned_ms_ < every) {
    return Status::Ok();
  }
  logs_pruned_ms_ = now;
  return ctx_->db->Transaction([&](SqlSession& s) -> Status {
    return PruneExecutionLogs(*ctx_, s, now).status();
  });
}

// --- The loops ---

void AgentService::Start() {
  if (loop_) return;
  stop_.store(false);
  loop_ = std::make_unique<std::thread>([this] { LoopMain(); });
  pusher_ = std::make_unique<std::thread>([this] { PusherMain(); });
}

void AgentService::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_.store(true);
  }
  cv_.notify_all();
  for (auto* t : {&loop_, &pusher_}) {
    if (*t) {
      if ((*t)->joinable()) (*t)->join();
      t->reset();
    }
  }
  Status st = FlushHeartbeatsOnce();
  if (!st.ok()) Log("heartbeats not written: " + st.ToString());
}

}  // namespace ferry::control
