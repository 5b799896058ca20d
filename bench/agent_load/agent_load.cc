// ferry_agent_load: the load generator of issue 9 (docs/benchmarks.md,
// "Server under load"). One process simulates a fleet of agents against one
// `ferry server`, each activated through the API as a real agent is:
//   a key and certificate request (pki::CreateRequest), POST
//   /agent/v1/activation over server-authenticated TLS, CreateAgent with the
//   activation key (SigV4, ApiClient), GET /agent/v1/activation until the
//   certificate is there; then a session over mutual TLS with that
//   certificate: the WebSocket channel (GET /agent/v1/channel, a SyncRequest
//   on connect, then one every 15-30 s and whenever an execution changed) or
//   the older POST /agent/v1/sync on a keep-alive connection (--mode post).
// Each simulated agent connects from its own loopback address (127.10.x.y, at
// most --agents-per-address on one), as a fleet comes from many hosts: the
// server rations connections and activations per client address.
//
// Then, with every agent idle: the server's CPU and RSS (from /proc/PID) over
// a quiet window; an API probe (DescribeTaskExecution and ListTasks in a
// loop, one call in flight, from 127.0.0.1) and its latency; optionally the
// same probe while slow-loris connections and chunked garbage (from
// 127.20.x.y) hit the server. --exec-task-arn instead times start-to-SUCCESS
// of executions of an existing task.
//
// Threads: the agents' event loop (main), the attackers' event loop, the
// probe, the /proc sampler, and a small pool for the blocking API calls the
// agents' activation makes.
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "ferry/base/net_address.h"
#include "ferry/base/percent.h"
#include "ferry/client/api_client.h"
#include "ferry/client/client_config.h"
#include "ferry/pki/pki.h"
#include "ferry/protocol/agent_protocol.h"

namespace ferry::bench {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using nlohmann::json;
using Clock = std::chrono::steady_clock;
using SslStream = beast::ssl_stream<beast::tcp_stream>;
using WsStream = websocket::stream<SslStream>;
template <typename T>
using awaitable = asio::awaitable<T>;
constexpr auto kUse = asio::as_tuple(asio::use_awaitable);

constexpr char kVersion[] = "0.1.0";

struct Options {
  std::string server = "https://127.0.0.1:8443";
  std::string ca_bundle;
  std::string credentials;  // AWS shared credentials file
  int agents = 1;
  std::string mode = "channel";  // or "post"
  int agents_per_address = 4;
  double ramp_per_second = 0;  // 0: every agent starts at once
  double heartbeat_min_s = 15;
  double heartbeat_max_s = 30;
  int api_threads = 4;
  double activation_timeout_s = 600;
  double online_timeout_s = 120;
  int server_pid = 0;
  double settle_s = 5;
  double quiet_s = 30;
  double probe_s = 30;
  // Attacks (during a second probe window).
  int slowloris = 0;
  double slowloris_raw_share = 0.25;  // never finish the TLS handshake
  double dribble_interval_s = 3;
  int attackers_per_address = 8;
  double garbage_mb = 0;
  int garbage_connections = 8;
  bool garbage_with_certificate = true;
  double attack_s = 30;
  // Start-to-SUCCESS of an existing task (instead of the fleet).
  std::string exec_task_arn;
  int exec_runs = 10;
  int exec_poll_ms = 5;
  std::string exec_clear;  // emptied before each run (the destination)
  std::string json_out;
};

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::mt19937_64& Rng() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  return rng;
}

double Uniform(double lo, double hi) {
  return std::uniform_real_distribution<double>(lo, hi)(Rng());
}

std::chrono::milliseconds Ms(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

// 127.<octet>.x.y for slot `slot` (y in 1..254).
asio::ip::address LoopbackAddress(int octet, int slot) {
  const uint32_t x = static_cast<uint32_t>(slot / 254);
  const uint32_t y = static_cast<uint32_t>(slot % 254) + 1;
  return asio::ip::address_v4(
      (127u << 24) | (static_cast<uint32_t>(octet) << 16) | (x << 8) | y);
}

struct Latencies {
  size_t count = 0;
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
};

Latencies Summarize(std::vector<double> ms) {
  Latencies out;
  out.count = ms.size();
  if (ms.empty()) return out;
  std::sort(ms.begin(), ms.end());
  auto at = [&](double q) {
    size_t i =
        static_cast<size_t>(q * static_cast<double>(ms.size() - 1) + 0.5);
    return ms[std::min(i, ms.size() - 1)];
  };
  out.p50_ms = at(0.50);
  out.p99_ms = at(0.99);
  out.max_ms = ms.back();
  return out;
}

json ToJson(const Latencies& l) {
  return {{"count", l.count},
          {"p50_ms", l.p50_ms},
          {"p99_ms", l.p99_ms},
          {"max_ms", l.max_ms}};
}

// ---------------------------------------------------------------- /proc

struct ProcSample {
  Clock::time_point at;
  uint64_t cpu_ticks = 0;  // utime + stime
  uint64_t rss_kb = 0;
};

std::optional<ProcSample> ReadProc(int pid) {
  ProcSample s;
  s.at = Clock::now();
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return std::nullopt;
  size_t close = line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(line.substr(close + 2));
  std::string f;
  // Fields from 3 (state); utime and stime are 14 and 15.
  for (int i = 3; i <= 15 && fields >> f; ++i) {
    if (i == 14) s.cpu_ticks = std::stoull(f);
    if (i == 15) s.cpu_ticks += std::stoull(f);
  }
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) s.rss_kb = std::stoull(line.substr(6));
  }
  return s;
}

uint64_t ReadPeakRssKb(int pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6));
  }
  return 0;
}

// Samples the server every 200 ms on its own thread.
class Sampler {
 public:
  explicit Sampler(int pid) : pid_(pid) {
    if (pid_ > 0) thread_ = std::thread([this] { Loop(); });
  }
  ~Sampler() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::optional<ProcSample> Now() const {
    if (pid_ <= 0) return std::nullopt;
    return ReadProc(pid_);
  }
  // CPU (% of one core) and RSS (MB: at the end, max) between two instants.
  json Window(Clock::time_point from, Clock::time_point to) const {
    std::lock_guard<std::mutex> lock(mu_);
    const ProcSample* first = nullptr;
    const ProcSample* last = nullptr;
    uint64_t max_rss = 0;
    for (const ProcSample& s : samples_) {
      if (s.at < from || s.at > to) continue;
      if (first == nullptr) first = &s;
      last = &s;
      max_rss = std::max(max_rss, s.rss_kb);
    }
    if (first == nullptr || first == last) return json::object();
    const double seconds =
        std::chrono::duration<double>(last->at - first->at).count();
    const double cpu = static_cast<double>(last->cpu_ticks - first->cpu_ticks) /
                       static_cast<double>(sysconf(_SC_CLK_TCK)) / seconds *
                       100.0;
    return {{"seconds", seconds},
            {"cpu_percent_of_one_core", cpu},
            {"rss_start_mb", static_cast<double>(first->rss_kb) / 1024},
            {"rss_end_mb", static_cast<double>(last->rss_kb) / 1024},
            {"rss_max_mb", static_cast<double>(max_rss) / 1024}};
  }

 private:
  void Loop() {
    while (!stop_) {
      if (auto s = ReadProc(pid_)) {
        std::lock_guard<std::mutex> lock(mu_);
        samples_.push_back(*s);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  int pid_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::vector<ProcSample> samples_;
  std::thread thread_;
};

// ---------------------------------------------------------------- API

Result<ApiClientOptions> ApiOptions(const Options& o) {
  ClientFlags flags;
  flags.endpoint_url = o.server;
  flags.ca_bundle = o.ca_bundle;
  const std::string credentials = o.credentials;
  GetEnv process = ProcessEnvironment();
  GetEnv env = [process, credentials](
                   const std::string& name) -> std::optional<std::string> {
    if (name == "AWS_SHARED_CREDENTIALS_FILE" && !credentials.empty()) {
      return credentials;
    }
    return process(name);
  };
  FERRY_ASSIGN_OR_RETURN(ClientConfig config, ResolveClientConfig(flags, env));
  ApiClientOptions options;
  options.endpoint_url = config.endpoint_url;
  options.ca_bundle = config.ca_bundle;
  options.verify_tls = config.verify_tls;
  options.credentials = config.credentials;
  options.region = config.region;
  options.read_timeout = std::chrono::seconds(120);
  return options;
}

struct CallResult {
  bool ok = false;
  std::string error;
  json value;
};

// Blocking API calls for the agents' coroutines, on a few threads with a
// client each (ApiClient is one connection, not thread-safe).
class ApiPool {
 public:
  ApiPool(ApiClientOptions options, int threads)
      : options_(std::move(options)), pool_(static_cast<size_t>(threads)) {}
  ~ApiPool() { pool_.join(); }

  awaitable<CallResult> Call(std::string operation, json request) {
    co_return co_await asio::co_spawn(
        pool_,
        [this, operation = std::move(operation),
         request = std::move(request)]() -> awaitable<CallResult> {
          co_return CallHere(operation, request);
        },
        asio::use_awaitable);
  }

  CallResult CallHere(const std::string& operation, const json& request) {
    thread_local std::unique_ptr<ApiClient> client;
    CallResult out;
    if (client == nullptr) {
      auto made = ApiClient::Create(options_);
      if (!made.ok()) {
        out.error = made.status().ToString();
        return out;
      }
      client = std::move(*made);
    }
    auto answer = client->Call(operation, request);
    if (!answer.ok()) {
      out.error = answer.status().ToString();
      return out;
    }
    out.ok = true;
    out.value = std::move(*answer);
    return out;
  }

 private:
  ApiClientOptions options_;
  asio::thread_pool pool_;
};

// ---------------------------------------------------------------- TLS, HTTP

struct Target {
  tcp::endpoint endpoint;
  std::string host;  // for certificate verification
  std::string host_header;
};

Result<Target> ParseTarget(const std::string& url) {
  std::string rest = url;
  if (rest.rfind("https://", 0) != 0) {
    return Status(StatusCode::kInvalidArgument, "--server must be https://");
  }
  rest = rest.substr(8);
  if (size_t slash = rest.find('/'); slash != std::string::npos) {
    rest.resize(slash);
  }
  FERRY_ASSIGN_OR_RETURN(HostPort hp, ParseHostPort(rest, {}));
  error_code ec;
  auto address = asio::ip::make_address(hp.host, ec);
  if (ec) {
    return Status(StatusCode::kInvalidArgument,
                  "--server must name an IP address: " + hp.host);
  }
  Target t;
  t.endpoint = tcp::endpoint(address, static_cast<uint16_t>(hp.port));
  t.host = hp.host;
  t.host_header = rest;
  return t;
}

struct Credential {
  X509* cert = nullptr;
  EVP_PKEY* key = nullptr;
  ~Credential() {
    X509_free(cert);
    EVP_PKEY_free(key);
  }
};

std::shared_ptr<Credential> LoadCredential(const std::string& cert_pem,
                                           const std::string& key_pem) {
  auto c = std::make_shared<Credential>();
  BIO* b = BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size()));
  c->cert = PEM_read_bio_X509(b, nullptr, nullptr, nullptr);
  BIO_free(b);
  b = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
  c->key = PEM_read_bio_PrivateKey(b, nullptr, nullptr, nullptr);
  BIO_free(b);
  if (c->cert == nullptr || c->key == nullptr) return nullptr;
  return c;
}

// Opens the TCP connection from `local` and, unless `tls` is false, the TLS
// session (with the client certificate when given).
awaitable<error_code> Connect(SslStream& s, const asio::ip::address& local,
                              const Target& target, const Credential* client,
                              bool tls = true) {
  auto& layer = beast::get_lowest_layer(s);
  error_code ec;
  layer.socket().open(tcp::v4(), ec);
  if (!ec) layer.socket().bind(tcp::endpoint(local, 0), ec);
  if (ec) co_return ec;
  layer.expires_after(std::chrono::seconds(15));
  auto [connected] = co_await layer.async_connect(target.endpoint, kUse);
  if (connected) co_return connected;
  layer.socket().set_option(tcp::no_delay(true), ec);
  if (!tls) {
    layer.expires_never();
    co_return error_code();
  }
  if (client != nullptr) {
    SSL_use_certificate(s.native_handle(), client->cert);
    SSL_use_PrivateKey(s.native_handle(), client->key);
  }
  s.set_verify_callback(ssl::host_name_verification(target.host));
  auto [handshake] = co_await s.async_handshake(ssl::stream_base::client, kUse);
  layer.expires_never();
  co_return handshake;
}

struct HttpReply {
  error_code ec;
  int status = 0;
  std::string body;
  bool keep_alive = false;
};

awaitable<HttpReply> Exchange(SslStream& s, beast::flat_buffer& buffer,
                              const Target& target, http::verb verb,
                              const std::string& path, std::string body) {
  HttpReply reply;
  http::request<http::string_body> req{verb, path, 11};
  req.set(http::field::host, target.host_header);
  req.keep_alive(true);
  if (verb == http::verb::post) {
    req.set(http::field::content_type, "application/json");
    req.body() = std::move(body);
    req.prepare_payload();
  }
  auto& layer = beast::get_lowest_layer(s);
  layer.expires_after(std::chrono::seconds(60));
  auto [written, n] = co_await http::async_write(s, req, kUse);
  if (written) {
    reply.ec = written;
    co_return reply;
  }
  http::response_parser<http::string_body> parser;
  parser.body_limit(protocol::kMaxMessageBytes);
  auto [read, m] = co_await http::async_read(s, buffer, parser, kUse);
  layer.expires_never();
  if (read) {
    reply.ec = read;
    co_return reply;
  }
  reply.status = parser.get().result_int();
  reply.body = std::move(parser.get().body());
  reply.keep_alive = parser.get().keep_alive();
  co_return reply;
}

// "try again in N s" in a 429's message; 20 s when absent.
double RetryAfter(const std::string& body) {
  const std::string marker = "try again in ";
  size_t at = body.find(marker);
  if (at == std::string::npos) return 20;
  return std::atof(body.c_str() + at + marker.size());
}

// ---------------------------------------------------------------- the fleet

struct FleetStats {
  std::atomic<int64_t> activated{0};
  std::atomic<int64_t> activation_failed{0};
  std::atomic<int64_t> activation_connect_errors{0};
  std::atomic<int64_t> activation_429{0};
  std::atomic<int64_t> activation_503{0};
  std::atomic<int64_t> activation_other{0};
  std::atomic<int64_t> keys_dropped{0};  // CreateAgent: key unknown
  std::atomic<int64_t> create_agent_errors{0};
  std::atomic<int64_t> connected{0};  // sessions open now
  std::atomic<int64_t> session_connects{0};
  std::atomic<int64_t> session_connect_errors{0};
  std::atomic<int64_t> session_refused{0};  // 403 or another non-101
  std::atomic<int64_t> session_drops{0};
  std::atomic<int64_t> syncs_sent{0};
  std::atomic<int64_t> responses{0};
  std::atomic<int64_t> sync_errors{0};
  std::atomic<int64_t> executions_run{0};
  std::atomic<int64_t> reports_acknowledged{0};
  std::string first_session_error;  // agents' thread only
  std::string first_activation_error;
};

struct SimAgent {
  int index = 0;
  asio::ip::address local;
  std::string key_pem;
  std::string csr_pem;
  std::string arn;
  std::shared_ptr<Credential> credential;
  double activated_at_s = 0;
  // Executions the server gave this agent, and final reports not yet
  // acknowledged.
  std::set<std::string> known;
  std::vector<protocol::ExecutionReport> pending;
};

class Fleet {
 public:
  Fleet(const Options& options, const Target& target, ApiPool& api,
        ssl::context& tls)
      : options_(options), target_(target), api_(api), tls_(tls) {}

  awaitable<void> RunAgent(int index);

  FleetStats stats;
  std::vector<std::unique_ptr<SimAgent>> agents;
  Clock::time_point started = Clock::now();

 private:
  awaitable<bool> Activate(SimAgent& a);
  awaitable<void> RunChannel(SimAgent& a);
  awaitable<void> RunPost(SimAgent& a);
  std::string EncodeSync(const SimAgent& a);
  // Takes a SyncResponse; true when it gave the agent something to report.
  bool HandleResponse(SimAgent& a, std::string_view body);
  awaitable<void> Sleep(double seconds) {
    asio::steady_timer t(co_await asio::this_coro::executor, Ms(seconds));
    co_await t.async_wait(kUse);
  }
  void NoteSessionError(const std::string& what) {
    if (stats.first_session_error.empty()) stats.first_session_error = what;
  }

  const Options& options_;
  const Target& target_;
  ApiPool& api_;
  ssl::context& tls_;
};

awaitable<void> Fleet::RunAgent(int index) {
  SimAgent& a = *agents[static_cast<size_t>(index)];
  a.index = index;
  a.local = LoopbackAddress(10, index / options_.agents_per_address);
  auto request = pki::CreateRequest("ferry-load-" + std::to_string(index));
  if (!request.ok()) {
    stats.activation_failed++;
    co_return;
  }
  a.key_pem = request->key_pem;
  a.csr_pem = request->request_pem;
  if (!co_await Activate(a)) {
    stats.activation_failed++;
    co_return;
  }
  a.activated_at_s = Since(started);
  stats.activated++;
  if (options_.mode == "post") {
    co_await RunPost(a);
  } else {
    co_await RunChannel(a);
  }
}

awaitable<bool> Fleet::Activate(SimAgent& a) {
  auto ex = co_await asio::this_coro::executor;
  const auto deadline = started + Ms(options_.activation_timeout_s);
  auto note = [this](const std::string& what) {
    if (stats.first_activation_error.empty()) {
      stats.first_activation_error = what;
    }
  };
  while (Clock::now() < deadline) {
    auto s = std::make_unique<SslStream>(ex, tls_);
    beast::flat_buffer buffer;
    if (error_code ec = co_await Connect(*s, a.local, target_, nullptr)) {
      stats.activation_connect_errors++;
      note("activation connect: " + ec.message());
      co_await Sleep(Uniform(1, 3));
      continue;
    }
    protocol::ActivationRequest ask;
    ask.csr_pem = a.csr_pem;
    ask.hostname = "load-" + std::to_string(a.index);
    ask.version = kVersion;
    HttpReply reply =
        co_await Exchange(*s, buffer, target_, http::verb::post,
                          "/agent/v1/activation", protocol::Encode(ask).dump());
    if (reply.ec || reply.status != 200) {
      if (reply.status == 429) {
        stats.activation_429++;
        co_await Sleep(RetryAfter(reply.body) + Uniform(0, 1));
      } else {
        if (reply.status == 503) {
          stats.activation_503++;
        } else {
          stats.activation_other++;
          note("POST activation: " +
               (reply.ec ? reply.ec.message()
                         : std::to_string(reply.status) + " " + reply.body));
        }
        co_await Sleep(Uniform(1, 3));
      }
      continue;
    }
    auto grant = protocol::DecodeActivationGrant(reply.body);
    if (!grant.ok()) {
      stats.activation_other++;
      note("activation grant: " + grant.status().ToString());
      co_return false;
    }
    // CreateAgent, as an operator would with the key the agent printed.
    bool created = false;
    bool new_key = false;
    for (int attempt = 0; attempt < 20 && !created && !new_key; ++attempt) {
      CallResult made = co_await api_.Call(
          "CreateAgent",
          json{{"ActivationKey", grant->activation_key},
               {"AgentName", "load-" + std::to_string(a.index)}});
      if (made.ok) {
        a.arn = made.value.value("AgentArn", "");
        created = true;
      } else if (made.error.find("is not valid") != std::string::npos) {
        stats.keys_dropped++;
        new_key = true;
      } else {
        stats.create_agent_errors++;
        note("CreateAgent: " + made.error);
        co_await Sleep(Uniform(0.5, 2));
      }
    }
    if (!created) continue;
    // The certificate, on the same connection while it lasts.
    const std::string poll =
        "/agent/v1/activation?key=" +
        PercentEncode(grant->activation_key, false) +
        "&token=" + PercentEncode(grant->poll_token, false);
    while (Clock::now() < deadline) {
      if (!reply.keep_alive || reply.ec) {
        s = std::make_unique<SslStream>(ex, tls_);
        buffer.clear();
        if (error_code ec = co_await Connect(*s, a.local, target_, nullptr)) {
          stats.activation_connect_errors++;
          co_await Sleep(Uniform(1, 3));
          reply.ec = ec;
          continue;
        }
      }
      reply = co_await Exchange(*s, buffer, target_, http::verb::get, poll, "");
      if (reply.ec || reply.status == 503) {
        if (reply.status == 503) stats.activation_503++;
        co_await Sleep(Uniform(0.5, 2));
        continue;
      }
      if (reply.status != 200) {
        stats.activation_other++;
        note("GET activation: " + std::to_string(reply.status) + " " +
             reply.body);
        co_return false;
      }
      auto state = protocol::DecodeActivationStatus(reply.body);
      if (!state.ok()) co_return false;
      if (state->state == protocol::ActivationStatus::State::kActivated) {
        a.credential = LoadCredential(state->certificate_pem, a.key_pem);
        co_return a.credential != nullptr;
      }
      if (state->state == protocol::ActivationStatus::State::kExpired) {
        break;
      }
      co_await Sleep(0.25);
    }
  }
  co_return false;
}

std::string Fleet::EncodeSync(const SimAgent& a) {
  protocol::SyncRequest r;
  r.version = kVersion;
  r.executions = a.pending;
  return protocol::Encode(r).dump();
}

bool Fleet::HandleResponse(SimAgent& a, std::string_view body) {
  auto response = protocol::DecodeSyncResponse(body);
  if (!response.ok()) {
    stats.sync_errors++;
    NoteSessionError("SyncResponse: " + response.status().ToString());
    return false;
  }
  stats.responses++;
  for (const std::string& arn : response->acknowledged) {
    auto it = std::find_if(a.pending.begin(), a.pending.end(),
                           [&](const protocol::ExecutionReport& r) {
                             return r.execution_arn == arn;
                           });
    if (it != a.pending.end()) {
      a.pending.erase(it);
      stats.reports_acknowledged++;
    }
  }
  bool changed = false;
  for (const protocol::Command& c : response->commands) {
    if (c.type != protocol::Command::Type::kRunExecution) continue;
    if (!a.known.insert(c.execution_arn).second) continue;
    // A simulated agent "runs" an execution by reporting it done at once.
    protocol::ExecutionReport report;
    report.execution_arn = c.execution_arn;
    report.status = "SUCCESS";
    report.final = true;
    report.describe = {{"Status", "SUCCESS"},
                       {"Result", {{"TransferStatus", "SUCCESS"}}}};
    a.pending.push_back(std::move(report));
    stats.executions_run++;
    changed = true;
  }
  return changed;
}

awaitable<void> Fleet::RunPost(SimAgent& a) {
  auto ex = co_await asio::this_coro::executor;
  double backoff = 1;
  while (true) {
    SslStream s(ex, tls_);
    beast::flat_buffer buffer;
    stats.session_connects++;
    if (error_code ec =
            co_await Connect(s, a.local, target_, a.credential.get())) {
      stats.session_connect_errors++;
      NoteSessionError("connect: " + ec.message());
      co_await Sleep(Uniform(backoff, 2 * backoff));
      backoff = std::min(backoff * 2, 30.0);
      continue;
    }
    stats.connected++;
    bool first = true;
    while (true) {
      stats.syncs_sent++;
      HttpReply reply = co_await Exchange(s, buffer, target_, http::verb::post,
                                          "/agent/v1/sync", EncodeSync(a));
      if (reply.ec) {
        // The server closes keep-alive connections idle for 30 s: the
        // next sync goes on a new connection at once.
        stats.session_drops++;
        break;
      }
      if (reply.status != 200) {
        stats.session_refused++;
        NoteSessionError("sync: " + std::to_string(reply.status) + " " +
                         reply.body);
        break;
      }
      if (first) {
        first = false;
        backoff = 1;
      }
      const bool changed = HandleResponse(a, reply.body);
      if (!reply.keep_alive) break;
      if (!changed) {
        co_await Sleep(
            Uniform(options_.heartbeat_min_s, options_.heartbeat_max_s));
      }
    }
    stats.connected--;
    if (first) {
      co_await Sleep(Uniform(backoff, 2 * backoff));
      backoff = std::min(backoff * 2, 30.0);
    }
  }
}

awaitable<void> Fleet::RunChannel(SimAgent& a) {
  auto ex = co_await asio::this_coro::executor;
  double backoff = 1;
  while (true) {
    auto ws = std::make_shared<WsStream>(ex, tls_);
    stats.session_connects++;
    if (error_code ec = co_await Connect(ws->next_layer(), a.local, target_,
                                         a.credential.get())) {
      stats.session_connect_errors++;
      NoteSessionError("connect: " + ec.message());
      co_await Sleep(Uniform(backoff, 2 * backoff));
      backoff = std::min(backoff * 2, 30.0);
      continue;
    }
    ws->set_option(
        websocket::stream_base::timeout::suggested(beast::role_type::client));
    websocket::response_type upgrade;
    auto [handshake] = co_await ws->async_handshake(
        upgrade, target_.host_header, "/agent/v1/channel", kUse);
    if (handshake) {
      if (upgrade.result_int() != 0 && upgrade.result_int() != 101) {
        stats.session_refused++;
        NoteSessionError("channel upgrade: HTTP " +
                         std::to_string(upgrade.result_int()) + " " +
                         upgrade.body());
      } else {
        stats.session_connect_errors++;
        NoteSessionError("channel handshake: " + handshake.message());
      }
      co_await Sleep(Uniform(backoff, 2 * backoff));
      backoff = std::min(backoff * 2, 30.0);
      continue;
    }
    ws->text(true);
    backoff = 1;
    stats.connected++;
    // The reader takes the server's answers and pushes; the writer (this
    // coroutine) sends a heartbeat every 15-30 s, and at once when the
    // reader found something to report.
    struct Shared {
      asio::steady_timer wake;
      bool send_now = false;
      bool closed = false;
      explicit Shared(asio::any_io_executor ex) : wake(ex) {}
    };
    auto shared = std::make_shared<Shared>(ex);
    asio::co_spawn(
        ex,
        [this, ws, shared, &a]() -> awaitable<void> {
          beast::flat_buffer buffer;
          while (true) {
            auto [ec, n] = co_await ws->async_read(buffer, kUse);
            if (ec) {
              if (!shared->closed)
                NoteSessionError("channel read: " + ec.message());
              break;
            }
            std::string_view body(
                static_cast<const char*>(buffer.data().data()), buffer.size());
            if (HandleResponse(a, body)) {
              shared->send_now = true;
              shared->wake.cancel();
            }
            buffer.clear();
          }
          shared->closed = true;
          shared->wake.cancel();
        },
        asio::detached);
    while (!shared->closed) {
      shared->send_now = false;
      const std::string text = EncodeSync(a);
      stats.syncs_sent++;
      auto [ec, n] = co_await ws->async_write(asio::buffer(text), kUse);
      if (ec) {
        NoteSessionError("channel write: " + ec.message());
        break;
      }
      if (shared->send_now || shared->closed) continue;
      shared->wake.expires_after(
          Ms(Uniform(options_.heartbeat_min_s, options_.heartbeat_max_s)));
      co_await shared->wake.async_wait(kUse);
    }
    shared->closed = true;
    error_code ignored;
    beast::get_lowest_layer(*ws).socket().close(ignored);
    stats.connected--;
    stats.session_drops++;
    co_await Sleep(Uniform(1, 5));
  }
}

// ---------------------------------------------------------------- attacks

struct AttackStats {
  std::atomic<bool> stop{false};
  std::atomic<int64_t> loris_open{0};
  std::atomic<int64_t> loris_connects{0};
  std::atomic<int64_t> loris_closed_by_server{0};
  std::atomic<int64_t> loris_bytes{0};
  std::atomic<int64_t> loris_handshake_failures{0};
  std::mutex mu;
  std::vector<double> loris_lifetimes_s;           // GUARDED_BY(mu)
  std::map<std::string, int64_t> garbage_answers;  // GUARDED_BY(mu)
  std::atomic<int64_t> garbage_bytes{0};
  std::atomic<int64_t> garbage_connections{0};
  std::atomic<int64_t> garbage_connect_errors{0};
  int64_t garbage_target = 0;
};

awaitable<void> SlowLoris(AttackStats& at, const Options& o,
                          const Target& target, ssl::context& tls, int slot,
                          bool raw) {
  auto ex = co_await asio::this_coro::executor;
  const auto local = LoopbackAddress(20, slot / o.attackers_per_address);
  // A TLS record header and the start of a ClientHello, for connections
  // that never finish the handshake; the start of a request otherwise.
  static const std::string kHello(
      "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11);
  std::string request = "POST / HTTP/1.1\r\nHost: " + target.host_header +
                        "\r\nX-Amz-Target: FmrsService.ListTasks\r\nX-Slow: ";
  request += std::string(16 << 10, 'a');
  while (!at.stop) {
    auto s = std::make_shared<SslStream>(ex, tls);
    at.loris_connects++;
    if (error_code ec = co_await Connect(*s, local, target, nullptr, !raw)) {
      at.loris_handshake_failures++;
      asio::steady_timer t(ex, std::chrono::milliseconds(500));
      co_await t.async_wait(kUse);
      continue;
    }
    at.loris_open++;
    const auto opened = Clock::now();
    auto closed = std::make_shared<bool>(false);
    // Notices the server's close at once rather than at the next write.
    asio::co_spawn(
        ex,
        [s, closed, raw]() -> awaitable<void> {
          char sink[4096];
          while (true) {
            auto [ec, n] =
                raw ? co_await beast::get_lowest_layer(*s)
                          .socket()
                          .async_read_some(asio::buffer(sink), kUse)
                    : co_await s->async_read_some(asio::buffer(sink), kUse);
            if (ec) break;
          }
          *closed = true;
        },
        asio::detached);
    const std::string& bytes = raw ? kHello : request;
    asio::steady_timer t(ex);
    for (size_t i = 0; !at.stop && !*closed; i = (i + 1) % bytes.size()) {
      auto buf = asio::buffer(bytes.data() + i, 1);
      auto [ec, n] = raw ? co_await asio::async_write(
                               beast::get_lowest_layer(*s).socket(), buf, kUse)
                         : co_await asio::async_write(*s, buf, kUse);
      if (ec) break;
      at.loris_bytes++;
      t.expires_after(Ms(Uniform(0.5, 1.5) * o.dribble_interval_s));
      co_await t.async_wait(kUse);
    }
    at.loris_open--;
    if (!at.stop) {
      at.loris_closed_by_server++;
      std::lock_guard<std::mutex> lock(at.mu);
      at.loris_lifetimes_s.push_back(Since(opened));
    }
    error_code ignored;
    beast::get_lowest_layer(*s).socket().close(ignored);
    t.expires_after(std::chrono::milliseconds(200));
    co_await t.async_wait(kUse);
  }
}

awaitable<void> Garbage(AttackStats& at, const Options& o, const Target& target,
                        ssl::context& tls, int slot, std::string path,
                        std::shared_ptr<Credential> credential) {
  auto ex = co_await asio::this_coro::executor;
  const auto local = LoopbackAddress(21, slot);
  std::string chunk(64 << 10, '\0');
  for (char& c : chunk) c = static_cast<char>(Rng()());
  char size_line[32];
  std::snprintf(size_line, sizeof size_line, "%zx\r\n", chunk.size());
  const std::string framed = size_line + chunk + "\r\n";
  const std::string headers =
      "POST " + path + " HTTP/1.1\r\nHost: " + target.host_header +
      "\r\nContent-Type: application/x-amz-json-1.1\r\nX-Amz-Target: "
      "FmrsService.ListTasks\r\nTransfer-Encoding: chunked\r\n\r\n";
  while (!at.stop && at.garbage_bytes < at.garbage_target) {
    auto s = std::make_shared<SslStream>(ex, tls);
    if (error_code ec = co_await Connect(*s, local, target, credential.get())) {
      at.garbage_connect_errors++;
      asio::steady_timer t(ex, std::chrono::milliseconds(200));
      co_await t.async_wait(kUse);
      continue;
    }
    at.garbage_connections++;
    auto closed = std::make_shared<bool>(false);
    asio::co_spawn(
        ex,
        [s, closed, &at, path]() -> awaitable<void> {
          std::string head;
          char buf[4096];
          while (true) {
            auto [ec, n] = co_await s->async_read_some(asio::buffer(buf), kUse);
            if (ec) break;
            if (head.size() < 64) head.append(buf, std::min<size_t>(n, 64));
          }
          std::string status = head.substr(0, head.find('\r'));
          if (status.empty()) status = "(no answer)";
          {
            std::lock_guard<std::mutex> lock(at.mu);
            at.garbage_answers[path + " -> " + status]++;
          }
          *closed = true;
        },
        asio::detached);
    auto [ec, n] = co_await asio::async_write(*s, asio::buffer(headers), kUse);
    while (!ec && !*closed && !at.stop &&
           at.garbage_bytes < at.garbage_target) {
      auto [wec, wn] =
          co_await asio::async_write(*s, asio::buffer(framed), kUse);
      if (wec) break;
      at.garbage_bytes += static_cast<int64_t>(chunk.size());
    }
    error_code ignored;
    beast::get_lowest_layer(*s).socket().close(ignored);
  }
}

// ---------------------------------------------------------------- probe

// DescribeTaskExecution and ListTasks in turn, one call in flight, on its own
// thread and connection (from 127.0.0.1, an address no agent uses).
class Probe {
 public:
  Probe(ApiClientOptions options, std::string execution_arn)
      : options_(std::move(options)),
        execution_arn_(std::move(execution_arn)) {}

  json Run(double seconds) {
    auto client = ApiClient::Create(options_);
    if (!client.ok()) return {{"error", client.status().ToString()}};
    std::vector<double> describe, list, all;
    int64_t errors = 0;
    std::string first_error;
    const auto start = Clock::now();
    while (Since(start) < seconds) {
      for (int op = 0; op < 2; ++op) {
        const auto t0 = Clock::now();
        auto answer =
            op == 0 ? (*client)->Call("DescribeTaskExecution",
                                      {{"TaskExecutionArn", execution_arn_}})
                    : (*client)->Call("ListTasks", json::object());
        const double ms = Since(t0) * 1000;
        if (!answer.ok()) {
          if (first_error.empty()) first_error = answer.status().ToString();
          ++errors;
          continue;
        }
        (op == 0 ? describe : list).push_back(ms);
        all.push_back(ms);
      }
    }
    json out = {{"seconds", Since(start)},
                {"all", ToJson(Summarize(all))},
                {"DescribeTaskExecution", ToJson(Summarize(describe))},
                {"ListTasks", ToJson(Summarize(list))},
                {"errors", errors}};
    if (!first_error.empty()) out["first_error"] = first_error;
    return out;
  }

 private:
  ApiClientOptions options_;
  std::string execution_arn_;
};

// Runs a blocking function on a thread of its own and waits for it without
// blocking the agents' loop.
template <typename F>
awaitable<json> OffLoop(F fn) {
  auto ex = co_await asio::this_coro::executor;
  auto done = std::make_shared<std::atomic<bool>>(false);
  auto result = std::make_shared<json>();
  std::thread worker([fn, done, result] {
    *result = fn();
    *done = true;
  });
  asio::steady_timer t(ex);
  while (!*done) {
    t.expires_after(std::chrono::milliseconds(50));
    co_await t.async_wait(kUse);
  }
  worker.join();
  co_return *result;
}

// ---------------------------------------------------------------- main flow

void RaiseFileLimit() {
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 &&
      limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

void Print(const char* format, auto... args) {
  std::fprintf(stderr, format, args...);
  std::fflush(stderr);
}

// Counts our agents that ListAgents says are ONLINE.
awaitable<int64_t> CountOnline(ApiPool& api,
                               const std::set<std::string>& ours) {
  int64_t online = 0;
  std::string token;
  do {
    json request = json::object();
    if (!token.empty()) request["NextToken"] = token;
    CallResult page = co_await api.Call("ListAgents", request);
    if (!page.ok) co_return -1;
    for (const json& agent : page.value.value("Agents", json::array())) {
      if (agent.value("Status", "") == "ONLINE" &&
          ours.count(agent.value("AgentArn", ""))) {
        ++online;
      }
    }
    token = page.value.value("NextToken", "");
  } while (!token.empty());
  co_return online;
}

awaitable<std::string> MakeFixture(ApiPool& api, const std::string& agent_arn,
                                   json& report) {
  json locations[2];
  const char* paths[2] = {"/tmp/ferry-load-src", "/tmp/ferry-load-dst"};
  for (int i = 0; i < 2; ++i) {
    CallResult made = co_await api.Call(
        "CreateLocationLocal",
        json{{"Path", paths[i]}, {"AgentArns", json::array({agent_arn})}});
    if (!made.ok) {
      report["fixture_error"] = made.error;
      co_return "";
    }
    locations[i] = made.value["LocationArn"];
  }
  CallResult task = co_await api.Call(
      "CreateTask", json{{"SourceLocationArn", locations[0]},
                         {"DestinationLocationArn", locations[1]},
                         {"Name", "load-probe"}});
  if (!task.ok) {
    report["fixture_error"] = task.error;
    co_return "";
  }
  CallResult exec = co_await api.Call("StartTaskExecution",
                                      json{{"TaskArn", task.value["TaskArn"]}});
  if (!exec.ok) {
    report["fixture_error"] = exec.error;
    co_return "";
  }
  co_return exec.value.value("TaskExecutionArn", "");
}

json FleetJson(const FleetStats& s) {
  return {{"activated", s.activated.load()},
          {"activation_failed", s.activation_failed.load()},
          {"activation_connect_errors", s.activation_connect_errors.load()},
          {"activation_429", s.activation_429.load()},
          {"activation_503", s.activation_503.load()},
          {"activation_other_errors", s.activation_other.load()},
          {"keys_dropped", s.keys_dropped.load()},
          {"create_agent_errors", s.create_agent_errors.load()},
          {"sessions_connected", s.connected.load()},
          {"session_connects", s.session_connects.load()},
          {"session_connect_errors", s.session_connect_errors.load()},
          {"session_refused", s.session_refused.load()},
          {"session_drops", s.session_drops.load()},
          {"syncs_sent", s.syncs_sent.load()},
          {"responses", s.responses.load()},
          {"sync_errors", s.sync_errors.load()},
          {"executions_run", s.executions_run.load()},
          {"reports_acknowledged", s.reports_acknowledged.load()},
          {"first_activation_error", s.first_activation_error},
          {"first_session_error", s.first_session_error}};
}

json AttackJson(AttackStats& at) {
  std::lock_guard<std::mutex> lock(at.mu);
  std::vector<double> life = at.loris_lifetimes_s;
  std::sort(life.begin(), life.end());
  json answers = json::object();
  for (const auto& [k, v] : at.garbage_answers) answers[k] = v;
  return {
      {"slowloris_open_at_end", at.loris_open.load()},
      {"slowloris_connects", at.loris_connects.load()},
      {"slowloris_closed_by_server", at.loris_closed_by_server.load()},
      {"slowloris_connect_or_handshake_failures",
       at.loris_handshake_failures.load()},
      {"slowloris_bytes_dribbled", at.loris_bytes.load()},
      {"slowloris_lifetime_median_s", life.empty() ? 0 : life[life.size() / 2]},
      {"garbage_mb_written",
       static_cast<double>(at.garbage_bytes.load()) / (1 << 20)},
      {"garbage_connections", at.garbage_connections.load()},
      {"garbage_connect_errors", at.garbage_connect_errors.load()},
      {"garbage_answers", answers}};
}

awaitable<void> RunFleet(const Options& o, const Target& target,
                         ApiClientOptions api_options, json& report) {
  auto ex = co_await asio::this_coro::executor;
  ssl::context tls(ssl::context::tls_client);
  tls.load_verify_file(o.ca_bundle);
  tls.set_verify_mode(ssl::verify_peer);
  SSL_CTX_set_mode(tls.native_handle(), SSL_MODE_RELEASE_BUFFERS);
  ApiPool api(api_options, o.api_threads);
  Fleet fleet(o, target, api, tls);
  Sampler sampler(o.server_pid);
  asio::steady_timer timer(ex);
  auto sleep = [&](double seconds) -> awaitable<void> {
    timer.expires_after(Ms(seconds));
    co_await timer.async_wait(kUse);
  };
  auto stage = [&](const char* name) {
    Print("[%7.1f s] %s\n", Since(fleet.started), name);
  };

  report["machine_nproc"] = std::thread::hardware_concurrency();
  report["agents"] = o.agents;
  report["mode"] = o.mode;
  if (auto s = sampler.Now()) {
    report["server_rss_at_start_mb"] = static_cast<double>(s->rss_kb) / 1024;
  }

  // 1. Every agent starts (at once, unless ramped).
  stage("starting agents");
  fleet.started = Clock::now();
  for (int i = 0; i < o.agents; ++i) {
    fleet.agents.push_back(std::make_unique<SimAgent>());
  }
  for (int i = 0; i < o.agents; ++i) {
    asio::co_spawn(ex, fleet.RunAgent(i), asio::detached);
    if (o.ramp_per_second > 0) co_await sleep(1.0 / o.ramp_per_second);
  }
  double last_print = 0;
  while (fleet.stats.activated + fleet.stats.activation_failed < o.agents &&
         Since(fleet.started) < o.activation_timeout_s) {
    co_await sleep(0.1);
    if (Since(fleet.started) - last_print >= 10) {
      last_print = Since(fleet.started);
      Print("[%7.1f s]   activated %lld, connected %lld\n", last_print,
            static_cast<long long>(fleet.stats.activated.load()),
            static_cast<long long>(fleet.stats.connected.load()));
    }
  }
  double last_activation = 0;
  std::set<std::string> arns;
  for (const auto& a : fleet.agents) {
    if (!a->arn.empty() && a->credential) {
      arns.insert(a->arn);
      last_activation = std::max(last_activation, a->activated_at_s);
    }
  }
  report["activation_all_s"] = last_activation;
  stage("activation over");

  // 2. Sessions up, then ONLINE as the API tells it.
  const auto sessions_from = Clock::now();
  while (fleet.stats.connected < fleet.stats.activated &&
         Since(sessions_from) < o.online_timeout_s) {
    co_await sleep(0.1);
  }
  report["sessions_connected_s"] = Since(fleet.started);
  int64_t online = 0;
  const auto online_from = Clock::now();
  while (Since(online_from) < o.online_timeout_s) {
    online = co_await CountOnline(api, arns);
    if (online >= static_cast<int64_t>(arns.size())) break;
    co_await sleep(2);
  }
  report["online"] = online;
  report["online_all_s"] = Since(fleet.started);
  stage("online counted");

  // 3. Something for DescribeTaskExecution to describe.
  std::string execution;
  if (!fleet.agents.empty() && !fleet.agents[0]->arn.empty()) {
    execution = co_await MakeFixture(api, fleet.agents[0]->arn, report);
  }
  report["probe_execution"] = execution;

  // 4. Agents idle: the server's CPU and memory without the probe, then the
  //    probe's latency.
  co_await sleep(o.settle_s);
  stage("quiet window");
  const auto quiet_from = Clock::now();
  co_await sleep(o.quiet_s);
  report["quiet"] = sampler.Window(quiet_from, Clock::now());
  report["fleet_after_quiet"] = FleetJson(fleet.stats);

  Probe probe(api_options, execution);
  stage("probe window");
  const auto probe_from = Clock::now();
  json probed = co_await OffLoop([&] { return probe.Run(o.probe_s); });
  probed["server"] = sampler.Window(probe_from, Clock::now());
  report["probe"] = probed;

  // 5. Attacks, with the probe running.
  if (o.slowloris > 0 || o.garbage_mb > 0) {
    stage("attack window");
    AttackStats at;
    at.garbage_target = static_cast<int64_t>(o.garbage_mb * (1 << 20));
    asio::io_context attack_loop(1);
    std::shared_ptr<Credential> garbage_cert;
    if (o.garbage_with_certificate && !fleet.agents.empty()) {
      garbage_cert = fleet.agents[0]->credential;
    }
    for (int i = 0; i < o.slowloris; ++i) {
      const bool raw =
          i < static_cast<int>(o.slowloris * o.slowloris_raw_share);
      asio::co_spawn(attack_loop, SlowLoris(at, o, target, tls, i, raw),
                     asio::detached);
    }
    for (int i = 0; i < o.garbage_connections && o.garbage_mb > 0; ++i) {
      const std::string path = i % 2 == 0 ? "/" : "/agent/v1/sync";
      asio::co_spawn(attack_loop,
                     Garbage(at, o, target, tls, i, path,
                             path == "/" ? nullptr : garbage_cert),
                     asio::detached);
    }
    auto work = asio::make_work_guard(attack_loop);
    std::thread attacker([&] { attack_loop.run(); });
    const auto attack_from = Clock::now();
    const auto before = sampler.Now();
    // The probe runs for the attack window and until the garbage is sent.
    json attacked = co_await OffLoop([&] {
      json windows = json::array();
      do {
        windows.push_back(probe.Run(o.attack_s));
      } while (at.garbage_bytes < at.garbage_target &&
               Since(attack_from) < 600);
      return windows;
    });
    json window = sampler.Window(attack_from, Clock::now());
    at.stop = true;
    work.reset();
    attack_loop.stop();
    attacker.join();
    json out = AttackJson(at);
    out["probe_windows"] = attacked;
    // All windows' latencies, merged: the p99 of the worst window is what
    // is judged (one window unless the garbage took longer).
    double worst_p99 = 0, worst_max = 0;
    for (const json& w : attacked) {
      worst_p99 = std::max(worst_p99, w["all"].value("p99_ms", 0.0));
      worst_max = std::max(worst_max, w["all"].value("max_ms", 0.0));
    }
    out["probe_p99_ms"] = worst_p99;
    out["probe_max_ms"] = worst_max;
    out["server"] = window;
    if (before) {
      out["rss_before_mb"] = static_cast<double>(before->rss_kb) / 1024;
      out["rss_growth_max_mb"] = window.value("rss_max_mb", 0.0) -
                                 static_cast<double>(before->rss_kb) / 1024;
    }
    out["seconds"] = Since(attack_from);
    report["attack"] = out;
  }
  if (o.server_pid > 0) {
    report["server_peak_rss_mb"] =
        static_cast<double>(ReadPeakRssKb(o.server_pid)) / 1024;
  }
  report["fleet"] = FleetJson(fleet.stats);
  struct rusage self;
  getrusage(RUSAGE_SELF, &self);
  report["generator_cpu_s"] =
      static_cast<double>(self.ru_utime.tv_sec + self.ru_stime.tv_sec) +
      static_cast<double>(self.ru_utime.tv_usec + self.ru_stime.tv_usec) / 1e6;
  report["generator_peak_rss_mb"] = static_cast<double>(self.ru_maxrss) / 1024;
  stage("done");
}

// Start-to-SUCCESS of executions of an existing task, polling every
// --exec-poll-ms.
json RunExecutions(const Options& o, const ApiClientOptions& api_options) {
  auto client = ApiClient::Create(api_options);
  if (!client.ok()) return {{"error", client.status().ToString()}};
  std::vector<double> seconds;
  json runs = json::array();
  for (int i = 0; i < o.exec_runs; ++i) {
    if (!o.exec_clear.empty()) {
      std::error_code ignored;
      for (const auto& entry :
           std::filesystem::directory_iterator(o.exec_clear, ignored)) {
        std::filesystem::remove_all(entry.path(), ignored);
      }
    }
    const auto t0 = Clock::now();
    auto started =
        (*client)->Call("StartTaskExecution", {{"TaskArn", o.exec_task_arn}});
    if (!started.ok()) return {{"error", started.status().ToString()}};
    const std::string arn = started->value("TaskExecutionArn", "");
    std::string status;
    while (Since(t0) < 120) {
      auto d =
          (*client)->Call("DescribeTaskExecution", {{"TaskExecutionArn", arn}});
      if (!d.ok()) return {{"error", d.status().ToString()}};
      status = d->value("Status", "");
      if (status == "SUCCESS" || status == "ERROR") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(o.exec_poll_ms));
    }
    const double s = Since(t0);
    runs.push_back({{"execution", arn}, {"status", status}, {"seconds", s}});
    if (status != "SUCCESS")
      return {{"error", "execution " + arn + " ended " + status},
              {"runs", runs}};
    seconds.push_back(s);
    Print("  run %d: %.3f s\n", i + 1, s);
  }
  std::vector<double> sorted = seconds;
  std::sort(sorted.begin(), sorted.end());
  const size_t n = sorted.size();
  const double median =
      n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  return {{"runs", runs},
          {"median_s", median},
          {"min_s", sorted.front()},
          {"max_s", sorted.back()}};
}

int Main(int argc, char** argv) {
  Options o;
  CLI::App app{
      "Simulates a fleet of ferry agents against one ferry server and "
      "measures the server (docs/benchmarks.md, \"Server under load\")."};
  app.add_option("--server", o.server, "https://IP:PORT")
      ->capture_default_str();
  app.add_option("--ca-bundle", o.ca_bundle, "The server's ca.pem")->required();
  app.add_option(
      "--credentials", o.credentials,
      "AWS shared credentials file (the server's DATA_DIR/credentials)");
  app.add_option("--agents", o.agents, "Simulated agents")
      ->check(CLI::Range(1, 60000))
      ->capture_default_str();
  app.add_option("--mode", o.mode, "Session: channel (WebSocket) or post")
      ->check(CLI::IsMember({"channel", "post"}))
      ->capture_default_str();
  app.add_option("--agents-per-address", o.agents_per_address)
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--ramp", o.ramp_per_second,
                 "Agents started per second (0: all at once)");
  app.add_option("--heartbeat-min", o.heartbeat_min_s)->capture_default_str();
  app.add_option("--heartbeat-max", o.heartbeat_max_s)->capture_default_str();
  app.add_option("--api-threads", o.api_threads,
                 "Threads for the activation's CreateAgent calls")
      ->capture_default_str();
  app.add_option("--activation-timeout", o.activation_timeout_s)
      ->capture_default_str();
  app.add_option("--online-timeout", o.online_timeout_s)->capture_default_str();
  app.add_option("--server-pid", o.server_pid,
                 "The server's process, for CPU and RSS");
  app.add_option("--settle", o.settle_s)->capture_default_str();
  app.add_option("--quiet", o.quiet_s,
                 "Seconds of the quiet window (agents idle, no probe)")
      ->capture_default_str();
  app.add_option("--probe", o.probe_s, "Seconds of the probe window")
      ->capture_default_str();
  app.add_option("--slowloris", o.slowloris, "Slow-loris connections");
  app.add_option("--slowloris-raw-share", o.slowloris_raw_share,
                 "The share of them that never finish the TLS handshake")
      ->capture_default_str();
  app.add_option("--dribble-interval", o.dribble_interval_s,
                 "Seconds between a slow-loris connection's bytes (jittered)")
      ->capture_default_str();
  app.add_option("--garbage-mb", o.garbage_mb,
                 "MiB of chunked garbage POSTed to / and /agent/v1/sync");
  app.add_option("--garbage-connections", o.garbage_connections)
      ->capture_default_str();
  app.add_flag("!--garbage-without-certificate", o.garbage_with_certificate,
               "POST the sync garbage without agent 0's certificate (403 "
               "before the body)");
  app.add_option("--attack", o.attack_s,
                 "Seconds of the attack window (at least)")
      ->capture_default_str();
  app.add_option("--exec-task-arn", o.exec_task_arn,
                 "Instead of the fleet: time start-to-SUCCESS of this task's "
                 "executions");
  app.add_option("--exec-runs", o.exec_runs)->capture_default_str();
  app.add_option("--exec-poll-ms", o.exec_poll_ms)->capture_default_str();
  app.add_option("--exec-clear", o.exec_clear,
                 "A directory emptied before each run, outside the timing");
  app.add_option("--json-out", o.json_out, "Write the report here too");
  CLI11_PARSE(app, argc, argv);

  RaiseFileLimit();
  auto target = ParseTarget(o.server);
  auto api_options = ApiOptions(o);
  if (!target.ok() || !api_options.ok()) {
    Print("ferry_agent_load: %s\n",
          (!target.ok() ? target.status() : api_options.status())
              .ToString()
              .c_str());
    return 2;
  }
  json report = json::object();
  if (!o.exec_task_arn.empty()) {
    report = RunExecutions(o, *api_options);
  } else {
    asio::io_context loop(1);
    asio::co_spawn(loop, RunFleet(o, *target, *api_options, report),
                   [&loop](std::exception_ptr e) {
                     if (e) {
                       try {
                         std::rethrow_exception(e);
                       } catch (const std::exception& x) {
                         Print("ferry_agent_load: %s\n", x.what());
                       }
                     }
                     loop.stop();
                   });
    loop.run();
  }
  const std::string text = report.dump(2);
  std::printf("%s\n", text.c_str());
  if (!o.json_out.empty()) std::ofstream(o.json_out) << text << "\n";
  std::fflush(stdout);
  // Thousands of sessions would otherwise be torn down one by one (and the
  // pool threads joined while agents still call them): the report is out.
  std::_Exit(report.contains("error") ? 1 : 0);
}

}  // namespace
}  // namespace ferry::bench

int main(int argc, char** argv) { return ferry::bench::Main(argc, argv); }
