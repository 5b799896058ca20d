// Test helpers for the link: a receiver (LinkSession) over a backend,
// reached through socketpair() connections that a RemoteBackend opens with
// LinkHarness::connector(), and FrameStream wrappers that damage, drop or
// hold up what a connection carries. Test-only and header-only.
#pragma once

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "ferry/link/frame_stream.h"
#include "ferry/link/link_client.h"
#include "ferry/link/link_service.h"
#include "ferry/link/remote_backend.h"

namespace ferry::link::testing {

// Hands every call to `inner`; tests override what they change.
class ForwardingStream : public FrameStream {
 public:
  explicit ForwardingStream(std::unique_ptr<FrameStream> inner)
      : inner_(std::move(inner)) {}
  Status Send(std::span<const std::byte> frame) override {
    return inner_->Send(frame);
  }
  Result<FrameHeader> Receive(std::vector<std::byte>* payload) override {
    return inner_->Receive(payload);
  }
  bool InputPending() override { return inner_->InputPending(); }
  void Close() override { inner_->Close(); }
  std::string Describe() const override { return inner_->Describe(); }

 protected:
  std::unique_ptr<FrameStream> inner_;
};

// The type of the frame at the start of `frame` (a whole frame Send got).
inline FrameType TypeOf(std::span<const std::byte> frame) {
  return static_cast<FrameType>(frame[4]);
}

// The stream id of the frame at the start of `frame`.
inline uint32_t StreamOf(std::span<const std::byte> frame) {
  auto header = DecodeHeader(frame.first<kFrameHeaderBytes>());
  return header.ok() ? header->stream : 0;
}

// Counts the Send calls on a stream and the frames they carry.
class CountingStream : public ForwardingStream {
 public:
  struct Counts {
    std::atomic<int> sends{0};
    std::atomic<int> frames{0};
    std::atomic<uint64_t> bytes{0};
  };
  CountingStream(std::unique_ptr<FrameStream> inner,
                 std::shared_ptr<Counts> counts)
      : ForwardingStream(std::move(inner)), counts_(std::move(counts)) {}
  Status Send(std::span<const std::byte> frames) override {
    ++counts_->sends;
    counts_->bytes += frames.size();
    for (size_t at = 0; at + kFrameHeaderBytes <= frames.size();) {
      auto header = DecodeHeader(frames.subspan(at).first<kFrameHeaderBytes>());
      if (!header.ok()) break;
      ++counts_->frames;
      at += kFrameHeaderBytes + header->length;
    }
    return inner_->Send(frames);
  }

 private:
  std::shared_ptr<Counts> counts_;
};

// A connected pair of SocketFrameStreams.
inline std::pair<std::unique_ptr<FrameStream>, std::unique_ptr<FrameStream>>
StreamPair(const std::string& name) {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) {
    ADD_FAILURE() << "socketpair failed";
    return {};
  }
  return {SocketFrameStream(fds[0], name + " (sender)"),
          SocketFrameStream(fds[1], name + " (receiver)")};
}

// Reconnection options that keep tests short.
inline LinkOptions FastLinkOptions() {
  LinkOptions o;
  o.peer = "test-peer";
  o.reconnect_delay = std::chrono::milliseconds(5);
  o.max_reconnect_delay = std::chrono::milliseconds(20);
  o.reconnect_budget = std::chrono::milliseconds(5000);
  return o;
}

// A LinkSession over `backend`, served on a thread per connection.
class LinkHarness {
 public:
  // Wraps one end of connection `index`, made by the `attempt`-th call of
  // the connector (0-based, over all connections).
  using Wrap = std::function<std::unique_ptr<FrameStream>(
      std::unique_ptr<FrameStream> stream, uint32_t index, int attempt)>;

  explicit LinkHarness(Backend* backend, LinkSessionOptions options = {})
      : session_(backend, options) {}
  ~LinkHarness() {
    session_.Shutdown();
    std::lock_guard lock(mu_);
    for (std::thread& t : threads_) t.join();
  }

  void set_wrap_sender(Wrap wrap) {
    std::lock_guard lock(mu_);
    wrap_sender_ = std::move(wrap);
  }
  void set_wrap_receiver(Wrap wrap) {
    std::lock_guard lock(mu_);
    wrap_receiver_ = std::move(wrap);
  }
  // From now on the connector fails (or works again).
  void set_refuse(bool refuse) { refuse_ = refuse; }
  // The link version both ends of new connections speak, as if they had
  // agreed on it in the handshake (default: this build's highest).
  void set_link_version(uint8_t version) { version_ = version; }
  int connects() const { return attempts_.load(); }
  LinkSession& session() { return session_; }

  Connector connector() {
    return [this](uint32_t index) -> Result<std::unique_ptr<FrameStream>> {
      const int attempt = attempts_.fetch_add(1);
      if (refuse_) {
        return Status(StatusCode::kUnavailable,
                      "connection refused by the test");
      }
      auto [sender, receiver] = StreamPair("link " + std::to_string(index) +
                                           "#" + std::to_string(attempt));
      Wrap wrap_sender;
      Wrap wrap_receiver;
      {
        std::lock_guard lock(mu_);
        wrap_sender = wrap_sender_;
        wrap_receiver = wrap_receiver_;
      }
      if (wrap_sender) sender = wrap_sender(std::move(sender), index, attempt);
      if (wrap_receiver) {
        receiver = wrap_receiver(std::move(receiver), index, attempt);
      }
      sender->set_link_version(version_);
      receiver->set_link_version(version_);
      Serve(std::move(receiver));
      return std::move(sender);
    };
  }

  // Serves `stream` on a thread of the harness.
  void Serve(std::unique_ptr<FrameStream> stream) {
    std::lock_guard lock(mu_);
    threads_.emplace_back([this, s = std::move(stream)]() mutable {
      (void)session_.Serve(std::move(s));
    });
  }

  Result<std::unique_ptr<RemoteBackend>> Open(
      uint32_t connections = 2, LinkOptions options = FastLinkOptions()) {
    return RemoteBackend::Open(connector(), connections, std::move(options));
  }

 private:
  LinkSession session_;
  std::mutex mu_;
  std::vector<std::thread> threads_;
  Wrap wrap_sender_;
  Wrap wrap_receiver_;
  std::atomic<bool> refuse_{false};
  std::atomic<uint8_t> version_{kLinkVersion};
  std::atomic<int> attempts_{0};
};

}  // namespace ferry::link::testing
