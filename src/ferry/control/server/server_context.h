// ServerContext: what every part of `ferry server` shares: its configuration,
// the database and the StateStore over it, the Sealer for secrets, the
// certificate authority that signs agents, and the clock. Created once by
// Server::Open; read-only afterwards (the members it points to are
// thread-safe), so API handlers, the agent endpoints and the background loops
// use it from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "ferry/control/server/activation_limiter.h"
#include "ferry/control/server/http_server.h"
#include "ferry/control/server/state_store.h"
#include "ferry/control/store/database.h"
#include "ferry/control/store/sealer.h"
#include "ferry/pki/pki.h"

namespace ferry::control {

// The log records agents ship (execution_logs.h).
struct ExecutionLogLimits {
  // Records kept per execution: past it the oldest go, and one record says
  // how many went.
  int64_t max_records_per_execution = 100000;
  // Records of an execution that ended longer ago than this go.
  std::chrono::hours retention{24 * 30};
  // How often the server looks for records to delete.
  std::chrono::seconds prune_interval{600};
};

struct ServerConfig {
  std::string data_dir;
  std::string listen = "127.0.0.1:8443";  // HOST:PORT (port 0: any free port)
  std::string db;                         // "" = SQLite in the data directory
  bool plain_http = false;                // allowed only on a loopback address
  std::string region = "ferry-local";
  std::string account = "000000000000";
  // An agent not heard from for this long is OFFLINE and its executions end.
  std::chrono::seconds agent_offline_after{300};
  // How often the background loops (dispatch, schedules, offline agents) run.
  std::chrono::milliseconds tick{500};
  // Scheduled executions that fail this many times in a row disable the
  // task's schedule (DisabledBy SERVICE).
  int schedule_failure_limit = 3;
  int max_queued_executions = 50;  // per task, DataSync's limit
  // How often one address may ask for an activation key, how many keys may
  // wait for CreateAgent, how big a certificate request may be.
  ActivationLimits activation;
  // The HTTP layer's threads, connection caps and deadlines.
  HttpLimits http;
  // How many execution log records are kept, and for how long.
  ExecutionLogLimits logs;
};

// How the API tells the agent side that something changed, so that it acts
// now rather than at its next tick (ServerConfig::tick, which catches up on
// anything these miss, e.g. a change another server made). Set once by
// Server::Open; empty (nothing to tell) in tests that run without one.
struct ServerSignals {
  // StartTaskExecution (or the scheduler) queued an execution.
  std::function<void()> execution_queued;
  // The agent has a command waiting: a cancellation, a bandwidth change.
  std::function<void(const std::string& agent_arn)> agent_has_work;
};

class ServerContext {
 public:
  ServerConfig config;
  std::unique_ptr<Database> db;
  StateStore store;
  std::unique_ptr<Sealer> sealer;
  pki::KeyAndCertificate authority;  // signs agent certificates
  // Now, as Unix milliseconds; replaceable in tests.
  std::function<int64_t()> now_ms;
  ServerSignals signals;

  // "arn:aws:datasync:<region>:<account>:<resource>".
  std::string Arn(const std::string& resource) const;
  // A new resource id: "<prefix>-" and 17 characters, lower-case hex for
  // tasks and executions ("task", "exec"), [0-9a-z] for agents and
  // locations ("agent", "loc").
  static std::string NewId(const std::string& prefix);
};

}  // namespace ferry::control
