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
#include <string>
#include <thread>

#include "ferry/control/server/server_context.h"
#include "ferry/protocol/agent_protocol.h"

namespace ferry::control {

class AgentService {
 public:
  explicit AgentService(ServerContext* ctx);
  ~AgentService();

  // POST /agent/v1/activation.
  Result<protocol::ActivationGrant> Activate(
      const protocol::ActivationRequest& request);
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

 private:
  ServerContext* const ctx_;
  // When this service came up: silence while no server ran (a restart) does
  // not count against an agent.
  const int64_t started_ms_;
  std::atomic<bool> stop_{false};
  std::unique_ptr<std::thread> loop_;
};

}  // namespace ferry::control
