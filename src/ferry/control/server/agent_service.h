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
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "ferry/control/server/activation_limiter.h"
#include "ferry/control/server/http_server.h"
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
  // Whether the verified client certificate `peer` is the one CreateAgent
  // issued to the agent its common name names ("agent-..."), registered
  // here: PermissionDenied if not (a deleted agent's certificate, or another
  // certificate the authority signed with that name). Checked before
  // anything decodes the body of its sync.
  Status Authenticate(const PeerCertificate& peer);
  // A SyncRequest from the agent whose certificate names `agent_id`
  // ("agent-..."), on its channel or POSTed to /agent/v1/sync: records its
  // heartbeat (in memory, written by FlushHeartbeatsOnce) and its reports,
  // answers with commands.
  Result<protocol::SyncResponse> Sync(const std::string& agent_id,
                                      const protocol::SyncRequest& request);

  // The channel of an authenticated agent (GET /agent/v1/channel, a
  // WebSocket): each SyncRequest on it is answered on it, and commands are
  // pushed on it the moment they exist (NotifyAgent, and each tick for
  // what is pending). A newer channel of the same agent closes this one.
  WebSocketHandlers OpenChannel(const std::string& agent_id,
                                std::shared_ptr<WebSocketChannel> channel);
  // Something changed for `agent_arn` (an execution given to it, cancelled,
  // its bandwidth changed): if its channel is on this server, the commands
  // go out now. Never blocks.
  void NotifyAgent(const std::string& agent_arn);
  // An execution was queued: the dispatcher runs now, not at the next tick.
  void NotifyQueued();
  // Channels open on this server.
  size_t channel_count() const;

  // Starts and stops the background loops (dispatch, offline agents,
  // schedules, heartbeats, pending commands), each every ServerConfig::tick,
  // and the thread that pushes commands to channels.
  void Start();
  void Stop();

  // One pass of each loop (tests drive them directly). DispatchOnce and
  // MonitorAgentsOnce flush the heartbeats first.
  Status DispatchOnce();
  Status MonitorAgentsOnce();
  Status RunSchedulesOnce();
  // The heartbeats heard since the last flush, in one transaction.
  Status FlushHeartbeatsOnce();
  // Agents with a channel here and a command waiting (an execution given to
  // them and not yet reported, a cancellation, a bandwidth change): pushed.
  Status PushPendingOnce();
  // Deletes expired execution log records (PruneExecutionLogs), at most
  // once per ServerConfig::logs.prune_interval.
  Status PruneLogsOnce();

 private:
  struct Heartbeat {
    int64_t ms = 0;
    std::string version;
  };
  Result<protocol::SyncResponse> SyncOrPush(
      const std::string& agent_id, const protocol::SyncRequest& request,
      bool push);
  // The answer to a heartbeat with nothing in it (no executions) on a
  // channel past its first message, from memory alone, when the database
  // knows the agent ONLINE for a while yet (this server wrote or read its
  // last_seen lately); nullopt otherwise (the full Sync answers it).
  // Commands reach such an agent by push.
  std::optional<protocol::SyncResponse> QuickHeartbeat(
      const std::string& agent_arn, const std::string& version);
  // Where an agent accepts link connections, as its last message said
  // (kept in memory: every agent says it again within a heartbeat).
  void RecordLinkAddress(const std::string& agent_arn,
                         const std::string& address);
  std::string LinkAddressOf(const std::string& agent_arn);
  Status LinkCommands(SqlSession& s, const std::string& agent_arn,
                      const protocol::SyncRequest& request,
                      protocol::SyncResponse* response);
  void Push(const std::string& agent_id);
  void PusherMain();
  void LoopMain();

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
  std::unique_ptr<std::thread> pusher_;

  // Heartbeats not yet in the database, by agent ARN.
  std::mutex heartbeats_mu_;
  std::map<std::string, Heartbeat> heartbeats_;  // GUARDED_BY(heartbeats_mu_)
  // Agent ARN -> the last_seen the database holds for it, as far as this
  // server wrote or read it.
  std::map<std::string, int64_t> in_db_;  // GUARDED_BY(heartbeats_mu_)
  // Agent ARN -> its link listener's "host:port".
  std::map<std::string, std::string>
      link_addresses_;  // GUARDED_BY(heartbeats_mu_)
  // Executions given to agents by the last DispatchOnce (their ARNs).
  std::vector<std::string> dispatched_;  // only the loop's thread

  // Open channels by agent ID, agents waiting for a push, wake-ups.
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::shared_ptr<WebSocketChannel>>
      channels_;                   // GUARDED_BY(mu_)
  std::set<std::string> push_to_;  // GUARDED_BY(mu_): agent IDs
  bool dispatch_now_ = false;      // GUARDED_BY(mu_)
};

}  // namespace ferry::control
