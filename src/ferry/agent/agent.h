// Agent: `ferry agent`. On first start it makes a key and a certificate
// request, asks the server for an activation key (printed, and written to
// DIR/activation-key) and waits until an operator has passed the key to
// CreateAgent and the server has signed the request. From then on it keeps
// one outbound mutual-TLS session with the server (docs/protocol.md): it
// syncs about once a second, runs the executions it is given with the engine
// (Execution), streams their status and counters, honours cancellation and
// bandwidth changes within a sync or two, and reports each result until the
// server acknowledges it. If the server goes away it reconnects with backoff
// and goes on. Thread-safe: Stop() may be called from any thread.
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
  std::chrono::milliseconds poll_interval{1000};
  int threads = 0;  // transfer workers per execution (0: one per core)
  // How locations' storage is reached (the S3 endpoint of CreateLocationS3).
  AgentStorageConfig storage;
  // Called on the session's thread after every sync with the server, with
  // whether the server answered it (tests wait on it; nullptr: nothing).
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
