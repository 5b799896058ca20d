// An agent's two ends of the agent-to-agent link (docs/link.md).
//
// As a receiver (`ferry agent --link-listen`): a LinkEndpoint listens with
// the agent's certificate, and for each ServeLink command opens the
// execution's destination and serves it, to the sender the server named
// and to no one else, until CancelExecution (or the agent stops).
//
// As a sender: LinkOpener wraps the agent's LocationOpener so that a
// RunExecution whose command carries a Link opens its destination as a
// link::RemoteBackend dialing the receiver, instead of opening it here.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ferry/agent/running_execution.h"
#include "ferry/base/status.h"
#include "ferry/link/tls.h"
#include "ferry/protocol/agent_protocol.h"

namespace ferry::link {
class LinkSession;
}

namespace ferry::agent {

// The execution id HELLO carries for an execution ARN: its last path
// component ("exec-..."), which is unique and short.
std::string LinkExecutionId(const std::string& execution_arn);

struct LinkEndpointConfig {
  // Where to listen: "ADDRESS:PORT" (port 0: any free one).
  std::string listen;
  // What other agents dial ("HOST:PORT"); empty: the listen address, which
  // must then not be a wildcard (0.0.0.0, ::). With port 0 in `listen`, the
  // port bound replaces an advertised port 0.
  std::string advertise;
  link::TlsIdentity identity;
  // Writes a line to the agent's log.
  std::function<void(const std::string&)> log;
};

class LinkEndpoint {
 public:
  // Binds and starts listening. InvalidArgument for an address that does
  // not parse or a wildcard without `advertise`.
  static Result<std::unique_ptr<LinkEndpoint>> Start(LinkEndpointConfig config);
  ~LinkEndpoint();  // Stop()

  // "host:port" for the server (SyncRequest::link_address).
  const std::string& advertised() const { return advertised_; }

  // ServeLink: opens `cmd.destination` with `open` and serves it to the
  // sender `cmd.link` names. Doing it again for a served execution changes
  // nothing. The error of an open that failed (logged; the sender then
  // cannot connect and its execution ends saying why).
  Status Serve(const protocol::Command& cmd, const LocationOpener& open);
  // Stops serving `execution_arn`: closes its connections and its
  // destination. Nothing if it is not served.
  void End(const std::string& execution_arn);
  // The executions served (SyncRequest::links_served).
  std::vector<std::string> Served() const;
  // Stops listening and ends every link. Idempotent.
  void Stop();

 private:
  struct Link;
  explicit LinkEndpoint(LinkEndpointConfig config);
  Result<link::LinkGrant> Authorize(const link::Hello& hello,
                                    const std::string& peer_common_name);
  void Accept(std::unique_ptr<link::FrameStream> stream,
              const link::Hello& hello);

  LinkEndpointConfig config_;
  std::string advertised_;
  std::unique_ptr<link::LinkListener> listener_;
  mutable std::mutex mu_;
  // By execution id (LinkExecutionId).
  std::map<std::string, std::shared_ptr<Link>> links_;  // GUARDED_BY(mu_)
  // Executions whose destination could not be opened, and why (told to
  // their senders); the most recent kMaxFailedLinks, by id.
  static constexpr size_t kMaxFailedLinks = 64;
  std::map<std::string, Status> failed_;  // GUARDED_BY(mu_)
};

// The sender's opener for `cmd` (a RunExecution): the source through
// `base`, the destination as a RemoteBackend over `connections` connections
// to the receiver `cmd.link` names. Commands without a link open both
// through `base`.
LocationOpener LinkOpener(LocationOpener base, const protocol::Command& cmd,
                          link::TlsIdentity identity, std::string agent_arn,
                          int connections);

}  // namespace ferry::agent
