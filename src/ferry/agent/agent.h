// Agent: `ferry agent`. On first start it makes a key and a certificate
// request, asks the server for an activation key (printed, and written to
// DIR/activation-key) and waits until an operator has passed the key to
// CreateAgent and the server has signed the request. From then on it keeps
// one outbound mutual-TLS channel (a WebSocket) with the server
// (docs/protocol.md), on which the server pushes commands the moment it has
// them: it runs the executions it is given with the engine (Execution),
// reports a change of status at once and counters at most every poll
// interval, honours cancellation and bandwidth changes as they arrive,
// reports each result until the server acknowledges it, and sends a
// heartbeat when it has nothing else to say. If the server goes away it
// reconnects after a random wait (full-jitter backoff) and goes on.
// Thread-safe: Stop() may be called from any thread.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "ferry/agent/location_spec.h"
#include "ferry/base/status.h"

namespace ferry::agent {

struct AgentConfig {
  std::string server_url;  // https://host:port
  std::string data_dir;    // the agent's key, certificate, identity
  std::string
      ca_bundle;  // the CA that `ferry server init` wrote (trust anchor)
  // Counters of running executions go to the server at most this often.
  std::chrono::milliseconds poll_interval{1000};
  int threads = 0;  // transfer workers per execution (0: one per core)
  // How long a location may stay unreachable before an execution ends.
  std::chrono::seconds outage_limit{300};
  // How locations' storage is reached (the S3 endpoint of CreateLocationS3).
  AgentStorageConfig storage;
  // The agent-to-agent link (docs/link.md): where this agent accepts link
  // connections as a receiver ("ADDRESS:PORT"; empty: it accepts none) and
  // what other agents dial (empty: the listen address).
  std::string link_listen;
  std::string link_advertise;
  // Called on the session's thread for every message from the server (true)
  // and every failure to reach it (false); tests wait on it (nullptr:
  // nothing).
  std::function<void(bool answered)> on_sync;
};

class Agent {
 public:
  static Result<std::unique_ptr<Agent>> Open(AgentConfig config);
  ~Agent();

  // Activates if not yet activated (calling `on_activation_key` with the key
  // once it is known), then runs the session loop until Stop().
  Status Run(const std::function<void(const std::string& activation_key)>&
                 on_activation_key);
  void Stop();

  // The agent's ARN once activated ("" before).
  std::string arn() const;

 private:
  struct Impl;
  explicit Agent(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry::agent
