#include "ferry/link/frame_stream.h"

#include <errno.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstring>
#include <mutex>
#include <string>
#include <utility>

namespace ferry::link {
namespace {

class SocketStream : public FrameStream {
 public:
  SocketStream(int fd, std::string name) : fd_(fd), name_(std::move(name)) {}
  ~SocketStream() override { ::close(fd_); }

  Status Send(std::span<const std::byte> frame) override {
    std::lock_guard lock(send_mu_);
    while (!frame.empty()) {
      if (closed_.load()) return Closed("send");
      const ssize_t n = ::send(fd_, frame.data(), frame.size(), MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        return Broken("send", errno);
      }
      frame = frame.subspan(static_cast<size_t>(n));
    }
    return Status::Ok();
  }

  Result<FrameHeader> Receive(std::vector<std::byte>* payload) override {
    std::array<std::byte, kFrameHeaderBytes> header;
    FERRY_RETURN_IF_ERROR(ReadFully(header, /*eof_ok=*/true));
    FERRY_ASSIGN_OR_RETURN(FrameHeader h, DecodeHeader(header));
    payload->resize(h.length);
    FERRY_RETURN_IF_ERROR(ReadFully(*payload, /*eof_ok=*/false));
    return h;
  }

  bool InputPending() override {
    int n = 0;
    return ::ioctl(fd_, FIONREAD, &n) == 0 && n > 0;
  }

  void Close() override {
    if (closed_.exchange(true)) return;
    // Not close(): the descriptor stays valid (and is not reused) while a
    // blocked call returns; the destructor closes it.
    ::shutdown(fd_, SHUT_RDWR);
  }

  std::string Describe() const override { return name_; }

 private:
  Status ReadFully(std::span<std::byte> out, bool eof_ok) {
    size_t done = 0;
    while (done < out.size()) {
      if (closed_.load()) return Closed("receive");
      const ssize_t n = ::recv(fd_, out.data() + done, out.size() - done, 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        return Broken("receive", errno);
      }
      if (n == 0) {
        if (closed_.load()) return Closed("receive");
        return Status(StatusCode::kUnavailable,
                      "link " + name_ + ": connection closed by the peer" +
                          (done == 0 && eof_ok ? "" : " within a frame"));
      }
      done += static_cast<size_t>(n);
    }
    return Status::Ok();
  }

  Status Closed(std::string_view op) const {
    return Status(
        StatusCode::kUnavailable,
        "link " + name_ + ": " + std::string(op) + " on a closed connection");
  }

  Status Broken(std::string_view op, int err) const {
    return Status(
        StatusCode::kUnavailable,
        "link " + name_ + ": " + std::string(op) + ": " + std::strerror(err),
        err, /*retryable=*/true);
  }

  const int fd_;
  const std::string name_;
  std::mutex send_mu_;  // whole frames, one sender at a time
  std::atomic<bool> closed_{false};
};

}  // namespace

std::unique_ptr<FrameStream> SocketFrameStream(int fd, std::string name) {
  return std::make_unique<SocketStream>(fd, std::move(name));
}

}  // namespace ferry::link
