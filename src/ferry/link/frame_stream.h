// One connection of the agent-to-agent link (docs/link.md), as an ordered,
// bidirectional stream of frames. The RPC layer (RemoteBackend on the
// sender, LinkService on the receiver) speaks frames; what carries them (a
// mutual-TLS connection between agents, or a plain socket pair in tests) is
// an implementation of this interface.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "ferry/base/status.h"
#include "ferry/link/wire.h"

namespace ferry::link {

class FrameStream {
 public:
  virtual ~FrameStream() = default;

  // Sends one whole frame: `frame` holds a 12-byte header and its payload
  // (AppendFrame's output; several frames back to back are fine).
  // Thread-safe: concurrent callers' frames never interleave. Fails with
  // Unavailable once the connection is broken or closed.
  virtual Status Send(std::span<const std::byte> frame) = 0;

  // Receives the next frame: its header, and its payload in `*payload`
  // (resized to the header's length, which DecodeHeader has bounded). Blocks
  // until one arrives; Unavailable when the peer closed or the connection
  // broke, InvalidArgument for a header that does not decode. One receiving
  // thread at a time.
  virtual Result<FrameHeader> Receive(std::vector<std::byte>* payload) = 0;

  // Whether input has arrived that Receive has not taken yet, so that the
  // next Receive need not wait for the peer: a hint (false when unknown) for
  // holding back what is sent in return, to send it together. Called by the
  // receiving thread.
  virtual bool InputPending() { return false; }

  // Closes the connection: a blocked Receive or Send returns Unavailable.
  // Thread-safe, idempotent.
  virtual void Close() = 0;

  // What the connection is, for messages: "127.0.0.1:7447", "socketpair".
  virtual std::string Describe() const = 0;

  // The link version the two sides agreed on (HELLO, HELLO_OK), set by the
  // handshake; what RESPONSE and CHUNK_ACK frames are written in.
  uint8_t link_version() const { return link_version_; }
  void set_link_version(uint8_t version) { link_version_ = version; }

 private:
  uint8_t link_version_ = 1;
};

// A FrameStream over a connected stream socket, without TLS (the socket is
// owned and closed). For tests and for transports that wrap the socket
// themselves.
std::unique_ptr<FrameStream> SocketFrameStream(int fd, std::string name);

}  // namespace ferry::link
