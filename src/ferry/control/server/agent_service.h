// AgentService: the agent side of `ferry server` (docs/protocol.md):
// activation requests and their status, the sync endpoint agents post to
// over mutual TLS, and the background loops that move executions along: the
// dispatcher (QUEUED executions to online agents), the offline monitor (an
// agent silent for too long is OFFLINE; its executions end ERROR) and the
// scheduler (tasks whose schedule is due get an execution; repeated failures
// disable the schedule). It shares nothing with the API handlers but the
// StateStore, so several servers over one PostgreSQL database work together.
// Thread-safe.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "ferry/control/server/activation_limiter.h"
#include "ferry/control/server/server_context.h"
#include "ferry/protocol/agent_protocol.h"

namespace ferry::control {

class AgentService {
 public:
  explicit AgentService(ServerContext* ctx);
  ~AgentService();

  // POST /agent/v1/activation from `client_address` (the peer's IP address
  // as text). Each address gets ServerConfig::activation's token bucket: a
  // refused request is ResourceExhausted ("too many activation requests
  // from ADDRESS; try again in N s"), logged once per address and log
  // window. A certificate request over max_csr_bytes is InvalidArgument.
  // At most max_pending keys wait for CreateAgent: a new one past that
  // drops the oldest (their agents, finding them unknown, ask again).
  Result<protocol::ActivationGrant> Activate(
      const protocol::ActivationRequest& request,
      const std::string& client_address);
  // GET /agent/v1/activation?key=&token=.
  Result<protocol::ActivationStatus> ActivationState(
      const std::string& key, const std::string& poll_token);
  // Whether `agent_id` (the common name of a verified client certificate)
  // names an agent registered here: PermissionDenied if not. Checked before
  // anything decodes the body of its sync.
  Status Authenticate(const std::string& agent_id);
  // POST /agent/v1/sync from the agent whose certificate names `agent_id`
  // ("agent-..."): records its heartbeat and reports, answers commands.
  Result<protocol::SyncResponse> Sync(const std::string& agent_id,
                                      const protocol::SyncRequest& request);

  // Starts and stops the background loops (dispatch, offline agents,
  // schedules), each every ServerConfig::tick.
  void Start();
  void Stop();

  // One pass of each loop (tests drive them directly).
  Status DispatchOnce();
  Status MonitorAgentsOnce();
  Status RunSchedulesOnce();
  // Deletes expired execution log records (PruneExecutionLogs), at most
  // once per ServerConfig::logs.prune_interval.
  Status PruneLogsOnce();

 private:
  ServerContext* const ctx_;
  // When this service came up: silence while no server ran (a restart) does
  // not count against an agent.
  const int64_t started_ms_;
  ActivationLimiter activation_limiter_;
  // Pending activation keys dropped (past max_pending) are logged at most
  // once per log window.
  std::mutex drop_log_mu_;
  int64_t drops_quiet_until_ms_ = 0;  // GUARDED_BY(drop_log_mu_)
  int64_t drops_since_log_ = 0;       // GUARDED_BY(drop_log_mu_)
  int64_t logs_pruned_ms_ = 0;        // the loop's (or a test's) thread only
  std::atomic<bool> stop_{false};
  std::unique_ptr<std::thread> loop_;
};

}  // namespace ferry::control
