// ChannelClient: the agent's end of its channel to the server
// (docs/protocol.md): one mutual-TLS connection, upgraded to a WebSocket on
// GET /agent/v1/channel, on which the agent sends SyncRequests and the
// server answers each one and pushes commands the moment it has them.
// Blocking calls with deadlines, made from the agent's session thread;
// Interrupt() may be called from any thread. Otherwise thread-compatible.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "ferry/base/status.h"

namespace ferry::agent {

struct ChannelOptions {
  std::string host;  // as in --server: checked against the certificate
  int port = 443;
  std::string ca_bundle;    // the only trust anchor
  std::string certificate;  // the agent's certificate and key (PEM files)
  std::string key;
  std::chrono::milliseconds connect_timeout{10000};  // TCP, TLS, upgrade
  std::chrono::milliseconds write_timeout{30000};
  size_t max_message_bytes = 16 << 20;  // a larger message ends the channel
};

class ChannelClient {
 public:
  // Connects, verifies the server (its certificate chains to ca_bundle and
  // names `host`), shows the agent's certificate and upgrades. Errors:
  // FailedPrecondition when the agent's own certificate or key cannot be
  // loaded (retrying cannot help), PermissionDenied when the server refuses
  // the agent (the server's message), Unavailable for the rest.
  static Result<std::unique_ptr<ChannelClient>> Connect(
      const ChannelOptions& options);
  ~ChannelClient();
  ChannelClient(const ChannelClient&) = delete;
  ChannelClient& operator=(const ChannelClient&) = delete;

  // Sends one text message; an error ends the channel.
  Status Send(const std::string& text);
  // The next message from the server; nullopt when `timeout` passed or
  // Interrupt() was called (since the last Receive that returned because of
  // it). An error once the channel has ended, with the server's reason when
  // it closed the channel itself.
  Result<std::optional<std::string>> Receive(std::chrono::milliseconds timeout);
  // Makes the current (or the next) Receive return at once. Any thread.
  void Interrupt();

 private:
  struct Impl;
  explicit ChannelClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry::agent
