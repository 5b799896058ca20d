// ChannelClient on Boost.Beast's WebSocket over Asio's OpenSSL stream. The
// session thread runs the io_context only inside Send and Receive, one
// operation at a time and up to its deadline; what arrives meanwhile waits
// in a queue. Interrupt() posts a handler that sets a latch.
#include "ferry/agent/channel_client.h"

#include <arpa/inet.h>
#include <openssl/ssl.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <deque>
#include <nlohmann/json.hpp>

namespace ferry::agent {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using beast::error_code;
using Clock = std::chrono::steady_clock;

namespace {

constexpr char kChannelPath[] = "/agent/v1/channel";

bool IsIpAddress(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 ||
         inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// The server's agent endpoints answer a refusal with {"Message": ...}.
std::string RefusalMessage(const std::string& body) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("Message") && j["Message"].is_string()) {
    return j["Message"].get<std::string>().substr(0, 512);
  }
  return body.substr(0, 512);
}

}  // namespace

struct ChannelClient::Impl {
  asio::io_context ioc;
  ssl::context tls{ssl::context::tls_client};
  std::optional<websocket::stream<beast::ssl_stream<beast::tcp_stream>>> ws;
  beast::flat_buffer buffer;
  std::deque<std::string> received;
  bool reading = false;
  error_code ended;  // set once the channel has failed
  std::string close_reason;
  bool interrupted = false;  // the latch Interrupt() sets
  std::chrono::milliseconds write_timeout{30000};

  // Runs the io_context until `done()` or the deadline; false on timeout.
  template <typename Done>
  bool RunUntil(Done done, Clock::time_point deadline) {
    while (!done()) {
      ioc.restart();
      if (ioc.run_one_until(deadline) == 0) return done();
    }
    return true;
  }

  // Gives up on the connection (a deadline passed): pending operations
  // complete with errors, which RunUntil then runs.
  void Abort() {
    error_code ignored;
    beast::get_lowest_layer(*ws).socket().close(ignored);
    ioc.restart();
    ioc.poll();
  }

  void StartRead() {
    if (reading || ended) return;
    reading = true;
    ws->async_read(buffer, [this](error_code ec, size_t) {
      reading = false;
      if (ec) {
        ended = ec;
        if (ec == websocket::error::closed) {
          close_reason = std::string(ws->reason().reason.c_str());
        }
        return;
      }
      received.push_back(beast::buffers_to_string(buffer.data()));
      buffer.consume(buffer.size());
    });
  }

  Status EndedStatus() const {
    std::string why =
        ended == websocket::error::closed
            ? "the server closed the channel" +
                  (close_reason.empty() ? std::string() : ": " + close_reason)
            : "the channel failed: " + ended.message();
    return Status(StatusCode::kUnavailable, why);
  }
};

ChannelClient::ChannelClient(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}

ChannelClient::~ChannelClient() {
  if (impl_->ws) impl_->Abort();
}

Result<std::unique_ptr<ChannelClient>> ChannelClient::Connect(
    const ChannelOptions& o) {
  auto impl = std::make_unique<Impl>();
  impl->write_timeout = o.write_timeout;
  error_code ec;
  SSL_CTX* ctx = impl->tls.native_handle();
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  impl->tls.use_certificate_chain_file(o.certificate, ec);
  if (!ec) impl->tls.use_private_key_file(o.key, ssl::context::pem, ec);
  if (ec) {
    return Status::FailedPrecondition("cannot load the agent's certificate " +
                                      o.certificate + " and key " + o.key +
                                      ": " + ec.message());
  }
  impl->tls.load_verify_file(o.ca_bundle, ec);
  if (ec) {
    return Status::FailedPrecondition("cannot load --ca-bundle " + o.ca_bundle +
                                      ": " + ec.message());
  }
  impl->tls.set_verify_mode(ssl::verify_peer);
  impl->tls.set_verify_callback(ssl::host_name_verification(o.host));

  impl->ws.emplace(impl->ioc, impl->tls);
  auto& ws = *impl->ws;
  ws.read_message_max(o.max_message_bytes);
  const auto deadline = Clock::now() + o.connect_timeout;
  auto unavailable = [&](const std::string& what, const error_code& e) {
    return Status(StatusCode::kUnavailable, what + ": " + e.message());
  };

  // TCP.
  tcp::resolver resolver(impl->ioc);
  auto endpoints = resolver.resolve(o.host, std::to_string(o.port), ec);
  if (ec) return unavailable("cannot resolve " + o.host, ec);
  bool done = false;
  beast::get_lowest_layer(ws).async_connect(
      endpoints, [&](error_code e, const tcp::endpoint&) {
        ec = e;
        done = true;
      });
  if (!impl->RunUntil([&] { return done; }, deadline)) {
    impl->Abort();
    return Status(StatusCode::kUnavailable, "connecting timed out");
  }
  if (ec) return unavailable("cannot connect", ec);
  beast::get_lowest_layer(ws).socket().set_option(tcp::no_delay(true), ec);

  // TLS, with SNI for a host name.
  if (!IsIpAddress(o.host)) {
    SSL_set_tlsext_host_name(ws.next_layer().native_handle(), o.host.c_str());
  }
  done = false;
  ws.next_layer().async_handshake(ssl::stream_base::client, [&](error_code e) {
    ec = e;
    done = true;
  });
  if (!impl->RunUntil([&] { return done; }, deadline)) {
    impl->Abort();
    return Status(StatusCode::kUnavailable, "the TLS handshake timed out");
  }
  if (ec) {
    long verify = SSL_get_verify_result(ws.next_layer().native_handle());
    std::string detail = ec.message();
    if (verify != X509_V_OK) {
      detail += std::string(" (server certificate: ") +
                X509_verify_cert_error_string(verify) + ")";
    }
    return Status(StatusCode::kUnavailable,
                  "the TLS handshake failed: " + detail);
  }

  // The upgrade.
  websocket::response_type response;
  done = false;
  ws.async_handshake(response, o.host + ":" + std::to_string(o.port),
                     kChannelPath, [&](error_code e) {
                       ec = e;
                       done = true;
                     });
  if (!impl->RunUntil([&] { return done; }, deadline)) {
    impl->Abort();
    return Status(StatusCode::kUnavailable, "the WebSocket upgrade timed out");
  }
  if (ec) {
    const int status = response.result_int();
    if (status == 403) {
      return Status(StatusCode::kPermissionDenied,
                    RefusalMessage(response.body()));
    }
    if (status != 0 && status != 101) {
      return Status(StatusCode::kUnavailable,
                    "the server refused the channel (HTTP " +
                        std::to_string(status) +
                        "): " + RefusalMessage(response.body()));
    }
    return unavailable("the WebSocket upgrade failed", ec);
  }
  ws.text(true);
  return std::unique_ptr<ChannelClient>(new ChannelClient(std::move(impl)));
}

Status ChannelClient::Send(const std::string& text) {
  Impl& impl = *impl_;
  if (impl.ended) return impl.EndedStatus();
  bool done = false;
  error_code ec;
  impl.ws->async_write(asio::buffer(text), [&](error_code e, size_t) {
    ec = e;
    done = true;
  });
  // Reads that complete meanwhile queue their messages.
  if (!impl.RunUntil([&] { return done; }, Clock::now() + impl.write_timeout)) {
    impl.Abort();
    impl.RunUntil([&] { return done; }, Clock::now());
    impl.ended = beast::error::timeout;
    return Status(StatusCode::kUnavailable, "writing to the server timed out");
  }
  if (ec) {
    if (!impl.ended) impl.ended = ec;
    return impl.EndedStatus();
  }
  return Status::Ok();
}

Result<std::optional<std::string>> ChannelClient::Receive(
    std::chrono::milliseconds timeout) {
  Impl& impl = *impl_;
  const auto deadline = Clock::now() + timeout;
  auto ready = [&] {
    return !impl.received.empty() || impl.ended || impl.interrupted;
  };
  impl.StartRead();
  impl.RunUntil(ready, deadline);
  if (!impl.received.empty()) {
    std::string message = std::move(impl.received.front());
    impl.received.pop_front();
    return std::optional<std::string>(std::move(message));
  }
  if (impl.interrupted) {
    impl.interrupted = false;
    return std::optional<std::string>();
  }
  if (impl.ended) return impl.EndedStatus();
  return std::optional<std::string>();
}

void ChannelClient::Interrupt() {
  Impl* impl = impl_.get();
  asio::post(impl->ioc, [impl] { impl->interrupted = true; });
}

}  // namespace ferry::agent
