#include "ferry/agent/link_endpoint.h"

#include <algorithm>
#include <utility>

#include "ferry/base/net_address.h"
#include "ferry/link/link_service.h"
#include "ferry/link/remote_backend.h"

namespace ferry::agent {

std::string LinkExecutionId(const std::string& execution_arn) {
  size_t slash = execution_arn.rfind('/');
  return slash == std::string::npos ? execution_arn
                                    : execution_arn.substr(slash + 1);
}

// One served execution: its destination, the session over it, and the
// threads serving its connections.
struct LinkEndpoint::Link {
  std::string execution_arn;
  link::LinkGrant grant;
  std::unique_ptr<Backend> backend;
  std::unique_ptr<link::LinkSession> session;
  std::mutex mu;
  bool ended = false;                // GUARDED_BY(mu)
  std::vector<std::thread> threads;  // GUARDED_BY(mu)

  // Closes the connections and waits for their threads; the session and
  // the backend go with the last reference.
  void Finish() {
    std::vector<std::thread> joining;
    {
      std::lock_guard lock(mu);
      ended = true;
      joining.swap(threads);
    }
    session->Shutdown();
    for (std::thread& t : joining) t.join();
  }

  ~Link() {
    session.reset();  // before the backend it serves
    backend.reset();
  }
};

LinkEndpoint::LinkEndpoint(LinkEndpointConfig config)
    : config_(std::move(config)) {}

LinkEndpoint::~LinkEndpoint() { Stop(); }

Result<std::unique_ptr<LinkEndpoint>> LinkEndpoint::Start(
    LinkEndpointConfig config) {
  Result<HostPort> listen =
      ParseHostPort(config.listen, {.allow_port_zero = true});
  if (!listen.ok()) {
    return Status::InvalidArgument("--link-listen: " +
                                   std::string(listen.status().message()));
  }
  HostPort advertise;
  if (!config.advertise.empty()) {
    Result<HostPort> a =
        ParseHostPort(config.advertise, {.allow_port_zero = true});
    if (!a.ok()) {
      return Status::InvalidArgument("--link-advertise: " +
                                     std::string(a.status().message()));
    }
    advertise = *a;
  } else if (listen->host == "0.0.0.0" || listen->host == "::") {
    return Status::InvalidArgument(
        "--link-listen " + config.listen +
        " listens on every address: say with --link-advertise HOST:PORT "
        "which one other agents dial");
  } else {
    advertise = *listen;
  }
  if (!config.log) config.log = [](const std::string&) {};
  std::unique_ptr<LinkEndpoint> endpoint(new LinkEndpoint(std::move(config)));
  LinkEndpoint* self = endpoint.get();
  link::ListenOptions options;
  options.address = listen->host;
  options.port = listen->port;
  options.identity = self->config_.identity;
  options.on_refused = [self](const Status& why) {
    self->config_.log(std::string(why.message()));
  };
  FERRY_ASSIGN_OR_RETURN(
      self->listener_,
      link::LinkListener::Start(
          std::move(options),
          [self](const link::Hello& hello, const std::string& peer) {
            return self->Authorize(hello, peer);
          },
          [self](std::unique_ptr<link::FrameStream> stream,
                 const link::Hello& hello) {
            self->Accept(std::move(stream), hello);
          }));
  if (advertise.port == 0) advertise.port = self->listener_->port();
  self->advertised_ = advertise.ToString();
  self->config_.log("accepting link connections on " + listen->host + ":" +
                    std::to_string(self->listener_->port()) +
                    " (advertised as " + self->advertised_ + ")");
  return endpoint;
}

Result<link::LinkGrant> LinkEndpoint::Authorize(
    const link::Hello& hello, const std::string& peer_common_name) {
  std::lock_guard lock(mu_);
  auto it = links_.find(hello.execution_id);
  if (it != links_.end()) return it->second->grant;
  auto failed = failed_.find(hello.execution_id);
  if (failed != failed_.end()) {
    // The sender's execution ends with the reason, at once.
    return Status(StatusCode::kFailedPrecondition,
                  "link: the receiving agent cannot open its destination: " +
                      std::string(failed->second.message()));
  }
  // The server told the sender first, or this agent has not heard yet:
  // Unavailable, which the sender retries for a while.
  return Status(StatusCode::kUnavailable,
                "link: this agent serves no link for execution " +
                    hello.execution_id + " (yet; asked by " + peer_common_name +
                    ")");
}

void LinkEndpoint::Accept(std::unique_ptr<link::FrameStream> stream,
                          const link::Hello& hello) {
  std::shared_ptr<Link> l;
  {
    std::lock_guard lock(mu_);
    auto it = links_.find(hello.execution_id);
    if (it != links_.end()) l = it->second;
  }
  if (!l) return;  // ended between the handshake and now: closed
  std::lock_guard lock(l->mu);
  if (l->ended) return;
  // Threads of connections that ended go when the link does; a sender
  // reconnects a bounded number of times (its reconnection budget).
  link::LinkSession* session = l->session.get();
  l->threads.emplace_back([session, stream = std::move(stream)]() mutable {
    (void)session->Serve(std::move(stream));
  });
}

Status LinkEndpoint::Serve(const protocol::Command& cmd,
                           const LocationOpener& open) {
  const std::string id = LinkExecutionId(cmd.execution_arn);
  {
    std::lock_guard lock(mu_);
    if (links_.count(id)) return Status::Ok();
  }
  std::string sender = std::string(link::AgentIdOfArn(cmd.link.agent_arn));
  if (sender.empty()) {
    return Status::InvalidArgument("ServeLink names no sender agent: '" +
                                   cmd.link.agent_arn + "'");
  }
  Result<std::unique_ptr<Backend>> backend = open(cmd.destination, true);
  if (!backend.ok()) {
    config_.log("cannot serve the destination of " + id + ": " +
                backend.status().ToString());
    std::lock_guard lock(mu_);
    if (failed_.size() >= kMaxFailedLinks) failed_.erase(failed_.begin());
    failed_[id] = backend.status();
    return backend.status();
  }
  auto l = std::make_shared<Link>();
  l->execution_arn = cmd.execution_arn;
  l->grant.secret = cmd.link.secret;
  l->grant.sender_agent_id = sender;
  l->backend = std::move(*backend);
  l->session = std::make_unique<link::LinkSession>(l->backend.get());
  config_.log("serving the destination of " + id + " (" +
              l->backend->Describe() + ") to " + sender);
  std::lock_guard lock(mu_);
  links_.emplace(id, std::move(l));
  return Status::Ok();
}

void LinkEndpoint::End(const std::string& execution_arn) {
  std::shared_ptr<Link> l;
  {
    std::lock_guard lock(mu_);
    auto it = links_.find(LinkExecutionId(execution_arn));
    if (it == links_.end()) return;
    l = std::move(it->second);
    links_.erase(it);
  }
  config_.log("link of " + LinkExecutionId(execution_arn) + " ended");
  l->Finish();
}

std::vector<std::string> LinkEndpoint::Served() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& [id, l] : links_) out.push_back(l->execution_arn);
  return out;
}

void LinkEndpoint::Stop() {
  if (listener_) listener_->Stop();
  std::map<std::string, std::shared_ptr<Link>> all;
  {
    std::lock_guard lock(mu_);
    all.swap(links_);
  }
  for (auto& [id, l] : all) l->Finish();
}

LocationOpener LinkOpener(LocationOpener base, const protocol::Command& cmd,
                          link::TlsIdentity identity, std::string agent_arn,
                          int connections) {
  if (!cmd.has_link) return base;
  return [base = std::move(base), peer = cmd.link,
          id = LinkExecutionId(cmd.execution_arn),
          identity = std::move(identity), agent_arn = std::move(agent_arn),
          connections](const protocol::LocationSpecMessage& location,
                       bool destination) -> Result<std::unique_ptr<Backend>> {
    if (!destination) return base(location, destination);
    Result<HostPort> address = ParseHostPort(peer.address);
    if (!address.ok()) {
      return Status::InvalidArgument("the receiver's link address: " +
                                     std::string(address.status().message()));
    }
    const uint32_t count =
        static_cast<uint32_t>(std::clamp(connections, 1, 16));
    link::DialOptions dial;
    dial.host = address->host;
    dial.port = address->port;
    dial.identity = identity;
    dial.receiver_agent_id = std::string(link::AgentIdOfArn(peer.agent_arn));
    dial.hello.execution_id = id;
    dial.hello.sender_arn = agent_arn;
    dial.hello.connection_count = count;
    dial.secret = peer.secret;
    link::Connector connector =
        [dial](uint32_t index) -> Result<std::unique_ptr<link::FrameStream>> {
      link::DialOptions d = dial;
      d.hello.connection_index = index;
      return link::DialLink(d);
    };
    link::LinkOptions options;
    options.peer = dial.receiver_agent_id + " at " + peer.address;
    options.compression = true;
    FERRY_ASSIGN_OR_RETURN(
        std::unique_ptr<link::RemoteBackend> remote,
        link::RemoteBackend::Open(std::move(connector), count, options));
    return std::unique_ptr<Backend>(std::move(remote));
  };
}

}  // namespace ferry::agent
